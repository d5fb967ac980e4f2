"""Execute docs/quickstart.ipynb headlessly (nbclient, a real Jupyter kernel) and report.

    python docs/run_quickstart.py --out out

Writes the executed notebook to OUT/quickstart.ipynb and its HTML outputs to
OUT/quickstart.html, and prints every cell's text output.
"""

from __future__ import annotations

import argparse
import html
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

NOTEBOOK = Path(__file__).with_name("quickstart.ipynb")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="out", help="folder for the executed notebook and its HTML")
    parser.add_argument("--timeout", type=int, default=600, help="seconds per cell")
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    started = time.time()
    print(f"Executing {NOTEBOOK} in a Jupyter kernel ...", flush=True)
    NotebookClient(notebook, timeout=args.timeout, kernel_name="python3", resources={"metadata": {"path": str(NOTEBOOK.parent)}}).execute()
    nbformat.write(notebook, out / "quickstart.ipynb")
    parts = ["<html><head><meta charset='utf-8'><title>flopmagic quickstart</title></head><body>"]
    for index, cell in enumerate(notebook.cells):
        if cell.cell_type == "markdown":
            parts.append(f"<pre>{html.escape(cell.source)}</pre>")
            continue
        print(f"\n[{index}] {cell.source.splitlines()[0] if cell.source else ''}")
        parts.append(f"<pre><code>{html.escape(cell.source)}</code></pre>")
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            text = data.get("text/plain") or output.get("text", "")
            if text:
                print(text if len(text) < 4000 else text[:4000] + "\n...")
            if "text/html" in data:
                parts.append(data["text/html"])
            elif text:
                parts.append(f"<pre>{html.escape(text)}</pre>")
    parts.append("</body></html>")
    (out / "quickstart.html").write_text("".join(parts), encoding="utf-8")
    print(f"\nDone in {time.time() - started:.0f} s: {out / 'quickstart.ipynb'}, {out / 'quickstart.html'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

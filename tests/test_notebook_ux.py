"""The notebook as people see it (#13): tests/notebooks/notebook_ux.ipynb executed by a real
kernel (nbclient) once for this module, its numbers and HTML asserted, and its outputs
rendered in headless Chromium with JupyterLab's own CSS, light and dark.

The browser tests skip (with a message) where no Chromium is installed; with
``FLOPMAGIC_REQUIRE_BROWSER=1`` (set by CI) a missing browser or JupyterLab is a failure.
"""

from __future__ import annotations

import html
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

HERE = Path(__file__).parent
NOTEBOOK = HERE / "notebooks" / "notebook_ux.ipynb"
GOLDEN = HERE / "golden"
BROWSERS = ("chromium-headless-shell", "chromium", "chromium-browser", "google-chrome")


@pytest.fixture(scope="module")
def cells():
    """Tag -> executed code cell."""
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    NotebookClient(notebook, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(HERE)}}).execute()
    return {cell.metadata["tags"][0]: cell for cell in notebook.cells if cell.cell_type == "code"}


def data(cell, kind):
    return [o["data"][kind] for o in cell.outputs if kind in o.get("data", {})]


def streams(cell, name):
    return "".join(o["text"] for o in cell.outputs if o.get("output_type") == "stream" and o["name"] == name)


def visible(page: str) -> str:
    """What shows before any click: the HTML outside collapsed <details>."""
    return re.sub(r"<details>.*?</details>", "", page, flags=re.S)


def plain(text: str) -> str:
    return re.sub(r"\x1b\[[0-9;]*m", "", text)


# -- the numbers and the HTML ---------------------------------------------------------------------
def test_resnet50_is_compact_first(cells):
    (page,) = data(cells["resnet50"], "text/html")
    first_table = page.index("<table")
    # torchvision resnet50 @224: 4,089,184,256 MACs, 25,557,032 parameters, above the first table
    assert "4,089,184,256" in page[:first_table] and "25,557,032" in page[:first_table]
    shown = visible(page)
    rows = shown.count("<tr")
    assert rows <= 40, rows  # the full tables are one click away
    assert page.count("<details>") >= 4 and "layer4.2.conv3" in page and "layer4.2.conv3" not in shown
    # container rows are inclusive: layer3's row is its 1,464,270,848 MACs = the sum of its blocks
    layer3 = re.search(r"<td class='fm-name'>layer3</td>.*?</tr>", shown).group(0)
    assert "1,464,270,848" in layer3 or "1.464 G" in layer3


def test_claim_verdict_comes_before_the_tables(cells):
    (page,) = data(cells["claim"], "text/html")
    assert page.index("macs-as-flops") < page.index("<table class='fm-table'>")


def test_ops_outside_modules_are_a_row_of_the_model(cells):
    (page,) = data(cells["other-ops"], "text/html")
    text = data(cells["other-ops"], "text/plain")[0]
    # the model's 4*3 = 12 MACs and the cell's 5*6*7 = 210 MACs: 222, one model, no comparison
    assert "222 MACs (222)" in text and "(other ops)" in page
    assert "Comparison" not in text and "ops outside modules" not in text


def test_change_columns_per_model_against_the_baseline(cells):
    (text,) = data(cells["baseline"], "text/plain")
    total = next(line for line in text.splitlines() if line.startswith("Total"))
    # 100, 200, 50 MACs: +100.0% and -50.0% against base
    assert "Change bigger vs base" in text and "+100.0%" in total and "-50.0%" in total


def test_keras_rows_are_complete_and_the_logs_stay_out(cells):
    cell = cells["keras"]
    (text,) = data(cell, "text/plain")[:1]
    rows = {line.split()[0]: line for line in text.splitlines() if line.startswith(("conv ", "dense "))}
    assert "1x30x30x16" in rows["conv"] and "1x10" in rows["dense"]  # full shapes, batch 1 per sample
    assert "predict on 4 samples: counted per sample (batch 1)" in text
    assert "not profiled" not in text and "(root)" not in text
    assert "oneDNN" not in streams(cell, "stderr") and "I0000" not in streams(cell, "stderr")
    assert data(cell, "text/plain")[-1] == "(4, 10)"  # predict's own result is the cell's output


def test_a_raising_cell_shows_the_traceback_it_shows_without_the_magic(cells):
    (without,) = [o for o in cells["raises-plain"].outputs if o["output_type"] == "error"]
    (with_magic,) = [o for o in cells["raises-magic"].outputs if o["output_type"] == "error"]
    assert with_magic["ename"] == without["ename"] == "ZeroDivisionError"
    frames = [sum("Cell In[" in plain(t) for t in o["traceback"]) for o in (without, with_magic)]
    assert frames[0] == frames[1] >= 1  # the cell's own frames only, as many as without the magic
    assert len(with_magic["traceback"]) == len(without["traceback"])
    shown = plain("\n".join(with_magic["traceback"]))
    assert "flopmagic" not in shown and "Could not get source" not in shown
    same = [re.sub(r"In\[\d+\]", "In[n]", plain("\n".join(t))) for t in (without["traceback"], with_magic["traceback"])]
    assert same[0] == same[1]


def test_help_and_quiet_and_shapes(cells):
    for tag in ("help-cell", "help-line"):
        assert "--input-shape" in streams(cells[tag], "stdout") and "%%profile NAME" in streams(cells[tag], "stdout")
    assert "_profile" in streams(cells["quiet"], "stdout") and not data(cells["quiet"], "text/html")
    assert "12 MACs (12)" in data(cells["shape"], "text/plain")[0]  # --input-shape 1,4 is ONE shape: 4*3


def test_hardware_and_api_results_display_themselves(cells):
    (text,) = data(cells["hardware"], "text/plain")
    assert "roofline" in data(cells["hardware"], "text/html")[0] and "h100" in text.lower()
    (api,) = data(cells["api"], "text/html")
    assert "8 MACs (8)" in api  # nn.Linear(4, 2): 4*2
    assert data(cells["pandas"], "text/plain")[0] == "['int64', 'int64', 'float64']"


# -- in a browser, with JupyterLab's own CSS ------------------------------------------------------
def _browser() -> str | None:
    return next((path for name in BROWSERS if (path := shutil.which(name))), None)


def _require(what: str) -> None:
    message = f"{what}; install it to run the browser tests (CI sets FLOPMAGIC_REQUIRE_BROWSER=1 and installs it)"
    if os.environ.get("FLOPMAGIC_REQUIRE_BROWSER") == "1":
        pytest.fail(message)
    pytest.skip(message)


def _jupyterlab_css(theme: str) -> str:
    """JupyterLab's own CSS: its core styles (as its bundle ships them) and a theme's variables."""
    try:
        import jupyterlab
    except ImportError:
        _require("no jupyterlab (its theme CSS is what the pages are drawn with)")
    root = Path(jupyterlab.__file__).parent
    variables = (root / "themes" / "@jupyterlab" / f"theme-{theme}-extension" / "index.css").read_text()
    styles = []
    for bundle in sorted((root / "static").glob("*.js")):
        text = bundle.read_text(encoding="utf-8", errors="replace")
        if "jp-RenderedHTMLCommon td" not in text:
            continue
        for match in re.finditer(r"\.push\(\[\w+\.id,`(.*?)`", text, flags=re.S):
            styles.append(re.sub(r"\$\{[^}]*\}", "", match.group(1)))
    assert any(":not(.jp-RenderedMarkdown).jp-RenderedHTMLCommon td" in s for s in styles)
    # each module its own <style>, as JupyterLab injects them: one's parse error stays in it
    return "".join(f"<style>{s}</style>" for s in [*styles, variables])


def _page(outputs: list[str], theme: str, script: str = "") -> str:
    blocks = "".join(
        "<div class='jp-Cell-outputArea'><div class='jp-OutputArea-output jp-RenderedHTMLCommon jp-RenderedHTML'"
        f" data-mime-type='text/html'>{o}</div></div>"
        for o in outputs
    )
    light = "true" if theme == "light" else "false"
    return (
        f"<!DOCTYPE html><html><head><meta charset='utf-8'>{_jupyterlab_css(theme)}"
        "<style>body{margin:0;padding:16px;background:var(--jp-layout-color0);"
        "font-family:var(--jp-ui-font-family)}</style></head>"
        f"<body class='jp-Notebook' data-jp-theme-light='{light}'>{blocks}{script}</body></html>"
    )


def _chromium(browser: str, page: Path, *args: str) -> str:
    command = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--window-size=1400,1000"]
    command += ["--run-all-compositor-stages-before-draw", "--virtual-time-budget=3000", *args, page.as_uri()]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


@pytest.fixture(scope="module")
def browser():
    found = _browser()
    if found is None:
        _require("no Chromium found (" + ", ".join(BROWSERS) + ")")
    return found


def _html_outputs(cells) -> list[str]:
    tags = ("resnet50", "claim", "other-ops", "baseline", "keras", "hardware", "api")
    return [page for tag in tags for page in data(cells[tag], "text/html")]


@pytest.mark.parametrize("theme", ["light", "dark"])
def test_contrast_alignment_and_overflow_in_jupyterlab(cells, browser, theme, tmp_path):
    script = "<script>" + (HERE / "browser" / "check.js").read_text() + "</script>"
    page = tmp_path / f"{theme}.html"
    page.write_text(_page(_html_outputs(cells), theme, script), encoding="utf-8")
    dom = _chromium(browser, page, "--dump-dom")
    found = re.search(r"<pre id=\"fm-result\">(.*?)</pre>", dom, flags=re.S)
    assert found, dom[-2000:]
    result = json.loads(html.unescape(found.group(1)), strict=False)
    print(f"{theme}: {result['texts']} text nodes, minimum contrast {result['min_contrast']:.2f}")
    assert result["texts"] > 1000 and result["cells"] > 500  # every output was drawn, details opened
    assert result["low"] == [] and result["min_contrast"] >= 4.5
    # names left, numbers right, under JupyterLab's right-aligning td rule
    assert result["misaligned"] == [], result["misaligned"][:40]
    assert result["tabular"] == result["numbers"] > 0
    assert result["overflow"] == []


@pytest.mark.parametrize("theme", ["light", "dark"])
def test_screenshots_match_the_reviewed_pixels(cells, browser, theme, tmp_path, request):
    from PIL import Image, ImageChops

    page = tmp_path / f"{theme}.html"
    page.write_text(_page(data(cells["resnet50"], "text/html"), theme), encoding="utf-8")
    shot = tmp_path / f"{theme}.png"
    _chromium(browser, page, f"--screenshot={shot}")
    image = Image.open(shot).convert("RGB").crop((0, 0, 1000, 720)).resize((500, 360))
    background = image.getpixel((2, 2))
    assert background == ((255, 255, 255) if theme == "light" else (17, 17, 17))  # --jp-layout-color0
    golden = GOLDEN / f"notebook_resnet50_{theme}.png"
    if request.config.getoption("--update-golden"):
        image.save(golden, optimize=True)
        return
    if not golden.exists():
        pytest.fail(f"no golden image {golden}; run pytest --update-golden and review it")
    expected = Image.open(golden).convert("RGB")
    assert expected.size == image.size
    difference = ImageChops.difference(expected, image).convert("L").point(lambda v: 255 if v > 96 else 0)
    changed = sum(1 for v in difference.getdata() if v)
    assert changed <= 0.03 * image.size[0] * image.size[1], f"{changed} pixels differ from {golden.name}"

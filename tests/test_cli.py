"""The command line: formats, options and one-line errors."""

from __future__ import annotations

import csv
import io
import json

import pytest

from flopmagic.cli import main


def run(argv, capsys):
    code = main(argv)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_table_by_type(capsys):
    code, out, _ = run(["profile", "torchvision:resnet18", "--device", "meta", "--by", "type"], capsys)
    assert code == 0
    assert "Op type" in out and "conv" in out
    assert "1.814 GMACs (1,814,073,344)" in out  # torchvision's 1.814 "GFLOPS"


def test_csv_and_markdown(capsys):
    code, out, _ = run(
        ["profile", "torchvision:resnet18", "--device", "meta", "--format", "csv", "--depth", "1"], capsys
    )
    rows = list(csv.DictReader(io.StringIO(out)))
    assert code == 0 and rows[0]["Layer"] == "conv1"
    assert sum(int(r["MACs"]) for r in rows) == 1_814_073_344
    code, out, _ = run(
        ["profile", "torchvision:resnet18", "--device", "meta", "--format", "markdown", "--top", "3"], capsys
    )
    assert code == 0 and out.count("\n| ") == 2 + 3  # header, rule, three rows


def test_json_has_integer_totals_and_rows(capsys):
    code, out, _ = run(
        ["profile", "torchvision:resnet18", "--device", "meta", "--format", "json", "--unit", "macs"], capsys
    )
    data = json.loads(out)
    assert code == 0
    assert data["totals"] == {"macs": 1_814_073_344, "flops": data["totals"]["flops"], "params": 11_689_512}
    assert set(data["rows"][0]) == {"Layer", "Type", "Output shape", "Params", "MACs", "% MACs"}


def test_training_and_convention(capsys):
    code, out, _ = run(
        ["profile", "torchvision:resnet18", "--device", "meta", "--training", "--format", "json"], capsys
    )
    data = json.loads(out)
    assert code == 0 and data["training"] is True
    assert {r["phase"] for r in data["records"]} == {"forward", "backward"}


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["profile", "torchvision:resnet5"], "unknown torchvision model 'resnet5' (did you mean"),
        (["profile", "nonsense"], "cannot read model spec 'nonsense'"),
        (["profile", "torchvision:resnet18", "--input-shape", "1x3xabc"], "bad input shape '1x3xabc'"),
        (["profile", "torchvision:resnet18", "--input-shape", "1x0x8x8"], "must be a positive integer"),
        (["profile", "missing/model.onnx"], "no such ONNX file"),
        (["profile", "no_such_module_xyz:factory"], "cannot import 'no_such_module_xyz'"),
        (["profile", "torchvision:resnet18@NOPE"], "has no weights 'NOPE'"),
    ],
)
def test_errors_are_one_line_with_the_fix(argv, message, capsys):
    code, out, err = run(argv, capsys)
    assert code == 2
    assert out == ""
    assert err.startswith("flopmagic: error: ") and message in err
    assert err.count("\n") == 1


def test_usage_errors_exit_2(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["profile", "torchvision:resnet18", "--by", "nothing"])
    assert exit_info.value.code == 2


def test_factory_spec(capsys, tmp_path, monkeypatch):
    (tmp_path / "my_models.py").write_text(
        "import torch\n\ndef tiny():\n    return torch.nn.Sequential(torch.nn.Linear(8, 4), torch.nn.ReLU())\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    code, out, _ = run(["profile", "my_models:tiny", "--input-shape", "2x8", "--format", "json"], capsys)
    # 2 rows * 8 * 4 = 64 MACs
    assert code == 0 and json.loads(out)["totals"]["macs"] == 64
    code, _, err = run(["profile", "my_models:tiny"], capsys)
    assert code == 2 and "pass input_shape" in err

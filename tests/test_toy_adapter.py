"""The registry's acceptance test: a fourth framework (tests/toy_adapter.py, one module and
one ``register_adapter`` call) works from the API, the CLI, ``compare`` and ``%%profile``
with no other file touched.

The toy MLP is 4 -> linear(4, 3) -> relu -> linear(3, 2). Per row of the batch:
- linear(4, 3): 4 * 3 = 12 MACs; FLOPs 2 * 12 + 3 bias adds = 27; params 4 * 3 + 3 = 15
- relu on 3 values: 3 compares = 3 FLOPs
- linear(3, 2): 3 * 2 = 6 MACs; FLOPs 2 * 6 + 2 = 14; params 3 * 2 + 2 = 8
Batch 1: 18 MACs, 27 + 3 + 14 = 44 FLOPs, 23 params. Batch 2: 36 MACs, 88 FLOPs.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from IPython.utils.capture import capture_output

import flopmagic
import toy_adapter
from flopmagic.adapters import BACKENDS, adapters, detect_framework

TESTS = Path(__file__).parent
SRC = Path(flopmagic.__file__).parent.parent


@pytest.fixture()
def toy_file(tmp_path):
    path = tmp_path / "mlp.toy.json"
    path.write_text(json.dumps({"layers": toy_adapter.MLP}))
    return path


def test_registered_once_with_its_backend():
    assert [a.name for a in adapters()][:3] == ["torch", "tensorflow", "onnx"]
    assert "toy" in [a.name for a in adapters()]
    assert "toy" in BACKENDS["flopmagic"]
    assert detect_framework(toy_adapter.ToyModel(toy_adapter.MLP)) == "toy"
    with pytest.raises(ValueError, match="registered already"):
        from dataclasses import replace

        flopmagic.adapters.register_adapter(replace(toy_adapter.TOY))


def test_api_profiles_a_model_a_spec_and_a_file(toy_file):
    model = toy_adapter.ToyModel(toy_adapter.MLP, name="mlp")
    p = flopmagic.profile(model, input_shape=(1, 4))
    assert (p.macs, p.flops, p.params) == (18, 44, 23)
    assert p.framework == "toy" and p.backend == "flopmagic"
    assert [r.op for r in p.records] == ["linear", "relu", "linear"]
    assert [(row.key, row.macs) for row in p.by_layer()] == [("0", 12), ("1", 0), ("2", 6)]
    assert flopmagic.profile("toy:mlp").macs == 18
    assert flopmagic.profile(str(toy_file), input_shape=(2, 4)).totals.to_dict() == {
        "macs": 36,
        "flops": 88,
        "params": 23,
    }
    # conventions re-price its records like any other: the paper counts MACs only (18 -> 36 FLOPs)
    assert p.under("paper").flops == 36


def test_unknown_layers_are_reported_not_guessed():
    p = flopmagic.profile({"layers": [{"type": "linear", "in": 2, "out": 2}, {"type": "fancy"}]})
    # linear(2, 2): 4 MACs; the unknown layer counts 0 and is named
    assert p.macs == 4 and p.unsupported() == {"toy.fancy": 1}
    assert any("toy.fancy" in note for note in p.notes)


def test_api_compare():
    comparison = flopmagic.compare(["toy:mlp", {"layers": toy_adapter.MLP[:1]}])
    # the second is linear(4, 3) alone: 12 MACs
    assert comparison.totals().macs == (18, 12)


def _cli(*argv: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    env["FLOPMAGIC_PLUGINS"] = "toy_adapter"
    env["PYTHONPATH"] = os.pathsep.join([str(SRC), str(TESTS)])
    return subprocess.run(
        [sys.executable, "-m", "flopmagic.cli", *argv], capture_output=True, text=True, env=env, timeout=120
    )


def test_cli_profile_and_compare_through_the_plugin_hook(toy_file):
    done = _cli("profile", "toy:mlp", "--format", "json")
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert data["framework"] == "toy" and data["totals"] == {"macs": 18, "flops": 44, "params": 23}
    done = _cli("compare", "toy:mlp", str(toy_file), "--input-shape", "2x4", "--format", "json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["totals"]["macs"] == [36, 36]
    done = _cli("profile", "--help")
    assert "toy:NAME" in done.stdout


def test_cli_finds_the_plugin_through_an_entry_point(tmp_path):
    # an installed package's metadata: the flopmagic.adapters entry-point group names the module
    info = tmp_path / "toy_plugin-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: toy-plugin\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[flopmagic.adapters]\ntoy = toy_adapter\n")
    env = {k: v for k, v in os.environ.items() if k != "FLOPMAGIC_PLUGINS"}
    env["PYTHONPATH"] = os.pathsep.join([str(SRC), str(TESTS), str(tmp_path)])
    done = subprocess.run(
        [sys.executable, "-m", "flopmagic.cli", "profile", "toy:mlp", "--format", "json"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["totals"]["macs"] == 18


def test_cli_names_a_broken_plugin():
    env = dict(os.environ, FLOPMAGIC_PLUGINS="no_such_plugin_module", PYTHONPATH=str(SRC))
    done = subprocess.run(
        [sys.executable, "-m", "flopmagic.cli", "profile", "toy:mlp"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert done.returncode == 2
    assert done.stderr.startswith("flopmagic: error: cannot load flopmagic plugin")
    assert "no_such_plugin_module" in done.stderr and done.stderr.count("\n") == 1


def test_profile_magic_captures_toy_calls(ip):
    with capture_output() as captured:
        value = ip.run_cell_magic(
            "profile",
            "-o toy_report",
            "import toy_adapter\nnet = toy_adapter.ToyModel(toy_adapter.MLP)\nout = net([[1.0] * 4, [2.0] * 4])\nlen(out)",
        )
    assert value == 2  # the cell's own value
    report = ip.user_ns["toy_report"]
    assert report["net"].macs == 36  # batch of 2 rows
    assert "net" in captured.outputs[0].data["text/plain"]
    assert toy_adapter.ToyModel.__call__.__qualname__ == "ToyModel.__call__"  # the wrapper is gone


def test_profile_magic_names_models_and_specs(ip):
    ip.run_cell("import toy_adapter\nsmall = toy_adapter.ToyModel(toy_adapter.MLP[:1])")
    ip.run_cell_magic("profile", "small toy:mlp --input-shape 3x4 -o named -q --top 1", "pass")
    named = ip.user_ns["named"]
    # linear(4, 3) on 3 rows: 36 MACs; the MLP on 3 rows: 3 * 18 = 54
    assert [p.macs for p in named.profiles] == [36, 54]
    with capture_output() as captured:
        ip.run_line_magic("profile_model", "toy:mlp --unit macs")
    assert "18 MACs" in captured.outputs[0].data["text/plain"]

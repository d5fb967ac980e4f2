"""One options vocabulary: every surface is generated from flopmagic/options.py."""

from __future__ import annotations

import argparse

import pytest
from IPython.core.error import UsageError
from torch import nn

import flopmagic
from flopmagic import options
from flopmagic.cli import build_parser
from flopmagic.errors import OptionError
from flopmagic.render.tables import profile_table


def test_each_option_is_declared_once_per_surface():
    for surface in options.SURFACES:
        names = [o.name for o in options.options_for(surface)]
        assert len(names) == len(set(names)), surface
    assert {"profile", "compare", "audit", "magic", "api.profile", "api.compare"} <= set(options.SURFACES)


def _flags(parser: argparse.ArgumentParser) -> set[str]:
    return {f for action in parser._actions for f in action.option_strings if f not in ("-h", "--help")}


def _declared(surface: str) -> set[str]:
    return {f for o in options.options_for(surface) for f in (o.short, o.spelling) if f}


@pytest.mark.parametrize("command", ["profile", "compare", "audit"])
def test_cli_arguments_are_the_declared_options(command):
    subparsers = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    assert _flags(subparsers.choices[command]) == _declared(command)


def test_magic_arguments_are_the_declared_options():
    from flopmagic.magic import FlopMagics

    for magic in (FlopMagics.profile, FlopMagics.profile_model):
        assert _flags(magic.parser) == _declared("magic")
    # the magic gained what the CLI had and it lacked
    assert {"--device", "--dim", "--top"} <= _declared("magic")


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (
            lambda: flopmagic.profile(nn.Linear(2, 2), input_shape=(1, 2), backend="thop"),
            "unknown backend 'thop'; choose one of: flopmagic, fvcore, torch, tf-profiler",
        ),
        (
            lambda: flopmagic.profile(nn.Linear(2, 2), input_shape=(1, 2), convention="gflops"),
            "unknown convention 'gflops'; choose one of: flopmagic",
        ),
        (
            lambda: flopmagic.compare([nn.Linear(2, 2)] * 2, input_shape=(1, 2), by="nope"),
            "unknown by 'nope'; choose one of: type, stage, layer",
        ),
        (lambda: flopmagic.compare([nn.Linear(2, 2)] * 2, input_shape=(1, 2), depth=0), "depth must be at least 1"),
        (
            lambda: flopmagic.compare([nn.Linear(2, 2)] * 2, input_shape=(1, 2), align="diagonal"),
            "unknown align 'diagonal'",
        ),
    ],
)
def test_api_keywords_are_checked_with_the_accepted_values(call, message):
    with pytest.raises(OptionError, match=message):
        call()
    assert issubclass(OptionError, flopmagic.FlopmagicError)


def test_cli_values_are_parsed_and_checked_after_argparse():
    parser = build_parser()
    args = parser.parse_args(["profile", "m.onnx", "--dim", "batch=2,seq=8", "--input-shape", "1x3x8x8"])
    given = options.values(args, "profile")
    assert given["dims"] == {"batch": 2, "seq": 8} and given["input_shape"] == (1, 3, 8, 8)
    with pytest.raises(OptionError, match="--top must be at least 1"):
        options.values(parser.parse_args(["profile", "m.onnx", "--top", "0"]), "profile")
    with pytest.raises(OptionError, match="unknown --backend 'thop'; choose one of"):
        options.values(parser.parse_args(["profile", "m.onnx", "--backend", "thop"]), "profile")
    with pytest.raises(OptionError, match="bad --dim 'batch'"):
        options.values(parser.parse_args(["profile", "m.onnx", "--dim", "batch"]), "profile")


def test_magic_device_and_top(ip):
    ip.run_line_magic("profile_model", "torchvision:resnet18 --device meta --unit macs --top 3 -o r18 -q")
    report = ip.user_ns["r18"]
    # torchvision documents resnet18 at 1.814 "GFLOPS" (MACs); meta: no weights allocated
    assert round(report.profile.macs / 1e9, 3) == 1.814
    assert report.top == 3 and len(profile_table(report.profile, **report.view).rows) == 3
    with pytest.raises(UsageError, match="--top must be at least 1"):
        ip.run_line_magic("profile_model", "torchvision:resnet18 --top 0")


def test_magic_dim(ip, tmp_path):
    import onnx
    from onnx import TensorProto, helper

    # x [batch, 4] @ w [4, 3]: a weight operand, so a linear of batch * 4 * 3 MACs
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w"], ["y"])],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 3])],
        [helper.make_tensor("w", TensorProto.FLOAT, (4, 3), [0.0] * 12)],
    )
    path = tmp_path / "mm.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    ip.run_line_magic("profile_model", f"{path} --dim batch=2 -o mm -q")
    profile = ip.user_ns["mm"].profile
    assert profile.macs == 2 * 4 * 3 and [r.op for r in profile.records] == ["linear"]

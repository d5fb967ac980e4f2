"""ONNX edge cases that used to give a wrong number silently (reproduction 7).

Loop trip counts follow the ONNX spec (``for i in range(M)`` while ``cond``:
M <= 0 or a false initial condition runs the body 0 times; a count that is not
a constant, or a condition the body computes, is reported as an assumption,
never guessed silently, never negative). ``dims`` names must exist in the graph
and values must be positive integers within int64, in the API and on the CLI.
"""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

import flopmagic
from flopmagic import ProfilingError
from flopmagic.cli import main

F = TensorProto.FLOAT


def value(name, shape, dtype=F):
    return helper.make_tensor_value_info(name, dtype, shape)


def build(nodes, inputs, outputs, initializers=()):
    graph = helper.make_graph(nodes, "test", inputs, outputs, initializer=list(initializers))
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 21)], ir_version=10)


def loop_model(trips=None, cond=None, body_cond="pass", trips_input=False):
    """A Loop whose body is one 1x4 @ 4x4 MatMul (16 MACs per iteration).

    ``trips``/``cond``: constant initializers (None: that input is left empty);
    ``body_cond``: "pass" (the condition passes through), "true" (a constant true) or
    "computed" (the body computes it from the data: a while loop)."""
    nodes = [helper.make_node("MatMul", ["h", "w"], ["h_next"])]
    if body_cond == "pass":
        nodes.append(helper.make_node("Identity", ["cond"], ["cond_out"]))
    elif body_cond == "true":
        nodes.append(
            helper.make_node("Constant", [], ["cond_out"], value=helper.make_tensor("t", TensorProto.BOOL, [], [True]))
        )
    else:
        nodes += [
            helper.make_node("ReduceSum", ["h_next"], ["total"], keepdims=0),
            helper.make_node("Constant", [], ["limit"], value=helper.make_tensor("l", F, [], [100.0])),
            helper.make_node("Less", ["total", "limit"], ["cond_out"]),
        ]
    body = helper.make_graph(
        nodes,
        "body",
        [value("i", [], TensorProto.INT64), value("cond", [], TensorProto.BOOL), value("h", [1, 4])],
        [value("cond_out", [], TensorProto.BOOL), value("h_next", [1, 4])],
    )
    initializers = [numpy_helper.from_array(np.full((4, 4), 0.5, np.float32), "w")]
    inputs = [value("x", [1, 4])]
    loop_inputs = ["", "", "x"]
    if trips is not None:
        initializers.append(numpy_helper.from_array(np.array(trips, np.int64), "trips"))
        loop_inputs[0] = "trips"
    if trips_input:
        inputs.append(value("n", [], TensorProto.INT64))
        loop_inputs[0] = "n"
    if cond is not None:
        initializers.append(numpy_helper.from_array(np.array(cond, np.bool_), "cond0"))
        loop_inputs[1] = "cond0"
    return build(
        [helper.make_node("Loop", loop_inputs, ["y"], body=body, name="loop")],
        inputs,
        [value("y", [1, 4])],
        initializers,
    )


def iterations_run(model, feeds):
    """How many times onnxruntime actually runs the body (the spec's answer): h grows by 2x per
    step (all-ones @ 0.5-filled 4x4 is 2x), so log2 of the output's first element."""
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    (out,) = session.run(None, feeds)
    return round(float(np.log2(out[0, 0])))


ONES = {"x": np.ones((1, 4), np.float32)}


@pytest.mark.parametrize(
    ("trips", "cond", "expected_runs"),
    [
        (3, None, 3),
        (3, True, 3),
        (0, None, 0),  # used to count 16 MACs
        (-5, None, 0),  # used to count -80 MACs
        (-5, True, 0),
        (3, False, 0),  # a false initial condition: the body never runs
    ],
)
def test_loop_trip_counts_follow_the_spec(trips, cond, expected_runs):
    model = loop_model(trips=trips, cond=cond)
    assert iterations_run(model, ONES) == expected_runs  # what the runtime does
    profile = flopmagic.profile(model)
    # 16 MACs per iteration (1x4 @ 4x4)
    assert profile.macs == 16 * expected_runs
    assert all(r.macs >= 0 and r.flops >= 0 and r.count >= 0 for r in profile.records)
    assert any(f"body counted {expected_runs} times" in n for n in profile.notes)


def test_a_body_that_computes_its_condition_is_an_assumption_not_a_guess():
    # a while loop: ends when the running sum reaches 100, at most 1,000 steps
    model = loop_model(trips=1_000, cond=True, body_cond="computed")
    runs = iterations_run(model, ONES)
    assert 0 < runs < 1_000  # the data decides: here 4 * 2**k >= 100 after k = 5 steps
    profile = flopmagic.profile(model)
    assert profile.macs == 16  # one iteration, stated as an assumption
    note = next(n for n in profile.notes if "Loop 'loop'" in n)
    assert "not static" in note and "depends on the data" in note and "at most 1,000" in note
    assert "assumed to run its body once" in note


def test_a_constant_true_body_condition_is_static():
    profile = flopmagic.profile(loop_model(trips=4, body_cond="true"))
    assert profile.macs == 4 * 16


def test_a_trip_count_from_the_graphs_input_is_an_assumption():
    profile = flopmagic.profile(loop_model(trips_input=True))
    assert profile.macs == 16
    assert any("'n' is not a constant" in n and "assumed to run its body once" in n for n in profile.notes)


def test_a_loop_without_a_trip_count_or_condition_is_reported():
    profile = flopmagic.profile(loop_model())
    assert profile.macs == 16
    assert any("never ends as written" in n for n in profile.notes)


# -- dims ------------------------------------------------------------------------------------------

SYMBOLIC = build(
    [helper.make_node("Conv", ["x", "w"], ["y"], kernel_shape=[3, 3])],
    [value("x", ["batch", 3, "height", "width"])],
    [value("y", ["batch", 4, None, None])],
    [numpy_helper.from_array(np.full((4, 3, 3, 3), 0.5, np.float32), "w")],
)
BOUND = {"batch": 1, "height": 8, "width": 8}
# 3*3*3 * 4 * 6*6 = 3,888 MACs per sample
PER_SAMPLE = 3_888


@pytest.mark.parametrize(
    ("batch", "message"),
    [
        (2.7, "not float"),  # used to be floored to 2 silently
        (-3, "from 1 to 2\\*\\*63-1"),  # used to give 0 MACs
        (0, "from 1 to 2\\*\\*63-1"),  # used to give 0 FLOPs with a misleading note
        (10**20, "from 1 to 2\\*\\*63-1"),  # used to be a traceback
        (2**63, "from 1 to 2\\*\\*63-1"),
        (True, "not bool"),
        ("4", "not str"),
        (None, "not NoneType"),
    ],
)
def test_bad_dim_values_are_refused(batch, message):
    with pytest.raises(ProfilingError, match=rf"dims\['batch'\] = .*{message}") as error:
        flopmagic.profile(SYMBOLIC, dims={**BOUND, "batch": batch})
    assert "\n" not in str(error.value)


def test_good_dim_values_count_exactly():
    assert flopmagic.profile(SYMBOLIC, dims=BOUND).macs == PER_SAMPLE
    assert flopmagic.profile(SYMBOLIC, dims={**BOUND, "batch": np.int64(3)}).macs == 3 * PER_SAMPLE
    # the largest int64 batch: the count is exact, in Python integers
    assert flopmagic.profile(SYMBOLIC, dims={**BOUND, "batch": 2**63 - 1}).macs == (2**63 - 1) * PER_SAMPLE


def test_unknown_dim_names_are_refused_with_the_graphs_dims():
    with pytest.raises(ProfilingError) as error:
        flopmagic.profile(SYMBOLIC, dims={**BOUND, "unknown": 4})  # used to be ignored silently
    assert str(error.value) == (
        "dims name 'unknown', not a dimension of this model; its symbolic dimensions are: 'batch', 'height', 'width'"
    )


def test_bad_input_shapes_are_refused():
    with pytest.raises(ProfilingError, match=r"input_shape\[0\] = 0: a dimension must be a positive integer"):
        flopmagic.profile(SYMBOLIC, input_shape=(0, 3, 8, 8))
    with pytest.raises(ProfilingError, match=r"input_shape\[2\] = 2.5"):
        flopmagic.profile(SYMBOLIC, input_shape=(1, 3, 2.5, 8))
    with pytest.raises(ProfilingError, match=r"from 1 to 2\*\*63-1"):
        flopmagic.profile(SYMBOLIC, input_shape={"x": (1, 3, 8, 10**20)})


def test_dims_for_a_model_that_is_not_onnx_are_refused():
    import torch

    with pytest.raises(ProfilingError, match="binds symbolic ONNX dimensions; this is a torch model"):
        flopmagic.profile(torch.nn.Linear(2, 2), input_shape=(1, 2), dims={"batch": 1})


@pytest.mark.parametrize(
    ("dim", "message"),
    [
        ("batch=0,height=8,width=8", "dims['batch'] = 0: a dimension must be a positive integer from 1 to 2**63-1"),
        ("batch=-2,height=8,width=8", "dims['batch'] = -2: a dimension must be a positive integer"),
        ("batch=100000000000000000000,height=8,width=8", "dims['batch'] = 100000000000000000000: a dimension"),
        ("unknown=4,batch=1,height=8,width=8", "its symbolic dimensions are: 'batch', 'height', 'width'"),
        ("batch=2.7", "write name=value pairs with integer values"),
        ("batch=", "write name=value pairs with integer values"),
        ("=4", "write name=value pairs with integer values"),
        ("batch=٣", "write name=value pairs with integer values"),  # a non-ASCII digit
        ("batch=-+5", "write name=value pairs with integer values"),  # used to be a ValueError
    ],
)
def test_cli_dim_errors_are_one_line_exit_2(tmp_path, capsys, dim, message):
    path = tmp_path / "symbolic.onnx"
    onnx.save(SYMBOLIC, str(path))
    assert main(["profile", str(path), "--dim", dim]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith("flopmagic: error: ") and message in captured.err
    assert captured.err.count("\n") == 1


# -- hostile sizes -------------------------------------------------------------------------------------


def test_adaptive_window_sums_have_a_closed_form():
    from flopmagic.formulas.pooling import adaptive_window_total

    def by_definition(size_in: int, size_out: int) -> int:
        # start = floor(i*in/out), end = ceil((i+1)*in/out), summed over the outputs
        return sum(-((-(i + 1) * size_in) // size_out) - (i * size_in) // size_out for i in range(size_out))

    for size_in in range(1, 50):
        for size_out in range(1, 50):
            assert adaptive_window_total(size_in, size_out) == by_definition(size_in, size_out)


def test_huge_dims_price_in_bounded_time():
    """A malformed or hostile file declaring 2**31 x 2**31 feature maps must not make pricing loop
    over every output (global average pooling used to sum window lengths one output at a time)."""
    side = 2**31
    model = build(
        [helper.make_node("GlobalAveragePool", ["x"], ["y"])],
        [value("x", [1, 1, side, side])],
        [value("y", [1, 1, 1, 1])],
    )
    # one window covering all 2**62 elements: 2**62 - 1 adds + 1 divide = 2**62 FLOPs
    assert flopmagic.profile(model).flops == 2**62

"""One error contract (reproduction 8), enforced by seeded and property-based fuzzing.

- The CLI: every failure is one line on stderr and exit status 2; ``--debug``
  shows the traceback first.
- The Python API: every bad-input failure raises a subclass of ``FlopmagicError``;
  nothing else escapes.
- The fuzz invariant: an input either gives a valid profile (non-negative integer
  counts, totals equal to the records' sums, a JSON round trip and re-pricing that
  agree) or raises a ``FlopmagicError``.

The case counts are bounded for the normal run; ``make fuzz`` raises them with
``FLOPMAGIC_FUZZ_SCALE`` (docs/reliability.md has the figures of the long run).
"""

from __future__ import annotations

import os
import string
from collections import Counter

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import flopmagic
import onnx_fuzz
from flopmagic import FlopmagicError, ProfilingError, SpecError
from flopmagic.cli import main
from flopmagic.options import _dims
from flopmagic.specs import parse_input_shape

SCALE = int(os.environ.get("FLOPMAGIC_FUZZ_SCALE", "1"))
ONNX_CASES = 5_000 * SCALE
EXAMPLES = 100 * SCALE
FUZZ = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def run_cli(argv, capsys):
    code = main(argv)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def assert_one_line(code: int, out: str, err: str, message: str) -> None:
    assert code == 2
    assert out == ""
    assert err.startswith("flopmagic: error: ") and message in err, err
    assert err.count("\n") == 1, err


@pytest.fixture
def factory_module(tmp_path, monkeypatch):
    (tmp_path / "raising_models.py").write_text(
        "def raises():\n    raise RuntimeError('the factory failed')\n\ndef not_a_model():\n    return 42\n"
    )
    (tmp_path / "broken_module.py").write_text("raise ValueError('broken at import')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    return tmp_path


def test_a_factory_that_raises_is_one_line_exit_2(factory_module, capsys):
    code, out, err = run_cli(["profile", "raising_models:raises", "--input-shape", "1x3"], capsys)
    assert_one_line(
        code, out, err, "building the model of 'raising_models:raises' failed: RuntimeError: the factory failed"
    )


def test_debug_shows_the_traceback_then_the_line(factory_module, capsys):
    for argv in (
        ["--debug", "profile", "raising_models:raises", "--input-shape", "1x3"],
        ["profile", "raising_models:raises", "--input-shape", "1x3", "--debug"],
    ):
        code, out, err = run_cli(argv, capsys)
        assert code == 2 and out == ""
        assert err.startswith("Traceback (most recent call last):")
        assert "RuntimeError: the factory failed" in err  # the original error, chained
        last = err.rstrip("\n").splitlines()[-1]
        assert last.startswith("flopmagic: error: building the model of 'raising_models:raises' failed")


def test_factory_failures_in_the_api_are_spec_errors(factory_module):
    with pytest.raises(SpecError, match="RuntimeError: the factory failed"):
        flopmagic.profile("raising_models:raises", input_shape=(1, 3))
    with pytest.raises(SpecError, match="ValueError: broken at import"):
        flopmagic.profile("broken_module:anything", input_shape=(1, 3))
    with pytest.raises(SpecError, match="returned int, not a model of a registered framework"):
        flopmagic.profile("raising_models:not_a_model")


def test_an_unknown_convention_is_one_line_before_any_model_is_built(capsys):
    code, out, err = run_cli(["compare", "torchvision:resnet18", "--conventions", "nope"], capsys)
    assert_one_line(code, out, err, "unknown convention 'nope'; choose one of: flopmagic")
    with pytest.raises(FlopmagicError, match="unknown convention 'nope'"):
        flopmagic.profile(torch.nn.Linear(2, 2), input_shape=(1, 2), convention="nope")
    with pytest.raises(FlopmagicError, match="unknown convention 'nope'"):
        flopmagic.compare([torch.nn.Linear(2, 2)], input_shape=(1, 2), conventions=["nope"])


def test_usage_errors_are_one_line_exit_2(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["profile", "torchvision:resnet18", "--by", "nothing"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("flopmagic: error: argument --by: invalid choice") and err.count("\n") == 1


def test_unforeseen_errors_and_interrupts_have_their_line_too(capsys):
    from flopmagic.cli_errors import run_reporting

    def internal() -> int:
        raise ValueError("something flopmagic did not foresee")

    def interrupted() -> int:
        raise KeyboardInterrupt

    assert run_reporting(internal, debug=False) == 2
    err = capsys.readouterr().err
    assert err == (
        "flopmagic: error: internal error: ValueError: something flopmagic did not foresee "
        "(run with --debug for the traceback)\n"
    )
    assert run_reporting(interrupted, debug=False) == 130
    assert capsys.readouterr().err == "flopmagic: interrupted\n"


# seeds whose mutations escaped as ValueError, KeyError, TypeError or IndexError before
# (missing num_scan_inputs, a matmul of contradicting shapes, invalid UTF-8 names, a cycle)
ESCAPED_BEFORE = [0, 2, 6, 94, 175, 304]


@pytest.mark.parametrize("seed", ESCAPED_BEFORE)
def test_mutated_onnx_files_on_the_cli(seed, tmp_path, capsys):
    case = onnx_fuzz.make_case(seed)
    path = tmp_path / "mutated.onnx"
    path.write_bytes(case.data)
    argv = ["profile", str(path), "--format", "json"]
    if case.dims:
        argv += ["--dim", ",".join(f"{k}={v}" for k, v in case.dims.items())]
    code, out, err = run_cli(argv, capsys)
    if code == 0:
        assert err == "" and '"totals"' in out
    else:
        assert_one_line(code, out, err, "")
        assert "internal error" not in err


# -- fuzz -------------------------------------------------------------------------------------------


def test_fuzz_onnx_mutations_only_raise_flopmagic_errors():
    outcomes: Counter[str] = Counter()
    mutations: Counter[str] = Counter()
    escapes: list[str] = []
    for seed in range(ONNX_CASES):
        case = onnx_fuzz.make_case(seed)
        mutations.update(m for m in case.mutations[1:] if "skipped" not in m)
        try:
            outcomes[onnx_fuzz.run_case(case)] += 1
        except Exception as error:  # the invariant: nothing but a FlopmagicError, or a valid profile
            escapes.append(f"seed {seed} {case.mutations}: {type(error).__name__}: {str(error)[:200]}")
    assert escapes == [], f"{len(escapes)} of {ONNX_CASES} escaped, e.g. {escapes[:3]}"
    # the run did both: valid profiles and refusals, with every kind of mutation
    assert outcomes["profile"] > ONNX_CASES // 10 and outcomes["error"] > ONNX_CASES // 10, outcomes
    every = {m.__name__ for m in onnx_fuzz.STRUCTURED} | {m.__name__ for m in onnx_fuzz.BYTES}
    assert every <= set(mutations), every - set(mutations)


SYMBOLIC = onnx_fuzz.symbolic_net()
# MatMul [batch, seq, 8] @ [8, 8]: batch * seq * 64 MACs


@FUZZ
@given(
    batch=st.one_of(
        st.integers(min_value=-(2**70), max_value=2**70),
        st.floats(allow_nan=True),
        st.booleans(),
        st.text(max_size=4),
        st.none(),
        st.just(np.int32(3)),
    ),
    seq=st.integers(min_value=1, max_value=4096),
)
def test_fuzz_dims_values(batch, seq):
    valid = isinstance(batch, (int, np.integer)) and not isinstance(batch, bool) and 1 <= batch <= 2**63 - 1
    try:
        profile = flopmagic.profile(SYMBOLIC, dims={"batch": batch, "seq": seq})
    except ProfilingError as error:
        assert not valid, error
        assert "\n" not in str(error)
        return
    assert valid
    onnx_fuzz.check_profile(profile)
    assert profile.macs == int(batch) * seq * 64


@FUZZ
@given(st.binary(max_size=2_000))
def test_fuzz_random_bytes(data):
    try:
        profile = flopmagic.profile(data)
    except FlopmagicError:
        return
    onnx_fuzz.check_profile(profile)


@FUZZ
@given(st.text(alphabet=string.digits + "x*,- .\t" + "٣", max_size=30))
def test_fuzz_input_shape_strings(text):
    try:
        shape = parse_input_shape(text)
    except SpecError as error:
        assert "\n" not in str(error)
        return
    shapes = shape if isinstance(shape, list) else [shape]
    assert shapes and all(s and all(isinstance(d, int) and d >= 1 for d in s) for s in shapes)


@FUZZ
@given(st.text(alphabet=string.ascii_lowercase[:4] + string.digits + "=,-+ .٣", max_size=30))
def test_fuzz_cli_dim_strings(text):
    try:
        dims = _dims(text)
    except FlopmagicError as error:
        assert "\n" not in str(error)
        return
    assert dims is None or all(isinstance(v, int) and k for k, v in dims.items())


# Specs whose building runs no user code: the data prefixes with random names, paths.
# (Random package.module:factory specs would import and call arbitrary installed code.)
_NAME = st.text(alphabet=string.ascii_letters + string.digits + "_@.-/ ", max_size=20)
SPECS = st.one_of(
    st.builds(lambda prefix, name: f"{prefix}:{name}", st.sampled_from(["torchvision", "transformers"]), _NAME),
    st.builds(lambda name, weights: f"torchvision:{name}@{weights}", st.sampled_from(["resnet18", "vgg11"]), _NAME),
    st.builds(lambda name: f"{name}.onnx", _NAME),
    st.builds(lambda a, b: f"{a}:{b}", st.sampled_from(["", "-", "1x", "a b", "::"]), _NAME),
    st.text(alphabet=string.ascii_letters + ":/.-@ ", max_size=12).filter(lambda s: ":" not in s or s[0] in "-/."),
)


@FUZZ
@given(spec=SPECS, shape=st.one_of(st.none(), st.lists(st.integers(-2, 3), max_size=4)))
def test_fuzz_spec_strings(spec, shape):
    try:
        profile = flopmagic.profile(spec, input_shape=shape, device="meta")
    except FlopmagicError as error:
        assert "\n" not in str(error).strip() or "Traceback" not in str(error)
        return
    onnx_fuzz.check_profile(profile)


@FUZZ
@given(
    shape=st.one_of(
        st.lists(st.integers(-3, 5), max_size=3),
        st.lists(st.lists(st.integers(0, 4), max_size=2), max_size=2),
        st.tuples(st.floats(allow_nan=True), st.integers(1, 4)),
        st.text(max_size=3),
        st.none(),
    )
)
def test_fuzz_torch_input_shapes(shape):
    model = torch.nn.Linear(4, 2)
    try:
        profile = flopmagic.profile(model, input_shape=shape)
    except FlopmagicError:
        return
    onnx_fuzz.check_profile(profile)
    # a valid shape ends in 4 features: rows * 4 * 2 MACs
    rows = int(np.prod(shape[:-1])) if shape and isinstance(shape[0], int) else None
    if rows is not None:
        assert profile.macs == rows * 8

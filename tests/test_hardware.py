"""Hardware: the device catalogue, bytes per op, the roofline, measured MFU and estimates.

Every expected time and byte count is derived below from the formula, numbers written out.
"""

from __future__ import annotations

import io
import json
import math
import subprocess
import sys
from importlib import resources

import pytest
import yaml

import flopmagic
from flopmagic.errors import FlopmagicError, HardwareError
from flopmagic.hardware import DTYPES, Device, custom_device, devices, get_device, op_bytes, roofline
from flopmagic.hardware.estimates import (
    STATE_BYTES,
    optimizer_flops,
    serving_throughput,
    training_memory,
    training_time,
)

torch = pytest.importorskip("torch")

H100_BF16 = 989.4e12
H100_BW = 3.35e12


# -- the catalogue ----------------------------------------------------------------------------
def test_catalogue_has_the_required_devices_with_sources() -> None:
    names = devices()
    for name in ("h100-sxm", "h100-pcie", "h200", "a100-40gb", "a100-80gb", "l4", "t4", "v100", "rtx-4090"):
        assert name in names
    cpus = [n for n in names if n not in ("local", "local-cuda") and get_device(n).kind == "cpu"]
    assert len(cpus) >= 2
    for name in names:
        if name.startswith("local"):
            continue
        device = get_device(name)
        assert device.source and device.bandwidth > 0 and device.memory_bytes > 0
        assert set(device.peak_flops) <= set(DTYPES)
        for dtype, sparse in device.sparse_peak_flops.items():
            assert sparse >= device.peak_flops[dtype]  # sparse figures are never the dense ones' replacement
        for dtype, vector in device.vector_peak_flops.items():
            if dtype in device.peak_flops:
                assert vector <= device.peak_flops[dtype]


def test_catalogue_figures_from_the_datasheets() -> None:
    h100 = get_device("h100-sxm")
    assert h100.peak_flops["bf16"] == H100_BF16  # dense, not the 1,979 sparsity figure
    assert h100.sparse_peak_flops["bf16"] == 1978.9e12
    assert h100.bandwidth == H100_BW
    assert h100.memory_bytes == 80 * 2**30
    a100 = get_device("a100-80gb")
    assert a100.peak_flops["bf16"] == 312e12
    assert a100.bandwidth == 2.039e12
    assert get_device("H100_SXM").name == "h100-sxm"  # spelling is forgiven


def test_devices_yaml_is_safe_yaml_with_a_source_per_entry() -> None:
    text = resources.files("flopmagic.hardware").joinpath("devices.yaml").read_text(encoding="utf-8")
    data = yaml.safe_load(text)
    assert len(data["devices"]) >= 11
    assert all(entry["source"] for entry in data["devices"].values())


def test_unknown_device_and_dtype_raise_hardware_errors_naming_the_choices() -> None:
    with pytest.raises(HardwareError, match="known devices: h100-sxm"):
        get_device("h1000")
    assert issubclass(HardwareError, FlopmagicError)
    with pytest.raises(HardwareError, match="no bf16 peak; it has: fp16, fp32, int8"):
        get_device("t4").matrix_peak("bf16")  # Turing has no BF16
    with pytest.raises(HardwareError, match="unknown dtype"):
        get_device("t4").matrix_peak("fp12")


def test_user_given_peaks() -> None:
    mine = custom_device(peak_tflops=100.0, bandwidth_gbs=1000.0, dtype="bf16")
    assert mine.peak_flops == {"bf16": 100e12} and mine.bandwidth == 1e12
    faster = custom_device(bandwidth_gbs=4000.0, base=get_device("h100-sxm"))
    assert faster.bandwidth == 4e12 and faster.peak_flops["bf16"] == H100_BF16
    with pytest.raises(HardwareError):
        custom_device(peak_tflops=100.0)  # no bandwidth and no base device


# -- bytes and the roofline -------------------------------------------------------------------
@pytest.fixture(scope="module")
def linear_profile() -> flopmagic.ModelProfile:
    return flopmagic.profile(torch.nn.Linear(4096, 4096), input_shape=(1, 4096))


def test_linear_bytes_and_roofline_on_h100(linear_profile: flopmagic.ModelProfile) -> None:
    (gemm,) = [r for r in linear_profile.records if r.op == "linear"]
    moved = op_bytes(gemm, 2)  # bf16: 2 bytes an element
    assert moved.weight_bytes == 4096 * 4096 * 2 + 4096 * 2 == 33_554_432 + 8_192
    assert moved.read_bytes == 4096 * 2  # the input row
    assert moved.written_bytes == 4096 * 2  # the output row
    r = roofline(linear_profile, "h100-sxm", "bf16")
    assert r.peak_flops == H100_BF16
    # 2 x 4096 x 4096 FLOPs at the matrix peak + 4096 bias adds at the 133.8 TFLOPS vector peak
    assert r.compute_s == pytest.approx(2 * 4096 * 4096 / 989.4e12 + 4096 / 133.8e12, rel=1e-12)
    # (33,554,432 + 8,192 + 8,192 + 8,192) bytes at 3.35e12 B/s
    assert r.memory_s == pytest.approx((33_554_432 + 8_192 + 16_384) / 3.35e12, rel=1e-12)
    assert r.bound == "memory"
    assert r.time_s == r.memory_s
    assert r.param_bytes == (4096 * 4096 + 4096) * 2
    assert r.intensity == pytest.approx((2 * 4096 * 4096 + 4096) / (33_554_432 + 8_192 + 16_384))


def test_resnet50_roofline_on_h100_bf16() -> None:
    p = flopmagic.profile("torchvision:resnet50", device="meta")
    r = roofline(p, get_device("h100-sxm"), "bf16")
    assert r.peak_flops == 989.4e12
    assert r.param_bytes == 25_557_032 * 2 == 51_114_064
    assert r.weight_bytes == 51_114_064  # each parameter is read once in one forward
    low = 2 * p.macs / 989.4e12  # the MAC work alone at the matrix peak
    assert low <= r.compute_s <= 1.05 * p.flops / 989.4e12  # elementwise share at the 133.8 vector peak
    assert r.compute_s > p.flops / 989.4e12
    assert r.time_s >= max(r.compute_s, r.memory_s)
    assert r.time_s == pytest.approx(sum(op.time_s for op in r.ops))
    top = {layer.scope for layer in r.top_layers}
    assert {"conv1", "layer1", "layer4", "fc"} <= top
    assert sum(layer.time_s for layer in r.top_layers) == pytest.approx(r.time_s)


def test_fused_view_counts_weights_and_model_io_only() -> None:
    model = torch.nn.Sequential(torch.nn.Linear(64, 256), torch.nn.ReLU(), torch.nn.Linear(256, 32))
    p = flopmagic.profile(model, input_shape=(8, 64))
    fused = roofline(p, "a100-80gb", "fp16", fused=True)
    weights = (64 * 256 + 256 + 256 * 32 + 32) * 2  # 24,992 parameters at 2 bytes
    io = (8 * 64 + 8 * 32) * 2  # model input and output
    assert fused.bytes == weights + io
    unfused = roofline(p, "a100-80gb", "fp16")
    # + linear 1 reads x (8x64) and writes h (8x256); relu reads and writes 8x256; linear 2 reads 8x256, writes 8x32
    activations = (8 * 64 + 8 * 256 + 2 * 8 * 256 + 8 * 256 + 8 * 32) * 2
    assert unfused.bytes == weights + activations


def test_embedding_lookup_reads_the_rows_it_gathers() -> None:
    p = flopmagic.profile(torch.nn.Embedding(1000, 64), torch.zeros(2, 8, dtype=torch.long))
    (lookup,) = [r for r in p.records if r.op == "embedding"]
    moved = op_bytes(lookup, 4)
    assert moved.weight_bytes == 2 * 8 * 64 * 4  # 16 rows of 64, not the 1000 x 64 table
    assert moved.read_bytes == 2 * 8 * 4  # the indices, counted at the chosen dtype (stated overcount)
    assert moved.written_bytes == 2 * 8 * 64 * 4


def test_roofline_refuses_profiles_without_shapes() -> None:
    pytest.importorskip("fvcore")
    p = flopmagic.profile(torch.nn.Linear(8, 8), input_shape=(1, 8), backend="fvcore")
    with pytest.raises(HardwareError, match="per-op shapes"):
        roofline(p, "h100-sxm", "bf16")


def test_roofline_displays_and_serialises(linear_profile: flopmagic.ModelProfile) -> None:
    r = roofline(linear_profile, "h100-sxm", "bf16")
    bundle = r._repr_mimebundle_()
    assert "memory-bound" in bundle["text/plain"] and "<table" in bundle["text/html"]
    data = json.loads(json.dumps(r.to_dict()))
    for key in ("name", "dtype", "peak_flops", "vector_peak_flops", "bandwidth", "compute_s", "memory_s", "time_s"):
        assert key in data
    assert data["layers"][0].keys() >= {"compute_s", "memory_s", "time_s", "bytes"}


def test_roofline_plot(linear_profile: flopmagic.ModelProfile) -> None:
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    ax = roofline(linear_profile, "h100-sxm", "bf16").plot()
    assert len(ax.collections) == 1 and len(ax.lines) == 2  # the ops, the matrix and vector roofs


def test_data_objects_import_no_renderer_and_flopmagic_no_framework() -> None:
    code = (
        "import sys, flopmagic, flopmagic.hardware; "
        "print(sorted(m for m in ('torch', 'numpy', 'IPython', 'matplotlib') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert out.stdout.strip() == "[]"
    # the data modules reach the renderers only through the one dispatch, when drawn
    import ast
    from pathlib import Path

    package = Path(flopmagic.__file__).parent / "hardware"
    for name in ("roofline.py", "estimates.py", "timing.py", "traffic.py", "catalogue.py"):
        tree = ast.parse((package / name).read_text())
        top_level = [n for n in tree.body if isinstance(n, ast.ImportFrom)]
        assert not [n.module for n in top_level if n.module and "render" in n.module], name


# -- calibration and measured MFU -------------------------------------------------------------
def test_local_calibration_is_measured_and_cached(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from flopmagic.hardware.calibrate import cache_dir, calibrate, local_device

    monkeypatch.setenv("FLOPMAGIC_CACHE_DIR", str(tmp_path))
    assert cache_dir() == tmp_path
    first = calibrate(quick=True)
    assert first.gemm_flops > 1e8 and first.copy_bandwidth > 1e8
    assert first.key.startswith("v2|")  # versioned key
    cached = json.loads((tmp_path / "calibration.json").read_text())
    assert first.key in cached
    assert calibrate(quick=True) == first  # read back, not measured again
    device = local_device(quick=True)
    assert device.peak_flops["fp32"] == first.gemm_flops and device.bandwidth == first.copy_bandwidth


def test_measured_mfu_on_cpu_against_the_calibrated_peak(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from flopmagic.hardware.calibrate import local_device
    from flopmagic.hardware.timing import time_model, utilisation

    monkeypatch.setenv("FLOPMAGIC_CACHE_DIR", str(tmp_path))
    model = torch.nn.Sequential(
        torch.nn.Conv2d(3, 32, 3, padding=1), torch.nn.ReLU(), torch.nn.Flatten(), torch.nn.Linear(32 * 16 * 16, 10)
    )
    model.train()
    weight = model[0].weight.detach().clone()
    x = torch.randn(4, 3, 16, 16)
    p = flopmagic.profile(model, x)
    timing = time_model(model, x, repeats=5, warmup=1)
    used = utilisation(p, timing, local_device(quick=True), "fp32")
    assert 0 < used.mfu <= 1
    assert used.achieved_flops == pytest.approx(p.flops / timing.latency_s)
    assert set(timing.layer_s) == {"0", "1", "2", "3"}  # every top-level module timed
    assert sum(timing.layer_s.values()) <= 3 * timing.latency_s
    conv = next(layer for layer in used.layers if layer.scope == "0")
    assert conv.flops == sum(r.flops for r in p.records if r.scope == "0")
    # the user's model is untouched: mode, weights, hooks
    assert model.training and torch.equal(model[0].weight, weight)
    assert not model[0]._forward_hooks and not model[0]._forward_pre_hooks
    assert "MFU" in str(used)


def test_time_refuses_meta_models() -> None:
    from flopmagic.hardware.timing import time_model

    with pytest.raises(HardwareError, match="meta"):
        time_model(torch.nn.Linear(4, 4, device="meta"), torch.randn(1, 4, device="meta"))


def test_time_asks_the_adapter_and_names_the_frameworks_that_time() -> None:
    from flopmagic.adapters import adapters
    from flopmagic.hardware.timing import time_model

    timers = [a.title for a in adapters() if a.timer is not None]
    assert "PyTorch" in timers  # declared in the torch adapter's one registration
    with pytest.raises(HardwareError, match=r"runs models of PyTorch.*got a 'object' object"):
        time_model(object(), input_shape=(1, 4))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU (bench/gpu_check.py runs this on one)")
def test_measured_mfu_on_cuda() -> None:
    from flopmagic.hardware.timing import time_model, utilisation

    model = torch.nn.Linear(4096, 4096).cuda().to(torch.bfloat16)
    x = torch.randn(256, 4096, device="cuda", dtype=torch.bfloat16)
    p = flopmagic.profile(model, x)
    timing = time_model(model, x, repeats=20)
    assert timing.accelerator == "cuda"
    name = torch.cuda.get_device_name().lower()
    device = "h200" if "h200" in name else "h100-sxm" if "h100" in name else "local-cuda"
    used = utilisation(p, timing, device, "bf16")
    assert 0 < used.mfu <= 1


# -- estimates --------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def linear_training() -> flopmagic.ModelProfile:
    return flopmagic.profile(torch.nn.Linear(4096, 4096), input_shape=(1, 4096), training=True)


def test_training_time_formula(linear_training: flopmagic.ModelProfile) -> None:
    # forward 2*4096*4096 + 4096 (bias) = 33,558,528; backward grad W = 2*4096*4096 = 33,554,432
    assert linear_training.flops == 33_558_528 + 33_554_432 == 67_112_960
    assert optimizer_flops(linear_training, "adam").value == 14 * 16_781_312  # 14 FLOPs/param, 4096*4096+4096 params
    est = training_time(
        linear_training, get_device("h100-sxm"), "bf16", samples=1000, epochs=2, devices=4, mfu=0.5, optimizer="adam"
    )
    steps = math.ceil(1000 * 2 / (1 * 4))  # 500
    total = 67_112_960 * 1000 * 2 + 14 * 16_781_312 * steps * 4
    assert est.value == pytest.approx(total / (4 * 989.4e12 * 0.5), rel=1e-12)
    text = str(est)
    assert "(D x peak x MFU)" in text and "steps = 500" in text and "MFU = 0.5" in text
    with pytest.raises(HardwareError):
        training_time(linear_training, get_device("h100-sxm"), "bf16", samples=10, mfu=1.5)


def test_training_memory_adam_mixed_precision(linear_training: flopmagic.ModelProfile) -> None:
    from flopmagic.hardware.estimates import saved_activation_bytes

    assert STATE_BYTES[("adam", "mixed")][0] == 2 + 2 + 4 + 4 + 4 == 16  # ZeRO: 2 + 2 + K=12
    model = torch.nn.Linear(4096, 4096)
    saved, note = saved_activation_bytes(model, torch.randn(1, 4096), precision="mixed")
    assert saved == 4096 * 2  # the saved input row, fp32 measured (16,384 B), scaled to 2 bytes/element
    assert "saved_tensors_hooks" in note
    est = training_memory(linear_training, get_device("h100-sxm"), activation_bytes=saved)
    assert est.value == 16 * 16_781_312 + 8_192 == 268_509_184
    assert "fits in h100-sxm" in str(est)
    tiny = Device("tiny", {"fp32": 1e12}, {}, {"fp32": 1e12}, 1e9, 100 * 2**20, "test")
    assert "does NOT fit" in str(training_memory(linear_training, tiny, activation_bytes=saved))


def test_serving_throughput_from_the_roofline(linear_profile: flopmagic.ModelProfile) -> None:
    r = roofline(linear_profile, "h100-sxm", "bf16")
    (qps,) = serving_throughput([r], [1])
    assert qps.value == pytest.approx(1 / r.time_s)
    assert "QPS = batch / roofline time_s" in str(qps)


def test_estimate_api_and_cli(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from flopmagic.cli import main

    monkeypatch.setenv("FLOPMAGIC_CACHE_DIR", str(tmp_path))
    est = flopmagic.estimate(
        torch.nn.Sequential(torch.nn.Linear(64, 64), torch.nn.ReLU(), torch.nn.Linear(64, 10)),
        hardware="a100-80gb",
        dtype="bf16",
        input_shape=(8, 64),
        samples=10_000,
        mfu=0.4,
        batch_sizes=(1, 8),
    )
    assert est.fits is True
    names = [item.name for item in est.items]
    assert names[:2] == ["training FLOPs per sample", "optimizer FLOPs per step"]
    assert "serving throughput at batch 8" in names and "memory to train" in names
    assert est["training time"].inputs["MFU"] == 0.4
    out = io.StringIO()
    code = main(
        [
            "estimate",
            "torchvision:resnet18",
            "--input-shape",
            "2x3x32x32",
            "--hardware",
            "a100-80gb",
            "--dtype",
            "bf16",
            "--samples",
            "1000",
            "--mfu",
            "0.5",
            "--format",
            "json",
        ],
        out=out,
    )
    assert code == 0
    data = json.loads(out.getvalue())
    assert data["device"] == "a100-80gb"
    assert all(item["formula"] for item in data["estimates"])


def test_profile_cli_hardware_json_and_errors(capsys) -> None:  # type: ignore[no-untyped-def]
    from flopmagic.cli import main

    out = io.StringIO()
    args = ["profile", "torchvision:resnet18", "--device", "meta", "--hardware", "h100-sxm", "--dtype", "bf16"]
    assert main([*args, "--format", "json"], out=out) == 0
    hw = json.loads(out.getvalue())["hardware"]
    assert hw["name"] == "h100-sxm" and hw["dtype"] == "bf16" and hw["peak_flops"] == 989.4e12
    assert hw["time_s"] >= max(hw["compute_s"], hw["memory_s"])
    assert {"compute_s", "memory_s", "time_s", "bytes"} <= set(hw["layers"][0])
    text = io.StringIO()
    assert main([*args, "--slowest", "3"], out=text) == 0
    assert "Bound" in text.getvalue() and "Assumption" in text.getvalue()
    assert main(["profile", "torchvision:resnet18", "--device", "meta", "--hardware", "h1000"], out=io.StringIO()) == 2
    assert "known devices" in capsys.readouterr().err
    assert main(["profile", "torchvision:resnet18", "--device", "meta", "--fused"], out=io.StringIO()) == 2
    assert "--hardware" in capsys.readouterr().err
    assert main([*args, "--format", "csv"], out=io.StringIO()) == 2  # no prose appended to a CSV
    assert "--format table, markdown or json" in capsys.readouterr().err
    mine = io.StringIO()
    base = ["profile", "torchvision:resnet18", "--device", "meta", "--format", "json"]
    assert main([*base, "--peak-tflops", "100", "--bandwidth-gbs", "1000"], out=mine) == 0
    custom = json.loads(mine.getvalue())["hardware"]
    # user-given figures at the parameters' dtype (fp32): 100 TFLOPS, 1000 GB/s
    assert (custom["name"], custom["dtype"], custom["peak_flops"], custom["bandwidth"]) == (
        "custom",
        "fp32",
        1e14,
        1e12,
    )


def test_roofline_of_an_onnx_graph() -> None:
    onnx = pytest.importorskip("onnx")
    np = pytest.importorskip("numpy")
    from onnx import TensorProto, helper, numpy_helper

    weight = numpy_helper.from_array(np.zeros((64, 32), np.float32), "W")
    bias = numpy_helper.from_array(np.zeros((64,), np.float32), "B")
    graph = helper.make_graph(
        [helper.make_node("Gemm", ["x", "W", "B"], ["h"], transB=1), helper.make_node("Relu", ["h"], ["y"])],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [8, 32])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [8, 64])],
        [weight, bias],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    p = flopmagic.profile(model.SerializeToString())
    assert onnx is not None
    fused = roofline(p, "t4", "fp32", fused=True)
    # weights (64 x 32 + 64) x 4 = 8,448; model input 8 x 32 x 4 = 1,024; output 8 x 64 x 4 = 2,048
    assert fused.bytes == 8_448 + 1_024 + 2_048
    unfused = roofline(p, "t4", "fp32")
    # + Gemm reads x (1,024) and writes h (2,048); Relu reads h and writes y (2 x 2,048)
    assert unfused.bytes == 8_448 + 1_024 + 2_048 + 2 * 2_048


def test_estimate_with_measured_mfu_on_this_machine(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from flopmagic.hardware.calibrate import local_device

    monkeypatch.setenv("FLOPMAGIC_CACHE_DIR", str(tmp_path))
    here = local_device(quick=True)
    model = torch.nn.Sequential(torch.nn.Linear(256, 256), torch.nn.ReLU(), torch.nn.Linear(256, 10))
    est = flopmagic.estimate(model, hardware=here, input_shape=(16, 256), samples=1600, measure=True, repeats=3)
    measured = est["measured MFU (training step)"]
    assert 0 < measured.value <= 1 and measured.inputs["device"] == "local"
    time_est = est["training time"]
    assert time_est.inputs["MFU"] == measured.value
    assert str(time_est.inputs["MFU from"]).startswith("measured on local")
    # 1600 samples / batch 16 = 100 steps on one device
    assert time_est.inputs["steps"] == 100
    assert any(item.name.startswith("measured serving throughput at batch 16") for item in est.items)

"""The benchmark: flopmagic against the other counters, on the same machine, in one run.

    python bench/run.py --out docs/benchmarks.md      (make bench)

One run measures everything and writes the whole of docs/benchmarks.md: every section, every
number (``measure_all``, then ``report``). Every (tool, model) measurement runs in its own
process, so its peak RSS is its own. The report is generated, never hand-written: numbers,
labels, errors against the analytic count, counting time as a ratio to one plain forward pass,
peak memory, the machine and the versions, and the prose that explains them is checked against
the run's numbers where it states any. The raw results are saved first (``--raw``), so a report
can be re-rendered from them (``--render``) without measuring again.

For quick checks, a section flag measures and prints one section, never writing the report:
``--overhead-only``, ``--onnx-peer``, ``--llm-generation``, ``--presets``, ``--hardware only``.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
import warnings
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT / "tests"))  # the analytic derivations live with the tests

L, D, FF, LAYERS = 128, 768, 3072, 12
TRANSFORMER_LAYER = 3 * L * D * D + 2 * L * L * D + L * D * D + 2 * L * D * FF


def swin_t_macs() -> int:
    """Swin-T (Liu et al. 2021): patch embed, 4 stages of windowed attention blocks, merges, head."""
    tokens, dim = 56 * 56, 96
    macs = tokens * dim * 3 * 4 * 4  # 4x4 patch embedding
    for depth in (2, 2, 6, 2):
        per_block = 3 * tokens * dim * dim + 2 * tokens * 49 * dim + tokens * dim * dim + 8 * tokens * dim * dim
        macs += depth * per_block
        if dim < 768:
            macs += (tokens // 4) * (4 * dim) * (2 * dim)  # patch merging: 4C -> 2C on a quarter of the tokens
            tokens, dim = tokens // 4, dim * 2
    return macs + 768 * 1000


def truth(model: str) -> int:
    from test_tensorflow import mobilenet_v2_macs, resnet50_macs

    return {
        "resnet50": resnet50_macs(stride_on_3x3=True),
        "mobilenet_v2": mobilenet_v2_macs(),
        "vit_b_16": 12 * (3 * 197 * 768 * 768 + 2 * 197 * 197 * 768 + 197 * 768 * 768 + 2 * 197 * 768 * 3072)
        + 768 * 3 * 16 * 16 * 196
        + 768 * 1000,
        "swin_t": swin_t_macs(),
        "bert": LAYERS * TRANSFORMER_LAYER + D * D,
        "gpt2": LAYERS * TRANSFORMER_LAYER + L * D * 50257,
        "keras_resnet50": resnet50_macs(stride_on_3x3=False),
        "keras_mobilenetv2": mobilenet_v2_macs(),
        "onnx_resnet50": resnet50_macs(stride_on_3x3=True),
        "onnx_mobilenet_v2": mobilenet_v2_macs(),
    }[model]


TORCH_MODELS = ["resnet50", "mobilenet_v2", "vit_b_16", "swin_t", "bert", "gpt2"]
TORCH_TOOLS = ["flopmagic", "flop_counter_mode", "fvcore", "ptflops", "thop", "calflops", "torchprofile", "torchinfo"]
# tool -> (label it prints, quantity that label really is)
LABELS = {
    "flopmagic": ("MACs / FLOPs", "macs"),
    "flop_counter_mode": ("FLOP", "flops"),
    "fvcore": ("flops", "macs"),
    "ptflops": ("GMac", "macs"),
    "thop": ("MACs", "macs"),
    "calflops": ("MACs (FLOPs)", "macs"),
    "torchprofile": ("MACs", "macs"),
    "torchinfo": ("Mult-Adds", "macs"),
    "tf-profiler": ("flops", "flops"),
}


# -- worker side -----------------------------------------------------------------------------------


def _torch_model(name: str) -> tuple[Any, Any]:
    import torch

    torch.manual_seed(0)
    if name in ("bert", "gpt2"):
        from transformers import BertConfig, BertModel, GPT2Config, GPT2LMHeadModel

        model = BertModel(BertConfig()) if name == "bert" else GPT2LMHeadModel(GPT2Config())
        return model.eval(), {"input_ids": torch.zeros(1, 128, dtype=torch.long)}
    import torchvision

    return getattr(torchvision.models, name)().eval(), (torch.randn(1, 3, 224, 224),)


def _call(model: Any, inputs: Any) -> Any:
    return model(**inputs) if isinstance(inputs, dict) else model(*inputs)


def _count(tool: str, model: Any, inputs: Any) -> tuple[int, int | None]:
    """(the number the tool reports, flopmagic's FLOPs or calflops' FLOPs when it has both)."""
    import torch

    quiet = contextlib.redirect_stdout(io.StringIO())
    with warnings.catch_warnings(), quiet:
        warnings.simplefilter("ignore")
        if tool == "flopmagic":
            import flopmagic

            profile = flopmagic.profile(model, inputs)
            return profile.macs, profile.flops
        if tool == "flop_counter_mode":
            from torch.utils.flop_counter import FlopCounterMode

            with torch.no_grad(), FlopCounterMode(display=False) as counter:
                _call(model, inputs)
            return counter.get_total_flops(), None
        if tool == "fvcore":
            import logging

            from fvcore.nn import FlopCountAnalysis

            logging.getLogger("fvcore").setLevel(logging.ERROR)
            args = tuple(inputs.values()) if isinstance(inputs, dict) else inputs
            analysis = FlopCountAnalysis(model, args)
            analysis.unsupported_ops_warnings(False)
            analysis.uncalled_modules_warnings(False)
            with torch.no_grad():
                return int(analysis.total()), None
        if tool == "ptflops":
            from ptflops import get_model_complexity_info

            if isinstance(inputs, dict):
                macs, _ = get_model_complexity_info(
                    model,
                    (128,),
                    input_constructor=lambda _: dict(inputs),
                    as_strings=False,
                    print_per_layer_stat=False,
                    backend="pytorch",
                )
            else:
                macs, _ = get_model_complexity_info(
                    model, tuple(inputs[0].shape[1:]), as_strings=False, print_per_layer_stat=False, backend="pytorch"
                )
            return int(macs), None
        if tool == "thop":
            from thop import profile

            args = tuple(inputs.values()) if isinstance(inputs, dict) else inputs
            macs, _ = profile(model, inputs=args, verbose=False)
            return int(macs), None
        if tool == "calflops":
            from calflops import calculate_flops

            if isinstance(inputs, dict):
                flops, macs, _ = calculate_flops(
                    model=model, kwargs=dict(inputs), output_as_string=False, print_results=False, print_detailed=False
                )
            else:
                flops, macs, _ = calculate_flops(
                    model=model,
                    input_shape=tuple(inputs[0].shape),
                    output_as_string=False,
                    print_results=False,
                    print_detailed=False,
                )
            return int(macs), int(flops)
        if tool == "torchprofile":
            from torchprofile import profile_macs

            args = tuple(inputs.values()) if isinstance(inputs, dict) else inputs
            return int(profile_macs(model, args)), None
        if tool == "torchinfo":
            from torchinfo import summary

            data = dict(inputs) if isinstance(inputs, dict) else list(inputs)
            return int(summary(model, input_data=data, verbose=0).total_mult_adds), None
    raise ValueError(tool)


def _median_time(fn: Any, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def worker_torch(tool: str, name: str, repeats: int) -> dict[str, Any]:
    import torch

    torch.set_num_threads(os.cpu_count() or 1)
    model, inputs = _torch_model(name)

    def forward() -> None:
        with torch.no_grad():
            _call(model, inputs)

    from torch.utils._python_dispatch import TorchDispatchMode

    class PassThrough(TorchDispatchMode):
        def __torch_dispatch__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
            return func(*args, **(kwargs or {}))

    def floor() -> None:
        with torch.no_grad(), PassThrough():
            _call(model, inputs)

    forward()
    value, second = _count(tool, model, inputs)  # warm-up, and the number
    # the calls alternate, so that a slow spell of the (2-core) machine hits all of them alike
    timings: dict[str, list[float]] = {"forward": [], "count": [], "floor": []}
    for _ in range(repeats):
        for label, fn in (("forward", forward), ("count", lambda: _count(tool, model, inputs)), ("floor", floor)):
            if label == "floor" and tool != "flopmagic":
                continue
            start = time.perf_counter()
            fn()
            timings[label].append(time.perf_counter() - start)
    result: dict[str, Any] = {
        "value": value,
        "second": second,
        "seconds": statistics.median(timings["count"]),
        "forward": statistics.median(timings["forward"]),
    }
    if timings["floor"]:
        result["dispatch_floor"] = statistics.median(timings["floor"])
        import flopmagic

        result["ops"] = len(flopmagic.profile(model, inputs).records)  # aten calls the mode saw
    return result


def worker_keras(tool: str, name: str, repeats: int) -> dict[str, Any]:
    from flopmagic.adapters import import_tensorflow

    import_tensorflow()
    import keras
    import numpy as np

    import flopmagic

    model = {"keras_resnet50": keras.applications.ResNet50, "keras_mobilenetv2": keras.applications.MobileNetV2}[name](
        weights=None
    )
    x = np.zeros((1, 224, 224, 3), np.float32)
    model(x)
    backend = "tf-profiler" if tool == "tf-profiler" else "flopmagic"
    profile = flopmagic.profile(model, backend=backend)
    seconds = _median_time(lambda: flopmagic.profile(model, backend=backend), repeats)
    forward = _median_time(lambda: model(x), repeats)
    return {
        "value": profile.flops if tool == "tf-profiler" else profile.macs,
        "second": profile.flops,
        "seconds": seconds,
        "forward": forward,
    }


def worker_onnx(tool: str, name: str, repeats: int) -> dict[str, Any]:
    import numpy as np
    import onnxruntime

    import flopmagic

    path = Path(os.environ.get("FLOPMAGIC_BENCH_TMP", "/tmp")) / f"{name}.onnx"
    if not path.exists():
        import torch

        model, inputs = _torch_model(name.removeprefix("onnx_"))
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            torch.onnx.export(model, inputs, str(path), dynamo=True, optimize=False)
    profile = flopmagic.profile(str(path))
    seconds = _median_time(lambda: flopmagic.profile(str(path)), repeats)
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    feed = {session.get_inputs()[0].name: np.zeros((1, 3, 224, 224), np.float32)}
    session.run(None, feed)
    forward = _median_time(lambda: session.run(None, feed), repeats)
    return {"value": profile.macs, "second": profile.flops, "seconds": seconds, "forward": forward}


# Llama 3 70B's shape (the report's analytic decode check reads it too)
LLAMA_70B: dict[str, Any] = {
    "hidden_size": 8192,
    "intermediate_size": 28672,
    "num_hidden_layers": 80,
    "num_attention_heads": 64,
    "num_key_value_heads": 8,
    "vocab_size": 128256,
}


def llama_70b_on_meta(max_positions: int) -> Any:
    """A LLaMA-70B-shaped model (Llama 3 70B's config) on the meta device: no weights allocated."""
    from transformers import LlamaConfig, LlamaForCausalLM

    from flopmagic.adapters.torch.specs import build_torch_model

    config = LlamaConfig(**LLAMA_70B, max_position_embeddings=max_positions)
    return build_torch_model(lambda: LlamaForCausalLM(config), "meta").eval()


def worker_llama(tool: str, mode: str, repeats: int) -> dict[str, Any]:
    import torch

    import flopmagic

    model = llama_70b_on_meta(4096)
    ids = torch.zeros(1, 2048, dtype=torch.long, device="meta")
    training = mode == "training"

    def count(tool: str = tool) -> tuple[int, int, int]:
        if tool == "flopmagic":
            profile = flopmagic.profile(model, {"input_ids": ids}, training=training)
            return profile.macs, profile.flops, len(profile.records)
        from torch.utils.flop_counter import FlopCounterMode

        counter = FlopCounterMode(display=False)
        if training:
            with counter:
                loss = model(input_ids=ids).logits.sum()
                torch.autograd.grad(loss, [p for p in model.parameters() if p.requires_grad])
        else:
            with torch.no_grad(), counter:
                model(input_ids=ids)
        flops = counter.get_total_flops()
        return flops // 2, flops, 0

    macs, flops, records = count()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # this counter alone
    # Both counters, alternating in this process: the time target compares them under the
    # same conditions (a slow spell of the 2-core machine hits both alike).
    other = "flop_counter_mode" if tool == "flopmagic" else "flopmagic"
    count(other)  # warm-up
    timings: dict[str, list[float]] = {tool: [], other: []}
    for _ in range(repeats):
        for name in (tool, other):
            start = time.perf_counter()
            count(name)
            timings[name].append(time.perf_counter() - start)
    return {
        "value": macs,
        "second": flops,
        "records": records,
        "seconds": statistics.median(timings[tool]),
        "other_seconds": statistics.median(timings[other]),
        "forward": None,
        "peak_rss_mb": peak,
    }


def worker_onnx_large(tool: str, nodes: str, repeats: int) -> dict[str, Any]:
    import numpy as np
    from onnx import TensorProto, helper, numpy_helper

    import flopmagic

    count = int(nodes)
    graph_nodes, previous = [], "x"
    for i in range(count):  # a chain of MatMul, Add, Relu, Sigmoid over [1, 16] activations
        kind = ("MatMul", "Add", "Relu", "Sigmoid")[i % 4]
        inputs = [previous, "w"] if kind == "MatMul" else [previous, "b"] if kind == "Add" else [previous]
        graph_nodes.append(helper.make_node(kind, inputs, [f"t{i}"], name=f"block{i // 100}/n{i}"))
        previous = f"t{i}"
    graph = helper.make_graph(
        graph_nodes,
        "large",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 16])],
        [helper.make_tensor_value_info(previous, TensorProto.FLOAT, [1, 16])],
        initializer=[
            numpy_helper.from_array(np.zeros((16, 16), np.float32), "w"),
            numpy_helper.from_array(np.zeros(16, np.float32), "b"),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 21)])
    profile = flopmagic.profile(model)
    seconds = _median_time(lambda: flopmagic.profile(model), repeats)
    return {
        "value": profile.macs,
        "second": profile.flops,
        "records": len(profile.records),
        "seconds": seconds,
        "forward": None,
    }


def worker_keras_graph(tool: str, name: str, repeats: int) -> dict[str, Any]:
    """flopmagic's graph walk against TensorFlow's profiler on the same (frozen) graph."""
    from flopmagic.adapters import import_tensorflow

    tf = import_tensorflow()
    import keras
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

    from flopmagic.peers.tf_profiler import profiler_counts

    model = keras.applications.ResNet50(weights=None)
    traced = tf.function(lambda x: model(x, training=False)).get_concrete_function(tf.TensorSpec((1, 224, 224, 3)))
    frozen = convert_variables_to_constants_v2(traced)
    if tool == "tf-profiler":
        flops = sum(profiler_counts(frozen.graph).values())
        seconds = _median_time(lambda: profiler_counts(frozen.graph), repeats)
        return {"value": flops, "second": flops, "seconds": seconds, "forward": None}
    from flopmagic.adapters.tensorflow import _profile_graph

    profile = _profile_graph(model, frozen, [tf.TensorSpec((1, 224, 224, 3))], None, "ResNet50")
    seconds = _median_time(
        lambda: _profile_graph(model, frozen, [tf.TensorSpec((1, 224, 224, 3))], None, "ResNet50"), repeats
    )
    return {"value": profile.macs, "second": profile.under("tf-profiler").flops, "seconds": seconds, "forward": None}


def worker_gpt2_training(tool: str, name: str, repeats: int) -> dict[str, Any]:
    import flopmagic

    profile = flopmagic.profile("transformers:GPT2LMHeadModel", training=True, device="meta")
    forward = sum(r.flops for r in profile.records if r.phase == "forward")
    backward = sum(r.flops for r in profile.records if r.phase == "backward")
    return {"value": forward, "second": backward, "seconds": 0.0, "forward": None, "params": profile.params}


def worker_roofline(tool: str, name: str, repeats: int) -> dict[str, Any]:
    """Predicted (roofline on the calibrated ``local`` device) vs measured latency of one forward."""
    import torch

    import flopmagic
    from flopmagic.hardware import get_device, roofline
    from flopmagic.hardware.timing import time_model, utilisation

    if name == "linear":
        torch.manual_seed(0)
        model, inputs = torch.nn.Linear(2048, 2048).eval(), (torch.randn(512, 2048),)
    else:
        model, inputs = _torch_model(name)
    local = get_device("local")  # calibrated once, cached in the user cache directory
    profile = flopmagic.profile(model, inputs if isinstance(inputs, dict) else inputs[0], name=name)
    predicted = roofline(profile, local, "fp32")
    timing = time_model(model, inputs if isinstance(inputs, dict) else inputs[0], repeats=repeats, warmup=2)
    used = utilisation(profile, timing, local, "fp32")
    return {
        "value": profile.flops,
        "seconds": timing.latency_s,
        "predicted": predicted.time_s,
        "compute": predicted.compute_s,
        "memory": predicted.memory_s,
        "bound": predicted.bound,
        "mfu": used.mfu,
        "peak": local.peak_flops["fp32"],
        "bandwidth": local.bandwidth,
        "forward": None,
    }


ROOFLINE_MODELS = ["linear", "resnet50", "mobilenet_v2", "bert", "gpt2"]


def hardware_section(results: dict[str, Any], repeats: int | None = None) -> list[str]:
    """Markdown: roofline-predicted vs measured latency on this machine (the ratio is the figure)."""
    first = next((r for r in results.values() if "peak" in r), None)
    lines = [
        "## Predicted vs measured latency (roofline on this machine)",
        "",
        "`flopmagic.hardware.roofline` on the calibrated `local` device (FP32 GEMM rate and streaming-copy "
        "bandwidth, measured once and cached"
        + (f": {first['peak'] / 1e9:.1f} GFLOP/s, {first['bandwidth'] / 1e9:.1f} GB/s" if first else "")
        + ") against the measured median latency of an eager `torch.no_grad()` forward at batch 1 "
        "(the Linear: 512 x 2048 -> 2048"
        + (f"; median of {_n(repeats, 'timed forward')} after 2 warm-up forwards" if repeats else "")
        + "). The roofline is a lower bound on an unfused run at the peaks; the ratio "
        "measured / predicted says how far eager PyTorch is from it. MFU = counted FLOPs / (latency x the calibrated "
        "peak).",
        "",
        "| model | FLOPs | predicted | bound | measured | measured / predicted | MFU |",
        "|---|---:|---:|---|---:|---:|---:|",
    ]
    fine = {name: r for name, r in results.items() if "error" not in r}
    for name, r in results.items():
        if "error" in r:
            lines.append(f"| {name} | error: {r['error']} | | | | | |")
            continue
        lines.append(
            f"| {name} | {_g(r['value'])} | {r['predicted'] * 1e3:.2f} ms | {r['bound']} | "
            f"{r['seconds'] * 1e3:.2f} ms | {r['seconds'] / r['predicted']:.2f} | {100 * r['mfu']:.1f}% |"
        )
    faster = {name: r for name, r in fine.items() if r["seconds"] < r["predicted"]}
    notes = []
    if faster:
        convs = [name for name in faster if name in ("resnet50", "mobilenet_v2")]
        notes.append(
            ", ".join(
                f"{name} (ratio {r['seconds'] / r['predicted']:.2f}, MFU {100 * r['mfu']:.0f}%)"
                for name, r in faster.items()
            )
            + " ran *faster* than its roofline bound: its kernels"
            + (f" (oneDNN's convolutions, for {', '.join(convs)})" if convs else "")
            + " reach more than PyTorch's FP32 GEMM at the sizes the `local` calibration uses, so the calibrated "
            "peak is a floor of this machine's real peak, not its ceiling, and a roofline against it is not a lower "
            "bound for such a model on this CPU (`bench/gpu_check.py` makes the same comparison on a GPU)."
        )
    for name, r in fine.items():
        if r["bound"] == "memory" and r["seconds"] > r["predicted"]:
            notes.append(
                f"{name} is memory-bound on the roofline and {r['seconds'] / r['predicted']:.2f}x above it"
                + (
                    ": depthwise convolutions reach a fraction of the copy bandwidth."
                    if name == "mobilenet_v2"
                    else "."
                )
            )
    if notes:
        lines += ["", " ".join(notes)]
    return lines


def worker_llm_generation(tool: str, decode: str, repeats: int) -> dict[str, Any]:
    """flopmagic.llm.generation on the 70B shape above: prefill 2048 + ``decode`` steps, meta device."""
    import torch

    from flopmagic import llm

    model = llama_70b_on_meta(8192).to(torch.bfloat16)
    timings = []
    for _ in range(repeats):
        start = time.perf_counter()
        g = llm.generation(model, prefill=2048, decode=int(decode), hardware="h100-sxm")
        timings.append(time.perf_counter() - start)
    return {
        "value": g.prefill_step.macs,
        "second": g.flops,
        "records": sum(s.measured for s in g.steps),
        "seconds": statistics.median(timings),
        "forward": None,
        "decode_first_macs": g.decode_steps[0].macs,
        "decode_per_position_macs": g.decode_macs_per_position,
        "kv_bytes_per_token": g.kv_bytes_per_token,
        "affinity": g.affinity,
    }


def _n(count: int, noun: str) -> str:
    return f"{count:,} {noun}{'' if count == 1 else 's'}"


def _span(values: list[float]) -> str:
    low, high = f"{min(values):.2f}", f"{max(values):.2f}"
    return low if low == high else f"{low}–{high}"


def _equal(measured: int, expected: int) -> str:
    return "equal" if measured == expected else f"differs by {measured - expected:+,}"


def llm_generation_section(result: dict[str, Any]) -> list[str]:
    """The generation rows (prefill + decode on the 70B shape) and the decode step against its
    analytic count (``--llm-generation`` prints them; the whole run puts them in the huge-models section)."""
    lines = [
        "Generation on the same model (`flopmagic.llm.generation`, bf16 weights on the meta device, a real "
        f"`DynamicCache` of meta tensors, median of 3 calls): a prefill of 2048 tokens, then {LLM_DECODE:,} decode "
        "steps. Time includes the unprofiled forwards that fill the caches of the later traced decode positions.",
        "",
    ]
    if "error" in result:
        return [*lines, f"LLM generation fails: {result['error']}"]
    h, ff, layers = LLAMA_70B["hidden_size"], LLAMA_70B["intermediate_size"], LLAMA_70B["num_hidden_layers"]
    heads, kv_heads, vocab = LLAMA_70B["num_attention_heads"], LLAMA_70B["num_key_value_heads"], LLAMA_70B["vocab_size"]
    head_dim = h // heads
    # one token: q and o (h x h), k and v (h x kv_heads*head_dim), gate, up, down (h x ff), per layer; the LM head
    linear = layers * (2 * h * h + 2 * h * kv_heads * head_dim + 3 * h * ff) + h * vocab
    per_position = layers * 2 * heads * head_dim  # QK^T and AV of one query over one more key
    keys = 2048 + 1  # the token at position 2048 attends to the 2048 cached keys and itself
    kv_bytes = 2 * layers * kv_heads * head_dim * 2  # K and V, bf16
    first, slope = result["decode_first_macs"], result["decode_per_position_macs"]
    return [
        *lines,
        "| counter | mode | prefill MACs | total FLOPs | forwards traced | time | peak RSS |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: |",
        f"| flopmagic.llm.generation | prefill 2048 + decode {LLM_DECODE} | {_g(result['value'])} "
        f"| {_g(result['second'])} | {result['records']} | {result['seconds']:.2f} s | {result['peak_rss_mb']:.0f} MB |",
        "",
        f"Its note: {result['affinity']}.",
        "",
        f"Decode: {first:,} MACs at position 2048; analytic {linear:,} linear ({layers} layers x (2 x {h}² + "
        f"2 x {h} x {kv_heads * head_dim} + 3 x {h} x {ff}) + the LM head {h} x {vocab:,}) + "
        f"{layers} x 2 x {heads} x {head_dim} x {keys} attention = {linear + per_position * keys:,}: "
        f"{_equal(first, linear + per_position * keys)}. Per position +{slope:,} MACs "
        f"({layers} x 2 x {heads} x {head_dim} = {per_position:,}: {_equal(slope, per_position)}). "
        f"KV cache {result['kv_bytes_per_token']:,} bytes/token (2 x {layers} layers x {kv_heads} KV heads x "
        f"{head_dim} x 2 bytes = {kv_bytes:,}: {_equal(result['kv_bytes_per_token'], kv_bytes)}).",
    ]


LLM_DECODE = 2048
# -- ONNX with inline weights: flopmagic vs onnx-tool (time, peak RSS, per-op MACs) -------------

ONNX_PEER_MODELS = ("resnet50", "vit_b_16")


def _onnx_export(name: str) -> str:
    """Export a torchvision model (weights=None) with inline weights into the bench temp dir."""
    path = Path(os.environ.get("FLOPMAGIC_BENCH_TMP", "/tmp")) / f"peer_{name}.onnx"
    if not path.exists():
        import torch
        import torchvision

        model = getattr(torchvision.models, name)(weights=None).eval()
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            torch.onnx.export(model, (torch.zeros(1, 3, 224, 224),), str(path), dynamo=False, opset_version=17)
    return str(path)


def _rss_mb() -> float:
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def worker_onnx_peer(tool: str, name: str, repeats: int) -> dict[str, Any]:
    """One tool on one exported file: the first call's peak RSS above the process's baseline
    (imports done), then the median of ``repeats`` timed calls, and MACs by op type."""
    path = _onnx_export(name) if name in ONNX_PEER_MODELS else name
    by_op: dict[str, int] = {}
    if tool == "onnx-tool":
        import onnx_tool

        def run() -> Any:
            graph = onnx_tool.loadmodel(path, {"verbose": False}).graph
            graph.graph_reorder_nodes()
            graph.shape_infer(None)
            graph.profile(onnx_tool.NoMacsOps)
            return graph

    else:
        import onnx  # noqa: F401  (imported before the baseline, as onnx-tool's is)

        import flopmagic

        def run() -> Any:
            return flopmagic.profile(path)

    baseline = _rss_mb()
    result = run()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 - baseline
    if tool == "onnx-tool":
        macs = round(result.macs[0])
        for node in result.nodemap.values():
            by_op[node.op_type] = by_op.get(node.op_type, 0) + round(getattr(node, "macs", (0.0,))[0])
    else:
        macs = result.macs
        for record in result.records:
            key = record.native
            by_op[key] = by_op.get(key, 0) + record.macs
    del result
    seconds = _median_time(run, repeats)
    return {
        "value": macs,
        "second": os.path.getsize(path) / 2**20,
        "by_op": by_op,
        "seconds": seconds,
        "forward": None,
        "peak_rss_mb": peak,
    }


def worker_onnx_bias(tool: str, name: str, repeats: int) -> dict[str, Any]:
    """Per op type with an optional bias (Conv, ConvTranspose, Gemm) in the exported file: how many
    nodes, how many have a bias input, and those nodes' output elements, from ONNX's own loader and
    shape inference (neither tool's): what the MACs-difference explanation checks against."""
    import math

    import onnx

    path = _onnx_export(name) if name in ONNX_PEER_MODELS else name
    model = onnx.shape_inference.infer_shapes(onnx.load(path))
    shapes = {
        v.name: [d.dim_value for d in v.type.tensor_type.shape.dim]
        for v in (*model.graph.value_info, *model.graph.output)
    }
    nodes: dict[str, int] = {}
    biased: dict[str, int] = {}
    outputs: dict[str, int] = {}
    for node in model.graph.node:
        if node.op_type not in ("Conv", "ConvTranspose", "Gemm"):
            continue
        nodes[node.op_type] = nodes.get(node.op_type, 0) + 1
        if len(node.input) > 2 and node.input[2]:
            dims = shapes[node.output[0]]
            if not dims or not all(dims):
                raise ValueError(f"no static output shape for {node.op_type} {node.name!r}")
            biased[node.op_type] = biased.get(node.op_type, 0) + 1
            outputs[node.op_type] = outputs.get(node.op_type, 0) + math.prod(dims)
    return {"nodes": nodes, "biased": biased, "bias_outputs": outputs, "seconds": 0.0, "forward": None}


ONNX_PEER_TOOLS = ("flopmagic", "onnx-tool")
ONNX_PEER_ROUNDS = 2


def measure_onnx_peer(repeats: int) -> dict[str, Any]:
    """flopmagic vs onnx-tool: exports, then each (tool, model) in its own process, tools
    alternating, ``ONNX_PEER_ROUNDS`` rounds of ``repeats`` calls; and the bias check per model."""
    rows: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for name in ONNX_PEER_MODELS:
        measure("onnx_peer", "flopmagic", name, 1)  # exports the file once
    for _ in range(ONNX_PEER_ROUNDS):
        for name in ONNX_PEER_MODELS:
            for tool in ONNX_PEER_TOOLS:
                rows.setdefault((tool, name), []).append(measure("onnx_peer", tool, name, repeats))
    bias = {name: measure("onnx_bias", "onnx", name, 1) for name in ONNX_PEER_MODELS}
    return {"rows": rows, "bias": bias, "repeats": repeats}


def onnx_peer_section(peer: dict[str, Any]) -> list[str]:
    """The ONNX-with-weights table, MACs by op type, and why they differ, from ``measure_onnx_peer``'s results."""
    rows: dict[tuple[str, str], list[dict[str, Any]]] = peer["rows"]
    lines = [
        "## ONNX with inline weights: flopmagic vs onnx-tool",
        "",
        "torchvision models (`weights=None`) exported with `torch.onnx.export` (opset 17, weights inline). Each "
        f"(tool, model) runs in its own process, tools alternating, {ONNX_PEER_ROUNDS} rounds; time is the median "
        f"of {_n(peer['repeats'], 'call')} after one untimed call (the median over the rounds); peak RSS is the first call's "
        "peak above the process's RSS after its imports (the median over the rounds).",
        "",
        "| model | file MiB | tool | MACs | seconds | peak RSS above baseline MiB | RSS / file |",
        "|---|---:|---|---:|---:|---:|---:|",
    ]
    ratios: dict[str, list[float]] = {}
    for name in ONNX_PEER_MODELS:
        for tool in ONNX_PEER_TOOLS:
            runs = [r for r in rows.get((tool, name), []) if "error" not in r]
            if not runs:
                error = (rows.get((tool, name)) or [{"error": "not run"}])[0].get("error")
                lines.append(f"| {name} | | {tool} | fails: {error} | | | |")
                continue
            size = runs[0]["second"]
            seconds = statistics.median(r["seconds"] for r in runs)
            peak = statistics.median(r["peak_rss_mb"] for r in runs)
            ratios.setdefault(tool, []).append(peak / size)
            lines.append(
                f"| {name} | {size:.0f} | {tool} | {runs[0]['value']:,} | {seconds:.3f} | {peak:.0f} | {peak / size:.2f}x |"
            )
    lines += [
        "",
        "MACs by op type (first round):",
        "",
        "| model | op | flopmagic | onnx-tool | difference |",
        "|---|---|---:|---:|---:|",
    ]
    by_op: dict[str, tuple[dict[str, int], dict[str, int]]] = {}
    for name in ONNX_PEER_MODELS:
        ours = next((r for r in rows.get(("flopmagic", name), []) if "by_op" in r), {}).get("by_op", {})
        theirs = next((r for r in rows.get(("onnx-tool", name), []) if "by_op" in r), {}).get("by_op", {})
        if ours and theirs:
            by_op[name] = (ours, theirs)
        for op in sorted(set(ours) | set(theirs)):
            a, b = ours.get(op, 0), theirs.get(op, 0)
            if a or b:
                lines.append(f"| {name} | {op} | {a:,} | {b:,} | {b - a:+,} |")
    return [*lines, "", *_onnx_peer_explanation(by_op, peer.get("bias", {}), ratios)]


def _onnx_peer_explanation(
    by_op: dict[str, tuple[dict[str, int], dict[str, int]]], bias: dict[str, Any], ratios: dict[str, list[float]]
) -> list[str]:
    """Why the MACs differ, each claim checked on this run's numbers (a difference it cannot
    account for is listed as such)."""
    lines = []
    if ratios.get("flopmagic"):
        others = ratios.get("onnx-tool", [])
        lines += [
            f"flopmagic's peak RSS above the baseline is {_span(ratios['flopmagic'])}x the file"
            + (f" (onnx-tool: {_span(others)}x)" if others else "")
            + ": its loader never holds the weights. It drops every initializer payload (names, dims and dtypes "
            "stay; small integer tensors, the shape constants, stay whole; only small tensors are tested for "
            "all-zero), so shape inference, binding and the walk see a weightless graph, and it does not parse the "
            "file whole: `adapters/onnx/wire.py` scans the protobuf wire format (model → graph → large "
            "initializers, large `Constant` nodes and their subgraphs), copies every other field through as bytes "
            "and seeks past each payload that would be dropped, so a large weight is never read; protobuf then "
            "parses the assembled weightless bytes. For any bytes the result is exactly that of the whole parse "
            "followed by the strip, or both refuse them (`tests/test_onnx_wire.py`, docs/reliability.md).",
            "",
        ]
    if not by_op:
        return lines
    lines.append("Where the MACs differ, onnx-tool is counting more than the dot products:")
    lines.append("")
    bias_claims, agree, unexplained = [], [], []
    bias_ops: set[str] = set()
    not_macs: set[str] = set()
    residual: dict[str, tuple[int, int, int]] = {}
    for name, (ours, theirs) in by_op.items():
        check = bias.get(name, {})
        outputs = check.get("bias_outputs", {})
        taken_off = 0
        for op in sorted(set(ours) | set(theirs)):
            a, b = ours.get(op, 0), theirs.get(op, 0)
            if a == b:
                if a:
                    agree.append(f"{name} {op} {a:,}")
                continue
            if op in outputs and b - a == outputs[op]:
                taken_off += b - a
                bias_ops.add(op)
                bias_claims.append(
                    f"{name} {op} {b - a:+,} = the output elements of its {_n(check['biased'][op], op + ' node')} "
                    f"with a bias input (of {check['nodes'][op]})"
                )
            elif a == 0:
                taken_off += b
                not_macs.add(op)
            else:
                unexplained.append(f"{name} {op}: flopmagic {a:,}, onnx-tool {b:,} ({b - a:+,})")
        residual[name] = (sum(ours.values()), sum(theirs.values()), taken_off)
    if bias_claims:
        lines.append(
            f"- **{', '.join(sorted(bias_ops))}**: onnx-tool adds one MAC per output element for the bias (a "
            "layer's own bias, or the one the exporter gives a Conv when it folds the BatchNorm after it into it): "
            + "; ".join(bias_claims)
            + ". flopmagic counts a bias add as a FLOP, not a MAC."
        )
    if agree:
        lines.append(f"- Equal in both: {'; '.join(agree)}.")
    if not_macs:
        lines.append(
            f"- **{', '.join(sorted(not_macs))}**: onnx-tool reports elementwise, pooling, normalisation and "
            "comparison work as MACs; flopmagic counts 0 MACs for them (it prices that work as FLOPs, or as free "
            "where it is data movement or index arithmetic)."
        )
    for line in unexplained:
        lines.append(f"- Not accounted for by the above: {line}.")
    lines.append("")
    lines.append(
        "With those taken off: "
        + "; ".join(
            f"{name}: onnx-tool {theirs:,} − {off:,} = {theirs - off:,}, flopmagic {ours:,} "
            f"({'equal' if theirs - off == ours else f'a difference of {theirs - off - ours:+,}'})"
            for name, (ours, theirs, off) in residual.items()
        )
        + "."
    )
    return lines


OVERHEAD_MODELS = ["mobilenet_v2", "resnet50", "swin_t", "vit_b_16", "bert", "gpt2"]
OVERHEAD_TOOLS = ("flopmagic", "flop_counter_mode", "fvcore")


def worker_overhead(tool: str, name: str, repeats: int) -> dict[str, Any]:
    """One model, every contender in one process, alternating: a plain forward, the
    empty-dispatch-mode floor, and each counter's whole counting call (``tool`` unused)."""
    import gc

    import torch
    from torch.utils._python_dispatch import TorchDispatchMode

    torch.set_num_threads(1)  # one core: the shared machine's noise hits every contender alike
    model, inputs = _torch_model(name)

    class PassThrough(TorchDispatchMode):
        def __torch_dispatch__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
            return func(*args, **(kwargs or {}))

    def forward() -> None:
        with torch.no_grad():
            _call(model, inputs)

    def floor() -> None:
        with torch.no_grad(), PassThrough():
            _call(model, inputs)

    contenders: dict[str, Any] = {"forward": forward, "floor": floor}
    for counter in OVERHEAD_TOOLS:
        contenders[counter] = lambda counter=counter: _count(counter, model, inputs)
    errors: dict[str, str] = {}
    # CPU time of this thread (PyTorch runs on it: one intra-op thread): other processes on the
    # shared machine do not count, as they would in wall-clock time
    clock = time.thread_time
    forward()  # the model's own first-run costs (allocator, kernels) are not flopmagic's
    # flopmagic's modules imported (a cost of the process, once), its caches still empty
    import flopmagic.adapters.torch.run_module

    start = clock()
    _count("flopmagic", model, inputs)  # the first call in a fresh process: empty caches
    first = clock() - start
    for label, fn in list(contenders.items()):  # warm-up; a counter that fails is a result
        try:
            fn()
        except Exception as error:
            errors[label] = f"{type(error).__name__}: {str(error).splitlines()[0][:80] if str(error) else ''}"
            del contenders[label]
    timings: dict[str, list[float]] = {label: [] for label in contenders}
    for _ in range(repeats):
        for label, fn in contenders.items():
            gc.collect()  # every contender starts from the same heap
            start = clock()
            fn()
            timings[label].append(clock() - start)
    result: dict[str, Any] = {label: statistics.median(times) for label, times in timings.items()}
    result["flopmagic_first"] = first
    result["seconds"] = result["forward"]
    result["errors"] = errors
    # what flopmagic's own work scales with: module calls, ops, and the state it snapshots
    import flopmagic

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        counted = flopmagic.profile(model, inputs)
    result["module_calls"] = sum(layer.calls for layer in counted.layers)
    result["ops"] = len(counted.records)
    result["tensors"] = sum(1 for _ in model.parameters()) + sum(1 for _ in model.buffers())
    return result


def overhead_section(results: dict[str, Any]) -> list[str]:
    """The counting-overhead table: medians in ms, each over the forward and over the floor."""
    lines = [
        "## Counting overhead: flopmagic vs the dispatch floor, FlopCounterMode and fvcore",
        "",
        "One process per model, one PyTorch thread, the contenders alternating (forward, floor, flopmagic, "
        "FlopCounterMode, fvcore) with a `gc.collect()` before each; medians of the thread's CPU time "
        "(`time.thread_time`: the shared machine's other processes do not count, as they would in "
        "wall-clock time). *Floor*: the forward under a `TorchDispatchMode` that only calls the op. Each "
        "counter's time is its whole counting call (flopmagic: hooks, dispatch mode, state snapshot and "
        "restore, pricing, building the profile; fvcore: its JIT trace and count). *First call*: flopmagic's "
        "first profile in the process (before the others' warm-up, its modules already imported), when its "
        "per-process caches are empty "
        "(translations by signature, the leaf variants' first-call checks). Targets: flopmagic ≤ 1.10× the "
        "floor everywhere, ≤ 1.2× a forward on resnet50 and the transformers.",
        "",
        "| model | forward | floor (× fwd) | flopmagic | × floor | × fwd | first call (× fwd) "
        "| FlopCounterMode (× fwd) | fvcore (× fwd) |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for model, r in results.items():
        if "error" in r:
            lines.append(f"| {model} | fails: {r['error']} | | | | | | | |")
            continue
        fwd = r["forward"]

        def cell(label: str, r: dict[str, Any] = r, fwd: float = fwd) -> str:
            if label not in r:
                return "fails: " + r["errors"].get(label, "?")
            return f"{r[label] * 1000:.1f} ms ({r[label] / fwd:.2f})"

        fm = r.get("flopmagic")
        own = f"{fm * 1000:.1f} ms | {fm / r['floor']:.2f} | {fm / fwd:.2f}" if fm else "fails | | "
        first = r.get("flopmagic_first")
        own += f" | {first * 1000:.1f} ms ({first / fwd:.2f})" if first else " | "
        lines.append(
            f"| {model} | {fwd * 1000:.1f} ms | {cell('floor')} | {own} "
            f"| {cell('flop_counter_mode')} | {cell('fvcore')} |"
        )
    lines += ["", *_overhead_verdicts(results), ""]
    return lines


def _overhead_verdicts(results: dict[str, Any]) -> list[str]:
    """Which targets the run met, and for a model that missed one, what its overhead is made of."""
    met_floor, missed, beaten = [], [], []
    for model, r in results.items():
        fm = r.get("flopmagic")
        if "error" in r or not fm:
            continue
        (met_floor if fm <= 1.10 * r["floor"] else missed).append(model)
        if "flop_counter_mode" in r and fm <= r["flop_counter_mode"]:
            beaten.append(model)
    lines = [
        f"Within 1.10× the floor: {', '.join(met_floor) or 'none'}"
        + (f"; missed: {', '.join(missed)}." if missed else "."),
        "",
        f"flopmagic at or below FlopCounterMode: {', '.join(beaten) or 'none'} (of {len(results)}).",
    ]
    for model in missed:
        r = results[model]
        fwd, fm, floor = r["forward"], r["flopmagic"], r["floor"]
        calls, ops, tensors = r.get("module_calls", 0), r.get("ops", 0), r.get("tensors", 0)
        per_unit = (fm - fwd) / max(calls + ops, 1) * 1e6
        allowed = 1.10 * floor - fwd
        cut = 1 - allowed / max(fm - fwd, 1e-9)
        lines += [
            "",
            f"**{model}: {fm / floor:.3f}× the floor, {fm / fwd:.2f}× a forward.** Its forward takes "
            f"{fwd * 1000:.1f} ms and the floor {floor / fwd:.2f}× that, so 1.10× the floor leaves "
            f"{allowed * 1000:.1f} ms for everything flopmagic does. That work is per module call ({calls} calls: "
            "the scope hooks; the standard layers already skip the dispatch mode, see docs/design.md), per op "
            f"({ops} records, priced and named) and per profile (the snapshot and restore of {tensors} parameters "
            f"and buffers, the module walk): {(fm - fwd) * 1000:.1f} ms in all, {per_unit:.1f} µs per module call "
            f"or op. Meeting the target would need that cut by {cut:.1%}"
            + (
                ": within this run's noise (the floor's own ratio to a forward moves by more from run to run)."
                if cut < 0.05
                else ", more than per-call Python hooks and records allow on a forward this short."
            )
            + (
                f" FlopCounterMode, which keeps no scopes or records, takes {r['flop_counter_mode'] / fwd:.2f}× a "
                "forward on it."
                if "flop_counter_mode" in r
                else ""
            ),
        ]
    return lines


def measure_overhead(repeats: int) -> dict[str, Any]:
    """The overhead workers, one process per model: more repeats where a call is short (its
    median is noisier), fewer on the slow transformers."""
    print("Counting overhead:", flush=True)
    counts = {"mobilenet_v2": 4 * repeats, "resnet50": 2 * repeats, "swin_t": 2 * repeats}
    return {m: measure("overhead", "all", m, counts.get(m, max(3, repeats // 2))) for m in OVERHEAD_MODELS}


# -- presets against their tools (issue 17 item 4): agreement counts on a model zoo ----------

PRESET_ZOO = (
    ("torchvision", "resnet18"),
    ("torchvision", "mobilenet_v2"),
    ("torchvision", "resnet50"),
    ("timm", "seresnet50"),
    ("timm", "efficientnet_b0"),
    ("timm", "mobilenetv3_small_100"),
)


def _preset_peers(model: Any, x: Any) -> dict[str, int]:
    """Each peer's own total (its own unit), computed live."""
    import copy

    import thop
    import torch
    from fvcore.nn import FlopCountAnalysis
    from ptflops import get_model_complexity_info
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as mode, torch.no_grad():
        model(x)
    analysis = FlopCountAnalysis(model, (x,))
    analysis.unsupported_ops_warnings(False)
    analysis.uncalled_modules_warnings(False)
    pt_macs, _ = get_model_complexity_info(
        copy.deepcopy(model), tuple(x.shape[1:]), as_strings=False, print_per_layer_stat=False, backend="pytorch"
    )
    thop_macs, _ = thop.profile(copy.deepcopy(model), inputs=(x,), verbose=False)
    from calflops import calculate_flops
    from torchprofile import profile_macs

    with contextlib.redirect_stdout(io.StringIO()):
        cal_flops, _, _ = calculate_flops(
            model=copy.deepcopy(model),
            input_shape=tuple(x.shape),
            output_as_string=False,
            print_results=False,
            print_detailed=False,
        )
    with torch.no_grad():
        traced_macs = profile_macs(copy.deepcopy(model), (x,))
    return {
        "torch": int(mode.get_total_flops()),
        "fvcore": int(analysis.total()),
        "ptflops": int(pt_macs),
        "thop": int(thop_macs),
        "calflops": int(cal_flops),
        "torchprofile": int(traced_macs),
    }


PRESETS = ("torch", "fvcore", "ptflops", "thop", "calflops", "torchprofile")
PRESET_INPUT_SIZE = 64


def worker_presets(tool: str, name: str, repeats: int, size: int = PRESET_INPUT_SIZE) -> dict[str, Any]:
    """Per preset, which zoo models equal the tool's own total (``tool``, ``name``, ``repeats`` unused)."""
    import warnings

    import torch

    import flopmagic

    warnings.filterwarnings("ignore")
    start = time.perf_counter()
    equal: dict[str, list[str]] = {}
    differ: dict[str, list[str]] = {}
    for source, model_name in PRESET_ZOO:
        if source == "timm":
            import timm

            model = timm.create_model(model_name, pretrained=False).eval()
        else:
            import torchvision.models as tvm

            model = getattr(tvm, model_name)(weights=None).eval()
        x = torch.randn(1, 3, size, size)
        profile = flopmagic.profile(model, (x,))
        for preset, peer in _preset_peers(model, x).items():
            mine = profile.under(preset)
            ours = mine.flops if preset in ("torch", "calflops") else mine.macs  # each tool's own quantity
            (equal if ours == peer else differ).setdefault(preset, []).append(
                model_name if ours == peer else f"{model_name} ({ours:,} vs {peer:,})"
            )
    return {
        "equal": equal,
        "differ": differ,
        "size": size,
        "seconds": time.perf_counter() - start,
        "forward": None,
    }


def presets_section(result: dict[str, Any]) -> list[str]:
    """Markdown: per preset, how many zoo models equal the tool's own total."""
    zoo = ", ".join(f"{source} {name}" for source, name in PRESET_ZOO)
    lines = [
        "## Presets against their tools (agreement on a model zoo)",
        "",
        f"Zoo: {zoo} (torchvision `weights=None`, timm `pretrained=False`), eval mode, a 1x3x"
        f"{result.get('size', PRESET_INPUT_SIZE)}x{result.get('size', PRESET_INPUT_SIZE)} input. flopmagic profiles "
        "each model once and re-prices the profile under each preset; every tool's own total is computed live in "
        "the same process (FLOPs for the `torch` and `calflops` presets, as FlopCounterMode and calflops report "
        "them; MACs for the others).",
        "",
    ]
    if "error" in result:
        return [*lines, f"The preset run fails: {result['error']}"]
    equal, differ = result["equal"], result["differ"]
    lines += [
        "| preset | N models | equal | differing (ours vs tool) |",
        "| --- | --- | --- | --- |",
    ]
    for preset in PRESETS:
        n_equal = len(equal.get(preset, []))
        lines.append(f"| `{preset}` | {len(PRESET_ZOO)} | {n_equal} | {'; '.join(differ.get(preset, [])) or '-'} |")
    lines += [
        "",
        "ptflops and thop hook modules by exact type, so a subclass of a hooked layer (timm's `timm.layers.Linear`, "
        "a subclass of `nn.Linear`, is mobilenetv3_small_100's classifier) counts 0 there; records carry the "
        "module's fully qualified class (`module_class`), and both presets count a subclass as unhooked.",
    ]
    return lines


WORKERS = {
    "onnx_peer": worker_onnx_peer,
    "overhead": worker_overhead,
    "roofline": worker_roofline,
    "torch": worker_torch,
    "keras": worker_keras,
    "onnx": worker_onnx,
    "llama": worker_llama,
    "onnx_large": worker_onnx_large,
    "keras_graph": worker_keras_graph,
    "gpt2_training": worker_gpt2_training,
    "llm_generation": worker_llm_generation,
    "onnx_bias": worker_onnx_bias,
    "presets": worker_presets,
}


def run_worker(kind: str, tool: str, name: str, repeats: int) -> None:
    try:
        result = WORKERS[kind](tool, name, repeats)
    except Exception as error:  # a tool that cannot count a model is a result, not a crash
        result = {"error": f"{type(error).__name__}: {str(error).splitlines()[0][:140] if str(error) else ''}"}
    result.setdefault("peak_rss_mb", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    print("BENCH-RESULT " + json.dumps(result), flush=True)


# -- driver side -------------------------------------------------------------------------------


def measure(kind: str, tool: str, name: str, repeats: int, timeout: int = 1800) -> dict[str, Any]:
    command = [sys.executable, __file__, "--worker", kind, tool, name, "--repeats", str(repeats)]
    print(f"  {kind:13s} {tool:18s} {name:18s}", end=" ", flush=True)
    try:
        done = subprocess.run(
            command, capture_output=True, text=True, timeout=timeout, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
        )
    except subprocess.TimeoutExpired:
        print("timed out")
        return {"error": f"timed out after {timeout} s"}
    line = next((x for x in done.stdout.splitlines() if x.startswith("BENCH-RESULT ")), None)
    if line is None:
        tail = (done.stderr.strip().splitlines() or ["no output"])[-1]
        print("failed")
        return {"error": f"worker failed: {tail[:140]}"}
    result: dict[str, Any] = json.loads(line[len("BENCH-RESULT ") :])
    print(result.get("error") or f"{result['seconds']:.3f} s", flush=True)
    return result


def _g(value: float) -> str:
    return f"{value / 1e9:.4f} G"


def _versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    found = {}
    for package in (
        "flopmagic",
        "torch",
        "torchvision",
        "transformers",
        "tensorflow-cpu",
        "tensorflow",
        "keras",
        "onnx",
        "onnxruntime",
        "fvcore",
        "ptflops",
        "thop",
        "calflops",
        "torchprofile",
        "torchinfo",
        "onnx-tool",
        "timm",
    ):
        with contextlib.suppress(PackageNotFoundError):
            found[package] = version(package)
    return found


def _machine() -> str:
    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    memory = ""
    with contextlib.suppress(OSError):
        kb = int(Path("/proc/meminfo").read_text().split()[1])
        memory = f", {kb / 1024 / 1024:.0f} GiB RAM"
    return f"{cpu}, {os.cpu_count()} cores{memory}; {platform.platform()}; Python {platform.python_version()}"


def _not_run(section: str) -> list[str]:
    return [f"Not measured in this run ({section})."]


def header_section(meta: dict[str, Any], seconds: float) -> list[str]:
    started = meta.get("started") or f"{datetime.now(timezone.utc):%Y-%m-%d %H:%M}"
    load = meta.get("load")
    return [
        "# Benchmarks",
        "",
        f"The whole file is generated by one run of `bench/run.py` (`make bench`): every table and every number "
        f"below comes from that run (measured, or computed in it: the analytic counts and checks), started {started} UTC, which took {seconds / 60:.0f} min"
        + (f" (load average {load[0]:.2f} at the start, {load[1]:.2f} at the end)" if load else "")
        + ". Do not edit by hand: re-run `make bench`.",
        "",
        f"**Machine:** {meta.get('machine') or _machine()}; CPU only.",
        "",
        "**Versions:** " + ", ".join(f"{k} {v}" for k, v in (meta.get("versions") or _versions()).items()) + ".",
        "",
        "Each (tool, model) ran in its own process: *peak RSS* is that whole process (interpreter, framework, model). "
        "Times are medians of several calls after a warm-up; *× forward* is the counting call's time over one plain "
        "`torch.no_grad()` forward pass of the same model. *Truth* is the analytic MAC count (conv + linear + attention "
        "matmuls; derivations in `bench/run.py` and `tests/test_tensorflow.py`). *Error* compares each tool's number, "
        "read as the quantity it really is (MACs, or FLOPs = 2 x MACs), with the truth.",
    ]


def torch_section(results: dict[tuple[str, str], dict[str, Any]]) -> list[str]:
    lines = ["## Numbers every tool reports, PyTorch models (batch 1, CPU tensors, random weights)", ""]
    for model in TORCH_MODELS:
        t = truth(model)
        lines += [
            f"### {model}: truth {t:,} MACs ({_g(t)})",
            "",
            "| tool | reports (label) | is | error | time | × forward | peak RSS |",
            "| --- | --- | --- | --- | ---: | ---: | ---: |",
        ]
        for tool in TORCH_TOOLS:
            r = results.get((tool, model)) or {"error": "not run"}
            label, quantity = LABELS[tool]
            if "error" in r:
                rss = f"{r['peak_rss_mb']:.0f} MB" if "peak_rss_mb" in r else ""
                lines.append(f"| {tool} | fails: {r['error']} | | | | | {rss} |")
                continue
            value = r["value"]
            reported = f"{_g(value)} {label}"
            if tool == "flopmagic" or tool == "calflops":
                reported = f"{_g(value)} MACs, {_g(r['second'])} FLOPs"
            as_macs = value / 2 if quantity == "flops" else value
            error = as_macs / t - 1
            ratio = r["seconds"] / r["forward"]
            lines.append(
                f"| {tool} | {reported} | {quantity} | {error:+.2%} | {r['seconds'] * 1000:.0f} ms | {ratio:.2f} | {r['peak_rss_mb']:.0f} MB |"
            )
        lines.append("")
    return lines[:-1]


def keras_onnx_section(other: dict[tuple[str, ...], dict[str, Any]]) -> list[str]:
    lines = [
        "## Keras (TensorFlow graph) and ONNX",
        "",
        "| model | tool | reports | truth | error | time | × forward | peak RSS |",
        "| --- | --- | --- | --- | --- | ---: | ---: | ---: |",
    ]
    for (kind, tool, model), r in other.items():
        if kind not in ("keras", "onnx"):
            continue
        t = truth(model)
        if "error" in r:
            lines.append(f"| {model} | {tool} | fails: {r['error']} | | | | | |")
            continue
        if tool == "tf-profiler":
            reported, error = f"{_g(r['value'])} flops", r["value"] / 2 / t - 1
        else:
            reported, error = f"{_g(r['value'])} MACs, {_g(r['second'])} FLOPs", r["value"] / t - 1
        lines.append(
            f"| {model} | {tool} | {reported} | {_g(t)} MACs | {error:+.2%} | {r['seconds'] * 1000:.0f} ms | {r['seconds'] / r['forward']:.2f} | {r['peak_rss_mb']:.0f} MB |"
        )
    return [
        *lines,
        "",
        "TensorFlow's profiler counts true FLOPs of convolutions, matmuls, BiasAdd and its registered elementwise ops, "
        "and 0 for ops without registered statistics (Relu, Relu6): its error here is those ops. ONNX times include "
        "shape inference of the exported graph; *× forward* is over one ONNX Runtime run.",
    ]


def huge_section(other: dict[tuple[str, ...], dict[str, Any]], generation: dict[str, Any] | None) -> list[str]:
    config = ", ".join(f"{key}={value}" for key, value in LLAMA_70B.items())
    lines = [
        "## Huge models without weights: a LLaMA-style 70B on the meta device",
        "",
        f"`LlamaConfig({config})` built on the meta device, 2048 tokens, batch 1. flopmagic keeps a "
        "full record per op (elementwise, norms and attention included); `FlopCounterMode` counts matmuls and attention only. "
        "Each counter runs in its own process (its peak RSS is that process before the other counter runs); times are "
        f"medians of {LLAMA_REPEATS} calls alternating with the other counter in the same process, and the time target "
        "compares those.",
        "",
        "| counter | mode | MACs | FLOPs | op records | time | peak RSS | targets |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for mode in ("inference", "training"):
        fcm = other.get(("llama", "flop_counter_mode", mode), {})
        for tool in ("flopmagic", "flop_counter_mode"):
            r = other.get(("llama", tool, mode)) or {"error": "not run"}
            if "error" in r:
                lines.append(f"| {tool} | {mode} | fails: {r['error']} | | | | | |")
                continue
            targets = ""
            if tool == "flopmagic" and "seconds" in fcm:
                ratio = r["seconds"] / r["other_seconds"]  # alternating runs in one process
                time_ok = f"{'met' if ratio <= 1 else 'missed'} ({ratio:.2f}× FlopCounterMode)"
                memory_ok = "met" if r["peak_rss_mb"] < 1024 else "missed"
                targets = f"time ≤ FlopCounterMode: {time_ok}; < 1 GB: {memory_ok}"
            lines.append(
                f"| {tool} | {mode} | {_g(r['value'])} | {_g(r['second'])} | {r['records'] or '-'} | {r['seconds']:.2f} s | {r['peak_rss_mb']:.0f} MB | {targets} |"
            )
    lines.append("")
    return lines + (llm_generation_section(generation) if generation is not None else _not_run("LLM generation"))


def graph_walks_section(other: dict[tuple[str, ...], dict[str, Any]], keras: bool = True) -> list[str]:
    """The graph-walk rows (``keras=False``: the ONNX chain alone, for ``--onnx-peer``)."""
    large = other.get(("onnx_large", "flopmagic", str(LARGE_NODES)), {})
    keras_walk = other.get(("keras_graph", "flopmagic", "resnet50"), {})
    keras_prof = other.get(("keras_graph", "tf-profiler", "resnet50"), {})
    lines = [
        "## Graph walks",
        "",
        f"Times are medians of {LARGE_REPEATS} calls in one process after one untimed call.",
        "",
        "| what | result | time | peak RSS |",
        "| --- | --- | ---: | ---: |",
    ]
    if "seconds" in large:
        lines.append(
            f"| ONNX graph of {LARGE_NODES:,} nodes (MatMul/Add/Relu/Sigmoid chain) | {large['records']:,} records, {large['value']:,} MACs | {large['seconds']:.2f} s | {large['peak_rss_mb']:.0f} MB |"
        )
    else:
        lines.append(f"| ONNX graph of {LARGE_NODES:,} nodes | fails: {large.get('error', 'not run')} | | |")
    if "seconds" in keras_walk and "seconds" in keras_prof:
        lines.append(
            f"| Keras ResNet50, frozen graph: flopmagic's walk | {_g(keras_walk['value'])} MACs; its tf-profiler preset {_g(keras_walk['second'])} FLOPs | {keras_walk['seconds']:.2f} s | {keras_walk['peak_rss_mb']:.0f} MB |"
        )
        lines.append(
            f"| Keras ResNet50, the same frozen graph: TensorFlow's profiler | {_g(keras_prof['value'])} FLOPs | {keras_prof['seconds']:.2f} s | {keras_prof['peak_rss_mb']:.0f} MB |"
        )
    elif keras:
        error = keras_walk.get("error") or keras_prof.get("error") or "not run"
        lines.append(f"| Keras ResNet50, frozen graph | fails: {error} | | |")
    if "seconds" in large:
        per_node = large["seconds"] / large["records"] * 1e6
        verdict = "met" if large["seconds"] <= LARGE_TARGET_S else "missed"
        lines += [
            "",
            f"Target for the ONNX chain: at most {LARGE_TARGET_S:.0f} s; measured {large['seconds']:.2f} s "
            f"({per_node:.0f} µs per node): {verdict}. The time is ONNX's own shape inference (on the weightless "
            "graph), its name check of every node, and flopmagic's per-node walk in Python: reading each node's "
            "attributes and shapes, building its canonical spec (identical nodes translate once), pricing it and "
            "building its record, attributing parameters and scope.",
        ]
    return lines


def rule_of_thumb_section(other: dict[tuple[str, ...], dict[str, Any]]) -> list[str]:
    lines = ["## The LLM rule of thumb: training FLOPs ≈ 6 N D", ""]
    gpt = other.get(("gpt2_training", "flopmagic", "gpt2"), {})
    if "value" not in gpt:
        return [*lines, f"GPT-2 training count fails: {gpt.get('error', 'not run')}"]
    n_non_embedding = 12 * 12 * 768 * 768  # Kaplan et al. 2020: N = 12 n_layer d_model^2
    tokens = 128
    rule = 6 * n_non_embedding * tokens
    measured = gpt["value"] + gpt["second"]
    return [
        *lines,
        f"GPT-2 small (GPT2Config defaults), 128 tokens, forward + measured backward (`training=True`): "
        f"forward {_g(gpt['value'])} FLOPs + backward {_g(gpt['second'])} FLOPs = **{_g(measured)}**. "
        f"Kaplan et al. (2020): C ≈ 6 N D with N = 12 n_layer d_model² = {n_non_embedding:,} non-embedding parameters and "
        f"D = {tokens} tokens gives **{_g(rule)}**: the measured count is {measured / rule:.2f}× the rule.",
        "",
        "The difference is what the rule leaves out: the LM head (128 × 768 × 50,257 MACs forward, twice that backward: "
        f"{_g(6 * 128 * 768 * 50257)} FLOPs) — the embedding matrix is excluded from N but the head uses it — the "
        "attention score and value matmuls (2 × 128² × 768 per layer, which grow with context length), and the "
        "elementwise work of norms, GELU, softmax and their gradients.",
    ]


def report(results: dict[str, Any], seconds: float) -> str:
    """The whole of docs/benchmarks.md from one run's results (see ``measure_all``); a section
    whose results are missing says so."""
    other = results.get("other", {})
    hardware = results.get("hardware")
    sections = [
        header_section(results.get("meta", {}), seconds),
        torch_section(results.get("torch", {})),
        overhead_section(results["overhead"])[:-1] if "overhead" in results else _not_run("counting overhead"),
        keras_onnx_section(other),
        onnx_peer_section(results["onnx_peer"]) if "onnx_peer" in results else _not_run("ONNX with inline weights"),
        huge_section(other, results.get("llm_generation")),
        graph_walks_section(other),
        rule_of_thumb_section(other),
        presets_section(results["presets"]) if "presets" in results else _not_run("presets"),
        hardware_section(hardware, results.get("meta", {}).get("repeats"))
        if hardware
        else ["## Predicted vs measured latency (roofline on this machine)", "", *_not_run("--hardware skip")],
    ]
    return "\n\n".join("\n".join(section) for section in sections) + "\n"


LLAMA_REPEATS = 3
LARGE_NODES = 100_000
LARGE_REPEATS = 3
LARGE_TARGET_S = 2.0  # issue 17: the 100k-node chain in at most 2 s


def measure_all(repeats: int, hardware: bool = True) -> dict[str, Any]:
    """Every measurement of the report, in one run (each (tool, model) in its own process)."""
    results: dict[str, Any] = {"torch": {}, "other": {}}
    if hardware:
        print("Roofline vs measured latency:", flush=True)
        results["hardware"] = {m: measure("roofline", "flopmagic", m, repeats) for m in ROOFLINE_MODELS}
    print("PyTorch models:", flush=True)
    for model in TORCH_MODELS:
        for tool in TORCH_TOOLS:
            results["torch"][(tool, model)] = measure(
                "torch", tool, model, repeats if model not in ("vit_b_16", "gpt2", "bert") else 3
            )
    results["overhead"] = measure_overhead(repeats)
    print("Keras and ONNX:", flush=True)
    for model in ("keras_resnet50", "keras_mobilenetv2"):
        for tool in ("flopmagic", "tf-profiler"):
            results["other"][("keras", tool, model)] = measure("keras", tool, model, repeats)
    for model in ("onnx_resnet50", "onnx_mobilenet_v2"):
        results["other"][("onnx", "flopmagic", model)] = measure("onnx", "flopmagic", model, repeats)
    print("ONNX with inline weights:", flush=True)
    results["onnx_peer"] = measure_onnx_peer(repeats)
    print("Huge and large:", flush=True)
    for mode in ("inference", "training"):
        for tool in ("flopmagic", "flop_counter_mode"):
            results["other"][("llama", tool, mode)] = measure("llama", tool, mode, LLAMA_REPEATS)
    results["llm_generation"] = measure("llm_generation", "flopmagic", str(LLM_DECODE), LLAMA_REPEATS)
    results["other"][("onnx_large", "flopmagic", str(LARGE_NODES))] = measure(
        "onnx_large", "flopmagic", str(LARGE_NODES), LARGE_REPEATS
    )
    for tool in ("flopmagic", "tf-profiler"):
        results["other"][("keras_graph", tool, "resnet50")] = measure("keras_graph", tool, "resnet50", LARGE_REPEATS)
    results["other"][("gpt2_training", "flopmagic", "gpt2")] = measure("gpt2_training", "flopmagic", "gpt2", 1)
    print("Presets:", flush=True)
    results["presets"] = measure("presets", "all", "zoo", 1)
    return results


def _to_json(value: Any) -> Any:
    """Results as JSON: a dict with tuple keys becomes {"__pairs__": [[key, value], ...]}."""
    if isinstance(value, dict):
        if any(isinstance(key, tuple) for key in value):
            return {"__pairs__": [[list(key), _to_json(v)] for key, v in value.items()]}
        return {key: _to_json(v) for key, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_to_json(v) for v in value]
    return value


def _from_json(value: Any) -> Any:
    if isinstance(value, dict):
        if set(value) == {"__pairs__"}:
            return {tuple(key): _from_json(v) for key, v in value["__pairs__"]}
        return {key: _from_json(v) for key, v in value.items()}
    if isinstance(value, list):
        return [_from_json(v) for v in value]
    return value


DOCS = ROOT / "docs" / "benchmarks.md"
RAW = Path(os.environ.get("FLOPMAGIC_BENCH_TMP", "/tmp")) / "flopmagic-bench-results.json"


def _print_section(lines: list[str], out: str | None) -> None:
    """A section flag's output: printed; written alone to ``--out`` when one is given (never
    into docs/benchmarks.md, which only the whole run writes)."""
    text = "\n".join(lines) + "\n"
    print(text, end="")
    if out is not None:
        Path(out).write_text(text, encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--out",
        default=None,
        help=f"where the whole run writes the report (default {DOCS.relative_to(ROOT)}); with a section flag, a "
        "file to write that section alone to (not the report)",
    )
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--worker", nargs=3, metavar=("KIND", "TOOL", "NAME"), help=argparse.SUPPRESS)
    parser.add_argument(
        "--raw",
        default=str(RAW),
        help="where the whole run saves its raw results (JSON) before writing the report (default: %(default)s)",
    )
    parser.add_argument(
        "--render",
        metavar="RAW",
        help="write the report from a whole run's saved raw results (--raw), measuring nothing",
    )
    parser.add_argument(
        "--hardware",
        choices=("include", "only", "skip"),
        default="include",
        help="the predicted-vs-measured latency section: include it, run only it (printed), or skip it",
    )
    parser.add_argument(
        "--llm-generation",
        action="store_true",
        help="run only the 70B prefill + decode generation benchmark and print its rows",
    )
    parser.add_argument(
        "--onnx-peer",
        action="store_true",
        help="run only the ONNX-with-weights section (flopmagic vs onnx-tool) and the 100,000-node chain, and print them",
    )
    parser.add_argument(
        "--overhead-only",
        action="store_true",
        help="run only the counting-overhead section (flopmagic vs floor vs FlopCounterMode vs fvcore) and print it",
    )
    parser.add_argument("--presets", action="store_true", help="run only the preset-agreement section and print it")
    args = parser.parse_args(argv)
    if args.worker:
        run_worker(*args.worker, repeats=args.repeats)
        return 0
    section_flag = (
        args.presets or args.llm_generation or args.onnx_peer or args.overhead_only or args.hardware == "only"
    )
    if section_flag and args.out is not None and Path(args.out).resolve() == DOCS.resolve():
        print(
            f"{DOCS.relative_to(ROOT)} is written whole by one run; a section flag prints its section", file=sys.stderr
        )
        return 2
    if args.presets:
        _print_section(presets_section(measure("presets", "all", "zoo", 1)), args.out)
        return 0
    if args.llm_generation:
        generation = measure("llm_generation", "flopmagic", str(LLM_DECODE), LLAMA_REPEATS)
        _print_section(llm_generation_section(generation), args.out)
        return 0
    if args.onnx_peer:
        other: dict[tuple[str, ...], dict[str, Any]] = {
            ("onnx_large", "flopmagic", str(LARGE_NODES)): measure(
                "onnx_large", "flopmagic", str(LARGE_NODES), LARGE_REPEATS
            )
        }
        lines = onnx_peer_section(measure_onnx_peer(args.repeats))
        _print_section([*lines, "", *graph_walks_section(other, keras=False)], args.out)
        return 0
    if args.overhead_only:
        _print_section(overhead_section(measure_overhead(args.repeats)), args.out)
        return 0
    if args.hardware == "only":
        print("Roofline vs measured latency:", flush=True)
        hardware = {m: measure("roofline", "flopmagic", m, args.repeats) for m in ROOFLINE_MODELS}
        _print_section(hardware_section(hardware, args.repeats), args.out)
        return 0
    out = Path(args.out) if args.out is not None else DOCS
    if args.render:
        results = _from_json(json.loads(Path(args.render).read_text(encoding="utf-8")))
        out.write_text(report(results, results["meta"]["seconds"]), encoding="utf-8")
        print(f"wrote {out} from {args.render}")
        return 0
    started = time.time()
    load_start = os.getloadavg()[0]
    meta: dict[str, Any] = {
        "started": f"{datetime.now(timezone.utc):%Y-%m-%d %H:%M}",
        "repeats": args.repeats,
        "machine": _machine(),
        "versions": _versions(),
    }
    results = measure_all(args.repeats, hardware=args.hardware != "skip")
    meta["seconds"] = time.time() - started
    meta["load"] = [load_start, os.getloadavg()[0]]
    results["meta"] = meta
    # the raw results first: a report that fails to render can be re-rendered (--render) without re-measuring
    Path(args.raw).write_text(json.dumps(_to_json(results), indent=1), encoding="utf-8")
    out.write_text(report(results, meta["seconds"]), encoding="utf-8")
    print(f"wrote {out} in {meta['seconds'] / 60:.1f} min (raw results: {args.raw})")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The %%profile magic in a real IPython shell: capture, options, errors, mimebundles."""

from __future__ import annotations

import re

import pytest
import torch
from IPython.core.error import UsageError
from IPython.utils.capture import capture_output

import flopmagic
from flopmagic.capture import CELL, OTHER_OPS


def run(ip, line, cell):
    """Run %%profile and return (cell value, displayed mimebundles)."""
    with capture_output() as captured:
        value = ip.run_cell_magic("profile", line, cell)
    return value, [output.data for output in captured.outputs]


def test_captures_resnet50_and_bert_with_the_exact_macs(ip):
    value, bundles = run(
        ip,
        "-o report",
        """
from transformers import BertConfig, BertModel
resnet50 = torchvision.models.resnet50().eval()
bert = BertModel(BertConfig()).eval()
x = torch.randn(1, 3, 224, 224)
ids = torch.zeros(1, 128, dtype=torch.long)
with torch.no_grad():
    logits = resnet50(x)
    hidden = bert(input_ids=ids).last_hidden_state
(logits.shape, hidden.shape)
""",
    )
    # the cell's own result is still its output, and its variables are defined
    assert value == (torch.Size([1, 1000]), torch.Size([1, 128, 768]))
    assert ip.user_ns["logits"].shape == (1, 1000)
    report = ip.user_ns["report"]
    by_name = {p.model: p for p in report.profiles}
    assert set(by_name) == {"resnet50", "bert"}
    assert by_name["resnet50"].macs == 4_089_184_256  # torchvision resnet50 @224
    assert by_name["bert"].macs == 11_174_215_680  # BERT-base, seq 128 (see test_transformers)
    assert by_name["bert"].inputs[0].name == "input_ids"
    (bundle,) = bundles
    assert set(bundle) == {"text/plain", "text/html"}
    assert "4.089 GMACs" in bundle["text/html"] and "11.174 GMACs" in bundle["text/html"]
    assert "Comparison" in bundle["text/plain"]  # two models: side by side first


def test_a_cell_that_raises_profiles_nothing_and_keeps_its_namespace(ip):
    with capture_output() as captured, pytest.raises(ZeroDivisionError):
        ip.run_cell_magic(
            "profile",
            "",
            "before_error = 41 + 1\nnet = nn.Linear(4, 2)\nnet(torch.zeros(1, 4))\n1 / 0\nafter_error = 1",
        )
    assert captured.outputs == []
    assert ip.user_ns["before_error"] == 42
    assert "after_error" not in ip.user_ns


def test_named_models_with_input_variable_or_shape(ip):
    ip.run_cell("small = nn.Sequential(nn.Linear(8, 4), nn.ReLU(), nn.Linear(4, 2))\nbatch = torch.zeros(3, 8)")
    _, bundles = run(ip, "small --input batch -o named -q", "pass")
    assert bundles == []  # -q: nothing shown
    # 3 rows * (8*4 + 4*2) = 120 MACs
    assert ip.user_ns["named"].profile.macs == 120
    _, bundles = run(ip, "small --input-shape 1x8 --unit macs --by type", "pass")
    table = bundles[0]["text/plain"].split("Op type")[1].split("Convention")[0]
    assert "linear" in table and "FLOPs" not in table


def test_options_convention_depth_claim(ip):
    ip.run_cell("r18 = torchvision.models.resnet18().eval()")
    _, bundles = run(
        ip, 'r18 --input-shape 1x3x224x224 --convention paper --depth 1 --claim "1.8 GFLOPs" -o audited', "pass"
    )
    report = ip.user_ns["audited"]
    assert report.profile.convention == "paper" and report.profile.macs == 1_814_073_344
    assert report.verdicts[0].kind == "macs-as-flops"
    html = bundles[0]["text/html"]
    visible = re.sub(r"<details>.*?</details>", "", html, flags=re.S)
    assert "macs-as-flops" in visible and "layer4" in visible and "layer4.1" not in visible
    assert "layer4.1" in html  # every layer one click away


def test_training_captured_from_the_users_own_backward(ip):
    run(
        ip,
        "-o trained -q",
        "mlp = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2))\nloss = mlp(torch.randn(2, 4)).sum()\nloss.backward()",
    )
    profile = ip.user_ns["trained"]["mlp"]
    # forward 36 MACs, backward 48 (see test_torch_adapter): the user's backward is captured too
    assert sum(r.macs for r in profile.records if r.phase == "forward") == 36
    assert sum(r.macs for r in profile.records if r.phase == "backward") == 48
    assert profile.training


def test_other_backends_rerun_the_captured_call(ip):
    run(ip, "--backend fvcore -o fv -q", "conv = nn.Conv2d(3, 8, 3)\nout = conv(torch.randn(1, 3, 8, 8))")
    # fvcore: 3*3*3 * 8 * 6*6 = 7,776 MACs, no bias
    assert ip.user_ns["fv"]["conv"].macs == 7_776


def test_nothing_to_profile_is_said(ip):
    _, bundles = run(ip, "", "z = 1 + 1")
    assert "nothing to profile" in bundles[0]["text/plain"]


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("--convention gflops", "unknown --convention 'gflops'"),
        ("--backend thop", "unknown --backend 'thop'"),
        ("--depth 0", "--depth must be at least 1"),
        ("m --input no_such_variable", "--input 'no_such_variable': no such variable"),
        ("no_such_model --input-shape 1x4", "no variable 'no_such_model'"),
        ("small --input-shape 1xfour", "bad input shape '1xfour'"),
        ("--unit gflops", "argument --unit: invalid choice"),
    ],
)
def test_misuse_raises_usage_error_with_the_fix(ip, line, message):
    ip.run_cell("small = nn.Linear(4, 2)")
    with pytest.raises(UsageError, match=message.replace("(", r"\(")):
        ip.run_cell_magic("profile", line, "pass")


def test_profile_model_line_magic(ip):
    with capture_output() as captured:
        ip.run_line_magic("profile_model", "torchvision:resnet18 --unit macs")
    assert "1.814 GMACs" in captured.outputs[0].data["text/plain"]
    with pytest.raises(UsageError, match="no variable 'nothing_here'"):
        ip.run_line_magic("profile_model", "nothing_here")


def test_html_is_escaped(ip):
    ip.run_cell("evil = nn.Sequential()\nevil.add_module('<script>alert(1)</script>', nn.Linear(2, 2))")
    _, bundles = run(ip, "evil --input-shape 1x2", "pass")
    html = bundles[0]["text/html"]
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_unload_and_reload_extension(ip):
    assert "profile" in ip.magics_manager.magics["cell"]
    ip.run_line_magic("unload_ext", "flopmagic")
    assert "profile" not in ip.magics_manager.magics["cell"]
    assert "profile_model" not in ip.magics_manager.magics["line"]
    ip.run_line_magic("load_ext", "flopmagic")
    assert "profile" in ip.magics_manager.magics["cell"]
    assert callable(flopmagic.load_ipython_extension)


def test_captures_keras_and_onnxruntime_calls(ip, tmp_path):
    import onnx

    from test_onnx import CONV

    path = tmp_path / "conv.onnx"
    onnx.save(CONV, str(path))
    ip.user_ns["conv_path"] = str(path)
    value, _ = run(
        ip,
        "-o mixed",
        """
import numpy as np, keras, onnxruntime
import keras_models
lenet_keras = keras_models.lenet()
probabilities = lenet_keras(np.zeros((1, 28, 28, 1), np.float32))
session = onnxruntime.InferenceSession(conv_path, providers=["CPUExecutionProvider"])
(conv_out,) = session.run(None, {"x": np.zeros((1, 3, 8, 8), np.float32)})
conv_out.shape
""",
    )
    assert value == (1, 4, 6, 6)
    by_name = {p.model: p for p in ip.user_ns["mixed"].profiles}
    # LeNet in Keras: 416,520 MACs (see torch_models); the ONNX conv: 3*9 * 4 * 36 = 3,888
    assert by_name["lenet_keras"].macs == 416_520 and by_name["lenet_keras"].framework == "tensorflow"
    assert by_name["session"].macs == 3_888 and by_name["session"].framework == "onnx"
    import keras
    import onnxruntime

    # the wrappers are gone after the cell
    assert "run" not in onnxruntime.InferenceSession.__dict__
    assert keras.Model.__call__.__qualname__ != "CellCapture._watch_keras.<locals>.wrap_call.<locals>.__call__"


def test_exporting_inside_the_cell_is_not_captured(ip, tmp_path):
    ip.user_ns["export_path"] = str(tmp_path / "net.onnx")
    run(
        ip,
        "-o exported -q",
        """
import contextlib, io
tiny = nn.Sequential(nn.Linear(4, 3))
out = tiny(torch.zeros(1, 4))
with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
    torch.onnx.export(tiny, (torch.zeros(1, 4),), export_path, dynamo=True, optimize=False)
""",
    )
    # the exporter's tracing (fake tensors, its Wrapper/GuardsFn modules) is not what the cell
    # computes and is not captured; the one real matmul the exporter runs outside any module is
    names = [p.model for p in ip.user_ns["exported"].profiles]
    assert names == ["tiny"]  # never a fake model for the ops outside it
    tiny = ip.user_ns["exported"]["tiny"]
    assert sum(r.macs for r in tiny.records if r.scope != OTHER_OPS) == 12  # 4*3, the cell's own forward, once


# -- #13: the magic as people use it -------------------------------------------------------------
def _plain(text):
    return re.sub(r"\x1b\[[0-9;]*m", "", text)


def test_names_on_the_line_are_looked_up_after_the_cell_defines_them(ip):
    ip.user_ns.pop("fresh_model", None)
    ip.user_ns.pop("fresh_x", None)
    run(
        ip,
        "fresh_model --input fresh_x -o fresh",
        "fresh_model = nn.Sequential(nn.Linear(8, 4))\nfresh_x = torch.zeros(2, 8)",
    )
    assert ip.user_ns["fresh"].profile.macs == 2 * 8 * 4  # 2 rows x 8 inputs x 4 outputs = 64
    with pytest.raises(UsageError, match="--input 'never_defined': no such variable"):
        ip.run_cell_magic("profile", "fresh_model --input never_defined", "pass")


def test_ops_outside_modules_are_an_other_ops_row_not_a_model(ip):
    _, bundles = run(
        ip,
        "-o mixed_ops",
        "lin = nn.Linear(4, 3)\nh = lin(torch.zeros(1, 4))\nextra = torch.randn(5, 6) @ torch.randn(6, 7)",
    )
    report = ip.user_ns["mixed_ops"]
    assert [p.model for p in report.profiles] == ["lin"] and report.comparison is None
    profile = report.profile
    # the model's own 4*3 = 12 MACs, and the cell's matmul 5*6*7 = 210 MACs in the (other ops) row
    assert sum(r.macs for r in profile.records if r.scope == OTHER_OPS) == 210
    assert profile.macs == 12 + 210
    assert OTHER_OPS in bundles[0]["text/html"] and "Comparison" not in bundles[0]["text/plain"]
    # no model at all: the ops are the cell's own profile
    run(ip, "-o only_ops -q", "y = torch.randn(2, 3) @ torch.randn(3, 4)")
    assert [p.model for p in ip.user_ns["only_ops"].profiles] == [CELL]
    assert ip.user_ns["only_ops"].profile.macs == 2 * 3 * 4


def test_errors_speak_the_magics_options(ip):
    ip.run_cell("needs_input = nn.Linear(4, 2)")
    with pytest.raises(UsageError) as raised:
        ip.run_cell_magic("profile", "needs_input", "pass")
    assert "--input" in str(raised.value) and "inputs=" not in str(raised.value)


@pytest.mark.parametrize("source", ["%%profile -h", "%%profile -h\n\n", "%%profile --help\nx = 1", "%profile -h"])
def test_help_is_printed(ip, source):
    with capture_output() as captured:
        result = ip.run_cell(source)
    assert result.success, result.error_before_exec or result.error_in_exec
    assert "--input-shape" in captured.stdout and "%%profile NAME" in captured.stdout
    with capture_output() as captured:
        ip.run_line_magic("profile_model", "-h")
    assert "--hardware" in captured.stdout


def test_line_profile_profiles_named_models_and_says_what_it_needs(ip):
    ip.run_cell("line_net = nn.Linear(3, 5)")
    with capture_output() as captured:
        ip.run_line_magic("profile", "line_net --input-shape 1,3")  # one shape (1, 3), as a tuple reads
    assert "15 MACs (15)" in captured.outputs[0].data["text/plain"]  # 3 * 5
    with pytest.raises(UsageError, match="%%profile"):
        ip.run_line_magic("profile", "--unit macs")


def test_quiet_without_output_says_where_the_report_went(ip):
    with capture_output() as captured:
        ip.run_cell_magic("profile", "-q", "q_net = nn.Linear(2, 2)\nq_net(torch.zeros(1, 2))")
    assert captured.outputs == [] and "_profile" in captured.stdout
    assert ip.user_ns["_profile"].profile.macs == 4


def test_a_raising_cell_shows_the_traceback_it_shows_without_the_magic(ip):
    source = "def inner(v):\n    return 1 / v\nnet = nn.Linear(4, 2)\nnet(torch.zeros(1, 4))\ninner(0)\n"
    with capture_output() as plain:
        ip.run_cell(source)
    with capture_output() as magic:
        ip.run_cell("%%profile\n" + source)
    without, with_magic = _plain(plain.stdout), _plain(magic.stdout)
    frames = len(re.findall(r"^Cell In\[", without, flags=re.M))
    assert frames == 2  # the cell's line and inner()
    assert len(re.findall(r"^(Cell In\[|File )", with_magic, flags=re.M)) == frames
    assert "flopmagic" not in with_magic and "Could not get source" not in with_magic
    assert with_magic.splitlines()[2:] == without.splitlines()[2:]


def test_hardware_options_show_the_roofline(ip):
    ip.run_cell("hw_net = nn.Linear(64, 64)")
    _, bundles = run(ip, "hw_net --input-shape 1x64 --hardware h100-sxm --dtype fp32 -o hw", "pass")
    (roofline,) = ip.user_ns["hw"].extras
    assert roofline.to_text() in bundles[0]["text/plain"]
    assert "roofline" in bundles[0]["text/html"]
    with pytest.raises(UsageError, match="--fused"):
        ip.run_cell_magic("profile", "hw_net --input-shape 1x64 --fused", "pass")


def test_comparison_changes_are_per_model_against_the_baseline(ip):
    ip.run_cell("base = nn.Linear(10, 10)\nbigger = nn.Linear(10, 20)\nsmaller = nn.Linear(10, 5)")
    _, bundles = run(ip, "base bigger smaller --input-shape 1x10 --baseline base --unit macs -o three", "pass")
    text = bundles[0]["text/plain"]
    # 100, 200 and 50 MACs: +100% and -50% against base, each in its own column
    assert "Change bigger vs base" in text and "Change smaller vs base" in text
    total = next(line for line in text.splitlines() if line.startswith("Total"))
    assert "+100.0%" in total and "-50.0%" in total
    _, bundles = run(ip, "base bigger smaller --input-shape 1x10 --baseline smaller", "pass")
    assert "Change base vs smaller" in bundles[0]["text/plain"]


def test_results_of_the_api_display_themselves(ip):
    result = ip.run_cell("import flopmagic\nflopmagic.profile(nn.Linear(4, 2), input_shape=(1, 4))").result
    bundle, _ = ip.display_formatter.format(result)
    assert "8 MACs (8)" in bundle["text/plain"] and "<table class='fm-table'>" in bundle["text/html"]
    assert not bundle["text/plain"].startswith("ModelProfile(")


def test_to_pandas_numbers_are_numbers(ip):
    pytest.importorskip("pandas")
    run(ip, "-o frames -q", "pn = nn.Sequential(nn.Linear(4, 4), nn.ReLU())\npn(torch.zeros(1, 4))")
    frame = ip.user_ns["frames"].to_pandas()
    assert frame["% FLOPs"].dtype.kind == "f" and frame["MACs"].dtype.kind in "iu"
    assert abs(frame["% FLOPs"].sum() - 100.0) < 0.2
    assert "16" in ip.user_ns["frames"].styled().to_html()


def test_a_training_step_labels_its_phases_and_prices_the_loss(ip):
    run(
        ip,
        "-o step -q",
        """
import torch.nn.functional as F
tmlp = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2))
opt = torch.optim.SGD(tmlp.parameters(), lr=0.1)
loss = F.cross_entropy(tmlp(torch.randn(2, 4)), torch.tensor([0, 1]))
loss.backward()
opt.step()
""",
    )
    profile = ip.user_ns["step"]["tmlp"]
    flops = {}
    for record in profile.records:
        flops[record.phase] = flops.get(record.phase, 0) + record.flops
    # loss: log_softmax over 2x2 logits, 5 per logit + 1 log per row = 22, nll_loss 1 per sample = 2
    assert flops["loss"] == 24
    # SGD: p -= lr * g, a multiply and an add per parameter: 2 * (4*3+3 + 3*2+2) = 46
    assert flops["optimizer"] == 46
    assert not profile.unsupported()  # nll_loss priced; torch.profiler's markers are not ops
    assert not any(r.native.startswith("profiler.") for r in profile.records)
    assert "(loss)" in profile.render("text") and "(optimizer)" in profile.render("text")


@pytest.mark.parametrize("backend", ["fvcore", "torch"])
def test_peer_backends_fill_the_layer_columns_from_the_module_tree(ip, backend):
    run(
        ip,
        f"--backend {backend} -o peer -q",
        "pconv = nn.Sequential(nn.Conv2d(3, 8, 3))\npconv(torch.randn(1, 3, 8, 8))",
    )
    profile = ip.user_ns["peer"]["pconv"]
    (row,) = [r for r in profile.by_layer() if r.key == "0"]
    # Conv2d(3, 8, 3) on 8x8: output 1x8x6x6, 3*3*3*8 + 8 = 224 parameters, 27*8*36 = 7,776 MACs
    assert (row.type, row.output_shapes, row.params, row.macs) == ("Conv2d", ((1, 8, 6, 6),), 224, 7_776)


def test_several_models_show_a_progress_bar_unless_quiet(ip):
    ip.run_cell("pa = nn.Linear(2, 2)\npb = nn.Linear(2, 3)")
    with capture_output() as captured:
        ip.run_cell_magic("profile", "pa pb --input-shape 1x2", "pass")
    assert "flopmagic: profiling" in captured.stderr and "0/2" in captured.stderr  # tqdm, plain text here
    with capture_output() as captured:
        ip.run_cell_magic("profile", "pa pb --input-shape 1x2 -q -o quiet_two", "pass")
    assert captured.stderr == ""


def test_plots_label_their_axis_with_engineering_units(ip):
    pytest.importorskip("matplotlib")
    from matplotlib.ticker import EngFormatter

    run(ip, "-o plotted -q", "pl = nn.Sequential(nn.Linear(64, 64), nn.Linear(64, 8))\npl(torch.zeros(1, 64))")
    axis = ip.user_ns["plotted"].plot(quantity="macs").axes[0]
    formatter = axis.xaxis.get_major_formatter()
    assert isinstance(formatter, EngFormatter) and formatter.unit == "MACs" and axis.get_xlabel() == "MACs"
    assert formatter(4096) == "4.096 kMACs"  # 64*64 MACs, not 4e3


def test_time_measures_the_named_model(ip):
    ip.run_cell("timed = nn.Linear(64, 64)")
    _, bundles = run(ip, "timed --input-shape 1x64 --time --peak-tflops 1 --bandwidth-gbs 100 -o t_report", "pass")
    roofline, measured = ip.user_ns["t_report"].extras
    # 64*64 MACs; the timing's MFU is computed from the counted FLOPs: 2 * 4096 + 64 bias adds = 8,256
    assert "8,256" in str(measured) and "MFU" in bundles[0]["text/plain"]
    assert "MFU" in bundles[0]["text/html"] and roofline.to_text() in bundles[0]["text/plain"]
    with pytest.raises(UsageError, match="--time runs a named model"):
        ip.run_cell_magic("profile", "--time", "timed(torch.zeros(1, 64))")


def test_keras_fit_is_captured_per_sample(ip):
    run(
        ip,
        "-o fitted -q",
        """
import numpy as np, keras
fit_model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(4, name="d1"), keras.layers.Dense(2, name="d2")])
fit_model.compile(optimizer="sgd", loss="mse")
fit_model.fit(np.zeros((6, 8), np.float32), np.zeros((6, 2), np.float32), epochs=1, verbose=0)
""",
    )
    (profile,) = ip.user_ns["fitted"].profiles
    assert profile.model == "fit_model" and profile.macs == 8 * 4 + 4 * 2  # one sample's forward: 40 MACs
    assert "fit on 6 samples: counted per sample (batch 1)" in profile.notes
    assert {r.key: r.output_shapes for r in profile.by_layer()}["d1"] == ((1, 4),)


def _tiny_llama(ip):
    """``lm`` (a 2-layer Llama, 64 wide, vocabulary 100) and a 6-token ``prompt`` in the shell."""
    ip.run_cell(
        "import transformers\n"
        "torch.manual_seed(0)\n"
        "lm = transformers.LlamaForCausalLM(transformers.LlamaConfig(vocab_size=100, hidden_size=64,"
        " intermediate_size=128, num_hidden_layers=2, num_attention_heads=4)).eval()\n"
        "prompt = torch.randint(0, 100, (1, 6))"
    )


def test_a_generate_call_is_shown_as_prefill_and_decode_steps(ip):
    """A cell that calls a transformers model's ``generate``: one Generation (prefill +
    decode steps, traced from that very call) instead of N unrelated forwards."""
    transformers = pytest.importorskip("transformers")
    original = transformers.GenerationMixin.generate
    _tiny_llama(ip)
    ip.run_cell_magic("profile", "-q -o rep", "out = lm.generate(prompt, max_new_tokens=3, do_sample=False)")
    rep, out, lm, prompt = (ip.user_ns[k] for k in ("rep", "out", "lm", "prompt"))
    assert transformers.GenerationMixin.generate is original  # unwrapped after the cell
    assert out.shape == (1, 9)  # 6 prompt tokens + 3 generated
    assert not [p for p in rep.profiles if p.model == "lm"]  # not N forwards of lm
    (gen,) = [e for e in rep.extras if isinstance(e, flopmagic.llm.Generation)]
    assert gen.model == "lm"
    # prefill: the same MACs as a plain profile of the prompt's forward
    plain = flopmagic.profile(lm, inputs={"input_ids": prompt})
    assert gen.prefill_step.macs == plain.totals.macs > 0
    # 3 new tokens: the prefill's logits give the 1st, 2 decode forwards give the 2nd and 3rd
    assert [(s.phase, s.position, s.tokens) for s in gen.steps] == [
        ("prefill", 0, 6),
        ("decode", 6, 1),
        ("decode", 7, 1),
    ]
    text = rep.to_text()
    assert "prefill" in text and "decode" in text


def test_the_convention_reaches_a_captured_generate(ip):
    """``--convention`` re-expresses every step of a traced generate call, as it does the
    profiles: each step equals that step's forward profiled under the convention."""
    pytest.importorskip("transformers")
    _tiny_llama(ip)
    ip.run_cell_magic("profile", "-q -o plain_rep", "lm.generate(prompt, max_new_tokens=2, do_sample=False)")
    ip.run_cell_magic(
        "profile", "-q -o paper_rep --convention paper", "lm.generate(prompt, max_new_tokens=2, do_sample=False)"
    )
    (plain,) = [e for e in ip.user_ns["plain_rep"].extras if isinstance(e, flopmagic.llm.Generation)]
    (paper,) = [e for e in ip.user_ns["paper_rep"].extras if isinstance(e, flopmagic.llm.Generation)]
    assert plain.convention == "flopmagic" and paper.convention == "paper"
    lm, prompt = ip.user_ns["lm"], ip.user_ns["prompt"]
    prefill = flopmagic.profile(lm, inputs={"input_ids": prompt})
    assert paper.prefill_step.macs == prefill.under("paper").totals.macs
    assert paper.prefill_step.flops == prefill.under("paper").totals.flops
    assert plain.prefill_step.flops == prefill.totals.flops
    # the paper convention drops norms, activations, softmax and bias adds: fewer FLOPs; its
    # MACs (linear layers and attention matmuls) are all of this model's MACs
    assert paper.prefill_step.flops < plain.prefill_step.flops
    assert paper.prefill_step.macs == plain.prefill_step.macs
    assert [(s.phase, s.position) for s in paper.steps] == [(s.phase, s.position) for s in plain.steps]


def test_generate_is_unwrapped_when_the_cell_raises(ip):
    transformers = pytest.importorskip("transformers")
    original = transformers.GenerationMixin.generate
    ip.run_cell("import transformers")
    ip.user_ns["_orig"] = original
    with pytest.raises(ZeroDivisionError):
        ip.run_cell_magic("profile", "-q", "assert transformers.GenerationMixin.generate is not _orig\n1 / 0")
    assert transformers.GenerationMixin.generate is original


def test_a_claims_file_is_audited_from_the_magic_with_a_progress_bar(ip, tmp_path):
    """``%profile --claims FILE``: every row audited (meta device), a tqdm bar on stderr
    while it runs (ipywidgets absent: the text bar), none with ``-q``."""
    claims = tmp_path / "claims.yaml"
    claims.write_text(
        "claims:\n"
        "  - model: torchvision:alexnet\n    claim: 0.714 GFLOPS\n"
        "  - model: torchvision:resnet18\n    claim: 1.814 GFLOPS\n"
    )
    with capture_output() as shown:
        ip.run_line_magic("profile", f"--claims {claims} -o audited")
    rows = ip.user_ns["audited"].rows
    # torchvision's "GFLOPS" are MACs (alexnet 714 M, resnet18 1,814 M multiply-accumulates)
    assert [(r.claim.model, r.verdict.kind) for r in rows] == [
        ("torchvision:alexnet", "macs-as-flops"),
        ("torchvision:resnet18", "macs-as-flops"),
    ]
    assert "flopmagic: auditing" in shown.stderr
    with capture_output() as quiet:
        ip.run_line_magic("profile", f"--claims {claims} -q -o audited_quietly")
    assert "flopmagic: auditing" not in quiet.stderr and len(ip.user_ns["audited_quietly"].rows) == 2
    with pytest.raises(UsageError, match="claims file"):
        ip.run_cell_magic("profile", f"--claims {claims}", "x = 1")

"""Claims files are data, audit arithmetic is total, and every kind of published number
(params alone, tables, training compute, MFU) gets a verdict that names its reading."""

from __future__ import annotations

import json
import math
import re
import time
import tracemalloc
from importlib import resources
from pathlib import Path

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import flopmagic
from flopmagic.auditor import ACCEPTED_FORMS, ClaimError, audit
from flopmagic.claim_tables import audit_table, claims_from_table, resolve_model_name
from flopmagic.claims import Claim, ClaimsFileError, audit_claims, load_claims, parse_claims_text
from flopmagic.cli import main
from flopmagic.errors import FlopmagicError, SpecError
from flopmagic.model_config import parse_config_overrides
from flopmagic.specs import load_spec
from flopmagic.training_claims import PF_DAY_FLOPS, audit_training, audit_utilisation

EFFICIENTNET_TABLE = Path(str(resources.files("flopmagic") / "data" / "tables" / "efficientnet.md"))


def run(argv, capsys):
    code = main(argv)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


# --- claims files are data (issue 12, reproductions 3 and 4) ---------------------------------------


def test_a_claims_file_naming_code_is_refused_without_running_it(tmp_path, capsys):
    path = tmp_path / "claims.yaml"
    path.write_text('claims:\n  - {model: "os:abort", claim: "1 GFLOPs"}\n')
    with pytest.raises(ClaimsFileError, match=r"entry 1: model 'os:abort' is not a data spec.*--allow-code"):
        load_claims(path)
    code, out, err = run(["audit", "--claims", str(path)], capsys)
    # we are still running: os.abort was never called
    assert code == 2 and out == "" and err.count("\n") == 1 and "allow_code=True" in err
    # claims built in Python go through the same check, as an error row
    results = audit_claims([Claim("os:abort", "1 GFLOPs")])
    assert results.counts == {"ok": 0, "mismatch": 0, "error": 1}
    assert "not a data spec" in (results.rows[0].error or "")


def test_allow_code_opts_in_to_factory_specs(tmp_path, monkeypatch, capsys):
    (tmp_path / "tiny_models.py").write_text(
        "import torch\n\ndef mlp():\n    return torch.nn.Sequential(torch.nn.Linear(8, 4))\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    path = tmp_path / "claims.yaml"
    # 2 rows x 8 x 4 = 64 MACs = 128 FLOPs
    path.write_text('- {model: "tiny_models:mlp", claim: "128 FLOPs", input_shape: 2x8}\n')
    results = audit_claims(load_claims(path, allow_code=True), allow_code=True)
    assert [r.verdict.kind for r in results.rows if r.verdict] == ["consistent"]
    code, out, _ = run(["audit", "--claims", str(path), "--allow-code"], capsys)
    assert code == 0 and "1 ok, 0 mismatch, 0 error" in out
    # the positional spec is what the user typed: allowed without the opt-in
    code, out, _ = run(["audit", "tiny_models:mlp", "--input-shape", "2x8", "--claim", "64 MACs"], capsys)
    assert code == 0 and "consistent" in out


def test_relative_onnx_paths_are_read_from_the_files_folder(tmp_path):
    path = tmp_path / "claims.yaml"
    path.write_text("- {model: models/net.onnx, claim: 1 GFLOPs}\n")
    assert load_claims(path)[0].model == str(tmp_path / "models" / "net.onnx")


def test_a_yaml_alias_bomb_is_one_line_fast_and_small(tmp_path):
    # ~400 bytes that expand to 10^9 strings if aliases are followed (the "billion laughs").
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for i, name in enumerate("bcdefghi"):
        prev = "abcdefghi"[i]
        lines.append(f"{name}: &{name} [" + ",".join([f"*{prev}"] * 10) + "]")
    lines.append("claims: *i")
    bomb = "\n".join(lines) + "\n"
    assert len(bomb) < 500
    tracemalloc.start()
    started = time.perf_counter()
    try:
        path = tmp_path / "bomb.yaml"
        path.write_text(bomb)
        with pytest.raises(ClaimsFileError) as info:
            load_claims(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert "anchors and aliases" in str(info.value) and "\n" not in str(info.value)
    assert peak < 2_000_000  # bytes: the document is never expanded
    assert time.perf_counter() - started < 5  # generous: it stops at the first anchor


def test_error_messages_quote_at_most_200_characters(tmp_path):
    huge = "x" * 1_000_000
    with pytest.raises(ClaimsFileError) as info:
        parse_claims_text(f"- {{model: torchvision:resnet18, claim: 1 GFLOPs, {huge}: 1}}\n")
    assert len(str(info.value)) < 600
    with pytest.raises(ClaimsFileError) as info:
        parse_claims_text(f"- [{huge}]\n")
    assert len(str(info.value)) < 600
    with pytest.raises(ClaimError) as info:
        audit(flopmagic.profile(torch.nn.Linear(4, 4), input_shape=(1, 4)), huge)
    assert len(str(info.value)) < 600 + len(ACCEPTED_FORMS)


def test_values_yaml_cannot_construct_are_one_line_errors():
    # PyYAML's safe constructors raise ValueError on impossible dates and time zones
    for value in ("2001-02-30", "2001-12-14t21:59:43.10-99:99"):
        with pytest.raises(ClaimsFileError, match="not valid YAML: ValueError"):
            parse_claims_text(f"- {{model: torchvision:resnet18, claim: {value}}}\n")


def test_unsafe_yaml_and_oversized_files_are_refused(tmp_path):
    with pytest.raises(ClaimsFileError, match="not valid YAML"):
        parse_claims_text("- !!python/object/apply:os.system ['true']\n")
    big = tmp_path / "big.yaml"
    big.write_bytes(b"#" * (5 << 20))
    with pytest.raises(ClaimsFileError, match="larger than"):
        load_claims(big)
    with pytest.raises(ClaimsFileError, match=r"nested too deeply|not valid YAML"):
        parse_claims_text("[" * 50_000)


_yaml_piece = st.sampled_from(
    ["- ", "model: ", "claim: ", "torchvision:resnet18", "os:abort", "1 GFLOPs", "&a ", "*a", "[", "]", "{", "}",
     "\n", "  ", ": ", "!!python/object:os.system ", "'", '"', "claims:", "<<: *a", "---", "? ", "- [1, 2]", "1e999",
     "2001-02-30", "2001-12-14t21:59:43.10-99:99", "0x_zz", "1_000e999", ".nan", "~"]
)  # fmt: skip


@settings(max_examples=200, deadline=None)
@given(pieces=st.lists(st.one_of(_yaml_piece, st.text(max_size=5)), max_size=25), csv_format=st.booleans())
def test_fuzz_claims_files_are_claims_or_one_line_errors(pieces, csv_format):
    text = "".join(pieces)
    try:
        claims = parse_claims_text(text, "fuzz", csv_format=csv_format)
    except ClaimsFileError as error:
        assert "\n" not in str(error) and len(str(error)) < 1000
        return
    for claim in claims:  # what loads is data: strings, a data spec, a row number
        assert claim.model == "" or not claim.model.startswith("os:")
        assert isinstance(claim.row, int)


# --- audit arithmetic is total (issue 12, reproduction 5) -----------------------------------------


@pytest.fixture(scope="module")
def linear_profile():
    # Linear(8 -> 4) on 2x8: 2 x 8 x 4 = 64 MACs, 128 FLOPs + 8 bias adds; 36 params
    return flopmagic.profile(torch.nn.Linear(8, 4), input_shape=(2, 8))


@pytest.mark.parametrize(
    "claim", ["0 FLOPs", "nan GFLOPs", "1e999 FLOPs", "-4 GFLOPs", "inf", "", "FLOPs", "4.1 Gbogus"]
)
def test_claims_that_are_not_positive_finite_counts_are_one_line_errors(claim, linear_profile):
    with pytest.raises(ClaimError) as info:
        audit(linear_profile, claim)
    message = str(info.value)
    assert "\n" not in message and "accepted forms" in message and repr(claim)[:20] in message


def test_a_one_digit_claim_is_still_held_to_ten_percent(resnet18_meta):
    # resnet18: 1,814,073,344 MACs, 3,628,146,688 = 2 x MACs FLOPs. "3 GFLOPs" is 17% below the
    # FLOPs; one unit of its last digit would be 33%, but no reading further than 10% matches.
    verdict = audit(resnet18_meta, "3 GFLOPs")
    assert verdict.kind == "mismatch" and verdict.tolerance == pytest.approx(0.10)
    assert audit(resnet18_meta, "4 GFLOPs").kind == "consistent"  # 3.628 G is within 10% of 4


@pytest.fixture(scope="module")
def resnet18_meta():
    return flopmagic.profile("torchvision:resnet18", device="meta")


def test_a_model_with_no_counted_compute_gets_a_verdict_saying_so():
    empty = flopmagic.profile(torch.nn.Flatten(), input_shape=(1, 3, 4, 4))
    verdict = audit(empty, "1 GFLOPs")
    assert verdict.kind == "no-compute" and not verdict.explained
    assert "no counted compute" in verdict.message
    assert verdict.to_dict()["relative_error"] is None


def test_a_bulk_audit_reports_every_row(tmp_path, capsys):
    path = tmp_path / "claims.yaml"
    path.write_text(
        "- {model: torchvision:resnet18, claim: 1.8 GFLOPs}\n"  # 1,814,073,344 MACs: macs-as-flops
        "- {model: torchvision:resnet18, claim: 0 FLOPs}\n"
        "- {model: torchvision:resnet18, claim: nan GFLOPs}\n"
        "- {model: torchvision:no_such_net, claim: 1 GFLOPs}\n"
        "- {model: torchvision:resnet18, claim: 2.5 GFLOPs}\n"  # nothing is 2.5 G: mismatch
        "- {model: torchvision:resnet18, params_claim: 11.7M}\n"  # 11,689,512: consistent
    )
    results = audit_claims(load_claims(path))
    assert [r.row for r in results.rows] == [1, 2, 3, 4, 5, 6]
    assert [r.status for r in results.rows] == ["ok", "error", "error", "error", "mismatch", "ok"]
    assert results.counts == {"ok": 2, "mismatch": 1, "error": 3}
    assert "0 FLOPs" in (results.rows[1].error or "") and "unknown torchvision model" in (results.rows[3].error or "")
    code, out, _ = run(["audit", "--claims", str(path), "--format", "json"], capsys)
    data = json.loads(out)
    assert code == 2  # bad input in some rows; every row is still reported
    assert [r["status"] for r in data["rows"]] == ["ok", "error", "error", "error", "mismatch", "ok"]
    assert data["summary"]["ok"] + data["summary"]["mismatch"] + data["summary"]["error"] == 6
    path.write_text("- {model: torchvision:resnet18, claim: 2.5 GFLOPs}\n")
    assert run(["audit", "--claims", str(path)], capsys)[0] == 1  # a mismatch
    path.write_text("- {model: torchvision:resnet18, claim: 2.5 GFLOPs, expected: mismatch}\n")
    assert run(["audit", "--claims", str(path)], capsys)[0] == 0  # the mismatch the file expects


_claim_text = st.one_of(
    st.text(max_size=30),
    st.builds(
        lambda number, prefix, word: f"{number}{prefix}{word}",
        st.one_of(
            st.floats(allow_nan=True, allow_infinity=True).map(repr),
            st.integers(min_value=-(10**30), max_value=10**30).map(str),
            st.sampled_from(["0", "-0", "1e999", "nan", "3.86", "0.39", "1,000", "4.1 x 10^9"]),
        ),
        st.sampled_from(["", " ", " G", "G", "Gi", " B", " M", " T", "K"]),
        st.sampled_from(["", "FLOPs", " MACs", " MAdds", "(G)", " FLOPs (multiply-adds)", " params", " ops", "%"]),
    ),
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(claim=_claim_text, params_claim=st.one_of(st.none(), _claim_text))
def test_fuzz_any_claim_string_gets_a_verdict_or_a_flopmagic_error(claim, params_claim, linear_profile):
    try:
        verdict = audit(linear_profile, claim, params_claim)
    except FlopmagicError as error:
        assert "\n" not in str(error)
        return
    # a verdict: the claim parsed to a finite count above zero, and the error is finite
    assert math.isfinite(verdict.claim.value) and verdict.claim.value > 0
    assert math.isfinite(verdict.relative_error)
    assert json.loads(json.dumps(verdict.to_dict()))["verdict"] == verdict.kind


@settings(max_examples=40, deadline=None)
@given(
    rows=st.lists(st.tuples(st.sampled_from(["torchvision:resnet18", "os:abort", "bogus"]), _claim_text), max_size=6)
)
def test_fuzz_a_bulk_audit_reports_every_row_and_the_counts_add_up(rows):
    claims = [Claim(model, claim, row=i + 1) for i, (model, claim) in enumerate(rows)]
    results = audit_claims(claims)
    assert [r.row for r in results.rows] == list(range(1, len(rows) + 1))
    assert sum(results.counts.values()) == len(rows)
    for row in results.rows:
        assert (row.verdict is None) == (row.status == "error") == (row.error is not None)
        if row.claim.model != "torchvision:resnet18":
            assert row.status == "error"  # code specs and unknown specs never run
    expected_code = 2 if results.counts["error"] else (1 if results.counts["mismatch"] else 0)
    assert results.exit_code == expected_code


# --- any count alone or together (issue 18, item 1) ------------------------------------------------


@pytest.fixture(scope="module")
def resnet50():
    # torchvision resnet50: 4,089,184,256 MACs, 25,557,032 params
    return flopmagic.profile("torchvision:resnet50", device="meta")


def test_params_claimed_alone(resnet50, capsys):
    verdict = audit(resnet50, None, "25.6M")
    # 25.6e6 / 25,557,032 - 1 = +0.17%, inside 25.6's precision (0.1 / 25.6 = 0.39%)
    assert (verdict.quantity, verdict.kind, verdict.hypothesis) == ("params", "consistent", "params")
    assert "25,557,032" in verdict.message
    verdict = audit(resnet50, None, "24.37M")
    # 25,557,032 / 2^20 = 24.373: a binary prefix
    assert (verdict.kind, verdict.hypothesis) == ("binary-prefix", "params")
    assert verdict.relative_error == pytest.approx(24.37 * 2**20 / 25_557_032 - 1)
    code, out, _ = run(["audit", "torchvision:resnet50", "--params-claim", "24.37M", "--device", "meta"], capsys)
    assert code == 0 and "binary-prefix" in out
    code, out, _ = run(
        ["audit", "torchvision:resnet50", "--params-claim", "30M", "--device", "meta", "--format", "json"], capsys
    )
    data = json.loads(out)
    assert code == 1 and data["verdict"] == "mismatch" and data["nearest"]


def test_a_params_claim_given_as_the_claim_is_audited_as_params(resnet50):
    verdict = audit(resnet50, "25.6M params")
    assert (verdict.quantity, verdict.kind) == ("params", "consistent")


def test_params_excluding_the_head_is_another_scope(resnet50):
    # fc: 2048 x 1000 + 1000 = 2,049,000 params; 25,557,032 - 2,049,000 = 23,508,032
    verdict = audit(resnet50, None, "23.51M")
    assert verdict.kind == "other-scope" and "excluding the head" in (verdict.hypothesis or "")


def test_compute_excluding_the_head_is_another_scope():
    gpt2 = flopmagic.profile("transformers:GPT2LMHeadModel", device="meta")
    # GPT-2 small at 128 tokens: 16,114,089,984 MACs, of which the LM head 128 x 768 x 50,257
    # = 4,940,464,128; without it 11,173,625,856
    assert gpt2.macs == 16_114_089_984
    verdict = audit(gpt2, "11.17 GMACs")
    assert (verdict.kind, verdict.hypothesis) == ("other-scope", "macs excluding the head")
    assert "lm_head" in verdict.message


def test_macs_claimed_alone_and_both(resnet50):
    assert audit(resnet50, "4.09 GMACs").kind == "consistent"
    both = audit(resnet50, "4.1 GFLOPs", "25.6M")
    assert both.kind == "macs-as-flops" and both.params is not None and both.params.matched == "params"


def test_thops_readme_number_alone_names_thops_binary_macs_as_nearest(resnet50):
    thop = resnet50.under("thop").macs  # 4,133,742,592 today (measured live, not hard-coded)
    verdict = audit(resnet50, "3.86 FLOPs(G)")
    assert verdict.kind == "mismatch"  # alone, "3.86" is also ResNet v1's decimal MACs (3.858 G)
    nearest = verdict.nearest[0]
    assert (nearest.hypothesis.name, nearest.binary) == ("thop", True)
    # 3.86 x 2^30 / thop - 1: about +0.26%
    assert nearest.relative_error == pytest.approx(3.86 * 2**30 / thop - 1)
    assert "thop read with a binary prefix" in verdict.message


# --- tables in, verdicts out (issue 18, item 2) ----------------------------------------------------


def test_model_names_resolve_to_specs():
    assert resolve_model_name("ResNet-50") == "torchvision:resnet50"
    assert resolve_model_name("EfficientNet-B3") == "torchvision:efficientnet_b3"
    assert resolve_model_name("ViT-B/16") == "torchvision:vit_b_16"
    assert resolve_model_name("MobileNetV2") == "torchvision:mobilenet_v2"
    assert resolve_model_name("My Net", {"My Net": "keras:ResNet50"}) == "keras:ResNet50"
    with pytest.raises(ClaimError, match=re.escape('--map "AmoebaNet-A=torchvision:..."')):
        resolve_model_name("AmoebaNet-A")


def test_the_efficientnet_paper_table_in_one_command(capsys):
    code, out, _ = run(["audit", "--table", str(EFFICIENTNET_TABLE), "--format", "json"], capsys)
    rows = {r["model"]: r for r in json.loads(out)["rows"]}
    assert len(rows) == 8
    b0, b4, b5, b6 = (rows[f"torchvision:efficientnet_b{i}"] for i in (0, 4, 5, 6))
    # B0 at 224: 385,814,752 MACs vs the paper's 0.39 B: 385,814,752 / 0.39e9 - 1 = -1.1%
    assert b0["verdict"] == "macs-as-flops" and b0["measured_vs_claim"] == pytest.approx(385_814_752 / 0.39e9 - 1)
    assert b6["verdict"] == "macs-as-flops" and round(b6["measured_vs_claim"], 3) == 0.004  # +0.4%
    # torchvision's B4 and B5 are above the paper at 380 and 456: shown, not hidden
    assert (b4["verdict"], b4["hypothesis"], round(b4["measured_vs_claim"], 3)) == ("mismatch", "macs", 0.046)
    assert (b5["verdict"], b5["hypothesis"], round(b5["measured_vs_claim"], 3)) == ("mismatch", "macs", 0.037)
    assert "the model measures +4.6% against the claim" in b4["message"]
    for row in rows.values():  # the paper's resolutions were used, and every params figure matches
        assert row["params"]["matched"] == "params"
    assert code == 1  # B1, B4 and B5 are mismatches
    code, out, _ = run(["audit", "--table", str(EFFICIENTNET_TABLE), "--format", "markdown"], capsys)
    # the row number is the table's line in the file (after its comment header)
    assert "| torchvision:efficientnet_b4 | 4.2B FLOPs, params 19M | mismatch | mismatch | macs | +4.6% | ok |" in out


def test_tables_as_csv_and_pasted_text_with_a_mapping_and_bad_rows():
    csv_text = "Model,Input size,Params (M),GFLOPs,Top-1\nResNet-50,224,25.6,4.1,76.1\nAmoebaNet-A,224,86.7,23.1,82.8\n"
    claims, errors = claims_from_table(csv_text)
    assert claims[0].claim == "4.1 G FLOPs" and claims[0].params_claim == "25.6 M" and claims[0].row == 2
    assert errors == [(3, "AmoebaNet-A", errors[0][2])] and "--map" in errors[0][2]
    pasted = "Model      Resolution   MAdds\nNet A      224          300M\n"
    results = audit_table(pasted, {"Net A": "torchvision:mobilenet_v2"})
    # mobilenet_v2: 300,774,272 MACs (torchvision) vs "300M MAdds": consistent
    assert [r.verdict.kind for r in results.rows if r.verdict] == ["consistent"]
    bundle = results._repr_mimebundle_()
    assert "<table" in bundle["text/html"] and "mobilenet_v2" in bundle["text/plain"]
    results = audit_table(csv_text)
    assert results.counts == {"ok": 1, "mismatch": 0, "error": 1} and results.exit_code == 2
    # Keras' applications table: "Size (MB)" is the file size, not an input size; a footnote mark is dropped
    claims, errors = claims_from_table("Model | Size (MB) | Parameters\n---|---|---\nResNet50 | 98 | 25.6M*\n")
    assert errors == [] and claims[0].input_shape is None and claims[0].params_claim == "25.6M"


def test_table_with_a_mapping_on_the_command_line(tmp_path, capsys):
    table = tmp_path / "survey.csv"
    table.write_text("Model,Res,GFLOPs\nResNet-50,224,4.1\nMy ResNet,224,1.8\n")
    code, out, _ = run(["audit", "--table", str(table), "--format", "csv"], capsys)
    assert code == 2 and "no model for the name 'My ResNet'" in out  # the other row is still audited
    assert ",torchvision:resnet50,4.1 G FLOPs,ok,macs-as-flops," in out
    code, out, _ = run(["audit", "--table", str(table), "--map", "My ResNet=torchvision:resnet18"], capsys)
    # resnet18: 1,814,073,344 MACs vs 1.8 G: MACs labelled as FLOPs
    assert code == 0 and "2 claims: 2 ok, 0 mismatch, 0 error (2 macs-as-flops)" in out
    code, _, err = run(["audit", "--table", str(table), "--map", "nonsense"], capsys)
    assert code == 2 and err.count("\n") == 1 and "--map" in err


_cell = st.one_of(
    st.text(max_size=12), st.sampled_from(["ResNet-50", "224", "4.1B", "25.6M", "-", "nan", "0", "1e999", "|"])
)


@settings(max_examples=150, deadline=None)
@given(
    header=st.lists(
        st.one_of(st.text(max_size=10), st.sampled_from(["Model", "FLOPs (B)", "#Params", "Resolution", "MAdds"])),
        min_size=1,
        max_size=5,
    ),
    rows=st.lists(st.lists(_cell, min_size=0, max_size=6), max_size=4),
    style=st.sampled_from(["|", ",", "  "]),
)
def test_fuzz_tables_become_claims_or_row_errors(header, rows, style):
    def line(cells):
        return ("| " + " | ".join(cells) + " |") if style == "|" else style.join(cells)

    text = "\n".join([line(header)] + [line(r) for r in rows])
    try:
        claims, errors = claims_from_table(text)
    except ClaimsFileError as error:
        assert "\n" not in str(error)
        return
    # every data row with a model name is a claim or an error, each with its line number
    lines = [c.row for c in claims] + [e[0] for e in errors]
    assert len(lines) == len(set(lines)) and all(isinstance(n, int) and n >= 2 for n in lines)
    for claim in claims:
        assert claim.claim or claim.params_claim


# --- model configs in specs (issue 18, item 3) -----------------------------------------------------


def test_config_overrides_are_literals_never_code():
    assert parse_config_overrides("n_layer=2, n_embd=64, act=gelu_new, x=1.5, y=True") == {
        "n_layer": 2,
        "n_embd": 64,
        "act": "gelu_new",
        "x": 1.5,
        "y": True,
    }
    for bad in ("n_layer=__import__('os').abort()", "n_layer=2+2", "2", "**kw", "n_layer=(lambda: 1)()"):
        with pytest.raises(SpecError, match=r"literal|key=value"):
            parse_config_overrides(bad)
    with pytest.raises(SpecError, match=r"has no field 'n_layers'.*did you mean n_layer"):
        load_spec("transformers:GPT2LMHeadModel(n_layers=2)", device="meta")


@settings(max_examples=300, deadline=None)
@given(
    text=st.one_of(
        st.text(max_size=60),
        st.lists(
            st.tuples(
                st.from_regex(r"[a-z_]{1,8}", fullmatch=True),
                st.one_of(
                    st.integers().map(str),
                    st.floats().map(repr),
                    st.sampled_from(
                        ["True", "None", "'s'", "[1, 2]", "{'a': 1}", "__import__('os')", "1+1", "(", "x.y"]
                    ),
                ),
            ),
            max_size=4,
        ).map(lambda pairs: ",".join(f"{k}={v}" for k, v in pairs)),
    )
)
def test_fuzz_config_overrides_give_literals_or_a_spec_error(text):
    try:
        overrides = parse_config_overrides(text)
    except SpecError as error:
        assert "\n" not in str(error)
        return
    for value in overrides.values():  # only data comes back
        assert isinstance(value, (int, float, bool, str, list, dict, tuple, set, bytes, complex, type(None)))


def test_a_config_file_is_read_as_data(tmp_path, capsys):
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"n_layer": 1, "n_embd": 64, "n_head": 4, "vocab_size": 100, "n_positions": 32}))
    profile = flopmagic.profile(f"transformers:GPT2LMHeadModel@{config}", device="meta", input_shape=(1, 16))
    # 1 layer of 12 d^2 + 13 d weights, wte 100 x 64, wpe 32 x 64, final LN 2 x 64
    d = 64
    assert profile.params == 12 * d * d + 13 * d + 100 * d + 32 * d + 2 * d
    overridden = flopmagic.profile(
        f"transformers:GPT2LMHeadModel@{config}(n_layer=2)", device="meta", input_shape=(1, 16)
    )
    assert overridden.params == profile.params + 12 * d * d + 13 * d
    code, out, _ = run(
        [
            "audit",
            "transformers:GPT2LMHeadModel",
            "--config",
            str(config),
            "--params-claim",
            "58.1K",
            "--device",
            "meta",
        ],
        capsys,
    )
    assert code == 0 and "consistent" in out  # 58,112 params
    config.write_text("[1, 2]")
    with pytest.raises(SpecError, match="JSON object"):
        load_spec(f"transformers:GPT2LMHeadModel@{config}", device="meta")


# --- training compute (issue 18, item 4) -----------------------------------------------------------

GPT3 = "transformers:GPT2LMHeadModel(n_layer=96,n_embd=12288,n_head=96,n_positions=2048)"


@pytest.fixture(scope="module")
def gpt3_training():
    # GPT-3 175B (Brown et al. 2020, Table 2.1: 96 layers, d_model 12,288, 96 heads, context 2,048),
    # one training step of batch 1 x 2,048 tokens on the meta device: forward + measured backward.
    return flopmagic.profile(GPT3, input_shape=(1, 2048), device="meta", training=True)


def test_gpt3_175b_parameters(gpt3_training):
    d, layers, vocab, context = 12288, 96, 50257, 2048
    # per layer: QKV 3d^2 + 3d, out d^2 + d, MLP 8d^2 + 5d, two LNs 4d -> 12 d^2 + 13 d
    expected = layers * (12 * d * d + 13 * d) + vocab * d + context * d + 2 * d
    assert gpt3_training.params == expected == 174_604_259_328  # Table D.1 lists 174,600 M


@pytest.mark.parametrize("claim", ["3.14e23 FLOPs", "3640 PF-days"])
def test_gpt3_training_compute_is_6nd(claim, gpt3_training):
    # Brown et al. 2020, Table D.1: 3.14E+23 FLOPs, 3,640 PF-days (1 PF-day = 10^15 x 86,400 = 8.64e19 FLOPs)
    verdict = audit_training(gpt3_training, claim, tokens="300e9", source="Brown et al. 2020, Table D.1")
    six_nd = 6 * 174_604_259_328 * 300e9  # 3.1429e23
    assert (verdict.kind, verdict.hypothesis) == ("consistent", "6nd")
    value = 3640 * PF_DAY_FLOPS if "PF" in claim else 3.14e23
    assert verdict.relative_error == pytest.approx(value / six_nd - 1)
    data = verdict.to_dict()
    assert data["hypothesis"] == "6nd" and data["quantity"] == "training"
    # traced: a few % above 6ND, almost all of it attention at 2,048 context:
    # per token 4 x 2048 x 12288 x 96 FLOPs forward (scores and values), x 3 with backward = 2.9e10 = +2.8% of 6N
    attention = 3 * 4 * 2048 * 12288 * 96
    assert data["details"]["term: attention"] == pytest.approx(attention, rel=0.01)
    assert 0.02 < data["details"]["traced_vs_6nd"] < 0.04
    assert "traced forward + backward: 3.23e+23 FLOPs (+2.8% vs 6ND" in verdict.message
    assert re.search(r"attention \+2\.[78]\d%", verdict.message)
    terms = sum(v for k, v in data["details"].items() if k.startswith("term: "))
    assert terms == pytest.approx(data["details"]["traced_flops_per_token"] - 6 * 174_604_259_328)


def test_gpt3_training_compute_on_the_command_line(capsys):
    code, out, _ = run(
        ["audit", GPT3, "--device", "meta", "--input-shape", "1x2048", "--claim", "3640 PF-days",
         "--training", "--tokens", "300e9", "--format", "json"],
        capsys,
    )  # fmt: skip
    data = json.loads(out)
    # 3640 x 8.64e19 = 3.145e23 vs 6ND = 6 x 174,604,259,328 x 300e9 = 3.143e23: +0.07%
    assert code == 0 and (data["verdict"], data["hypothesis"]) == ("consistent", "6nd")
    assert data["relative_error"] == pytest.approx(3640 * 8.64e19 / (6 * 174_604_259_328 * 300e9) - 1)
    assert "traced forward + backward" in data["message"] and "per term vs 6N" in data["message"]


def test_training_claim_readings_and_errors(gpt3_training, capsys):
    n, tokens = 174_604_259_328, 300e9
    # forward only: 2ND
    assert audit_training(gpt3_training, f"{2 * n * tokens:.4g} FLOPs", tokens=tokens).kind == "other-scope"
    # with a recomputed forward: 8ND, hardware FLOPs
    assert audit_training(gpt3_training, f"{8 * n * tokens:.4g} FLOPs", tokens=tokens).kind == "hardware-flops"
    with pytest.raises(ClaimError, match="tokens"):
        audit_training(gpt3_training, "3.14e23 FLOPs")
    with pytest.raises(ClaimError):
        audit_training(gpt3_training, "-3 PF-days", tokens=tokens)


def test_training_compute_on_the_command_line(capsys):
    # a 2-layer GPT-2 keeps the CLI check quick; the claim is its own 6ND, written to 3 digits
    spec = "transformers:GPT2LMHeadModel(n_layer=2,n_embd=64,n_head=4,vocab_size=100,n_positions=64)"
    n = 2 * (12 * 64 * 64 + 13 * 64) + 100 * 64 + 64 * 64 + 2 * 64
    claim = f"{6 * n * 1e9:.3g} FLOPs"
    code, out, _ = run(
        [
            "audit",
            spec,
            "--claim",
            claim,
            "--training",
            "--tokens",
            "1e9",
            "--input-shape",
            "1x64",
            "--device",
            "meta",
            "--format",
            "json",
        ],
        capsys,
    )
    data = json.loads(out)
    assert code == 0 and (data["verdict"], data["hypothesis"]) == ("consistent", "6nd")


# --- utilisation (issue 18, item 5) ----------------------------------------------------------------

SMALL = "transformers:GPT2LMHeadModel(n_layer=2,n_embd=128,n_head=4,vocab_size=1000,n_positions=256)"
H100_DENSE, H100_SPARSE = 989.4, 1979.0  # TFLOP/s, BF16, NVIDIA H100 SXM datasheet


@pytest.fixture(scope="module")
def small_training():
    return flopmagic.profile(SMALL, input_shape=(1, 256), device="meta", training=True)


def _per_token(profile):
    return profile.flops / 256  # traced training FLOPs per token (batch 1 x 256 tokens)


def test_an_mfu_claim_computed_with_the_sparse_peak_is_classified(small_training):
    per_token = _per_token(small_training)
    devices, per_device = 8, 2.0e9  # tokens/s per device
    # MFU = FLOPs/token x global tokens/s / (devices x peak); with the sparse peak:
    sparse_mfu = per_token * per_device * devices / (devices * H100_SPARSE * 1e12)
    dense_mfu = 2 * sparse_mfu * H100_SPARSE / (2 * H100_DENSE)  # what it should be, ~2x
    claim = f"{sparse_mfu * 100:.3g}%"
    verdict = audit_utilisation(
        small_training,
        mfu=claim,
        throughput=f"{per_device:g}",
        throughput_per="device",
        devices=str(devices),
        peak_tflops=str(H100_DENSE),
        sparse_peak_tflops=str(H100_SPARSE),
    )
    assert verdict.kind == "sparse-peak" and "sparse peak" in (verdict.hypothesis or "")
    assert verdict.details["mfu_traced"] == pytest.approx(dense_mfu)
    assert "sparsity peak" in verdict.message


def test_mfu_readings_throughput_scope_hardware_flops_and_consistent(small_training):
    per_token = _per_token(small_training)
    forward = sum(r.flops for r in small_training.records if r.phase == "forward") / 256
    common = {"peak_tflops": str(H100_DENSE), "devices": "8", "throughput_per": "device", "throughput": "2e9"}
    right = per_token * 2e9 * 8 / (8 * H100_DENSE * 1e12)
    assert audit_utilisation(small_training, mfu=f"{right * 100:.3g}%", **common).kind == "consistent"
    # per-device throughput used as if global: 1/8 of the MFU
    assert audit_utilisation(small_training, mfu=f"{right / 8 * 100:.3g}%", **common).kind == "throughput-scope"
    # hardware FLOPs (a recomputed forward) reported as MFU
    hardware = (per_token + forward) * 2e9 * 8 / (8 * H100_DENSE * 1e12)
    assert audit_utilisation(small_training, mfu=f"{hardware * 100:.3g}%", **common).kind == "hardware-flops"
    # 6N instead of the traced count: for this small model (d = 128, 256 tokens, a 1000-word head)
    # 6N is far below the traced FLOPs per token; the verdict names 6n, and recomputes both
    six_n = 6 * small_training.params * 2e9 * 8 / (8 * H100_DENSE * 1e12)
    assert abs(six_n / right - 1) > 0.05
    verdict = audit_utilisation(small_training, mfu=f"{six_n * 100:.3g}%", **common)
    assert (verdict.kind, verdict.hypothesis) == ("consistent", "6n, dense peak")
    assert verdict.details["mfu_6n"] == pytest.approx(six_n) and verdict.details["mfu_traced"] == pytest.approx(right)
    with pytest.raises(ClaimError, match="peak"):
        audit_utilisation(small_training, mfu="40%", throughput="1e5")
    with pytest.raises(ClaimError, match="percentage"):
        audit_utilisation(small_training, mfu="46.2", throughput="1e5", peak_tflops="989.4")


@pytest.fixture(scope="module")
def resnet18_training():
    return flopmagic.profile("torchvision:resnet18", input_shape=(2, 3, 64, 64), device="meta", training=True)


def test_training_compute_of_a_vision_model_is_samples_times_epochs(resnet18_training):
    per_sample = resnet18_training.flops / 2  # traced training FLOPs per image (batch 2)
    forward = sum(r.flops for r in resnet18_training.records if r.phase == "forward") / 2
    samples, epochs = 1_281_167, 90  # ImageNet-1k train images, 90 epochs
    traced = f"{per_sample * samples * epochs:.3g} FLOPs"
    verdict = audit_training(resnet18_training, traced, samples=str(samples), epochs=str(epochs))
    assert (verdict.kind, verdict.hypothesis) == ("consistent", "traced")
    # the usual estimate, backward = 2 x forward; the traced step is 2.3% below it (the first conv
    # computes no input gradient), more than the 3-digit claim's precision, so the readings differ
    three = f"{3 * forward * samples * epochs:.3g} FLOPs"
    assert not 0.99 < per_sample / (3 * forward) < 1.01
    verdict = audit_training(resnet18_training, three, samples=str(samples), epochs=str(epochs))
    assert (verdict.kind, verdict.hypothesis) == ("consistent", "3x forward")
    with pytest.raises(ClaimError, match="tokens need a model that takes token ids"):
        audit_training(resnet18_training, traced, tokens="1e9")


def test_an_hfu_claim_counts_the_recomputed_forward(small_training):
    per_token = _per_token(small_training)
    forward = sum(r.flops for r in small_training.records if r.phase == "forward") / 256
    common = {"peak_tflops": str(H100_DENSE), "throughput": "1e9"}
    hfu = (per_token + forward) * 1e9 / (H100_DENSE * 1e12)
    verdict = audit_utilisation(small_training, hfu=f"{hfu * 100:.3g}%", **common)
    assert (verdict.kind, verdict.hypothesis) == ("consistent", "traced + recompute, dense peak")
    mfu_as_hfu = per_token * 1e9 / (H100_DENSE * 1e12)  # model FLOPs reported as HFU
    assert audit_utilisation(small_training, hfu=f"{mfu_as_hfu * 100:.3g}%", **common).kind == "other-scope"


def test_mfu_of_a_vision_model_counts_samples_with_the_traced_count(resnet18_training):
    resnet18 = resnet18_training
    per_sample = resnet18.flops / 2  # traced training FLOPs per image (batch 2)
    mfu = per_sample * 3000 / (312e12)  # 3,000 images/s on one device of 312 TFLOP/s
    verdict = audit_utilisation(resnet18, mfu=f"{mfu * 100:.3g}%", throughput="3000 samples/s", peak_tflops="312")
    assert (verdict.kind, verdict.hypothesis) == ("consistent", "traced, dense peak")
    assert not any(c.hypothesis.name.startswith(("6n", "8n")) for c in verdict.comparisons)  # no 6N for convolutions


def test_palm_540b_mfu_from_its_stated_inputs():
    # Chowdhery et al. 2022 (PaLM): 540.35B parameters (Table 1 / Sec. 2), 118 layers, 48 heads of
    # size 256, sequence 2,048; 6,144 TPU v4 chips of 275 TFLOP/s (bf16); 238.3K tokens/s (Sec. 4.1);
    # model FLOPs per token 6N + 12 L H Q T (App. B). MFU = (6 x 540.35e9 + 12 x 118 x 48 x 256 x 2048)
    # x 238.3e3 / (6144 x 275e12) = 3.2777e12 x 238.3e3 / 1.6896e18 = 46.2% (Table 3).
    verdict = audit_utilisation(
        None,
        mfu="46.2%",
        throughput="238.3K tokens/s",
        devices="6144",
        peak_tflops="275",
        params="540.35e9",
        layers="118",
        attention_width=str(48 * 256),
        seq_len="2048",
    )
    assert (verdict.kind, verdict.hypothesis) == ("consistent", "6n+attention, dense peak")
    assert verdict.details["mfu_6n+attention"] == pytest.approx(0.4623, abs=5e-4)


def test_mfu_on_the_command_line(small_training, capsys):
    per_token = _per_token(small_training)
    sparse_mfu = per_token * 1e9 / (H100_SPARSE * 1e12)
    code, out, _ = run(
        [
            "audit", SMALL, "--input-shape", "1x256", "--device", "meta", "--mfu", f"{sparse_mfu * 100:.3g}%",
            "--throughput", "1e9", "--peak-tflops", str(H100_DENSE), "--sparse-peak-tflops", str(H100_SPARSE),
            "--format", "json",
        ],
        capsys,
    )  # fmt: skip
    data = json.loads(out)
    assert code == 0 and data["verdict"] == "sparse-peak"


def test_audit_help_lists_every_option(capsys):
    from flopmagic.options import options_for

    with pytest.raises(SystemExit) as info:
        main(["audit", "--help"])
    out = capsys.readouterr().out
    assert info.value.code == 0  # help texts with "%" are escaped for argparse
    audit_options = options_for("audit")
    assert {"--mfu", "--table", "--map", "--allow-code", "--tokens"} <= {o.spelling for o in audit_options}
    for option in audit_options:
        assert option.spelling in out


def test_mfu_with_a_device_name_from_the_catalogue(small_training):
    hardware = pytest.importorskip(
        "flopmagic.hardware", reason="the device catalogue (flopmagic.hardware) is not merged in this branch"
    )
    device = hardware.get_device("h100-sxm")
    dense, sparse = device.peak_flops["bf16"], device.sparse_peak_flops["bf16"]
    per_token = _per_token(small_training)
    sparse_mfu = per_token * 1e9 / sparse
    verdict = audit_utilisation(
        small_training, mfu=f"{sparse_mfu * 100:.3g}%", throughput="1e9", device="h100-sxm", dtype="bf16"
    )
    assert verdict.kind == "sparse-peak" and verdict.details["dense_peak_flops"] == dense
    with pytest.raises(FlopmagicError):
        audit_utilisation(small_training, mfu="40%", throughput="1e9", device="no-such-device", dtype="bf16")


# --- a claims file holds every kind (issue 18, item 6) ---------------------------------------------

SHIPPED_OTHER = [
    c for c in load_claims(flopmagic.claims.shipped_claims_path()) if c.kind in ("training", "utilisation")
]


def test_the_shipped_file_has_training_and_mfu_claims_with_sources():
    kinds = {c.kind for c in SHIPPED_OTHER}
    assert kinds == {"training", "utilisation"}
    assert all(c.source and c.expected for c in SHIPPED_OTHER)


@pytest.mark.slow
def test_shipped_training_and_mfu_claims_get_their_expected_verdicts():
    results = audit_claims(SHIPPED_OTHER)
    assert len(results.rows) == len(SHIPPED_OTHER) >= 3  # GPT-3 in FLOPs and PF-days, PaLM's MFU
    for row in results.rows:
        assert row.verdict is not None, row.error
        assert row.verdict.kind == row.claim.expected, row.verdict.message
        assert row.as_expected


def test_a_claims_file_with_every_kind(tmp_path, small_training):
    per_token = _per_token(small_training)
    sparse_mfu = per_token * 1e9 / (H100_SPARSE * 1e12)
    path = tmp_path / "claims.yaml"
    path.write_text(
        "claims:\n"
        "  - {model: torchvision:resnet18, params_claim: 11.7M, expected: consistent}\n"
        "  - {model: torchvision:efficientnet_b4, claim: 4.2B FLOPs, input_shape: 1x3x380x380, expected: mismatch}\n"
        f"  - model: '{SMALL}'\n"
        "    input_shape: 1x256\n"
        f"    mfu: '{sparse_mfu * 100:.3g}%'\n"
        "    throughput: 1e9\n"
        f"    peak_tflops: {H100_DENSE}\n"
        f"    sparse_peak_tflops: {H100_SPARSE}\n"
        "    expected: sparse-peak\n"
    )
    results = audit_claims(load_claims(path))
    assert [r.verdict.kind for r in results.rows if r.verdict] == ["consistent", "mismatch", "sparse-peak"]
    assert results.exit_code == 0  # every verdict is the one the file expects

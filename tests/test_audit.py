"""Auditing published claims: the verdicts the issue names, and every shipped claim."""

from __future__ import annotations

import json

import pytest
import torchvision
from torchvision.models import get_model_weights, list_models

import flopmagic
from flopmagic.auditor import audit, hypotheses
from flopmagic.claims import Claim, load_claims, shipped_claims_path
from flopmagic.cli import main
from flopmagic.errors import FlopmagicError

SHIPPED = load_claims(shipped_claims_path())


@pytest.fixture(scope="module")
def resnet50(spec_profile):
    # torchvision resnet50: 4,089,184,256 MACs (v1.5), 25,557,032 params
    return spec_profile("torchvision:resnet50")


def test_macs_labelled_as_flops(resnet50):
    verdict = audit(resnet50, "4.1 GFLOPs", "25.6M")
    assert (verdict.kind, verdict.matched, verdict.hypothesis) == ("macs-as-flops", "macs", "macs")
    # 4.1e9 / 4,089,184,256 - 1 = +0.26%
    assert verdict.relative_error == pytest.approx(4.1e9 / 4_089_184_256 - 1)
    assert verdict.params is not None and verdict.params.matched == "params"
    assert "in true FLOPs that is about 8.178 GFLOPs" in verdict.message


def test_true_flops_are_consistent(resnet50):
    verdict = audit(resnet50, "8.2 GFLOPs")
    # 2 x 4,089,184,256 = 8,178,368,512: +0.27%, inside 8.2's own precision
    assert (verdict.kind, verdict.matched, verdict.hypothesis) == ("consistent", "flops", "flops")


def test_a_few_percent_is_an_architecture_difference_not_a_confusion(resnet50):
    verdict = audit(resnet50, "3.8 GFLOPs")
    assert verdict.kind == "mismatch" and verdict.matched is None
    # closest whole-model reading: the MACs, 3.8e9 / 4,089,184,256 - 1 = -7.1%
    assert verdict.hypothesis == "macs"
    assert verdict.relative_error == pytest.approx(3.8e9 / 4_089_184_256 - 1)
    assert "not a MAC/FLOP confusion" in verdict.message
    assert any("architecture variant" in cause for cause in verdict.causes)


def test_binary_prefix_macs_from_thops_old_readme(resnet50):
    # thop's old README: "3.86 FLOPs(G)" and "24.37 Params(M)": MACs / 2^30 and params / 2^20.
    verdict = audit(resnet50, "3.86 FLOPs(G)", "24.37M")
    assert (verdict.kind, verdict.matched) == ("binary-prefix", "macs")
    assert verdict.params is not None and verdict.params.binary
    # 24.37 * 2^20 = 25,553,879 vs 25,557,032: -0.01%
    assert verdict.params.relative_error == pytest.approx(24.37 * 2**20 / 25_557_032 - 1)
    # Alone, "3.86" is also ResNet-50 v1's decimal MAC count (3.858 G): no evidence of a binary prefix.
    assert audit(resnet50, "3.86 FLOPs(G)").kind == "mismatch"
    # Written with an explicit binary prefix, it is one.
    assert audit(resnet50, "3.86 GiFLOPs").kind == "binary-prefix"


def test_flops_labelled_as_macs(resnet50):
    verdict = audit(resnet50, "8.18 GMACs")
    assert (verdict.kind, verdict.matched) == ("flops-as-macs", "flops")


def test_a_factor_of_two_off_is_not_called_a_match(resnet50):
    verdict = audit(resnet50, "16.4 GFLOPs")  # 2 x the true FLOPs: a batch of 2
    assert verdict.kind == "mismatch"
    assert any("batch size" in cause and "2 x" in cause for cause in verdict.causes)


def test_a_partial_count_is_named(spec_profile):
    vit = spec_profile("torchvision:vit_b_16")
    # fvcore skips the fused attention kernels: 11,290,036,992 of 17,563,828,224 MACs
    verdict = audit(vit, "11.29 GFLOPs")
    assert (verdict.kind, verdict.hypothesis) == ("other-scope", "fvcore")
    assert {h.name: h.scope for h in hypotheses(vit)}["fvcore"] == "partial"


def test_verdict_renders_text_and_escaped_html(resnet50):
    verdict = audit(resnet50, "4.1 GFLOPs", source="<script>alert(1)</script>")
    bundle = verdict._repr_mimebundle_()
    assert "macs-as-flops" in bundle["text/plain"]
    assert "&lt;script&gt;" in bundle["text/html"] and "<script>" not in bundle["text/html"]


def test_public_api_profiles_a_spec(resnet50):
    verdict = flopmagic.audit("torchvision:resnet50", "4.1 GFLOPs", device="meta")
    assert verdict.kind == "macs-as-flops"
    assert flopmagic.audit(resnet50, "4.1 GFLOPs").to_dict()["verdict"] == "macs-as-flops"


COUNTS = [c for c in SHIPPED if c.kind in ("compute", "params")]


@pytest.mark.slow
@pytest.mark.parametrize("claim", COUNTS, ids=[f"{c.model}:{c.text}" for c in COUNTS])
def test_every_shipped_claim_gets_its_expected_verdict(claim, spec_profile):
    # training-compute and MFU claims are checked in tests/test_audit_claims.py
    assert claim.expected, f"{claim.model} {claim.claim!r} has no expected verdict"
    assert claim.source, f"{claim.model} {claim.claim!r} has no source"
    verdict = audit(spec_profile(claim.model), claim.claim, claim.params_claim, source=claim.source)
    assert verdict.kind == claim.expected, verdict.message
    if claim.expected_params:
        assert verdict.params is not None
        assert ("match" if verdict.params.matched else "mismatch") == claim.expected_params, verdict.params.message


def test_shipped_torchvision_claims_match_the_installed_metadata():
    listed = {c.model.split(":", 1)[1]: c for c in SHIPPED if c.source.startswith("torchvision docs")}
    documented = {
        f"{name}@{w.name}": w.meta
        for name in list_models(module=torchvision.models)
        for w in get_model_weights(name)
        if "_ops" in w.meta
    }
    assert set(listed) == set(documented)
    for label, meta in documented.items():
        assert listed[label].claim == f"{meta['_ops']} GFLOPS"
        assert listed[label].params_claim == str(meta["num_params"])


def test_claims_files_yaml_csv_and_errors(tmp_path):
    csv_file = tmp_path / "claims.csv"
    csv_file.write_text("model,claim,params_claim,source\ntorchvision:resnet18,1.8 GFLOPs,11.7M,a paper\n")
    assert load_claims(csv_file) == [Claim("torchvision:resnet18", "1.8 GFLOPs", "11.7M", None, "a paper", row=2)]
    bad = tmp_path / "bad.yaml"
    bad.write_text("claims:\n  - model: torchvision:resnet18\n")
    with pytest.raises(FlopmagicError, match="entry 1: each claim needs 'claim', 'params_claim', 'mfu' or 'hfu'"):
        load_claims(bad)
    bad.write_text("claims: [unclosed\n")
    with pytest.raises(FlopmagicError, match="not valid YAML"):
        load_claims(bad)
    bad.write_text("- model: m\n  claim: 1 GFLOPs\n  typo_key: 3\n")
    with pytest.raises(FlopmagicError, match="unknown keys \\['typo_key'\\]"):
        load_claims(bad)
    with pytest.raises(FlopmagicError, match="no such claims file"):
        load_claims(tmp_path / "missing.yaml")


def test_cli_single_claim_json(capsys):
    code = main(["audit", "torchvision:resnet50", "--claim", "4.1 GFLOPs", "--device", "meta", "--format", "json"])
    data = json.loads(capsys.readouterr().out)
    assert code == 0
    assert (data["verdict"], data["matched"]) == ("macs-as-flops", "macs")
    assert data["relative_error"] == pytest.approx(4.1e9 / 4_089_184_256 - 1)


def test_cli_claims_file_with_progress_and_summary(tmp_path, capsys):
    path = tmp_path / "claims.yaml"
    path.write_text(
        "claims:\n"
        "  - {model: torchvision:resnet18, claim: 1.8 GFLOPs, expected: macs-as-flops}\n"
        "  - {model: torchvision:resnet18, claim: 3.63 GFLOPs, expected: consistent}\n"
        "  - {model: torchvision:resnet18, claim: 2.5 GFLOPs, expected: consistent}\n"
    )
    code = main(["audit", "--claims", str(path)])
    captured = capsys.readouterr()
    assert "auditing 1/3: torchvision:resnet18 '1.8 GFLOPs'" in captured.err  # progress, on stderr
    assert "3 claims: 2 ok, 1 mismatch, 0 error (1 consistent, 1 macs-as-flops, 1 mismatch)" in captured.out
    assert "2 as expected, 1 differ" in captured.out
    assert code == 1  # a verdict differs from the file's expectation
    code = main(["audit", "--claims", str(path), "--format", "json"])
    data = json.loads(capsys.readouterr().out)
    assert data["summary"]["by_verdict"] == {"macs-as-flops": 1, "consistent": 1, "mismatch": 1}
    assert [v["verdict"] for v in data["verdicts"]] == ["macs-as-flops", "consistent", "mismatch"]  # kept
    assert [r["status"] for r in data["rows"]] == ["ok", "ok", "mismatch"]


def test_cli_audit_needs_a_claim(capsys):
    assert main(["audit", "torchvision:resnet18"]) == 2
    assert "give a model and a claim" in capsys.readouterr().err

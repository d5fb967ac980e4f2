"""torchvision: every documented classification weight, and the resnet50 / vit_b_16 numbers."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch
import torchvision
from torchvision.models import get_model_weights, list_models

import flopmagic
from flopmagic.adapters.torch.specs import torchvision_build_args

# Weights whose documented numbers flopmagic cannot match, with the measured cause.
# (None at present: every classification weight matches. Add here with the reason if one stops.)
KNOWN_MISMATCHES: dict[str, str] = {}


def _documented():
    """(model, weights) pairs with `_ops` and `num_params` in their meta, grouped by the
    architecture they need (same builder arguments and resolution) so each is built once."""
    groups: dict[tuple, list] = {}
    for name in list_models(module=torchvision.models):
        for weights in get_model_weights(name):
            if "_ops" not in weights.meta or "num_params" not in weights.meta:
                continue
            kwargs, resolution = torchvision_build_args(name, weights.name)
            key = (name, tuple(sorted(kwargs.items())), resolution)
            groups.setdefault(key, []).append(weights)
    return groups


GROUPS = _documented()


def test_the_walk_covers_the_classification_zoo():
    names = {key[0] for key in GROUPS}
    for family in (
        "resnet50",
        "vgg16",
        "alexnet",
        "mobilenet_v2",
        "efficientnet_b0",
        "regnet_y_400mf",
        "densenet121",
        "vit_b_16",
        "swin_t",
        "convnext_tiny",
        "maxvit_t",
        "inception_v3",
    ):
        assert family in names
    assert sum(len(w) for w in GROUPS.values()) >= 100  # every documented weight, not a sample


@pytest.mark.slow
@pytest.mark.parametrize("key", sorted(GROUPS), ids=lambda k: f"{k[0]}@{k[2]}")
def test_paper_macs_and_params_match_the_weights_metadata(key, spec_profile):
    name, _, resolution = key
    weights = GROUPS[key]
    profile = spec_profile(f"torchvision:{name}@{weights[0].name}").under("paper")
    assert profile.inputs[0].shape == (1, 3, resolution, resolution)
    assert profile.unsupported() == {}
    for w in weights:
        label = f"{name}@{w.name}"
        if label in KNOWN_MISMATCHES:
            continue
        ops = w.meta["_ops"]
        decimals = len(str(ops).split(".")[1]) if "." in str(ops) else 0
        # `_ops` is GMACs rounded to its published decimals; num_params is exact.
        assert round(profile.macs / 1e9, decimals) == ops, label
        assert profile.params == w.meta["num_params"], label


def test_cli_json_resnet50():
    for extra in ([], ["--convention", "paper"]):
        done = subprocess.run(
            [sys.executable, "-m", "flopmagic.cli", "profile", "torchvision:resnet50", "--format", "json", *extra],
            capture_output=True,
            text=True,
            check=True,
        )
        totals = json.loads(done.stdout)["totals"]
        # torchvision resnet50: 4,089,184,256 MACs (its docs: 4.089 "GFLOPS"), 25,557,032 params
        assert totals["macs"] == 4_089_184_256
        assert totals["params"] == 25_557_032
        assert all(isinstance(totals[k], int) for k in ("macs", "flops", "params"))


def test_vit_b_16_attention_included_real_and_meta():
    torch.manual_seed(0)
    model = torchvision.models.vit_b_16().eval()
    with torch.no_grad():
        real = flopmagic.profile(model, torch.randn(1, 3, 224, 224))
    meta = flopmagic.profile(model, input_shape=(1, 3, 224, 224), device="meta")
    # 12 layers: QKV 3*197*768*768 + scores and AV 2*197*197*768 + out 197*768*768 + MLP 2*197*768*3072,
    # plus patch embedding 768*3*16*16*196 and the head 768*1000:
    per_layer = 3 * 197 * 768 * 768 + 2 * 197 * 197 * 768 + 197 * 768 * 768 + 2 * 197 * 768 * 3072
    expected = 12 * per_layer + 768 * 3 * 16 * 16 * 196 + 768 * 1000
    assert real.macs == meta.macs == expected == 17_563_828_224
    assert round(real.macs / 1e9, 2) == 17.56
    assert real.totals == meta.totals
    assert any(r.native == "aten._native_multi_head_attention.default" for r in real.records)

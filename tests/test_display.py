"""One displayable report: every result is drawn by flopmagic.render.render, in every format."""

from __future__ import annotations

import csv
import io
import json

import pytest
from torch import nn

import flopmagic
from flopmagic.render import FORMATS, mimebundle, render


@pytest.fixture(scope="module")
def results():
    model = nn.Sequential(nn.Linear(4, 3), nn.ReLU())
    # linear(4, 3): 12 MACs, 2 * 12 + 3 = 27 FLOPs; relu: 3 FLOPs
    profile = flopmagic.profile(model, input_shape=(1, 4), name="mlp")
    assert (profile.macs, profile.flops) == (12, 30)
    comparison = flopmagic.compare([profile], conventions=["flopmagic", "paper"])
    verdict = flopmagic.audit(profile, "12 MACs")
    report = flopmagic.Report([profile], verdicts=[verdict])
    return {"profile": profile, "comparison": comparison, "verdict": verdict, "report": report}


@pytest.mark.parametrize("kind", ["profile", "comparison", "verdict", "report"])
@pytest.mark.parametrize("fmt", FORMATS)
def test_every_result_renders_in_every_format(results, kind, fmt):
    text = render(results[kind], fmt)
    assert text.strip()
    if fmt == "json":
        assert isinstance(json.loads(text), dict)
    if fmt == "csv":
        assert next(csv.reader(io.StringIO(text)))
    if fmt == "html":
        assert "<" in text and "mlp" in text


@pytest.mark.parametrize("kind", ["profile", "comparison", "verdict", "report"])
def test_every_result_displays_in_notebooks_through_one_mixin(results, kind):
    result = results[kind]
    bundle = result._repr_mimebundle_()
    assert bundle == mimebundle(result)
    assert set(bundle) == {"text/plain", "text/html"}
    assert result.to_text() == render(result, "text") == bundle["text/plain"]
    assert result.to_html() == bundle["text/html"]
    assert isinstance(result, flopmagic.display.Displayable)


def test_text_of_a_comparison_and_a_verdict_is_their_str(results):
    assert str(results["comparison"]) == render(results["comparison"], "text")
    assert str(results["verdict"]) == render(results["verdict"], "text")


def test_view_options_reach_the_profile_renderer(results):
    rows = list(csv.reader(io.StringIO(results["profile"].to_csv(by="type", unit="macs"))))
    assert rows[0][0] == "Op type" and "MACs" in rows[0] and "FLOPs" not in rows[0]


def test_unknown_format_and_object_are_refused(results):
    with pytest.raises(ValueError, match="unknown format 'pdf'; choose one of: text, html, markdown, csv, json"):
        render(results["profile"], "pdf")
    with pytest.raises(ValueError, match="cannot render a int"):
        render(3, "text")


def test_a_new_kind_of_result_registers_its_renderers():
    from dataclasses import dataclass
    from typing import ClassVar

    from flopmagic.display import Displayable
    from flopmagic.render import register

    @dataclass(frozen=True)
    class Estimate(Displayable):
        seconds: float
        _render_kind: ClassVar[str] = "test-estimate"

    register("test-estimate", {"text": lambda e, **_: f"{e.seconds} s", "html": lambda e, **_: f"<b>{e.seconds} s</b>"})
    assert Estimate(1.5)._repr_mimebundle_() == {"text/plain": "1.5 s", "text/html": "<b>1.5 s</b>"}
    with pytest.raises(ValueError, match=r"unknown format 'csv'; choose one of: text, html$"):
        Estimate(1.5).to_csv()
    with pytest.raises(ValueError, match="registered already"):
        register("profile", {})

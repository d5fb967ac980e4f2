"""Model surveys: totals equal the profiles', accuracy from torchvision's shipped metadata,
globs, the Pareto front, parallel jobs, error rows, the command line."""

from __future__ import annotations

import fnmatch
import json

import pytest
import torchvision
from hypothesis import given
from hypothesis import strategies as st
from torchvision.models import get_model_weights, list_models

import flopmagic
from flopmagic import SpecError, Survey, SurveyRow
from flopmagic.cli import main
from flopmagic.surveys import expand_specs, pareto_front

SMALL = ["torchvision:resnet18", "torchvision:resnet34", "torchvision:densenet121"]


@pytest.fixture(scope="module")
def small_survey():
    return flopmagic.survey(SMALL)


def test_rows_equal_the_profiles_and_carry_the_shipped_accuracy():
    result = flopmagic.survey(["torchvision:resnet18", "torchvision:resnet50@IMAGENET1K_V1"])
    for row in result.rows:
        profile = flopmagic.profile(row.spec, device="meta")
        assert (row.macs, row.flops, row.params) == (profile.macs, profile.flops, profile.params)
        assert row.input_shape == profile.inputs[0].shape
    resnet50 = result["resnet50"]
    # torchvision resnet50: 4,089,184,256 MACs (its docs: 4.089 "GFLOPS"), 25,557,032 params
    assert resnet50.macs == 4_089_184_256 and resnet50.params == 25_557_032
    # ResNet50_Weights.IMAGENET1K_V1: acc@1 76.13, acc@5 92.862 in torchvision's documentation;
    # read live from the installed package, and equal to the documented figures
    meta = get_model_weights("resnet50")["IMAGENET1K_V1"].meta
    assert resnet50.acc1_percent == meta["_metrics"]["ImageNet-1K"]["acc@1"] == 76.13
    assert resnet50.acc5_percent == meta["_metrics"]["ImageNet-1K"]["acc@5"] == 92.862
    assert resnet50.weights == "IMAGENET1K_V1" and resnet50.published_gmacs == meta["_ops"] == 4.089
    # a bare name takes the default weights' metadata
    default = get_model_weights("resnet18").DEFAULT
    assert result["resnet18"].weights == default.name
    assert result["resnet18"].acc1_percent == default.meta["_metrics"]["ImageNet-1K"]["acc@1"]
    assert all(r.device == "meta" and r.ok for r in result.rows)


def test_jobs_2_equals_jobs_1(small_survey):
    parallel = flopmagic.survey(SMALL, jobs=2)
    assert parallel == small_survey
    assert [r.model for r in parallel.rows] == ["resnet18", "resnet34", "densenet121"]  # spec order kept


def test_glob_expansion():
    names = list_models(module=torchvision.models)
    resnets = expand_specs(["torchvision:resnet*"])
    assert resnets == [f"torchvision:{n}" for n in ["resnet18", "resnet34", "resnet50", "resnet101", "resnet152"]]
    assert set(resnets) == {f"torchvision:{n}" for n in names if fnmatch.fnmatchcase(n, "resnet*")}
    assert expand_specs(["torchvision:densenet1?1@IMAGENET1K_V1", "torchvision:resnet18", "torchvision:resnet18"]) == [
        "torchvision:densenet121@IMAGENET1K_V1",
        "torchvision:densenet161@IMAGENET1K_V1",
        "torchvision:resnet18",
    ]
    with pytest.raises(SpecError, match="matches no torchvision model"):
        expand_specs(["torchvision:nothing_like_this*"])
    with pytest.raises(SpecError, match="globs work on"):
        expand_specs(["transformers:Bert*"])


def test_a_bad_spec_is_an_error_row_and_the_others_stay():
    result = flopmagic.survey(["torchvision:resnet18", "torchvision:not_a_model", "torchvision:resnet18@NOPE"])
    good, unknown, no_weights = result.rows
    assert good.ok and good.macs == 1_814_073_344  # torchvision's 1.814 "GFLOPS"
    assert not unknown.ok and "unknown torchvision model 'not_a_model'" in unknown.error and unknown.macs is None
    assert not no_weights.ok and "has no weights 'NOPE'" in no_weights.error
    assert result.errors == (unknown, no_weights)
    assert "not_a_model" in result.to_text() and result.to_csv().count("\n") == 4


def test_exports(small_survey):
    assert Survey.from_dict(json.loads(small_survey.to_json())) == small_survey
    frame = small_survey.to_pandas()
    assert list(frame["macs"]) == [r.macs for r in small_survey.rows]
    assert str(frame["macs"].dtype) == "Int64" and str(frame["acc1_percent"].dtype) == "float64"
    bundle = small_survey._repr_mimebundle_()
    assert "densenet121" in bundle["text/plain"] and "<table" in bundle["text/html"]
    lines = small_survey.to_csv().splitlines()
    assert lines[0].startswith("spec,model,weights") and len(lines) == 4


def row(name, macs, acc):
    return SurveyRow(spec=name, model=name, macs=macs, flops=2 * macs, params=1, acc1_percent=acc)


def test_pareto_on_a_constructed_set():
    rows = (
        row("a", 100, 70.0),  # front: cheapest
        row("b", 200, 69.0),  # dominated by a
        row("c", 200, 75.0),  # front
        row("d", 300, 75.0),  # dominated by c (same accuracy, more MACs)
        row("e", 400, 80.0),  # front
        SurveyRow(spec="f", model="f", macs=50),  # no accuracy: not rated
        SurveyRow(spec="g", model="g", error="SpecError: nope"),
    )
    assert [r.model for r in Survey(rows).pareto()] == ["a", "c", "e"]


@given(st.lists(st.tuples(st.integers(1, 50), st.integers(0, 50)), max_size=30))
def test_pareto_front_properties(points):
    front = pareto_front(points)

    def dominates(p, q):
        return p[0] <= q[0] and p[1] >= q[1] and p != q

    assert len(set(front)) == len(front)
    for i in front:  # no front point is dominated
        assert not any(dominates(p, points[i]) for p in points)
    for j in set(range(len(points))) - set(front):  # every other point is dominated by a front point
        assert any(dominates(points[i], points[j]) for i in front)
    assert [points[i][0] for i in front] == sorted(points[i][0] for i in front)


def test_plot_names_its_unit(small_survey, tmp_path):
    path = tmp_path / "survey.png"
    figure = small_survey.plot("flops", str(path))
    axis = figure.axes[0]
    assert "FLOPs" in axis.get_xlabel() and "top-1" in axis.get_ylabel()
    assert path.stat().st_size > 0


def test_cli_formats_and_plot(capsys, tmp_path):
    plot = tmp_path / "front.png"
    code = main(["survey", "torchvision:resnet1*", "--format", "json", "--plot", str(plot)])
    data = json.loads(capsys.readouterr().out)
    assert code == 0 and [r["model"] for r in data["rows"]] == ["resnet18", "resnet101", "resnet152"]
    assert plot.exists()
    code = main(["survey", "torchvision:resnet18", "--format", "markdown", "--unit", "flops"])
    out = capsys.readouterr().out
    assert code == 0 and "| FLOPs |" in out and "| MACs |" not in out


def test_cli_exit_codes(capsys):
    code = main(["survey", "torchvision:resnet18", "torchvision:not_a_model", "--format", "csv"])
    out = capsys.readouterr().out
    assert code == 1 and out.count("\n") == 3  # the rows are written, the failure shows in the exit status
    for argv, message in (
        (["survey", "torchvision:zzz*"], "matches no torchvision model"),
        (["survey", "torchvision:resnet18", "--jobs", "0"], "jobs must be at least 1"),
        (["survey", "torchvision:resnet18", "--convention", "nope"], "unknown --convention 'nope'"),
    ):
        code = main(argv)
        captured = capsys.readouterr()
        assert code == 2 and captured.out == ""
        assert captured.err.startswith("flopmagic: error: ") and message in captured.err
        assert captured.err.count("\n") == 1
    with pytest.raises(SystemExit) as exit_info:
        main(["survey"])
    assert exit_info.value.code == 2


def test_progress_callback_sees_every_model():
    seen = []
    flopmagic.survey(["torchvision:resnet18", "torchvision:not_a_model"], progress=lambda *a: seen.append(a))
    assert seen == [(1, 2, "resnet18"), (2, 2, "not_a_model")]


def test_importing_the_survey_imports_no_framework_nor_display_library():
    import subprocess
    import sys

    code = (
        "import sys, flopmagic, flopmagic.surveys, flopmagic.receptive_field, flopmagic.render.survey;"
        "heavy = [m for m in ('torch', 'torchvision', 'tensorflow', 'tqdm', 'pandas', 'matplotlib', 'numpy')"
        " if m in sys.modules]; print(heavy)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_the_docs_table_is_what_the_survey_measures():
    # docs/survey.md's DenseNet-vs-ResNet table (rows reordered by MACs there)
    from pathlib import Path

    from flopmagic.units import format_count

    text = (Path(__file__).parent.parent / "docs" / "survey.md").read_text(encoding="utf-8")
    section = text[text.index("### The seed example") :]
    documented = {
        cells[0]: cells[1:7]
        for cells in (
            [c.strip() for c in line.strip("|").split("|")] for line in section.splitlines() if line.startswith("| ")
        )
        if cells[0].startswith(("resnet", "densenet"))
    }
    result = flopmagic.survey(["torchvision:resnet*@IMAGENET1K_V1", "torchvision:densenet*"])
    front = {r.model for r in result.pareto("macs")}
    assert set(documented) == {r.model for r in result.rows} and len(documented) == 9
    for row in result.rows:
        measured = [
            format_count(row.params),
            format_count(row.macs),
            format_count(row.flops),
            f"{row.acc1_percent:g}",
            f"{row.acc5_percent:g}",
            "*" if row.model in front else "",
        ]
        assert [c.replace(" ", "") for c in documented[row.model]] == [c.replace(" ", "") for c in measured], row.model

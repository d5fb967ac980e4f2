"""The report object and comparisons: pinned renderings (golden files) and exports."""

from __future__ import annotations

import csv
import io
import json

import pytest
from torch import nn

import flopmagic
from flopmagic import Report
from flopmagic.cli import main
from torch_models import LENET_MACS, lenet


@pytest.fixture(scope="module")
def lenet_profile():
    return flopmagic.profile(lenet(), input_shape=(1, 1, 28, 28), name="lenet")


def test_report_text_and_html_are_pinned(lenet_profile, golden):
    report = Report([lenet_profile])
    bundle = report._repr_mimebundle_()
    golden("report_lenet.txt", bundle["text/plain"] + "\n")
    golden("report_lenet.html", bundle["text/html"] + "\n")
    assert "416.520 KMACs" in bundle["text/html"]


def test_comparison_is_pinned(lenet_profile, golden):
    comparison = flopmagic.compare([lenet_profile], conventions=["flopmagic", "paper", "fvcore"])
    bundle = comparison._repr_mimebundle_()
    golden("compare_lenet_conventions.txt", bundle["text/plain"] + "\n")
    golden("compare_lenet_conventions.html", bundle["text/html"] + "\n")
    # paper: only the 416,520 multiply-accumulates; fvcore has no formula for sigmoid or average pooling
    assert comparison.totals().macs == (LENET_MACS, LENET_MACS, LENET_MACS)
    assert "fm-differs" in bundle["text/html"]  # FLOPs differ between the conventions


def test_exports(lenet_profile):
    report = Report([lenet_profile, lenet_profile.under("paper")], by="type")
    frame = report.to_pandas()
    assert list(frame.columns[:3]) == ["model", "Op type", "Calls"]
    assert frame.loc[frame["Op type"] == "conv", "MACs"].tolist() == [357_600, 357_600]  # 117,600 + 240,000
    records = report.to_pandas("records")
    assert len(records) == 2 * len(lenet_profile.records)
    rows = list(csv.DictReader(io.StringIO(report.to_csv())))
    assert rows[0]["Model"] == "lenet" and int(rows[0]["MACs"]) > 0
    data = json.loads(report.to_json())
    assert data["profiles"][0]["totals"]["macs"] == LENET_MACS
    assert data["comparison"]["totals"]["macs"] == [LENET_MACS, LENET_MACS]
    assert report.to_markdown().startswith("### lenet")
    assert report["lenet"] is lenet_profile
    with pytest.raises(KeyError, match="no model 'resnet'"):
        report["resnet"]


def test_plot_returns_a_figure(lenet_profile):
    figure = Report([lenet_profile]).plot(top=5)
    (axis,) = figure.axes
    assert len(axis.patches) == 5
    assert axis.get_title() == "lenet: top 5 by FLOPs"


def test_compare_aligns_by_position_when_names_differ():
    a = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.Conv2d(4, 4, 3))

    class Named(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.stem = nn.Conv2d(3, 4, 3)
            self.act = nn.ReLU()
            self.body = nn.Conv2d(4, 4, 3, bias=False)

        def forward(self, x):
            return self.body(self.act(self.stem(x)))

    comparison = flopmagic.compare([a, Named()], input_shape=(1, 3, 8, 8), by="stage", labels=["seq", "named"])
    assert comparison.align == "position"
    # the rows with MACs, in order: conv (3*9 * 4*36 = 3,888 MACs), conv (4*9 * 4*16 = 2,304 MACs)
    assert [r.keys for r in comparison.rows] == [("0", "stem"), ("2", "body")]
    assert comparison.rows[1].macs == (2_304, 2_304)
    assert comparison.rows[1].differs("flops")  # bias adds in one, not the other


def test_cli_compare(capsys):
    assert (
        main(
            [
                "compare",
                "torchvision:resnet18",
                "torchvision:resnet34",
                "--by",
                "stage",
                "--device",
                "meta",
                "--format",
                "json",
            ]
        )
        == 0
    )
    data = json.loads(capsys.readouterr().out)
    # torchvision's documented "GFLOPS" (MACs): resnet18 1.814, resnet34 3.664
    assert [round(m / 1e9, 3) for m in data["totals"]["macs"]] == [1.814, 3.664]
    assert data["rows"][4]["keys"] == ["layer1", "layer1"]
    assert main(["compare", "torchvision:resnet18"]) == 2
    assert "compare needs two or more models" in capsys.readouterr().err

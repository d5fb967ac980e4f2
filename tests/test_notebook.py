"""docs/quickstart.ipynb, executed by a real Jupyter kernel (nbclient)."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOK = Path(__file__).parents[1] / "docs" / "quickstart.ipynb"


@pytest.fixture(scope="module")
def executed():
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    NotebookClient(
        notebook, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(NOTEBOOK.parent)}}
    ).execute()
    return [cell for cell in notebook.cells if cell.cell_type == "code"]


def outputs(cell, kind):
    return [o["data"][kind] for o in cell.get("outputs", []) if kind in o.get("data", {})]


def cell_with(executed, text):
    return next(cell for cell in executed if text in cell.source)


def test_every_cell_ran_without_error(executed):
    assert all(o.get("output_type") != "error" for cell in executed for o in cell.get("outputs", []))


def test_profiles_show_html_with_the_exact_numbers(executed):
    torch_html = outputs(cell_with(executed, "%%profile -o torch_report"), "text/html")[0]
    assert "4.089 GMACs (4,089,184,256)" in torch_html  # torchvision resnet50 (v1.5)
    assert "<table" in torch_html and "layer4" in torch_html
    keras_html = outputs(cell_with(executed, "%%profile -o keras_report"), "text/html")[0]
    assert "3.858 GMACs (3,857,973,248)" in keras_html  # Keras ResNet50 (v1)
    assert "moving statistics" in keras_html
    onnx_html = outputs(cell_with(executed, "%%profile -o onnx_report"), "text/html")[0]
    assert "4.089 GMACs (4,089,184,256)" in onnx_html and "25,557,032" in onnx_html  # the export = its source
    # the cells' own results are still their outputs
    assert outputs(cell_with(executed, "%%profile -o torch_report"), "text/plain")[-1] == "torch.Size([1, 1000])"


def test_side_by_side_and_audits(executed):
    comparison = outputs(cell_with(executed, 'by="stage"'), "text/plain")[0]
    assert "layer2 / conv3" in comparison and "onnx export MACs" in comparison
    assert "fm-differs" in outputs(cell_with(executed, 'by="stage"'), "text/html")[0]
    audit = outputs(cell_with(executed, '"4.1 GFLOPs"'), "text/plain")[0]
    assert "macs-as-flops" in audit
    paper = outputs(cell_with(executed, "3.8 x 10^9"), "text/plain")[0]
    assert "mismatch" in paper and "not a MAC/FLOP confusion" in paper


def test_a_papers_table_is_audited_as_an_html_table(executed):
    html = outputs(cell_with(executed, "audit_table"), "text/html")[0]
    # EfficientNet-B4 at 380: torchvision's 4,393,771,024 MACs are +4.6% above the paper's 4.2 B
    assert "<table" in html and "torchvision:efficientnet_b4" in html and "+4.6%" in html


def test_the_default_view_is_compact_and_names_are_read_after_the_cell(executed):
    import re

    (page,) = outputs(cell_with(executed, "%%profile net --input batch"), "text/html")
    first_table = page.index("<table")
    # torchvision resnet50 @224: 4,089,184,256 MACs and 25,557,032 parameters above the first table
    assert "4,089,184,256" in page[:first_table] and "25,557,032" in page[:first_table]
    assert page.index("macs-as-flops") < first_table  # the verdict comes before the tables
    assert re.sub(r"<details>.*?</details>", "", page, flags=re.S).count("<tr") <= 40

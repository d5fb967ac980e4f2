"""The schema: JSON round trip, aggregations, versioning."""

from __future__ import annotations

import json

import pytest
from torch import nn

import flopmagic
from flopmagic import ModelProfile
from flopmagic.aggregate import truncate_scope
from torch_models import lenet


@pytest.fixture(scope="module")
def profile():
    return flopmagic.profile(
        nn.Sequential(lenet(), nn.Sequential(nn.ReLU(), nn.Linear(10, 2))), input_shape=(1, 1, 28, 28)
    )


def test_json_round_trip(profile):
    text = profile.to_json()
    again = ModelProfile.from_json(text)
    assert again == profile
    data = json.loads(text)
    assert data["schema_version"] == flopmagic.SCHEMA_VERSION
    assert data["totals"] == {"macs": profile.macs, "flops": profile.flops, "params": profile.params}


def test_schema_version_and_missing_records_are_explained(profile):
    data = profile.to_dict()
    data["schema_version"] = 99
    with pytest.raises(ValueError, match="schema_version 99"):
        ModelProfile.from_dict(data)
    with pytest.raises(ValueError, match="no 'records'"):
        ModelProfile.from_dict(profile.to_dict(records=False))


def test_scope_rows_are_cumulative_at_any_depth(profile):
    # LeNet 416,520 MACs inside "0"; the extra Linear(10, 2) in "1.1": 10*2 = 20 MACs
    rows = {r.key: r for r in profile.by_scope(1)}
    assert rows[""].macs == profile.macs == 416_520 + 20
    assert rows["0"].macs == 416_520
    assert rows["1"].macs == 20
    deep = {r.key: r for r in profile.by_scope()}
    assert deep["1.1"].macs == 20 and deep["1.1"].type == "Linear" and deep["1.1"].output_shapes == ((1, 2),)
    assert deep["0"].params == 61_706  # LeNet's parameters, owned below "0"
    assert sum(r.macs for r in profile.by_layer()) == profile.macs


def test_op_type_rows_add_up(profile):
    rows = profile.by_op_type()
    assert sum(r.macs for r in rows) == profile.macs
    assert sum(r.flops for r in rows) == profile.flops
    assert sum(r.calls for r in profile.by_native_op()) == len(profile.records)


def test_record_names_are_unique(profile):
    names = [r.name for r in profile.records]
    assert len(names) == len(set(names))
    assert names[0] == "0.0/convolution"


def test_truncate_scope():
    assert truncate_scope("layer1.0.conv1", 1) == "layer1"
    assert truncate_scope("layer1.0.conv1", 2) == "layer1.0"
    assert truncate_scope("layer1.0.conv1", None) == "layer1.0.conv1"
    assert truncate_scope("", 1) == ""


def test_op_record_field_order_is_the_one_the_pricing_step_builds_it_in() -> None:
    # pricing._record constructs OpRecord positionally (once per op, the hot path)
    from dataclasses import fields

    from flopmagic.schema import OpRecord

    assert [f.name for f in fields(OpRecord)] == [
        "name", "op", "native", "scope", "macs", "flops", "method", "module_type", "inputs", "outputs",
        "attrs", "params", "phase", "count", "note", "module_class", "within",
    ]  # fmt: skip

"""Parsing what people write and formatting counts."""

from __future__ import annotations

import pytest

from flopmagic.units import QuantityParseError, format_count, parse_quantity


@pytest.mark.parametrize(
    ("text", "value", "word", "kind", "binary"),
    [
        ("4.1 GFLOPs", 4.1e9, "FLOPs", "flops", False),
        ("300M MAdds", 300e6, "MAdds", "macs", False),
        ("3.8 x 10^9 FLOPs", 3.8e9, "FLOPs", "flops", False),
        ("3.8 × 10^9 FLOPs", 3.8e9, "FLOPs", "flops", False),
        ("1.8e9", 1.8e9, None, None, False),
        ("15300 Million Mult-Adds", 15300e6, "Mult-Adds", "macs", False),
        ("4.09 GMACs", 4.09e9, "MACs", "macs", False),
        ("0.39B FLOPs", 0.39e9, "FLOPs", "flops", False),
        ("17.564 GFLOPS", 17.564e9, "FLOPS", "flops", False),
        ("25.6M", 25.6e6, None, None, False),
        ("1,234 OPs", 1234, "OPs", "ops", False),
        ("24.37 MiB", None, None, None, True),
    ],
)
def test_parse_keeps_the_word_as_written(text, value, word, kind, binary):
    if text == "24.37 MiB":
        with pytest.raises(QuantityParseError, match="unknown unit 'MiB'"):
            parse_quantity(text)
        return
    q = parse_quantity(text)
    assert q.value == pytest.approx(value)
    assert q.word == word
    assert q.kind == kind
    assert q.binary is binary


def test_prefix_in_parentheses_thop_style():
    # thop's old README: "3.86 FLOPs(G)" -- the prefix comes after the word.
    q = parse_quantity("3.86 FLOPs(G)")
    assert q.value == pytest.approx(3.86e9)
    assert q.word == "FLOPs"
    assert q.prefix == "G"


def test_binary_prefix_on_request_and_explicit():
    # 3.86 * 2^30 = 4,144,643,932.16 (thop divided MACs by 2^30 and printed "G").
    assert parse_quantity("3.86 FLOPs(G)", binary=True).value == pytest.approx(3.86 * 2**30)
    q = parse_quantity("3.86 GiFLOPs")
    assert q.binary and q.value == pytest.approx(3.86 * 2**30)


def test_qualifier_declares_what_the_source_means():
    # He et al. 2015, Table 1: "FLOPs" defined in the text as multiply-adds.
    q = parse_quantity("1.8 x 10^9 FLOPs (multiply-adds)")
    assert q.word == "FLOPs" and q.kind == "flops"
    assert q.qualifier == "multiply-adds"
    assert q.declared_kind == "macs"


@pytest.mark.parametrize("bad", ["", "GFLOPs", "4.1 bananas", "4.1 G FLOPs extra words", "abc"])
def test_parse_errors_name_the_expected_form(bad):
    with pytest.raises(QuantityParseError, match=r"e\.g\.|expected|unknown unit"):
        parse_quantity(bad)


@pytest.mark.parametrize(
    ("value", "unit", "expected"),
    [
        (4089184256, "MACs", "4.089 GMACs"),
        (864, "FLOPs", "864 FLOPs"),
        (0, "", "0"),
        (25557032, "", "25.557 M"),
        (1.5e15, "FLOPs", "1.500 PFLOPs"),
    ],
)
def test_format_count(value, unit, expected):
    assert format_count(value, unit) == expected


def test_format_binary():
    # 4,142,713,856 / 2^30 = 3.858... -> thop's "3.86"
    assert format_count(4142713856, "", digits=2, binary=True) == "3.86 Gi"

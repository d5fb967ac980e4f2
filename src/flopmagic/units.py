"""Counting units: format counts with SI prefixes and parse what people write.

Parsing keeps the quantity word exactly as written ("FLOPs", "MAdds", "Mult-Adds",
"GFLOPS", ...) next to a normalised ``kind`` (``"flops"``, ``"macs"``, ``"ops"``,
``"params"`` or ``None``), because the audit must be able to say "the source wrote
FLOPs but means MACs" without losing what the source wrote.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Literal

from .errors import FlopmagicError

__all__ = [
    "Kind",
    "ParsedQuantity",
    "QuantityParseError",
    "format_count",
    "parse_quantity",
    "si_scale",
]

Kind = Literal["flops", "macs", "ops", "params"]

# Decimal prefixes: 1 K = 10^3. "B" (billion) is common in papers ("0.39B FLOPs").
_DECIMAL = {"": 1, "K": 10**3, "M": 10**6, "G": 10**9, "B": 10**9, "T": 10**12, "P": 10**15}
# Binary prefixes: 1 Ki = 2^10; thop's old README printed MACs / 2^30 as "G".
_BINARY = {"": 1, "K": 2**10, "M": 2**20, "G": 2**30, "B": 2**30, "T": 2**40, "P": 2**50}
_WORD_MULTIPLIERS = {
    "thousand": "K",
    "million": "M",
    "millions": "M",
    "mn": "M",
    "billion": "G",
    "billions": "G",
    "bn": "G",
    "trillion": "T",
}
# Quantity words as people write them (lower-cased) -> what they normally denote.
# "MAdds", "Mult-Adds" and "multiply-adds" are multiply-accumulates by definition.
_WORDS: dict[str, Kind] = {
    "flop": "flops",
    "flops": "flops",
    "mac": "macs",
    "macs": "macs",
    "macc": "macs",
    "maccs": "macs",
    "madd": "macs",
    "madds": "macs",
    "mult-add": "macs",
    "mult-adds": "macs",
    "multadds": "macs",
    "mul-adds": "macs",
    "multiply-add": "macs",
    "multiply-adds": "macs",
    "multiply-accumulates": "macs",
    "op": "ops",
    "ops": "ops",
    "param": "params",
    "params": "params",
    "parameters": "params",
}

_NUMBER = re.compile(
    r"""^\s*
    (?P<num>[-+]?(?:\d[\d,_]*(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?)
    \s*
    (?:(?:x|X|×|\*)\s*10\s*(?:\^|\*\*)\s*(?P<exp>[-+]?\d+))?
    \s*(?P<rest>.*?)\s*$""",
    re.VERBOSE,
)


class QuantityParseError(FlopmagicError, ValueError):
    """A claim text that is not a number with an optional prefix and quantity word.

    A :class:`FlopmagicError` (the API's one error family) and, for callers that
    caught it before, still a ``ValueError``."""


@dataclass(frozen=True, slots=True)
class ParsedQuantity:
    """A count as written in a paper, a README or a tool's output.

    ``value`` is the absolute count (prefix applied); ``word`` the quantity word as
    written (``None`` when the text is a bare number); ``kind`` what that word
    normally denotes; ``qualifier`` a parenthetical such as ``multiply-adds`` in
    "FLOPs (multiply-adds)"; ``binary`` whether the prefix was read as a power of 2.
    """

    text: str
    value: float
    word: str | None
    kind: Kind | None
    prefix: str
    binary: bool
    qualifier: str | None = None

    @property
    def declared_kind(self) -> Kind | None:
        """The kind the source itself defines: a qualifier overrides the word.

        The ResNet paper writes "FLOPs (multiply-adds)": the word says FLOPs, the
        source's own definition says MACs.
        """
        if self.qualifier is not None:
            qualifier_kind = _WORDS.get(self.qualifier.strip().lower())
            if qualifier_kind is not None:
                return qualifier_kind
        return self.kind


def _split_prefix_word(token: str) -> tuple[str, str | None, bool] | None:
    """Split "GFLOPs" into ("G", "FLOPs", False), "GiMACs" into ("G", "MACs", True)."""
    if token.lower() in _WORDS:
        return "", token, False
    for size in (2, 1):
        head, tail = token[:size], token[size:]
        binary = size == 2 and head[1:] == "i"
        letter = head[0].upper() if head else ""
        if size == 2 and not binary:
            continue
        if letter in _DECIMAL and letter != "":
            if tail == "":
                return letter, None, binary
            if tail.lower() in _WORDS:
                return letter, tail, binary
    return None


def parse_quantity(text: str, *, binary: bool = False) -> ParsedQuantity:
    """Parse "4.1 GFLOPs", "300M MAdds", "3.8 x 10^9 FLOPs", "1.8e9",
    "15300 Million Mult-Adds", "3.86 FLOPs(G)", "4.09 GMACs", "25.6M".

    ``binary=True`` reads K/M/G/T as powers of 1024 (as thop's old README did);
    an explicit "Ki"/"Mi"/"Gi" is always binary.

    Raises:
        QuantityParseError: the text is not a number with an optional prefix and
            quantity word; the message shows the accepted forms.
    """
    match = _NUMBER.match(text)
    if match is None:
        raise QuantityParseError(
            f"cannot read a count from {text!r}: write a number with an optional prefix "
            "and quantity word, e.g. '4.1 GFLOPs', '300M MAdds', '3.8 x 10^9 FLOPs', '1.8e9'"
        )
    number = float(match["num"].replace(",", "").replace("_", ""))
    if match["exp"] is not None:
        number *= 10.0 ** int(match["exp"])
    rest = match["rest"]

    qualifier: str | None = None
    prefix = ""
    is_binary = binary
    paren = re.search(r"\(([^)]*)\)\s*$", rest)
    if paren is not None:
        inner = paren.group(1).strip()
        rest = rest[: paren.start()].strip()
        split = _split_prefix_word(inner) if inner else None
        if split is not None and split[1] is None:
            prefix, _, explicit_binary = split  # "FLOPs(G)": the prefix in parentheses
            is_binary = is_binary or explicit_binary
        elif inner:
            qualifier = inner

    word: str | None = None
    tokens = rest.split()
    if tokens and tokens[0].lower().rstrip(".") in _WORD_MULTIPLIERS:
        prefix = _WORD_MULTIPLIERS[tokens[0].lower().rstrip(".")]
        tokens = tokens[1:]
    if len(tokens) > 2:
        raise QuantityParseError(
            f"cannot read a count from {text!r}: too many words after the number; "
            "expected e.g. '4.1 GFLOPs' or '300 M MAdds'"
        )
    if len(tokens) == 2:
        head = _split_prefix_word(tokens[0])
        if head is None or head[1] is not None or tokens[1].lower() not in _WORDS:
            raise QuantityParseError(f"cannot read a count from {text!r}: expected '<prefix> <word>' such as 'G FLOPs'")
        prefix, is_binary = head[0], is_binary or head[2]
        word = tokens[1]
    elif len(tokens) == 1:
        split = _split_prefix_word(tokens[0])
        if split is None:
            known = ", ".join(sorted({w for w in _WORDS if w[0].isalpha()})[:8])
            raise QuantityParseError(
                f"cannot read a count from {text!r}: unknown unit {tokens[0]!r}; "
                f"use a prefix (K, M, G, T, B) and a word such as {known}, ..."
            )
        letter, word, explicit_binary = split
        prefix = letter or prefix
        is_binary = is_binary or explicit_binary

    scale = (_BINARY if is_binary else _DECIMAL)[prefix]
    kind = _WORDS.get(word.lower()) if word is not None else None
    return ParsedQuantity(
        text=text,
        value=number * scale,
        word=word,
        kind=kind,
        prefix=prefix,
        binary=is_binary and prefix != "",
        qualifier=qualifier,
    )


def si_scale(value: float, *, binary: bool = False) -> tuple[float, str]:
    """Return (scaled value, prefix) with the largest prefix that keeps |scaled| >= 1."""
    base = 1024.0 if binary else 1000.0
    prefixes = ["", "K", "M", "G", "T", "P"]
    if value == 0 or not math.isfinite(value):
        return float(value), ""
    index = min(int(math.log(abs(value), base)), len(prefixes) - 1)
    index = max(index, 0)
    return value / base**index, prefixes[index] + ("i" if binary and index else "")


def format_count(value: float, unit: str = "", *, digits: int = 3, binary: bool = False) -> str:
    """Format a count with an SI prefix: ``format_count(4089184256, "MACs")`` ->
    ``"4.089 GMACs"``; counts under 1000 print exactly (``"864 FLOPs"``)."""
    scaled, prefix = si_scale(value, binary=binary)
    if prefix == "":
        number = f"{value:,.0f}" if float(value).is_integer() else f"{value:.{digits}g}"
        return f"{number} {unit}".rstrip()
    return f"{scaled:.{digits}f} {prefix}{unit}".rstrip()

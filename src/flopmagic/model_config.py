"""Model configs for ``transformers:`` specs, read as data.

``transformers:CLASS(key=value,...)`` overrides config fields: values are Python
literals read with :func:`ast.literal_eval` (a bare word is a string), never
evaluated. ``transformers:CLASS@config.json`` (or ``--config FILE``) reads a Hugging
Face ``config.json`` with :mod:`json`. Both combine: ``CLASS@config.json(n_layer=2)``.
A field the config does not have is an error (a typo would be ignored silently).
"""

from __future__ import annotations

import ast
import difflib
import json
import os
from typing import Any

from .errors import SpecError

__all__ = [
    "MAX_CONFIG_BYTES",
    "MAX_OVERRIDES_CHARS",
    "parse_config_overrides",
    "read_config_file",
    "split_transformers_spec",
    "transformers_config",
]

# Config overrides and config files are read as data, within these sizes.
MAX_OVERRIDES_CHARS = 4096
MAX_CONFIG_BYTES = 1 << 20


def parse_config_overrides(text: str, spec: str = "") -> dict[str, Any]:
    """``"n_layer=96, n_embd=12288, activation_function='gelu_new'"`` -> a dict.

    Values are Python literals (ints, floats, bools, None, strings, lists, dicts)
    read with :func:`ast.literal_eval`; a bare word is a string (``act=gelu``).
    Nothing is evaluated or imported.

    Raises:
        SpecError: not ``key=value`` pairs of literals; the message shows the form.
    """
    where = f" in {spec[:200]!r}" if spec else ""
    form = "write key=value pairs of literals, e.g. transformers:GPT2LMHeadModel(n_layer=2,n_embd=256)"
    if len(text) > MAX_OVERRIDES_CHARS:
        raise SpecError(f"config overrides{where} are longer than {MAX_OVERRIDES_CHARS} characters")
    try:
        tree = ast.parse(f"_({text})", mode="eval")
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        raise SpecError(f"cannot read config overrides {text[:200]!r}{where}: {form}") from None
    call = tree.body
    if not isinstance(call, ast.Call) or call.args or any(k.arg is None for k in call.keywords):
        raise SpecError(f"cannot read config overrides {text[:200]!r}{where}: {form}")
    overrides: dict[str, Any] = {}
    for keyword in call.keywords:
        assert keyword.arg is not None
        node = keyword.value
        if isinstance(node, ast.Name):  # a bare word: a string
            overrides[keyword.arg] = node.id
            continue
        try:
            overrides[keyword.arg] = ast.literal_eval(node)
        except (ValueError, TypeError, SyntaxError, RecursionError, MemoryError):
            raise SpecError(
                f"config override {keyword.arg}={ast.get_source_segment(f'_({text})', node) or '?'}{where} "
                f"is not a literal: {form}"
            ) from None
    return overrides


def read_config_file(path: str) -> dict[str, Any]:
    """A Hugging Face ``config.json``, read as JSON data (nothing is imported or run).

    Raises:
        SpecError: missing, too large, not JSON, or not a JSON object.
    """
    if not os.path.isfile(path):
        raise SpecError(f"no such config file: {path[:200]!r}")
    if os.path.getsize(path) > MAX_CONFIG_BYTES:
        raise SpecError(f"config file {path[:200]!r} is larger than {MAX_CONFIG_BYTES} bytes")
    try:
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)
    except (OSError, UnicodeDecodeError, ValueError, RecursionError) as error:
        raise SpecError(f"config file {path[:200]!r} is not valid JSON: {str(error)[:200]}") from None
    if not isinstance(data, dict):
        raise SpecError(f"config file {path[:200]!r} must hold a JSON object of config fields")
    return data


def split_transformers_spec(name: str) -> tuple[str, str | None, dict[str, Any]]:
    """``"CLASS@config.json(k=v)"`` -> ("CLASS", "config.json", {"k": v})."""
    head, paren, rest = name.partition("(")
    overrides: dict[str, Any] = {}
    if paren:
        if not rest.rstrip().endswith(")"):
            raise SpecError(f"unbalanced parentheses in transformers:{name[:200]!r}: write CLASS(key=value,...)")
        overrides = parse_config_overrides(rest.rstrip()[:-1], f"transformers:{name}")
    cls_name, at, config_path = head.strip().partition("@")
    return cls_name.strip(), (config_path.strip() or None) if at else None, overrides


def transformers_config(cls: Any, config_path: str | None, overrides: dict[str, Any]) -> Any:
    """The config a ``transformers`` model class is built with: its default, or the
    file's, with ``overrides`` set on it (each must be a field of that config).

    Raises:
        SpecError: an unreadable file, a value the config class rejects, or an unknown field.
    """
    name = getattr(cls, "__name__", "model")
    try:
        if config_path is not None:
            config = cls.config_class.from_dict(read_config_file(config_path))
        else:
            config = cls.config_class()
    except SpecError:
        raise
    except Exception as error:  # the config class rejected the file's values
        raise SpecError(f"{name}: cannot build its config: {str(error)[:200]}") from None
    attribute_map = getattr(config, "attribute_map", {}) or {}
    for key, value in overrides.items():
        if not hasattr(config, key) and key not in attribute_map:
            close = difflib.get_close_matches(key, [k for k in config.to_dict() if isinstance(k, str)], n=3)
            hint = f" (did you mean {', '.join(close)}?)" if close else ""
            raise SpecError(f"{type(config).__name__} has no field {key!r}{hint}: a typo would be ignored silently")
        try:
            setattr(config, key, value)
        except Exception as error:
            raise SpecError(f"{type(config).__name__}: cannot set {key}={value!r}: {str(error)[:200]}") from None
    return config

"""The formula library: one price per canonical op, pure functions of shapes.

Importing this package registers every formula. Use :func:`price` to price an
:class:`OpSpec`, :func:`formulas` to list them (the docs table is generated from it).
"""

from __future__ import annotations

from . import (  # noqa: F401  (imported to register their formulas)
    activation,
    attention,
    backward,
    contraction,
    elementwise,
    embedding,
    loss,
    movement,
    normalization,
    pooling,
    recurrent,
    reduction,
    resize,
)
from ._registry import (
    CATEGORIES,
    AttrValue,
    Category,
    Cost,
    Formula,
    FormulaEntry,
    OpSpec,
    Shape,
    UnknownOpError,
    find_formula,
    formula,
    formulas,
    get_formula,
    numel,
    price,
    registered_ops,
)

__all__ = [
    "CATEGORIES",
    "AttrValue",
    "Category",
    "Cost",
    "Formula",
    "FormulaEntry",
    "OpSpec",
    "Shape",
    "UnknownOpError",
    "find_formula",
    "formula",
    "formulas",
    "get_formula",
    "numel",
    "price",
    "registered_ops",
]

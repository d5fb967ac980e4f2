"""Zero-cost ops: data movement and bookkeeping. Recorded, never priced above zero."""

from __future__ import annotations

from ._registry import Cost, OpSpec, formula


@formula("view", category="movement", zero_cost=True)
def view(spec: OpSpec) -> Cost:
    """0: a view, reshape, transpose, slice or expand moves no data."""
    return Cost()


@formula("copy", category="movement", zero_cost=True)
def copy(spec: OpSpec) -> Cost:
    """0: a copy, concatenation, gather, scatter, pad, select or cast moves data without arithmetic."""
    return Cost()


@formula("create", category="movement", zero_cost=True)
def create(spec: OpSpec) -> Cost:
    """0: allocating or filling a tensor (empty, zeros, arange, random draws) is not arithmetic on data."""
    return Cost()


@formula("integer", category="movement", zero_cost=True)
def integer(spec: OpSpec) -> Cost:
    """0: arithmetic on integer or boolean tensors (indices, masks) is not floating-point work."""
    return Cost()

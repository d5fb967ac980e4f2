"""Embedding lookups: a gather, no arithmetic (the table still counts as parameters read)."""

from __future__ import annotations

from ._registry import Cost, OpSpec, formula, numel


@formula("embedding", category="embedding", zero_cost=True)
def embedding(spec: OpSpec) -> Cost:
    """0: copying rows of the table is data movement.

    inputs: indices [*], table [V, D]; outputs: [*, D].
    """
    return Cost()


@formula("embedding_bag", category="embedding")
def embedding_bag(spec: OpSpec) -> Cost:
    """sum/mean: 1 add per gathered element (+1 divide per output for mean); max: 1 compare.

    inputs: indices [*], table [V, D]; outputs: [B, D]; attrs: mode, gathered (rows gathered).
    """
    width = spec.outputs[0][-1]
    gathered = spec.int_attr("gathered", numel(spec.inputs[0])) * width
    outputs = numel(spec.outputs[0])
    if spec.attr("mode") == "mean":
        return Cost.elementwise(gathered)  # (n - 1 adds + 1 divide) per output
    return Cost.elementwise(gathered - outputs)

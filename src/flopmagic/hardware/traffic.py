"""Bytes next to FLOPs: what each op reads and writes, from the shapes the records keep.

Assumption (the **unfused lower bound**, as LLM-Viewer's per-layer bytes): every op
reads its inputs from device memory and writes its outputs back, once. Caches and
kernel fusion can only lower real traffic below this for activations, and nothing
can lower the weights: the result is what an unfused eager run moves. The **fused
view** (``fused=True``) is the other end: weights plus the model's own inputs and
outputs only, as if every activation stayed on chip.

Dtype: records keep shapes, not dtypes, so every tensor is counted at one chosen
dtype (``dtype="bf16"``: 2 bytes an element), as LLM-Viewer does with its
``w_bit``/``a_bit``. Integer index tensors (token ids, gather indices) are counted
at that dtype too: a small overcount, stated. Parameter bytes come from the
recorder's count of parameter elements each op reads (``OpRecord.params``:
weight, bias and normalisation affine parameters), each read by the op once.

Which inputs of a spec are weights: for an op that reads parameters, the spec's
inputs after the first (``conv``/``linear``: ``(x, W)``; ``embedding``:
``(indices, table)``) that fit in the parameter count, from the last; the first
input is an activation. An embedding lookup reads the rows it gathers (the output's
elements), not the whole table. Views (``view`` ops) move nothing: 0 bytes. Tensors a
spec leaves to attributes (an attention mask, BatchNorm's running statistics, which
are buffers, not parameters) are not counted: small, and stated.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from ..formulas import Shape, numel
from ..schema import ModelProfile, OpRecord

_LOOKUPS = frozenset({"embedding", "embedding_bag"})

__all__ = ["ASSUMPTION", "FUSED_ASSUMPTION", "OpBytes", "activation_footprint", "io_bytes", "op_bytes"]

ASSUMPTION = (
    "unfused lower bound: every op reads its inputs from and writes its outputs to device memory once; "
    "views move nothing; every tensor at the chosen dtype"
)
FUSED_ASSUMPTION = (
    "fused view: only the weights (each op reads the parameters it uses) and the model's inputs and "
    "outputs cross device memory; every activation stays on chip"
)


@dataclass(frozen=True, slots=True)
class OpBytes:
    """Bytes one record moves (over all its ``count`` calls)."""

    weight_bytes: int  # parameters read
    read_bytes: int  # activations read (inputs that are not parameters)
    written_bytes: int  # outputs written
    known: bool = True  # False: the record kept no shapes (a wrapped tool's native count)

    @property
    def total(self) -> int:
        return self.weight_bytes + self.read_bytes + self.written_bytes


def _activation_inputs(record: OpRecord) -> Iterable[Shape]:
    inputs = record.inputs
    if not record.params or len(inputs) < 2:
        return inputs
    remaining = record.params
    weights: set[int] = set()
    for index in range(len(inputs) - 1, 0, -1):  # never the first input: it is the data
        size = numel(inputs[index])
        if size <= remaining:
            weights.add(index)
            remaining -= size
    return [shape for i, shape in enumerate(inputs) if i not in weights]


def op_bytes(record: OpRecord, element_bytes: int, *, fused: bool = False) -> OpBytes:
    """What ``record`` reads and writes at ``element_bytes`` per element (see the module doc)."""
    count = record.count
    weights = record.params * element_bytes * count
    if record.op in _LOOKUPS and record.outputs:
        # a lookup reads the rows it gathers, not the whole table
        rows = numel(record.outputs[0])
        if record.op == "embedding_bag":
            gathered = record.attrs.get("gathered")
            count_rows = gathered if isinstance(gathered, int) else numel(record.inputs[0])
            rows = count_rows * record.outputs[0][-1]
        weights = min(record.params, rows) * element_bytes * count
    if record.op == "view":
        return OpBytes(0, 0, 0)
    if fused:
        return OpBytes(weights, 0, 0)
    if not record.inputs and not record.outputs and record.method == "native":
        return OpBytes(weights, 0, 0, known=False)
    read = sum(numel(s) for s in _activation_inputs(record)) * element_bytes * count
    written = sum(numel(s) for s in record.outputs) * element_bytes * count
    return OpBytes(weights, read, written)


def io_bytes(profile: ModelProfile, element_bytes: int) -> tuple[int, int]:
    """(model input bytes, model output bytes) at ``element_bytes`` per element.

    Outputs: for PyTorch the root module's first-call outputs (the model's return value);
    for graph frameworks the last forward op's outputs (a graph's outputs come last in
    topological order; a model with several output branches is undercounted)."""
    inputs = sum(numel(t.shape) for t in profile.inputs) * element_bytes
    shapes: tuple[Shape, ...] = ()
    if profile.framework == "torch":
        shapes = next((layer.output_shapes for layer in profile.layers if layer.scope == ""), ())
    else:
        last = next((r for r in reversed(profile.records) if r.phase == "forward" and r.outputs), None)
        shapes = last.outputs if last is not None else ()
    return inputs, sum(numel(s) for s in shapes) * element_bytes


def activation_footprint(profile: ModelProfile, element_bytes: int) -> tuple[int, int]:
    """(bytes of every activation the run produced, the largest single op's in + out bytes).

    The first is what a run keeping every output would hold (an upper bound on live
    activations, forward only); the second a lower bound on the peak working set."""
    produced = 0
    largest = 0
    for record in profile.records:
        if record.phase != "forward" or record.op == "view":
            continue
        moved = op_bytes(record, element_bytes)
        produced += moved.written_bytes
        largest = max(largest, (moved.read_bytes + moved.written_bytes) // max(record.count, 1))
    return produced, largest

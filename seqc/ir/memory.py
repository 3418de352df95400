"""How much memory building a model takes, from its graph alone: the estimate behind
`--max-memory`, checked before any parameter is allocated.

The peak is the largest of three phases of `seqc build` (measured with VmHWM on Dense, MLP,
CNN and LSTM models; tests/test_bounds.py keeps the estimate between 1x and 3x of it):
- init: the parameters, plus the float64 draw each initializer makes before its float32 cast;
- fit: parameters, per-parameter gradients, the optimizer's flat parameter, gradient and
  scratch vectors and its slots (built once per-parameter, then copied flat: twice while the
  first step runs), and one batch of activations with their caches and gradients;
- export: the parameters and the optimizer's slots (the model keeps them; fit drops its flat
  vectors) plus the ONNX copies of the weights:
  the ModelProto's initializers, its serialized bytes, and onnxruntime's session (weights and
  pre-packed GEMM panels) for validation, with the held-out rows run through NumPy and
  onnxruntime.
Data comes on top: `data_bytes` is counted twice in fit (the arrays and their float32 copy).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from .graph import Graph

# Copies of the weights alive while model.onnx is written and validated (measured 5.7 on a
# 36 MB Dense and 6.7 on a 256 MB one: the proto, its serialized bytes, onnxruntime's session
# with its pre-packed panels, the test vectors' run), plus the embedded IR's coded lowering
# (seqc.ir.embedded: a coded copy of the weights, its initializers read back, the int64
# positions): 11.4 in all on a 16 MB Dense (benchmarks/memory_peak.py, 2026-12-07).
EXPORT_COPIES = 12.0
# Per element of a layer's output in a training batch: the value, its cache, its gradient and
# a temporary (a convolution's im2col and its gradient are both alive in backward).
TRAIN_ACTIVATION_COPIES = 4
# Rows `seqc build` validates on when it has no data (pipeline.N_SYNTHETIC; with data, the
# held-out rows, at most 1024), and the live buffers per element of the largest layer.
VALIDATION_ROWS = 64
INFER_ACTIVATION_COPIES = 3
# onnxruntime's session and arena chunks, the exporter's and the checker's Python objects:
# measured 45 MiB above the per-parameter terms on a 16 MB Dense.
FIXED = 64 * 2**20
ADAM_SLOTS = 2
BYTES = 4  # float32
# numba's compiler (the `fast` extra) building the recurrent time loops (ops/_recurrent_fused)
# at the first fit: measured +103 MiB on an LSTM(256) build (benchmarks/memory_peak.py,
# 2026-12-08; the optimizer kernels' compile is within FIXED).
JIT_RECURRENT = 128 * 2**20
JIT_KINDS = frozenset(("LSTM", "GRU", "Bidirectional"))


@dataclass
class MemoryEstimate:
    """Bytes per phase; `total` is the peak (the largest phase)."""

    phases: dict[str, int] = field(default_factory=dict)
    parameters: int = 0

    @property
    def total(self) -> int:
        return max(self.phases.values(), default=0)

    @property
    def peak_phase(self) -> str:
        return max(self.phases, key=self.phases.get) if self.phases else "init"


def _elements(shape: tuple) -> int:
    """Elements per sample (the batch axis left out; an unknown length counts as 1)."""
    return math.prod(d or 1 for d in shape[1:])


def _node_elements(graph: Graph, node) -> int:
    """Elements per sample a node keeps alive: its outputs, plus what its NumPy forward
    materializes (a convolution's im2col matrix, a recurrent layer's per-step gates)."""
    out = sum(_elements(graph.types[v].shape) for v in node.outputs if v in graph.types)
    attrs = node.attrs
    ins = [graph.types[v] for v in node.inputs if v in graph.types]
    kernel = getattr(attrs, "kernel_size", None)
    if kernel is not None and ins:
        k = math.prod(kernel) if isinstance(kernel, (tuple, list)) else int(kernel)
        channels = ins[0].shape[-1] or 1
        shape = graph.types[node.outputs[0]].shape
        positions = max(_elements(shape) // (shape[-1] or 1), 1)
        out += positions * k * channels
    units = getattr(attrs, "units", None)
    if units and ins and len(ins[0].shape) == 3:  # recurrent: gates and states per step
        out += (ins[0].shape[1] or 1) * 6 * int(units)
    return out


def estimate_memory(graph: Graph, *, batch_size: int = 32, slots: int = ADAM_SLOTS,
                    train: bool = True, data_bytes: int = 0,
                    rows: int = VALIDATION_ROWS) -> MemoryEstimate:
    """The bytes `seqc build` needs for `graph` (see the module docstring); `train=False` for
    an export or conversion without training; `rows`: the rows validated after export."""
    sizes = [math.prod(s.shape) * BYTES for s in graph.param_specs.values()]
    p = sum(sizes)
    per_sample = [_node_elements(graph, n) for n in graph.nodes]
    acts_train = sum(per_sample) * batch_size * BYTES * TRAIN_ACTIVATION_COPIES
    acts_infer = max(per_sample, default=0) * rows * BYTES * INFER_ACTIVATION_COPIES
    phases = {"init": FIXED + p + 2 * max(sizes, default=0)}
    held = p
    if train:
        jit = JIT_RECURRENT if any(n.op in JIT_KINDS for n in graph.nodes) and _numba() else 0
        phases["fit"] = FIXED + (5 + 2 * slots) * p + acts_train + 2 * data_bytes + jit
        held = (1 + slots) * p
    phases["export"] = FIXED + int(held + EXPORT_COPIES * p) + acts_infer + data_bytes
    return MemoryEstimate(phases, graph.count_params())


def _numba() -> bool:
    """Whether the compiled kernels can run (numba installed, SEQC_NUMBA not 0), without
    importing numba."""
    import importlib.util
    import os

    return os.environ.get("SEQC_NUMBA", "1") != "0" and importlib.util.find_spec(
        "numba") is not None

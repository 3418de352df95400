"""PyTorch as a runtime: the seqc model rebuilt as a `torch.nn.Module` from the IR and its
weights (nn.Linear, nn.LSTM/GRU/RNN, F.conv*d, F.max_pool*d, F.batch_norm, ...), so agreement
with seqc's NumPy forward is evidence from an independent implementation, not an echo.

The IR is channels-last like Keras; torch's spatial ops are channels-first, so each spatial
node permutes (N, *S, C) -> (N, C, *S) around its torch op. Keras' 'same'/'causal' padding
(TensorFlow's rule, extra pixel at the end) is an explicit F.pad. Weights are converted from
Keras' layouts here: Dense kernel (in, out) -> Linear weight (out, in), conv kernel
(*k, in, out) -> (out, in, *k), GRU gates z,r,h -> torch's r,z,n.
Timestep masks follow Keras: Masking and Embedding(mask_zero) create them, recurrent layers
keep the previous state on masked steps (run step by step through torch's own cells), and
GlobalAveragePooling1D averages the valid steps only.
Kinds or attribute values torch cannot compute exactly raise a UsageError naming the layer.
The builders live in _torch_core (dense, activations, normalization, reshaping), _torch_spatial
(convolutions, pooling, padding) and _torch_recurrent (RNNs and wrappers); _torch_base
imports torch on first use, so importing seqc never imports it.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import reduce
from typing import Any

import numpy as np

from ..errors import UsageError
from ..ops import REGISTRY
from . import _torch_categorical, _torch_core, _torch_merge, _torch_recurrent, _torch_spatial
from ._torch_base import activation, keras_pads, nn, torch
from ._torch_merge import MASKED_MERGES
from .source import NUMPY_BATCH, ModelSource, Predict, Runner

INSTALL_HINT = "pip install 'seqc[crosscheck]'"


class TorchRunner(Runner):
    name = "torch"
    needs = "ir"
    description = "PyTorch eager, the model rebuilt from seqc's IR and weights"
    default = False  # a cross-check: run when named (building a torch model takes seconds)

    def unavailable(self) -> str | None:
        if importlib.util.find_spec("torch") is None:
            return f"torch is not installed ({INSTALL_HINT})"
        return None

    def load(self, src: ModelSource, *, batch_size: int | None = None,
             intra_op_num_threads: int | None = None, **_: Any) -> Predict:
        if intra_op_num_threads is not None:
            torch.set_num_threads(int(intra_op_num_threads))
        graph = src.graph
        if len(graph.inputs) > 1 or len(graph.outputs) > 1:
            raise UsageError(
                "the torch runtime validates models with one input and one output",
                field="runtimes",
                received=f"{len(graph.inputs)} inputs, {len(graph.outputs)} outputs",
                hint="validate this model with the other runtimes (numpy, onnxruntime)")
        module = build_module(graph, src.params)
        step = batch_size or NUMPY_BATCH
        out_dtype = np.dtype(src.graph.output_type.dtype)

        def predict(x: np.ndarray) -> np.ndarray:
            xt = torch.from_numpy(np.ascontiguousarray(x))
            with torch.no_grad():
                ys = [module(xt[i:i + step]) for i in range(0, len(xt), step)]
            y = ys[0] if len(ys) == 1 else torch.cat(ys)
            return y.numpy().astype(out_dtype, copy=False)

        return predict


def build_module(graph: Any, params: dict[str, np.ndarray]) -> Any:
    """The IR as a torch.nn.Module in eval mode (float32); UsageError for a node torch cannot
    reproduce exactly."""
    steps = []
    for node in graph.nodes:
        p = {local: params[node.param_key(local)] for local in node.params}
        in_type = graph.types[node.inputs[0]]
        out_type = graph.types[node.outputs[0]]
        label = f"layer '{node.layer or node.name}' ({node.op})"
        b = Builder(label, in_type, node.inputs[0] in graph.masked)
        if len(node.outputs) > 1 or (len(node.inputs) > 1 and not REGISTRY[node.op].multi_input):
            raise b.refuse(f"{node.op}'s return_state or initial_state")
        if REGISTRY[node.op].multi_input and any(v in graph.masked for v in node.inputs) \
                and node.op not in MASKED_MERGES:
            raise b.refuse(f"{node.op} of masked inputs")
        fn = b.build(node.op, node.attrs, p)
        mask_fn = None
        if node.outputs[0] in graph.masked:
            mask_fn = _mask_rule(node.op, node.attrs)
        cast = out_type.dtype.startswith("float") and node.op != "Embedding"
        steps.append(_step_class()(node.name, fn, b.modules, cast, mask_fn))
    model = _model_class()(graph, steps)
    return model.eval()


# ---- the builder: one IR node -> fn(x, mask) ----

# Kind -> builder(b, kind, attrs, params); then kind-name prefixes -> the builder of a family
# (checked in order).
_BUILDERS: dict[str, Callable] = {**_torch_core.BUILDERS, **_torch_recurrent.BUILDERS,
                                   **_torch_categorical.BUILDERS, **_torch_merge.BUILDERS}
_FAMILIES = _torch_spatial.FAMILIES


@dataclass
class Builder:
    label: str
    in_type: Any  # TensorType of the node's input (channels-last IR type)
    in_masked: bool
    modules: list = field(default_factory=list)

    def refuse(self, what: str, hint: str | None = None) -> UsageError:
        return UsageError(
            f"the torch runtime has no PyTorch equivalent for {what}", field="runtimes",
            received=self.label,
            hint=hint or "validate this model with the other runtimes (numpy, onnxruntime)")

    def build(self, kind: str, a: Any, p: dict[str, np.ndarray]) -> Callable:
        make = _BUILDERS.get(kind)
        if make is None and REGISTRY[kind].inference_identity:
            make = _torch_core.identity
        if make is None:
            make = next((fam for prefix, fam in _FAMILIES if kind.startswith(prefix)), None)
        if make is None:
            raise self.refuse(kind)
        return make(self, kind, a, p)

    def child(self, label: str, in_type: Any) -> Builder:
        """A builder for a wrapped layer (unmasked input), registering into the same modules."""
        return Builder(label, in_type, False, self.modules)

    def activation(self, spec: Any) -> Callable:
        """A Keras activation as a torch function, or the refusal when torch has none."""
        f = activation(spec)
        if f is None:
            raise self.refuse(f"Activation({spec!r})")
        return f


# ---- the nn.Module classes (made on first use: their base class is torch's) ----

_CLASSES: dict[str, type] = {}


def _step_class() -> type:
    if "Step" not in _CLASSES:
        class Step(nn.Module):
            """One IR node: fn(x, mask) -> y, with the torch modules it owns registered."""

            def __init__(self, name: str, fn: Callable, modules: list, cast: bool,
                         mask_fn: Callable | None):
                super().__init__()
                self.node_name, self.fn, self.cast, self.mask_fn = name, fn, cast, mask_fn
                self.parts = nn.ModuleList(modules)

            def forward(self, x: Any, mask: Any = None) -> Any:
                if isinstance(x, list):  # a merge's inputs
                    return self.fn(x, mask)
                if self.cast and not torch.is_floating_point(x):
                    x = x.to(torch.float32)  # Keras casts int features to the float dtype
                return self.fn(x, mask)

        _CLASSES["Step"] = Step
    return _CLASSES["Step"]


def _model_class() -> type:
    if "Model" not in _CLASSES:
        class SeqcTorchModel(nn.Module):
            """Runs the steps in the IR's order over named values, carrying timestep masks."""

            def __init__(self, graph: Any, steps: list):
                super().__init__()
                self.graph = graph
                self.steps = nn.ModuleList(steps)

            def forward(self, x: Any) -> Any:
                """One tensor for a one-input graph, else a list in graph.inputs order;
                returns a list for several outputs."""
                g = self.graph
                env = dict(zip(g.inputs, x)) if isinstance(x, list) else {g.inputs[0]: x}
                masks: dict[str, Any] = {}
                for node, step in zip(g.nodes, self.steps):
                    if len(node.inputs) > 1 or REGISTRY[node.op].multi_input:
                        xin: Any = [env[v] for v in node.inputs]
                        mask: Any = [masks.get(v) for v in node.inputs]
                    else:
                        xin = env[node.inputs[0]]
                        mask = masks.get(node.inputs[0])
                    env[node.outputs[0]] = step(xin, mask)
                    if step.mask_fn is not None:
                        masks[node.outputs[0]] = step.mask_fn(xin, mask)
                if len(g.outputs) > 1:
                    return [env[v] for v in g.outputs]
                return env[g.outputs[0]]

        _CLASSES["Model"] = SeqcTorchModel
    return _CLASSES["Model"]


def _mask_rule(kind: str, a: Any) -> Callable:
    """The output mask of a node whose output is masked (Keras' compute_mask)."""
    if kind == "Masking":
        return lambda x, m: (x != a.mask_value).any(dim=-1)
    if kind == "Embedding":
        return lambda x, m: x != 0
    if kind in MASKED_MERGES:  # masked only when every input is: their OR
        return lambda xs, ms: reduce(torch.logical_or, ms)
    return lambda x, m: m  # pass-through (recurrent layers with return_sequences included)


__all__ = ["INSTALL_HINT", "Builder", "TorchRunner", "activation", "build_module", "keras_pads"]

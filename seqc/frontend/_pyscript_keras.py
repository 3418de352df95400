"""Keras Sequential models of a script -> spec layers: each layer call goes through
`seqc.layers` (Keras 3 positional order and argument checks), with Keras 2 input arguments
(input_dim, batch_input_shape) and Input/InputLayer read as Keras does, and Keras 1 names
and None values through `_pyscript_legacy`.
"""

from __future__ import annotations

import ast
import dataclasses
from typing import Any

from ..errors import DefinitionError, SeqcError
from . import _pyscript_legacy as legacy
from ._keras_legacy import KERAS1_CLASSES
from ._pyscript_keras_lambda import lambda_layers, resolve_last_steps
from ._pyscript_subclass import read_instance
from ._pyscript_values import (
    OPS_HINT,
    Instance,
    Layer,
    ModelVal,
    Opaque,
    TorchMod,
    bind_args,
    find_opaque,
)

_INPUT_ARGS = ("shape", "batch_size", "dtype", "sparse", "ragged", "batch_shape", "name")
# First layers that read integer ids: a model that takes its input shape from integer data
# takes its integer dtype too (float32 would round ids above 2**24 before a Hashing).
ID_INPUT_KINDS = {"Embedding", "CategoryEncoding", "IntegerLookup", "Hashing"}


class KerasReader:
    """Keras layers and models of the script reader (a mixin of `pyscript.Reader`)."""

    def keras_items(self, model: ModelVal, frozen: bool = False) -> list[tuple[Any, ast.AST]]:
        """The layers of a model, nested Sequentials flattened. A frozen model freezes every
        layer in it, whatever the layer's own flag says (Keras 3: a non-trainable parent has
        no trainable weights)."""
        frozen = frozen or not model.trainable
        out = []
        for _, v, node in model.items:
            if isinstance(v, ModelVal) and v.framework == "keras":
                v.consumed = True
                inner = self.keras_items(v, frozen)
                if out and inner and isinstance(inner[0][0], Layer) and inner[0][0].cls in (
                        "Input", "InputLayer"):
                    inner = inner[1:]  # a nested model's Input is its caller's tensor
                out.extend(inner)
            elif isinstance(v, Instance) and v.cls.kind == "keras_model":  # _pyscript_subclass
                v.consumed = True
                sub = read_instance(self, v)
                if sub.graph is not None:
                    raise self.error(node, f"{v.cls.node.name}.call() branches or merges (a "
                                           "graph), and is used as one layer of a chain here",
                                     field="layer", received=self.seg(node),
                                     hint="call it from a subclassed model's call() or on "
                                          "a functional tensor")
                out.extend(self.keras_items(sub, frozen))
            elif isinstance(v, Layer) and v.cls == "Lambda":  # _pyscript_keras_lambda
                out.extend((x, x.node) for x in lambda_layers(self, v))
            else:
                if frozen and isinstance(v, Layer) and v.cls not in ("Input", "InputLayer"):
                    v.kwargs["trainable"] = False
                out.append((v, node))
        return out

    def keras_doc(self, model: ModelVal) -> tuple[dict, list[ast.AST]]:
        items = self.keras_items(model)
        layers, nodes = [], []
        unresolved: list[DefinitionError] = []
        override = self.comment.get("input_shape")
        for i, (v, node) in enumerate(items):
            if not isinstance(v, Layer):
                raise self.not_a_layer(v, node, "keras")
            if v.cls == "<last_step>":  # x[:, -1], resolved below
                layers.append({"type": v.cls})
                nodes.append(v.node)
                continue
            try:
                d = self.keras_layer(v, first=(i == 0), override=override is not None)
            except DefinitionError as e:
                if "without running the script" not in e.message:
                    raise
                unresolved.append(e)  # reported together, each with its line
                continue
            if d is None:  # an InputLayer whose shape the comment gives
                continue
            self.__dict__.setdefault("_doc_layers", {})[id(d)] = (d, v)  # _pyscript_subclass
            layers.append(d)
            nodes.append(v.node)
        if unresolved:
            raise _together(unresolved)
        doc: dict = {"layers": layers}
        if override is not None:
            doc["input_shape"] = override
        if self.comment.get("input_dtype"):
            doc["input_dtype"] = self.comment["input_dtype"]
        elif self.ids_input:  # Embedding(input_length=n) gave the input shape
            doc["input_dtype"] = "int32"
        self.build_shape(model, doc)
        if layers and "input_shape" not in doc and layers[0]["type"] != "InputLayer" and (
                "input_shape" not in layers[0]):
            self.deferred_input(doc, layers[0], model)
        resolve_last_steps(self, doc, nodes)  # _pyscript_keras_lambda
        return doc, nodes

    def build_shape(self, model: ModelVal, doc: dict) -> None:
        """`model.build((None, ...))`: the input shape, into doc["input_shape"]."""
        if model.build_shape is None:
            return
        shape, bnode = model.build_shape
        shape = self.const(shape, bnode, "model.build(input_shape)")
        if not isinstance(shape, list) or len(shape) < 2:
            raise self.error(bnode, "model.build() takes the batch shape, e.g. "
                                    "(None, 784)", field="input_shape", received=shape)
        if "input_shape" in doc and doc["input_shape"] != shape[1:]:
            raise self.error(bnode, "the input shape is given twice, differently",
                             field="input_shape",
                             received=f"{doc['input_shape']} and {shape[1:]}")
        doc["input_shape"] = shape[1:]

    def subclass_input(self, model: ModelVal, first: Any) -> None:
        """The input of a subclassed model read as a graph (_pyscript_subclass.keras_graph),
        found as keras_doc finds it: the `# seqc: input_shape` comment, model.build(), or
        the data fitted on; set on its placeholder Input layer."""
        t_in = model.graph[0][0]
        doc: dict = {}
        if self.comment.get("input_shape") is not None:
            doc["input_shape"] = self.comment["input_shape"]
        self.build_shape(model, doc)
        if "input_shape" not in doc:
            self.deferred_input(doc, {"type": getattr(first, "cls", "")}, model)
        t_in.layer.kwargs.update(shape=tuple(doc["input_shape"]), dtype=self.comment.get(
            "input_dtype") or doc.get("input_dtype") or "float32")

    def deferred_input(self, doc: dict, first: dict, model: ModelVal) -> None:
        """A model with no input shape: Keras builds it at the first fit from the data's
        per-sample shape (integer ids for an Embedding), and so does seqc, given the data."""
        x = self.bindings.x
        if x is not None:
            if x.ndim < 2:
                raise self.error(model.node, "the model takes its input shape from the data, "
                                             "which needs a batch axis and at least one more",
                                 field="input_shape", received=f"x of shape {list(x.shape)}",
                                 hint="give x as (samples, features...)")
            doc["input_shape"] = [int(d) for d in x.shape[1:]]
            if first["type"] in ID_INPUT_KINDS and x.dtype.kind in "iu":
                doc["input_dtype"] = "int32" if x.dtype.itemsize <= 4 else "int64"
            return
        fits = "; the script's " + ", ".join(self.fit_data) + " is not run" if self.fit_data \
            else ""
        raise self.error(
            model.node, "the model has no input shape: Keras builds it from the data at the "
                        "first fit()" + fits, field="input_shape",
            received=f"{self.seg(model.node)} with no input_shape/Input",
            hint="give the data it is fitted on (--x X.npy, or --data FILE), or start the "
                 "model with keras.Input(shape=(...)), or add a comment "
                 "`# seqc: input_shape = (...)` (per sample, batch excluded)")

    def not_a_layer(self, v: Any, node: ast.AST, framework: str) -> DefinitionError:
        if isinstance(v, Opaque) and v.unsupported:
            return self.error(v.node, f"not a layer seqc can read: {v.why}",
                              field="layer", received=self.seg(v.node), hint=OPS_HINT)
        if isinstance(v, Opaque):
            return self.opaque_error(v, "a layer")
        if isinstance(v, Instance):
            return self.error(
                v.node, f"{v.cls.node.name} is a custom class defined in the script "
                        f"(line {v.cls.node.lineno}); seqc cannot read its code",
                field="layer", received=self.seg(v.node),
                hint=f"use built-in layers only; {OPS_HINT}")
        if isinstance(v, (Layer, TorchMod)):
            other = "PyTorch" if framework == "keras" else "Keras"
            return self.error(v.node, f"a {other} layer in a "
                              f"{'Keras' if framework == 'keras' else 'PyTorch'} model",
                              field="layer", received=self.seg(v.node))
        if isinstance(v, ModelVal):
            return self.error(v.node, "a Sequential of another framework inside the model",
                              field="layer")
        return self.error(node, "not a layer seqc knows", field="layer",
                          received=self.seg(node), hint=OPS_HINT)

    def keras_layer(self, lay: Layer, *, first: bool, override: bool) -> dict | None:
        from .. import layers as seqc_layers
        from ..ops import REGISTRY
        from ..ops.base import KIND_ALIASES, string_layer_error

        node = lay.node
        if lay.cls in ("Input", "InputLayer"):
            return self.input_layer(lay, override)
        cls = KERAS1_CLASSES.get(lay.cls, lay.cls)
        kind = KIND_ALIASES.get(cls, cls)
        refusal = string_layer_error(kind)
        if refusal is not None:
            raise self.error(node, refusal.message, field="type", received=self.seg(node),
                             hint=refusal.hint)
        if kind not in REGISTRY or kind == "InputLayer":
            raise self.error(node, f"layer class {lay.cls} is not supported by seqc",
                             field="type", received=self.seg(node), hint=OPS_HINT)
        op = REGISTRY[kind]
        fields = {f.name for f in dataclasses.fields(op.Attrs)} | set(op.aliases)
        if op.splits_activation:
            fields.add("activation")
        pos, kwargs = legacy.keras1_args(self, lay, kind, fields, list(lay.args), lay.kwargs)
        kwargs = legacy.none_args(self, lay, kind, fields, kwargs)
        kwargs = legacy.input_args(self, lay, kind, fields, kwargs)
        if kind == "Highway" and "transform_bias_initializer" not in kwargs:
            self.note(node, f"{lay.cls} without transform_bias_initializer: the transform "
                            "gate's bias starts at -1 (the Highway paper's and Tacotron's); "
                            "Keras 1 started it at -2 and Keras 2's legacy layer at +1: pass "
                            "transform_bias_initializer to choose")
        if "batch_input_shape" in kwargs:
            bis = kwargs.pop("batch_input_shape")
            kwargs["input_shape"] = bis[1:] if isinstance(bis, (list, tuple)) else bis
            if isinstance(bis, (list, tuple)) and bis and isinstance(bis[0], int):
                kwargs["batch_size"] = bis[0]  # kept in the type for a stateful model (spec.py)
        if "input_shape" not in kwargs or not first:
            kwargs.pop("batch_size", None)
        if kwargs.get("dtype") in (None, "float32"):
            kwargs.pop("dtype", None)
        if "input_shape" in kwargs:
            if not first:
                raise self.error(node, "input_shape is only read on the first layer",
                                 field="input_shape", received=self.seg(node))
            hidden = find_opaque(kwargs["input_shape"])
            if override and hidden is not None:
                del kwargs["input_shape"]
            elif hidden is not None:
                raise self.shape_error(hidden)
        args = [self.layer_arg(a, node, f"{lay.cls} argument {i + 1}")
                for i, a in enumerate(pos)]
        kw = {k: self.layer_arg(v, node, f"{lay.cls}({k}=...)") for k, v in kwargs.items()}
        name = kw.pop("name", None)
        trainable = kw.pop("trainable", True)
        try:
            lc = getattr(seqc_layers, kind)(*args, name=name, trainable=trainable, **kw)
        except SeqcError as e:
            raise e.located(file=self.where(node)) from None
        d = {"type": lc.type, **lc.config}
        if lc.name is not None:
            d["name"] = lc.name
        if lc.trainable is not True:
            d["trainable"] = lc.trainable
        return d

    def tensor_shape(self, t: Any, node: ast.AST) -> Any:
        """`K.int_shape(x)` / `x.shape` of a functional tensor reached from an Input by a
        chain of layer calls: Keras' static shape (batch None), from seqc's own shape rules
        for those layers (the layers are read as the model reads them; nothing is run)."""
        from .spec import definition_from_doc

        chain = t.chain
        if not chain or not isinstance(chain[0][0], Layer) or chain[0][0].cls not in (
                "Input", "InputLayer"):
            return Opaque(node, f"{self.seg(node)}: the shape of a tensor seqc reads only "
                                "along a chain of layer calls from an Input")
        kept = (len(self.notes), set(self.warned), self.ids_input)
        try:
            layers = [self.keras_layer(v, first=(i == 0), override=False)
                      for i, (v, _) in enumerate(chain)]
            graph = definition_from_doc({"layers": [d for d in layers if d is not None]},
                                        self.file, b"").model.graph
        except DefinitionError as e:
            return Opaque(node, f"{self.seg(node)}: {e.message}")
        finally:
            del self.notes[kept[0]:]
            self.warned, self.ids_input = kept[1], kept[2]
        return tuple(graph.output_type.shape)

    def shape_error(self, v: Opaque) -> DefinitionError:
        return self.error(
            v.node, f"the input shape cannot be read without running the script: {v.why}"
                    + self.origin(v), field="input_shape", received=self.seg(v.node),
            hint=self.supply_hint(v, shape=True))

    def layer_arg(self, v: Any, node: ast.AST, what: str) -> Any:
        from ..ir.build import LayerConfig

        if isinstance(v, Layer):
            d = self.keras_layer(v, first=False, override=False) or {}
            return LayerConfig(d.pop("type"), d, d.pop("name", None), True)
        return self.const(v, node, what)

    def input_layer(self, lay: Layer, override: bool) -> dict:
        order = list(_INPUT_ARGS) if lay.cls == "Input" else [
            "shape", "batch_size", "dtype", "sparse", "ragged", "batch_shape", "input_tensor",
            "optional", "name"]
        bound = bind_args(order + ["input_shape", "batch_input_shape", "tensor", "optional"],
                      lay.args, lay.kwargs)
        if bound is None:
            raise self.error(lay.node, f"{lay.cls}() got unexpected arguments",
                             field=lay.cls, received=self.seg(lay.node))
        if "input_shape" in bound:
            bound["shape"] = bound.pop("input_shape")
        if "batch_input_shape" in bound:
            bound["batch_shape"] = bound.pop("batch_input_shape")
        for k in ("name", "tensor", "input_tensor"):
            bound.pop(k, None)
        for k in ("shape", "batch_shape"):
            hidden = find_opaque(bound.get(k))
            if hidden is not None:
                if override:
                    return None
                raise self.shape_error(hidden)
        if isinstance(bound.get("shape"), int):
            bound["shape"] = (bound["shape"],)
        d = {"type": "InputLayer"}
        for k, v in bound.items():
            if v is not None:
                d[k] = self.const(v, lay.node, f"{lay.cls}({k}=...)")
        return d


def _together(errors: list[DefinitionError]) -> DefinitionError:
    """The first value the script leaves to run time, with every other one named and
    located, so all can be supplied at once."""
    first = errors[0]
    if len(errors) > 1:
        others = "; ".join(f"{e.file}: {e.received}" for e in errors[1:])
        first.message += f" (also left to run time: {others})"
        first.args = (first.format(),)
    return first

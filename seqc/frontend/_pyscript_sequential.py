"""Sequential models of a script (a mixin of `pyscript.Reader`, through CallReader):
`keras.Sequential([...], trainable=, name=)` and `nn.Sequential(*modules)` (or of an
OrderedDict of named modules) become a ModelVal of their layers, each checked to be a layer
or module as written.
"""

from __future__ import annotations

import ast
from typing import Any

from ._pyscript_model import set_trainable
from ._pyscript_values import ModelVal, Opaque, Pairs, bind_args


class SequentialReader:
    """keras.Sequential and nn.Sequential constructors of the script reader."""

    def keras_sequential(self, args: list, kwargs: dict, node: ast.Call) -> ModelVal:
        bound = bind_args(["layers", "trainable", "name"], args, kwargs)
        if bound is None:
            raise self.error(node, "Sequential() got unexpected arguments", field="Sequential",
                             received=self.seg(node))
        m = ModelVal("keras", node)
        self.models.append(m)
        layers = bound.get("layers")
        if isinstance(layers, Opaque):
            raise self.opaque_error(layers, "the layer list")
        if layers is not None:
            seq = self.iterate(layers)
            if seq is None:
                raise self.error(node, "Sequential() needs a list of layers", field="layers",
                                 received=self.seg(node))
            elts = node.args[0].elts if node.args and isinstance(
                node.args[0], (ast.List, ast.Tuple)) and not any(
                isinstance(e, ast.Starred) for e in node.args[0].elts) else None
            for i, v in enumerate(seq):
                at = elts[i] if elts else node
                m.append(None, self.part(v, at), at)
        name = bound.get("name")
        if isinstance(name, str):
            m.name = name
        if "trainable" in bound:
            if not isinstance(bound["trainable"], bool):
                raise self.error(node, "Sequential(trainable=...) takes True or False",
                                 field="trainable", received=self.seg(node))
            set_trainable(m, bound["trainable"])
        return m

    def part(self, v: Any, node: ast.AST) -> Any:
        """A model's layer or module as written; a dict is neither (Keras and PyTorch raise
        TypeError), and would pass for a container of parts further on."""
        if isinstance(v, dict):
            raise self.error(node, "a model's layers are layers or modules, not a dict",
                             field="layers", received=self.seg(node),
                             hint="list the layers themselves")
        return v

    def torch_sequential(self, args: list, kwargs: dict, node: ast.Call) -> ModelVal:
        if kwargs:
            raise self.error(node, "nn.Sequential() takes modules as positional arguments",
                             field="Sequential", received=self.seg(node))
        m = ModelVal("torch", node)
        self.models.append(m)
        if len(args) == 1 and isinstance(args[0], Pairs):
            for k, v in args[0].items:
                m.append(str(k), self.part(v, args[0].node), args[0].node)
            return m
        for i, v in enumerate(args):
            anode = node.args[i] if len(node.args) == len(args) else node
            m.append(str(i), self.part(v, anode), anode)
        return m

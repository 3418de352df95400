"""A layer applied to the current tensor in a forward()/call() (a mixin of
`_pyscript_forward.Chain`): the call's arguments checked (an initial zero state, training=),
the tensor made ready (a branch turns the chain into a graph), a module with weights applied
twice refused in PyTorch (shared in Keras), and the item named and recorded with what it reads.
"""

from __future__ import annotations

import ast
from typing import Any

from ._pyscript_forward_values import RNNS, Tensor, zero_state
from ._pyscript_self import TRAINING
from ._pyscript_values import Instance, Layer, ModelVal, TorchMod

# Torch modules and Keras layers without weights: applying one twice shares nothing.
_TORCH_FREE = {"ReLU", "Sigmoid", "Tanh", "Identity", "GELU", "LeakyReLU", "ELU", "Softmax",
               "LogSoftmax", "SiLU", "ReLU6", "SELU", "Softplus", "Softsign", "Mish",
               "Hardsigmoid", "Hardswish", "Dropout", "Flatten", "MaxPool1d", "MaxPool2d",
               "AvgPool1d", "AvgPool2d", "AdaptiveAvgPool1d", "AdaptiveAvgPool2d",
               "AdaptiveMaxPool1d", "AdaptiveMaxPool2d"}
_KERAS_FREE = ("Flatten", "Dropout", "MaxPool", "AveragePool", "AvgPool", "GlobalAverage",
               "GlobalMax", "Activation", "ReLU", "LeakyReLU", "ELU", "Softmax", "Reshape",
               "Permute", "ZeroPadding", "Cropping", "UpSampling", "RepeatVector",
               "SpatialDropout", "GaussianNoise", "GaussianDropout", "<")


class ChainLayers:
    """Layers applied by the layer-chain reader."""

    def layer(self, mod: Any, x: Tensor, args: list, kwargs: dict, node: ast.Call) -> Tensor:
        if args and isinstance(mod, TorchMod) and mod.cls in RNNS and len(args) == 1 \
                and zero_state(args[0]):
            args = []  # PyTorch's default initial state: zeros (None or torch.zeros(...))
        if len(args) == 1 and args[0] is self.state and self.state is not None:
            from ._pyscript_torch_state import feed

            feed(self, self.state, mod, node)  # self.lstm(x, hidden): the forward's state
            args = []
        if args:
            raise self.refuse(node, "calls a layer with more than its input")
        training = kwargs.pop("training", TRAINING)
        if kwargs.pop("mask", None) is not None:
            raise self.refuse(node, "calls a layer with mask=...")
        if kwargs:
            raise self.refuse(node, f"calls a layer with {', '.join(kwargs)}=...")
        name = self.names.get(id(mod))
        if isinstance(mod, Instance):
            mod = self.r.read_instance(mod)  # _pyscript_subclass, through the Reader
            self.names.setdefault(id(mod), name)
        if isinstance(mod, ModelVal) and mod.graph is not None:
            self.is_graph = True  # a branching Keras block: inlined into this graph
        fw = mod.framework if isinstance(mod, ModelVal) else (
            "torch" if isinstance(mod, TorchMod) else "keras")
        if fw != self.fw:
            raise self.refuse(node, "applies a layer of the other framework")
        if training is not TRAINING and training is not None:
            cls = getattr(mod, "cls", "")
            if training is False and cls in ("Dropout", "GaussianNoise", "GaussianDropout",
                                             "SpatialDropout1D", "SpatialDropout2D"):
                return self.ready(x, node)  # never active: nothing to apply
            raise self.refuse(node, f"fixes training={training!r} for a layer; seqc's layers "
                                    "follow the model's training phase",
                              hint="pass training=training (or leave it out)")
        return self.apply(mod, x, node, name or _hint(mod), named=name is not None)

    def unique(self, base: str) -> str:
        """base, base_1, base_2, ...: the first not taken (a counter per base keeps a long
        unrolled loop linear)."""
        i = self.counters.get(base, 0)
        name = base if i == 0 else f"{base}_{i}"
        while name in self.taken:
            i += 1
            name = f"{base}_{i}"
        self.counters[base] = i + 1
        return name

    def ready(self, x: Tensor, node: ast.AST) -> Tensor:
        """x as the input of the next step: the current tensor, an rnn output selected."""
        if x.rnn == "state":
            raise self.refuse(node, "reads both the output and the final state of a "
                                    "recurrent layer; seqc reads one of them")
        if x.rnn == "tuple":
            raise self.refuse(node, "passes the (output, state) tuple of a recurrent layer on; "
                                    "take its output first (out, _ = self.lstm(x))")
        if x.rnn == "seq":
            x = self.select(x, "output", node)
        if self.graphs and (x.used is not None or x is not self.current):
            self.is_graph = True  # a branch or a residual: read as a graph
            return x
        if x.used is not None:
            raise self.refuse(node, "uses a tensor a second time (first at line "
                                    f"{x.used.lineno}): a branch or a residual connection")
        if x is not self.current:
            raise self.refuse(node, "uses a tensor that is not the last one computed (a "
                                    "branch)")
        return x

    def apply(self, mod: Any, x: Tensor, node: ast.AST, hint: str, *,
              named: bool = False) -> Tensor:
        x = self.ready(x, node)
        for part in _parts(mod):  # a module, or one inside an nn.Sequential applied before
            if not _has_weights(part):
                continue
            if id(part) in self.applied and self.fw == "keras" and self.graphs:
                self.is_graph = True  # a layer called again: Keras shares its weights
            elif id(part) in self.applied:
                first = self.applied[id(part)]
                raise self.refuse(node, f"applies the layer {hint} a second time (first at "
                                        f"line {first.lineno}): shared weights",
                                  hint="make a separate layer for each use")
            self.applied[id(part)] = node
        if self.fw == "keras":
            name = None
        else:
            # an attribute keeps its path (the weights' names); a reused parameter-free
            # module and a functional call get a fresh name
            name = hint if named and hint not in self.given else self.unique(hint)
            self.taken.add(name)
            self.given.add(name)
        return self.push(name, mod, node, [x])

    def push(self, name: str | None, mod: Any, node: ast.AST, xs: list[Tensor]) -> Tensor:
        self.items.append((name, mod, node))
        self.srcs.append([x.index for x in xs])
        for x in xs:
            x.used = node
        out = Tensor(node, index=len(self.items) - 1)
        if isinstance(mod, TorchMod) and mod.cls in RNNS:
            out.rnn = "tuple"
        self.current = out
        return out


def _parts(mod: Any) -> list:
    """The module and those it holds (an nn.Sequential's, recursively)."""
    out, todo = [], [mod]
    while todo:
        m = todo.pop()
        out.append(m)
        if isinstance(m, ModelVal):
            todo.extend(v for _, v, _ in m.items)
    return out



def _hint(mod: Any) -> str:
    if isinstance(mod, TorchMod):
        return getattr(mod, "fn", None) or mod.cls.strip("<>").split(":")[0].lower()
    if isinstance(mod, Layer):
        return mod.cls.lower()
    return "module"




def _has_weights(mod: Any) -> bool:
    if isinstance(mod, TorchMod):
        return mod.cls not in _TORCH_FREE and not mod.cls.startswith("<")
    if isinstance(mod, Layer):
        return not mod.cls.startswith(_KERAS_FREE)
    return True

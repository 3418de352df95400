"""Merges in a forward()/call() (a mixin of `_pyscript_forward.Chain`): a tensor used twice
and merged makes the chain a graph. PyTorch: `x + y`, `out += identity`, `torch.cat([a, b],
dim=1)`, `torch.add/sub/mul`; Keras: a merge layer called on a list (`self.add([x, y])`),
`layers.concatenate([a, b])`, `keras.ops.add/concatenate`.
"""

from __future__ import annotations

import ast
from typing import Any

from ._pyscript_forward_values import Dim, Fold, Tensor
from ._pyscript_names import norm
from ._pyscript_values import Layer, Sym, TorchMod

_MERGE_KINDS = ("Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum", "Concatenate",
                "Dot")
_MERGES = {"torch.cat": ("Concatenate", ["tensors", "dim"]),
           "torch.concat": ("Concatenate", ["tensors", "dim"]),
           "torch.add": ("Add", ["input", "other", "alpha"]),
           "torch.sub": ("Subtract", ["input", "other", "alpha"]),
           "torch.mul": ("Multiply", ["input", "other"])}




class ChainMerges:
    """Merges of the layer-chain reader."""

    def binop(self, op: ast.operator, a: Any, b: Any, node: ast.AST) -> Tensor:
        kind = {ast.Add: "Add", ast.Sub: "Subtract", ast.Mult: "Multiply"}.get(type(op))
        if kind == "Multiply" and isinstance(a, Dim) and isinstance(b, Dim) and (
                a.tensor is b.tensor and {a.index, b.index} == {0, 1}):
            return Fold(a.tensor)  # N * T: only a view's first size (_view) reads it
        if isinstance(a, Dim) and isinstance(b, Dim) and 0 in (a.index, b.index):
            raise self.refuse(node, "multiplies the batch size by another size: a view to "
                                    "(N * T, ...) folds the time steps into the batch (one "
                                    "row per step), which seqc does not read yet")
        if not (isinstance(a, Tensor) and isinstance(b, Tensor)) or kind is None:
            raise self.refuse(node, "computes with tensors in a way seqc has no layer for "
                                    "(two tensors added, subtracted or multiplied are read)")
        return self.merge(kind, [a, b], {}, node)

    def torch_merge(self, path: str, args: list, kwargs: dict, node: ast.Call) -> Tensor:
        """torch.cat([a, b], dim=1), torch.add(a, b), torch.mul(a, b), torch.sub(a, b)."""
        kind, params = _MERGES[path]
        vals = dict(zip(params, args))
        if len(args) > len(params) or any(k not in params or k in vals for k in kwargs):
            raise self.refuse(node, f"{self.r.seg(node.func)}() with arguments seqc does not "
                                    "read")
        vals.update(kwargs)
        if kind == "Concatenate":
            ts, dim = vals.get("tensors"), vals.get("dim", 0)
            if not isinstance(ts, list) or len(ts) < 2 or not all(
                    isinstance(t, Tensor) for t in ts):
                raise self.refuse(node, "torch.cat() of something other than a list of "
                                        "tensors")
            if not isinstance(dim, int) or isinstance(dim, bool) or dim == 0:
                raise self.refuse(node, f"torch.cat(dim={dim!r}): seqc concatenates along a "
                                        "non-batch dimension given as an integer")
            # seqc keeps PyTorch's layout (N, C, ...) for torch scripts: the same axis
            return self.merge(kind, ts, {"axis": dim}, node)
        a, b = vals.get("input"), vals.get("other")
        if vals.get("alpha", 1) != 1 or not (isinstance(a, Tensor) and isinstance(b, Tensor)):
            raise self.refuse(node, f"{self.r.seg(node.func)}() of two tensors is read, "
                                    "without alpha")
        return self.merge(kind, [a, b], {}, node)

    def merge(self, kind: str, ts: list[Tensor], attrs: dict, node: ast.AST, *,
              base: str | None = None) -> Tensor:
        xs = []
        for t in ts:
            if t.rnn == "state":
                raise self.refuse(node, "reads both the output and the final state of a "
                                        "recurrent layer; seqc reads one of them")
            if t.rnn == "tuple":
                raise self.refuse(node, "merges the (output, state) tuple of a recurrent "
                                        "layer; take its output first")
            xs.append(self.select(t, "output", node) if t.rnn == "seq" else t)
        self.is_graph = True
        if self.fw == "keras":  # a Keras merge layer, named as Keras names it
            lay = Layer(kind, [], attrs, node, auto_name=self.r.auto_name(kind))
            return self.push(None, lay, node, xs)
        name = self.unique(base or kind.lower())
        self.taken.add(name)
        self.given.add(name)
        cls = kind if kind.startswith("<") else f"<merge:{kind}>"  # "<affine_grid>"
        return self.push(name, TorchMod(cls, [], attrs, node), node, xs)

    def keras_merge(self, callee: Any, args: list, kwargs: dict, node: ast.Call) -> Any:
        """In a Keras call(): a merge layer called on a list of tensors (`self.add([x, y])`,
        `layers.Concatenate()([a, b])`), `layers.concatenate([a, b])`, `keras.ops.add(x,
        y)`, `keras.ops.concatenate([a, b], axis=-1)`; None for any other call."""
        from ._pyscript_ktensor import _OPS, _OPS_MODULES, MERGE_FUNCTIONS
        from ._pyscript_names import keras_member

        def tensors(v: Any) -> list | None:
            return v if isinstance(v, (list, tuple)) and len(v) >= 2 and all(
                isinstance(t, Tensor) for t in v) else None

        if isinstance(callee, Layer) and callee.cls in _MERGE_KINDS:
            ts = tensors(args[0]) if len(args) == 1 and not kwargs else None
            if ts is None:
                raise self.refuse(node, f"calls the merge layer {callee.cls} on something "
                                        "other than one list of tensors")
            return self.push(None, callee, node, self.merge_inputs(ts, node))
        if not isinstance(callee, Sym):
            return None
        path = norm(callee.path)
        fn = keras_member(path, "layers")
        if fn in MERGE_FUNCTIONS:
            ts = tensors(args[0]) if args else None
            names = ["inputs", "axes", "normalize"] if fn == "dot" else ["inputs"]
            if ts is None or len(args) > len(names) or "inputs" in kwargs:
                raise self.refuse(node, f"layers.{fn}() is read on one list of tensors")
            attrs = {**dict(zip(names[1:], args[1:])), **kwargs}
            return self.merge(MERGE_FUNCTIONS[fn], ts, attrs, node)
        mod, _, name = path.rpartition(".")
        if mod + "." not in _OPS_MODULES:
            return None
        if name in _OPS and len(args) == 2 and not kwargs:
            return self.binop(_OPS[name], args[0], args[1], node)
        if name in ("concatenate", "concat"):
            ts = tensors(args[0]) if args else None
            axis = args[1] if len(args) > 1 else kwargs.get("axis", 0 if name ==
                                                            "concatenate" else None)
            if ts is None or len(args) > 2 or set(kwargs) - {"axis"}:
                raise self.refuse(node, f"{name}() is read on one list of tensors and an axis")
            if not isinstance(axis, int) or isinstance(axis, bool) or axis == 0:
                raise self.refuse(node, f"{name}(axis={axis!r}): seqc concatenates along a "
                                        "non-batch axis given as an integer")
            return self.merge("Concatenate", ts, {"axis": axis}, node)
        return None

    def merge_inputs(self, ts: list, node: ast.AST) -> list:
        self.is_graph = True
        return [self.ready(t, node) for t in ts]



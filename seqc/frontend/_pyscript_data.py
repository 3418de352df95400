"""Data bound to a script: the arrays given with --data/--x/--y stand for the names the script
passes to `model.fit` (see _pyscript_binding for how the names are found), so
`x_train.shape[1:]`, `X.shape[1]`, `len(np.unique(y))` or `y.max() + 1` have values. seqc
evaluates a fixed, whitelisted set of expressions over them (`.shape` with indexing and
slicing, `.ndim`, `.size`, `len()`, `.max()`/`.min()`/reductions, `np.unique`,
reshape/astype/expand_dims/indexing, arithmetic, `to_categorical`, `train_test_split`):
expressions on the data, never the script.
"""

from __future__ import annotations

import ast
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

MAX_VALUES = 50_000_000  # elements kept for value queries (max, unique); larger: shape only


@dataclass(eq=False)
class DataArr:
    """An array of the bound data: its shape (None where unknown), dtype, and its values
    when they are known (the labels for `y.max()`)."""

    shape: tuple
    dtype: str
    values: np.ndarray | None
    node: ast.AST | None = None

    @classmethod
    def of(cls, a: np.ndarray, node: ast.AST | None = None) -> DataArr:
        return cls(tuple(int(d) for d in a.shape), str(a.dtype),
                   a if a.size <= MAX_VALUES else None, node)

    def template(self) -> np.ndarray | None:
        """A zero-stride stand-in of the full shape: numpy computes the shape of any
        indexing, reshape or transpose on it without allocating the data."""
        if any(d is None for d in self.shape):
            return None
        return np.lib.stride_tricks.as_strided(np.zeros(1, self.dtype), self.shape,
                                               (0,) * len(self.shape))

    def apply(self, fn: Any) -> DataArr | None:
        """The array after a shape operation `fn` (a function of an ndarray)."""
        t = self.template()
        if t is None:
            return None
        try:
            out = fn(t)
        except (ValueError, IndexError, TypeError):
            return None
        vals = None
        if self.values is not None:
            try:
                vals = fn(self.values)
            except (ValueError, IndexError, TypeError):
                vals = None
        return DataArr(tuple(out.shape), str(out.dtype), vals, self.node)


def rows_like(a: DataArr, rows: int | None) -> DataArr:
    """The same per-sample shape and dtype with another row count (values unknown)."""
    return DataArr((rows, *a.shape[1:]), a.dtype, None, a.node)


def py(v: Any) -> Any:
    """numpy scalars -> Python numbers (the evaluator's constants)."""
    if isinstance(v, np.generic):
        return v.item()
    return v


# Calls that keep the shape of their first argument (and so bind it backwards too).
SHAPE_KEEPING_FUNCS = ("numpy.array", "numpy.asarray", "numpy.float32", "numpy.copy",
                       "numpy.ascontiguousarray", "numpy.nan_to_num", "numpy.clip",
                       "numpy.abs", "numpy.log1p", "numpy.sqrt")
SHAPE_KEEPING_METHODS = ("astype", "copy", "to_numpy", "fit_transform", "transform",
                         "clip", "__array__")
SHAPE_KEEPING_ATTRS = ("values",)


# What keras.datasets.<name>.load_data() returns in Keras 3 (channels_last), by shape and
# dtype: ((x_train, y_train), (x_test, y_test)). Facts of the public datasets, so a script's
# `x_train.shape[1]` on the raw arrays has its value; the values stay unknown.
KERAS_DATASETS = {
    "mnist": (((60000, 28, 28), "uint8"), ((60000,), "uint8"),
              ((10000, 28, 28), "uint8"), ((10000,), "uint8")),
    "fashion_mnist": (((60000, 28, 28), "uint8"), ((60000,), "uint8"),
                      ((10000, 28, 28), "uint8"), ((10000,), "uint8")),
    "cifar10": (((50000, 32, 32, 3), "uint8"), ((50000, 1), "uint8"),
                ((10000, 32, 32, 3), "uint8"), ((10000, 1), "uint8")),
    "cifar100": (((50000, 32, 32, 3), "uint8"), ((50000, 1), "int64"),
                 ((10000, 32, 32, 3), "uint8"), ((10000, 1), "int64")),
}


def keras_dataset(name: str, node: ast.AST) -> tuple | None:
    """The arrays of `keras.datasets.<name>.load_data()` as shape-only DataArr values."""
    spec = KERAS_DATASETS.get(name)
    if spec is None:
        return None
    xa, ya, xb, yb = (DataArr(shape, dtype, None, node) for shape, dtype in spec)
    return (xa, ya), (xb, yb)


def split_rows(n: int | None, test_size: Any, train_size: Any) -> tuple[int | None, int | None]:
    """sklearn's train_test_split sizes: test = ceil(test_size * n), train = the rest."""
    if n is None:
        return None, None
    if isinstance(test_size, float) and 0 < test_size < 1:
        test = math.ceil(test_size * n)
    elif isinstance(test_size, int) and not isinstance(test_size, bool):
        test = test_size
    elif test_size is None and isinstance(train_size, float) and 0 < train_size < 1:
        test = n - math.floor(train_size * n)
    elif test_size is None and isinstance(train_size, int):
        test = n - train_size
    else:
        test = math.ceil(0.25 * n)
    return n - test, test


_NUMPY_SHAPE_FUNCS = {
    "numpy.reshape": lambda a, shape, *r, **k: a.reshape(shape),
    "numpy.expand_dims": lambda a, axis, **k: np.expand_dims(a, axis),
    "numpy.squeeze": lambda a, axis=None, **k: np.squeeze(a, axis),
    "numpy.transpose": lambda a, axes=None, **k: np.transpose(a, axes),
    "numpy.ravel": lambda a, **k: a.ravel(),
}
_METHODS = {
    "reshape": lambda a, *shape, **k: a.reshape(shape[0] if len(shape) == 1 else shape),
    "squeeze": lambda a, axis=None: a.squeeze(axis),
    "transpose": lambda a, *axes: a.transpose(*axes),
    "flatten": lambda a: a.reshape(-1), "ravel": lambda a: a.reshape(-1),
    "copy": lambda a: a,
}


class DataReader:
    """Expressions over bound data (a mixin of `pyscript.Reader`)."""

    def data_attr(self, a: DataArr, attr: str, node: ast.AST) -> Any:
        from ._pyscript_values import BoundMethod, Opaque

        if attr == "shape":
            return tuple(a.shape)
        if attr == "ndim":
            return len(a.shape)
        if attr == "size" and all(d is not None for d in a.shape):
            return int(np.prod(a.shape, dtype=np.int64))
        if attr == "dtype":
            return a.dtype
        if attr == "T":
            return a.apply(lambda t: t.T) or Opaque(node, f"{self.seg(node)}: unknown shape")
        if attr in SHAPE_KEEPING_ATTRS:
            return a
        return BoundMethod(a, attr)

    def data_method(self, a: DataArr, meth: str, args: list, kwargs: dict,
                    node: ast.Call) -> Any:
        from ._pyscript_values import Opaque, is_const

        if meth == "astype" and len(args) == 1 and not kwargs:
            dt = _dtype_name(args[0])  # np.float32 (a symbol) as well as "float32"
            if dt is None:
                return Opaque(node, f"{self.seg(node)}: an unknown dtype")
            vals = a.values.astype(dt) if a.values is not None else None
            return DataArr(a.shape, dt, vals, a.node)
        if not all(is_const(x) for x in args) or not all(is_const(x) for x in
                                                         kwargs.values()):
            return Opaque(node, f"{self.seg(node)}: arguments seqc cannot read")
        if meth in SHAPE_KEEPING_METHODS:
            return a
        if meth in _REDUCTIONS:
            return self.reduce(a, meth, args, kwargs, node)
        if meth in _METHODS:
            if meth == "reshape" and len(args) >= 1 and isinstance(args[0], (list, tuple)):
                args = [tuple(args[0])]
            out = a.apply(lambda t: _METHODS[meth](t, *args, **kwargs))
            return out if out is not None else Opaque(
                node, f"{self.seg(node)} does not fit the data's shape {a.shape}")
        return Opaque(node, f"{self.seg(node)} is not one of the array operations seqc "
                            "evaluates")

    def reduce(self, a: DataArr, meth: str, args: list, kwargs: dict, node: ast.Call) -> Any:
        """`y.max()` (a value: needs the data's values), `x.mean(axis=0)` (an array of the
        reduced shape: `x -= x.mean(axis=0)` keeps x's shape)."""
        from ._pyscript_values import Opaque, bind_args

        bound = bind_args(["axis", "dtype", "out", "keepdims"], args, kwargs)
        if bound is None or bound.get("out") is not None:
            return Opaque(node, f"{self.seg(node)}: arguments seqc does not read")
        axis, keep = bound.get("axis"), bool(bound.get("keepdims", False))
        if axis is None:
            if a.values is None or a.values.size == 0:
                return Opaque(node, f"{self.seg(node)} needs the values of the data (give "
                                    "the labels with --y or --data)")
            return py(getattr(a.values, meth)())
        axes = (axis,) if isinstance(axis, int) else tuple(axis) if isinstance(
            axis, (list, tuple)) else None
        n = len(a.shape)
        if axes is None or not all(isinstance(x, int) and -n <= x < n for x in axes):
            return Opaque(node, f"{self.seg(node)}: an axis that does not fit {a.shape}")
        axes = {x % n for x in axes}
        shape = tuple(1 if i in axes else d for i, d in enumerate(a.shape)
                      if keep or i not in axes)
        vals = None
        if a.values is not None and a.values.size:
            with np.errstate(all="ignore"):  # statistics of data: never an overflow warning
                vals = getattr(a.values, meth)(axis=tuple(axes), keepdims=keep)
        return DataArr(shape, a.dtype if meth in ("max", "min") else "float32", vals, a.node)

    def data_subscript(self, a: DataArr, node: ast.Subscript, scope: Any) -> Any:
        from ._pyscript_values import Opaque

        idx = self.index_value(node.slice, scope)
        if isinstance(idx, DataArr):
            return self.data_mask(a, idx, node)
        if isinstance(idx, Opaque):  # a mask seqc could not evaluate: its own reason
            return idx
        if idx is _BAD:
            return Opaque(node, f"{self.seg(node)}: an index seqc cannot read")
        out = a.apply(lambda t: t[idx])
        if out is None:
            return Opaque(node, f"{self.seg(node)} does not index the data's shape {a.shape}")
        return py(out.values) if out.shape == () and out.values is not None else out

    def index_value(self, s: ast.AST, scope: Any) -> Any:
        """A numpy index from its syntax: ints, slices, None/np.newaxis, Ellipsis, tuples, a
        boolean mask (a DataArr), or the Opaque of an index seqc could not evaluate."""
        from ._pyscript_values import Opaque, Sym

        if isinstance(s, ast.Tuple):
            parts = [self.index_value(e, scope) for e in s.elts]
            return _BAD if any(p is _BAD for p in parts) else tuple(parts)
        if isinstance(s, ast.Constant) and s.value is Ellipsis:
            return Ellipsis
        if isinstance(s, ast.Slice):
            parts = [self.ev(p, scope) if p is not None else None
                     for p in (s.lower, s.upper, s.step)]
            if all(p is None or isinstance(p, int) and not isinstance(p, bool) for p in parts):
                return slice(*parts)
            return _BAD
        v = self.ev(s, scope)
        if v is None or isinstance(v, Sym) and v.path == "numpy.newaxis":
            return None
        if isinstance(v, DataArr) and v.dtype == "bool" and len(v.shape) == 1 and (
                not isinstance(s, ast.Tuple)):
            return v  # a boolean mask over rows: data_mask
        if isinstance(v, Opaque):
            return v  # its own reason (data_subscript)
        if isinstance(v, int) and not isinstance(v, bool):
            return v
        return _BAD

    def data_mask(self, a: DataArr, mask: DataArr, node: ast.Subscript) -> Any:
        """`x_train[y_train < 5]`: the rows where a boolean mask of as many rows holds (its
        values known: the rows and their values; unknown: the per-sample shape only)."""
        from ._pyscript_values import Opaque

        if not a.shape or a.shape[0] is None or mask.shape[0] != a.shape[0]:
            return Opaque(node, f"{self.seg(node)}: a mask of {mask.shape[0]} rows over "
                                f"data of shape {a.shape}")
        if mask.values is None or mask.values.shape != mask.shape:
            return rows_like(a, None)
        keep = np.asarray(mask.values, dtype=bool)
        vals = a.values[keep] if a.values is not None and a.values.shape == a.shape else None
        return DataArr((int(keep.sum()), *a.shape[1:]), a.dtype, vals, a.node)

    def data_compare(self, op: ast.cmpop, a: DataArr, other: Any, node: ast.Compare) -> Any:
        """`y_train < 5`: a bound array compared with a number, a boolean mask."""
        from ._pyscript_values import Opaque

        fn = _COMPARE_FNS.get(type(op))
        if fn is None or not isinstance(other, (int, float)) or isinstance(other, bool):
            return Opaque(node, f"{self.seg(node)}: seqc compares bound data only with a "
                                "number (<, <=, >, >=, ==, !=)")
        vals = None
        if a.values is not None:
            with np.errstate(all="ignore"):
                vals = fn(a.values, other)
        return DataArr(a.shape, "bool", vals, a.node)

    def data_binop(self, op: ast.operator, a: Any, b: Any, node: ast.AST) -> Any:
        from ._pyscript_values import Opaque

        fns = {ast.Add: np.add, ast.Sub: np.subtract, ast.Mult: np.multiply,
               ast.Div: np.true_divide, ast.FloorDiv: np.floor_divide, ast.Mod: np.mod,
               ast.Pow: np.power}
        fn = fns.get(type(op))
        arr = a if isinstance(a, DataArr) else b
        other = b if arr is a else a
        if fn is None or not (isinstance(other, (int, float, DataArr))
                              and not isinstance(other, bool)):
            return Opaque(node, f"{self.seg(node)} is not arithmetic seqc evaluates on data")
        if isinstance(other, DataArr):
            try:
                shape = np.broadcast_shapes(arr.shape, other.shape)
            except (ValueError, TypeError):
                return Opaque(node, f"{self.seg(node)}: shapes {a.shape} and {b.shape} do not "
                                    "broadcast")
            return DataArr(tuple(shape), arr.dtype, None, arr.node)
        dtype = "float32" if isinstance(op, ast.Div) or isinstance(other, float) else arr.dtype
        vals = None
        if arr.values is not None:
            with np.errstate(all="ignore"):
                vals = fn(arr.values, other) if arr is a else fn(other, arr.values)
            if vals.dtype.kind == "f" and dtype == "float32":
                vals = vals.astype("float32")  # `x / 255` on uint8 as the model reads it
        return DataArr(arr.shape, dtype, vals, arr.node)

    def data_call(self, p: str, args: list, kwargs: dict, node: ast.Call) -> Any:
        """numpy / keras / sklearn functions over bound data; None when `p` is not one."""
        from ._pyscript_values import Opaque

        arrs = [x for x in args if isinstance(x, DataArr)]
        if not arrs:
            return None
        a = args[0] if isinstance(args[0], DataArr) else None
        if p in ("numpy.unique",) and a is not None:
            if a.values is None:
                return Opaque(node, f"{self.seg(node)} needs the values of the data (give the "
                                    "labels with --y or --data)")
            u = np.unique(a.values)
            return DataArr(tuple(u.shape), str(u.dtype), u, a.node)
        red = p.rsplit(".", 1)[-1].replace("amax", "max").replace("amin", "min")
        if p.startswith("numpy.") and red in _REDUCTIONS and a is not None:
            return self.reduce(a, red, args[1:], kwargs, node)
        if p in ("builtins.len",) and a is not None:
            return a.shape[0] if a.shape and a.shape[0] is not None else Opaque(
                node, f"{self.seg(node)}: the number of rows is unknown")
        if p in ("builtins.int", "builtins.float") and a is not None and a.shape == () \
                and a.values is not None:
            return {"builtins.int": int, "builtins.float": float}[p](a.values)
        if p in _NUMPY_SHAPE_FUNCS and a is not None:
            fn = _NUMPY_SHAPE_FUNCS[p]
            rest = [tuple(x) if isinstance(x, list) else x for x in args[1:]]
            out = a.apply(lambda t: fn(t, *rest, **kwargs))
            return out if out is not None else Opaque(
                node, f"{self.seg(node)} does not fit the data's shape {a.shape}")
        if p in SHAPE_KEEPING_FUNCS and a is not None:
            dt = _dtype_name(kwargs.get("dtype")) if kwargs.get("dtype") is not None else None
            return DataArr(a.shape, dt or a.dtype, a.values, a.node)
        if p.endswith("utils.to_categorical") or p.endswith("np_utils.to_categorical"):
            return self.to_categorical(a, args[1:], kwargs, node)
        if p.endswith("train_test_split"):
            n = arrs[0].shape[0]
            train, test = split_rows(n, kwargs.get("test_size"), kwargs.get("train_size"))
            out: list = []
            for x in args:
                if not isinstance(x, DataArr):
                    return Opaque(node, f"{self.seg(node)}: an argument that is not bound data")
                out += [rows_like(x, train), rows_like(x, test)]
            return out
        return None

    def to_categorical(self, a: DataArr | None, args: list, kwargs: dict,
                       node: ast.Call) -> Any:
        from ._pyscript_values import Opaque

        n = args[0] if args else kwargs.get("num_classes")
        if a is None:
            return None
        if n is None:
            if a.values is None or a.values.size == 0:
                return Opaque(node, f"{self.seg(node)} needs the labels' values")
            n = int(a.values.max()) + 1
        if not isinstance(n, int) or isinstance(n, bool) or n < 1:
            return Opaque(node, f"{self.seg(node)}: num_classes is not a positive integer")
        base = a.shape[:-1] if a.shape and a.shape[-1] == 1 and len(a.shape) > 1 else a.shape
        vals = None
        if a.values is not None and a.values.shape == a.shape:  # (not a label set's values)
            ids = a.values.reshape(base)
            if ids is not None and ids.dtype.kind == "f" and np.all(ids == np.round(ids)):
                ids = ids.astype("int64")  # Keras casts the labels to int64
            if ids is None or ids.dtype.kind not in "iub" or ids.size and (
                    ids.min() < 0 or ids.max() >= n):
                return Opaque(node, f"{self.seg(node)}: labels that are not class ids in "
                                    f"[0, {n})")
            vals = np.eye(n, dtype="float32")[ids]  # Keras 3's to_categorical, as float32
        return DataArr((*base, n), "float32", vals, a.node)


_BAD = object()
_COMPARE_FNS = {ast.Lt: np.less, ast.LtE: np.less_equal, ast.Gt: np.greater,
                ast.GtE: np.greater_equal, ast.Eq: np.equal, ast.NotEq: np.not_equal}
_REDUCTIONS = ("max", "min", "sum", "mean", "std", "var")


def _dtype_name(v: Any) -> str | None:
    from ._pyscript_values import Sym

    if isinstance(v, Sym):
        v = v.path.rsplit(".", 1)[-1]
    if isinstance(v, str):
        try:
            return str(np.dtype(v))
        except TypeError:
            return None
    if v in (float,):
        return "float64"
    return None

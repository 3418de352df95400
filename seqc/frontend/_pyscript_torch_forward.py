"""The functional side of a PyTorch forward(): `F.relu(x)`, `F.max_pool2d(x, 2)`,
`torch.flatten(x, 1)`, `F.dropout(x, p, training=self.training)`, `x.view(x.size(0), -1)`...
Each call becomes the nn module PyTorch has for it (so `_pyscript_torch_layers._map` gives
the same spec layers as the module form), except view/reshape: a `<view>` item resolved here
once its input shape is known (a Reshape of the per-sample part, or Flatten; folding the
batch is refused).
"""

from __future__ import annotations

import ast
import math
from typing import TYPE_CHECKING, Any

from ..ir.types import TensorType
from ._pyscript_forward_values import IDENTITY, Dim, Fold, ShapeOf, Tensor
from ._pyscript_self import TRAINING
from ._pyscript_values import TorchMod, is_const

if TYPE_CHECKING:
    from ._pyscript_forward import Chain
    from .pyscript import Reader

_POOL_MAX = ["kernel_size", "stride", "padding", "dilation", "ceil_mode", "return_indices"]
_POOL_AVG = ["kernel_size", "stride", "padding", "ceil_mode", "count_include_pad"]
# name -> (nn module, the parameters after the input, in the functional's positional order)
_F: dict[str, tuple[str, list[str]]] = {
    "relu": ("ReLU", ["inplace"]), "relu6": ("ReLU6", ["inplace"]),
    "elu": ("ELU", ["alpha", "inplace"]), "selu": ("SELU", ["inplace"]),
    "leaky_relu": ("LeakyReLU", ["negative_slope", "inplace"]),
    "gelu": ("GELU", ["approximate"]), "silu": ("SiLU", ["inplace"]),
    "mish": ("Mish", ["inplace"]), "sigmoid": ("Sigmoid", []), "tanh": ("Tanh", []),
    "softsign": ("Softsign", []), "softplus": ("Softplus", ["beta", "threshold"]),
    "hardsigmoid": ("Hardsigmoid", ["inplace"]), "hardswish": ("Hardswish", ["inplace"]),
    "softmax": ("Softmax", ["dim", "_stacklevel", "dtype"]),
    "log_softmax": ("LogSoftmax", ["dim", "_stacklevel", "dtype"]),
    "max_pool1d": ("MaxPool1d", _POOL_MAX), "max_pool2d": ("MaxPool2d", _POOL_MAX),
    "avg_pool1d": ("AvgPool1d", _POOL_AVG),
    "avg_pool2d": ("AvgPool2d", [*_POOL_AVG, "divisor_override"]),
    "adaptive_avg_pool1d": ("AdaptiveAvgPool1d", ["output_size"]),
    "adaptive_avg_pool2d": ("AdaptiveAvgPool2d", ["output_size"]),
    "adaptive_max_pool1d": ("AdaptiveMaxPool1d", ["output_size", "return_indices"]),
    "adaptive_max_pool2d": ("AdaptiveMaxPool2d", ["output_size", "return_indices"]),
    "flatten": ("Flatten", ["start_dim", "end_dim"]),
    "dropout": ("Dropout", ["p", "training", "inplace"]),
    "dropout2d": ("Dropout2d", ["p", "training", "inplace"]),
    "interpolate": ("Upsample", ["size", "scale_factor", "mode", "align_corners",
                                 "recompute_scale_factor", "antialias"]),
    "pixel_shuffle": ("PixelShuffle", ["upscale_factor"]),
}
# torch.<name> (and Tensor methods) with their own positional order where it differs.
_TORCH = {"relu": [], "sigmoid": [], "tanh": [], "selu": [], "flatten": ["start_dim", "end_dim"],
          "softmax": ["dim", "dtype"], "log_softmax": ["dim", "dtype"],
          "dropout": ["p", "train"]}
_DROPPED = ("inplace", "_stacklevel")


def functional(chain: Chain, path: str, rest: list, kwargs: dict, node: ast.Call) -> Any:
    """A torch.nn.functional / torch call on the current tensor -> a TorchMod (or IDENTITY)."""
    for pre, table in (("torch.nn.functional.", None), ("torch.", _TORCH)):
        name = path[len(pre):] if path.startswith(pre) else ""
        if name and "." not in name and name in _F and (table is None or name in table):
            params = _F[name][1] if table is None else table[name]
            return _module(chain, name, params, rest, kwargs, node, f"{path}()")
    if path in ("torch.reshape",):
        if len(rest) != 1 or kwargs:
            raise chain.refuse(node, "torch.reshape(x, shape) takes one shape")
        return _view(chain, rest, node)
    raise chain.refuse(node, f"calls {path}, which seqc has no layer for",
                       hint="supported: F." + ", F.".join(sorted([*_F, "affine_grid",
                                                                  "grid_sample"]))
                            + ", torch.flatten, torch.reshape, x.view")


# the spatial transformer's functionals: tensors in, a layer of two inputs (or one input and
# another tensor's shape) out
SAMPLERS = {"torch.nn.functional.affine_grid": ["theta", "size", "align_corners"],
            "torch.nn.functional.grid_sample": ["input", "grid", "mode", "padding_mode",
                                                "align_corners"]}


def sampler(chain: Chain, path: str, args: list, kwargs: dict, node: ast.Call) -> Tensor:
    """`F.affine_grid(theta, x.size())` -> AffineGrid of theta, its size read from x's type
    where the graph is built (x is its second, shape-only source); `F.grid_sample(x, grid)`
    -> GridSample of both. PyTorch's defaults: align_corners=False (None means False, with
    PyTorch's warning), bilinear, zeros padding."""
    fn = path.rpartition(".")[2]
    names = SAMPLERS[path]
    vals = dict(zip(names, args))
    if len(args) > len(names) or any(k not in names or k in vals for k in kwargs):
        raise chain.refuse(node, f"F.{fn}() with arguments seqc does not read")
    vals.update(kwargs)
    attrs = {k: v for k, v in vals.items() if k not in ("theta", "size", "input", "grid")}
    for k, v in attrs.items():
        if not is_const(v):
            raise chain.refuse(node, f"F.{fn}(): '{k}' is not a constant")
    if attrs.get("align_corners") is None:
        attrs["align_corners"] = False
    if fn == "grid_sample":
        x, grid = vals.get("input"), vals.get("grid")
        if not (isinstance(x, Tensor) and isinstance(grid, Tensor)):
            raise chain.refuse(node, "F.grid_sample() is read on two tensors: the image and "
                                     "the grid")
        attrs["data_format"] = "channels_first"  # PyTorch's (N, C, H, W)
        return chain.merge("GridSample", [x, grid], attrs, node, base=fn)
    theta, size = vals.get("theta"), vals.get("size")
    if not isinstance(theta, Tensor):
        raise chain.refuse(node, "F.affine_grid() is read on a tensor of (2, 3) matrices")
    if isinstance(size, ShapeOf):  # x.size(): the sampled image's size, known at build
        return chain.merge("<affine_grid>", [theta, size.tensor], attrs, node, base=fn)
    if isinstance(size, (list, tuple)) and len(size) == 4 and isinstance(
            size[0], Dim) and size[0].index == 0 and all(
            isinstance(d, int) and not isinstance(d, bool) for d in size[1:]):
        attrs["size"] = list(size[2:])  # (x.size(0), C, H, W)
        return chain.merge("<affine_grid>", [theta], attrs, node, base=fn)
    raise chain.refuse(node, "F.affine_grid() is read with the size of a tensor (x.size()) "
                             "or (x.size(0), C, H, W) of constant C, H, W")


def tensor_method(chain: Chain, t: Tensor, name: str, args: list, kwargs: dict,
                  node: ast.Call) -> Any:
    if name in ("view", "reshape"):
        if kwargs:
            raise chain.refuse(node, f"x.{name}() with keyword arguments")
        return _view(chain, args, node, t)
    if name in ("squeeze", "unsqueeze"):
        dim = args[0] if len(args) == 1 and not kwargs else kwargs.get("dim")
        if len(args) + len(kwargs) != 1 or isinstance(dim, bool) or not isinstance(dim, int):
            raise chain.refuse(node, f"x.{name}() is read with one dimension (x.{name}(1)); "
                                     "without one, squeeze() would drop a batch of one too")
        mod = TorchMod("<view>", [], {name: dim}, node)
        mod.fn = name
        return mod
    if name in _TORCH and name != "dropout":
        return _module(chain, name, _TORCH[name], args, kwargs, node, f"x.{name}()")
    raise chain.refuse(node, f"calls the tensor method .{name}(), which seqc has no layer for",
                       hint="supported: x.view, x.reshape, x.flatten(1), x.relu(), "
                            "x.sigmoid(), x.tanh(), x.softmax(dim), x.log_softmax(dim)")


def _module(chain: Chain, name: str, params: list[str], args: list, kwargs: dict,
            node: ast.Call, what: str) -> Any:
    if len(args) > len(params):
        raise chain.refuse(node, f"{what} takes at most {len(params)} arguments after the input")
    vals = dict(zip(params, args))
    for k, v in kwargs.items():
        if k not in params or k in vals:
            raise chain.refuse(node, f"{what}: unexpected argument '{k}'")
        vals[k] = v
    if "train" in vals:
        vals["training"] = vals.pop("train")
    for k in _DROPPED:
        vals.pop(k, None)
    if vals.pop("dtype", None) is not None:
        raise chain.refuse(node, f"{what}: dtype= is not read (seqc models are float32)")
    if vals.pop("antialias", False) is not False:
        raise chain.refuse(node, f"{what}: antialias=True is not read (seqc's upsampling "
                                 "does not antialias)")
    training = vals.pop("training", True) if name in ("dropout", "dropout2d") else None
    for k, v in vals.items():
        if not is_const(v):
            raise chain.refuse(node, f"{what}: '{k}' is not a constant")
    cls = _F[name][0]
    if name == "flatten":
        if vals.get("start_dim", 0) != 1 or vals.get("end_dim", -1) != -1:
            raise chain.refuse(node, f"{what} flattens from dim {vals.get('start_dim', 0)} "
                                     f"to {vals.get('end_dim', -1)}; seqc keeps the batch "
                                     "dimension and flattens the rest",
                               hint="use torch.flatten(x, 1)")
        vals = {}
    if name in ("dropout", "dropout2d"):
        p = vals.get("p", 0.5)
        if training is TRAINING:
            pass  # nn.Dropout's behaviour: active while training only
        elif training is False or training is True and p == 0:
            return IDENTITY
        elif training is True:
            raise chain.refuse(
                node, f"{what} is active in eval mode too: its training argument defaults to "
                      "True, so PyTorch drops values at prediction; seqc's Dropout (like "
                      "nn.Dropout) only drops while training",
                hint="pass training=self.training, or use an nn.Dropout module")
        else:
            raise chain.refuse(node, f"{what}: training={training!r} is not read")
    mod = TorchMod(cls, [], vals, node)
    mod.fn = name  # the layer name: relu, max_pool2d, ... (made unique by the chain)
    return mod


def _view(chain: Chain, args: list, node: ast.Call, t: Tensor | None = None) -> TorchMod:
    dims = list(args[0]) if len(args) == 1 and isinstance(args[0], (list, tuple)) else args
    if not dims:
        raise chain.refuse(node, "a view without a shape")
    for d in dims:
        if isinstance(d, Fold) and d is dims[0] and (t is None or d.tensor is t):
            continue  # x.view(x.size(0) * x.size(1), ...): is_fold reads it
        if isinstance(d, Dim):
            if d.index != 0 and t is not None and d.tensor is not t:
                raise chain.refuse(node, "a view whose size comes from another tensor")
        elif isinstance(d, bool) or not isinstance(d, int) or d == 0 or d < -1:
            raise chain.refuse(node, "a view whose sizes are not integers, -1 or x.size(i)")
    mod = TorchMod("<view>", [d.index if isinstance(d, Dim) else "fold" if isinstance(
        d, Fold) else ("const", d) for d in dims], {}, node)
    mod.fn = "view"
    return mod


def is_fold(mod: TorchMod, t: TensorType) -> bool:
    """Whether a view folds the time steps of an (N, T, H) value into the batch: (N * T, H)
    spelled `x.view(x.size(0) * x.size(1), x.size(2))` (or H as a constant, or -1 first), one
    row per (sample, step), row n * T + t holding [n, t]. seqc keeps the batch on axis 0 in
    its IR, so the fold is not a layer: the per-step layers after it run on (N, T, H) and the
    model's output is folded at the ONNX boundary (Graph.folds)."""
    if mod.cls != "<view>" or mod.kwargs or len(mod.args) != 2 or len(t.shape) != 3:
        return False
    first, h = mod.args
    if first not in ("fold", ("const", -1)) or t.shape[1] is None or t.shape[2] is None:
        return False
    return h in (2, -1, ("const", t.shape[2]))


def view_layers(r: Reader, mod: TorchMod, t: TensorType, name: str) -> list[dict]:
    """x.view(...) on an input of type t -> Flatten or Reshape of the per-sample part;
    x.squeeze(d) / x.unsqueeze(d) -> a Reshape (none where squeeze's dim is not of size 1,
    which PyTorch leaves as it is)."""
    per = t.shape[1:]
    if mod.kwargs:
        return _squeeze(r, mod, t, name)
    if getattr(mod, "rank", len(t.shape)) != len(t.shape):  # x.split(k, 1) over time steps
        raise _view_error(r, mod, t, f"its steps are read from an input of rank {mod.rank} "
                                     "(N, T), one value per step")
    size = math.prod(per) if all(d is not None for d in per) else None
    got: list[Any] = []
    for e in mod.args:
        if e == "fold":
            raise _view_error(r, mod, t, "it folds the time steps into the batch (N * T, ...); "
                                         "seqc reads that fold of a recurrent layer's (N, T, H) "
                                         "output to (N * T, H) only where per-step layers "
                                         "(nn.Linear, dropout, activations) follow it up to the "
                                         "forward's first returned value")
        if isinstance(e, tuple):
            got.append(e[1])
            continue
        i = e + len(t.shape) if e < 0 else e
        if i == 0:
            got.append("N")
        elif 0 < i < len(t.shape) and t.shape[i] is not None:
            got.append(t.shape[i])
        else:
            raise _view_error(r, mod, t, f"x.size({e}) is not a known size of the input")
    first, rest = got[0], got[1:]
    if not rest:
        raise _view_error(r, mod, t, "it flattens the whole batch into one vector")
    if first == "N":
        if "N" in rest:
            raise _view_error(r, mod, t, "it uses the batch size twice")
    elif first == -1:
        if "N" in rest or -1 in rest:
            raise _view_error(r, mod, t, "it has two unknown sizes")
        if size is None or math.prod(rest) != size:
            raise _view_error(r, mod, t, f"the sizes after -1 hold {math.prod(rest)} values "
                                         f"but a sample has {size if size else 'a variable'} "
                                         "number, so -1 would fold samples into the batch")
    else:
        raise _view_error(r, mod, t, "its first size is a fixed batch size")
    if len(rest) == 1 and (rest[0] == -1 or rest[0] == size):
        return [{"type": "Flatten", "name": name}]
    return [{"type": "Reshape", "name": name, "target_shape": rest}]


def _squeeze(r: Reader, mod: TorchMod, t: TensorType, name: str) -> list[dict]:
    ((how, d),) = mod.kwargs.items()
    rank = len(t.shape) + (how == "unsqueeze")
    i = d + rank if d < 0 else d
    if not 0 <= i < rank:
        raise _view_error(r, mod, t, f"dimension {d} is out of range")
    if i == 0:
        raise _view_error(r, mod, t, f"it {how}s the batch dimension")
    per = list(t.shape[1:])
    if how == "squeeze":
        if per[i - 1] != 1:
            return []  # PyTorch's squeeze(d) leaves a dimension not of size 1 as it is
        del per[i - 1]
    else:
        per.insert(i - 1, 1)
    if any(x is None for x in per):
        raise _view_error(r, mod, t, "a sample's size is not fixed")
    return [{"type": "Reshape", "name": name, "target_shape": per}]


def _view_error(r: Reader, mod: TorchMod, t: TensorType, why: str) -> Exception:
    shape = "(" + ", ".join("N" if d is None else str(d) for d in t.shape) + ")"
    return r.error(mod.node, f"this view/reshape is not a reshape of each sample: {why}",
                   field="view", received=f"{r.seg(mod.node)} on an input of shape {shape}",
                   hint="keep the batch first: x.view(x.size(0), ...) or x.view(-1, <the "
                        "per-sample sizes>)")


def view_input(mod: TorchMod) -> list[int] | None:
    """The input shape a leading `x.view(-1, 1, 28, 28)` implies: flat samples ([784])."""
    if mod.cls != "<view>" or len(mod.args) < 2:
        return None
    first, rest = mod.args[0], mod.args[1:]
    if not (first == ("const", -1) or first == 0):
        return None
    if not all(isinstance(e, tuple) and e[1] > 0 for e in rest):
        return None
    return [math.prod(e[1] for e in rest)]

"""`torch.nn.init.<fn>_(module.weight, ...)` in a PyTorch script: the module's initial weights,
read as the seqc (Keras) initializer that draws from the same distribution. PyTorch's fans
are Keras' (a Linear (out, in) weight and a Dense (in, out) kernel both have fan_in = in; a
conv's fan is channels x receptive field in both), so xavier_* / kaiming_* are Keras'
VarianceScaling with scale = gain**2, their normal forms untruncated. An initializer seqc
cannot express, or one on a tensor that is not a module's weight or bias, changes the model's
training and is refused (never skipped).
"""

from __future__ import annotations

import ast
import math
from typing import TYPE_CHECKING, Any

from ._pyscript_values import BoundMethod, Opaque, TorchMod, bind_args, is_const

if TYPE_CHECKING:
    from .pyscript import Reader

# name -> its parameters after the tensor, with PyTorch's defaults
_SIGS: dict[str, list[tuple[str, Any]]] = {
    "normal_": [("mean", 0.0), ("std", 1.0), ("generator", None)],
    "uniform_": [("a", 0.0), ("b", 1.0), ("generator", None)],
    "constant_": [("val", None)],
    "zeros_": [], "ones_": [],
    "xavier_uniform_": [("gain", 1.0), ("generator", None)],
    "xavier_normal_": [("gain", 1.0), ("generator", None)],
    "kaiming_uniform_": [("a", 0), ("mode", "fan_in"), ("nonlinearity", "leaky_relu"),
                         ("generator", None)],
    "kaiming_normal_": [("a", 0), ("mode", "fan_in"), ("nonlinearity", "leaky_relu"),
                        ("generator", None)],
    "orthogonal_": [("gain", 1.0), ("generator", None)],
    "trunc_normal_": [("mean", 0.0), ("std", 1.0), ("a", -2.0), ("b", 2.0),
                      ("generator", None)],
}
# the spec layer's initializer argument for a PyTorch parameter, by seqc kind
_SLOTS = {"weight": {"Dense": "kernel_initializer", "Conv1D": "kernel_initializer",
                     "Conv2D": "kernel_initializer", "Conv2DTranspose": "kernel_initializer",
                     "BatchNormalization": "gamma_initializer",
                     "GroupNormalization": "gamma_initializer",
                     "Embedding": "embeddings_initializer"},
          "bias": {"Dense": "bias_initializer", "Conv1D": "bias_initializer",
                   "Conv2D": "bias_initializer", "Conv2DTranspose": "bias_initializer",
                   "BatchNormalization": "beta_initializer",
                   "GroupNormalization": "beta_initializer"}}


def calculate_gain(nonlinearity: Any, param: Any = None) -> float | None:
    """torch.nn.init.calculate_gain (None for a name PyTorch refuses)."""
    if nonlinearity in ("linear", "conv1d", "conv2d", "conv3d", "conv_transpose1d",
                        "conv_transpose2d", "conv_transpose3d", "sigmoid"):
        return 1.0
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "selu":
        return 3.0 / 4
    if nonlinearity == "leaky_relu":
        slope = 0.01 if param is None else param
        if isinstance(slope, bool) or not isinstance(slope, (int, float)):
            return None
        return math.sqrt(2.0 / (1 + slope ** 2))
    return None


def spec_of(name: str, v: dict) -> tuple[dict | None, str]:
    """The seqc initializer spec for torch.nn.init.<name>(t, **v), or (None, why not)."""
    if name == "normal_":
        return {"type": "RandomNormal", "mean": float(v["mean"]), "stddev": float(v["std"])}, ""
    if name == "uniform_":
        return {"type": "RandomUniform", "minval": float(v["a"]), "maxval": float(v["b"])}, ""
    if name == "constant_":
        return {"type": "Constant", "value": float(v["val"])}, ""
    if name in ("zeros_", "ones_"):
        return {"type": name[:-1].capitalize()}, ""
    if name == "orthogonal_":
        return {"type": "Orthogonal", "gain": float(v["gain"])}, ""
    if name == "trunc_normal_":
        mean, std = float(v["mean"]), float(v["std"])
        if not (math.isclose(v["a"], mean - 2 * std) and math.isclose(v["b"], mean + 2 * std)):
            return None, ("it cuts at [a, b] = [{a}, {b}]; seqc's TruncatedNormal (Keras') "
                          "cuts at mean +- 2 std".format(**v))
        return {"type": "TruncatedNormal", "mean": mean, "stddev": std}, ""
    dist = "uniform" if name.endswith("uniform_") else "untruncated_normal"
    if name.startswith("xavier"):
        gain, mode = v["gain"], "fan_avg"
    else:
        mode = v["mode"]
        gain = calculate_gain(v["nonlinearity"], v["a"])
        if mode not in ("fan_in", "fan_out") or gain is None:
            return None, f"mode={mode!r}, nonlinearity={v['nonlinearity']!r} is not PyTorch's"
    if isinstance(gain, bool) or not isinstance(gain, (int, float)) or gain <= 0:
        return None, f"gain={gain!r} is not a positive number"
    return {"type": "VarianceScaling", "scale": float(gain) ** 2, "mode": mode,
            "distribution": dist}, ""


def torch_init(r: Reader, name: str, args: list, kwargs: dict, node: ast.Call) -> Any:
    """A call of torch.nn.init.<name>: calculate_gain folded, an initializer on a module's
    weight or bias recorded on the module (TorchMod.inits), anything else that touches a
    model refused; on a plain tensor, not run."""
    if name == "calculate_gain":
        bound = bind_args(["nonlinearity", "param"], args, kwargs)
        gain = calculate_gain(*bound.values()) if bound is not None else None
        return gain if gain is not None else Opaque(node, f"{r.seg(node)} is not folded")
    target = args[0] if args else kwargs.get("tensor")
    from ._pyscript_self import SelfObj

    if isinstance(target, SelfObj) or isinstance(target, BoundMethod) and isinstance(
            target.obj, SelfObj):
        raise r.error(node, f"{r.seg(node)} sets the initial values of a module's own "
                            "tensor, which seqc does not model", field=name,
                      received=r.seg(node))
    if not isinstance(target, BoundMethod) or not isinstance(target.obj, TorchMod):
        from ._pyscript_model import is_model_object

        if is_model_object(target) or isinstance(target, BoundMethod) and is_model_object(
                target.obj):
            return r.refuse(target, node, f"{r.seg(node)} sets the initial values of a "
                                          "module, not of one of its parameters",
                            field=name, received=r.seg(node))
        r.skipped_at(node)
        return Opaque(node, f"{r.seg(node)} is not run")  # a tensor of a training loop
    mod, param = target.obj, target.name
    sig = _SIGS.get(name)
    bound = bind_args(["tensor", *[n for n, _ in sig]], args, kwargs) if sig is not None \
        else None
    why = "seqc has no initializer for it" if sig is None else "its arguments are not read"
    spec = None
    if bound is not None:
        vals = {n: bound.get(n, d) for n, d in sig}
        if vals.get("generator") is not None:
            why = "generator= is not read (seqc draws from its own seeded generator)"
        elif all(is_const(x) for x in vals.values()) and vals.get("val", 0) is not None:
            spec, why = spec_of(name, vals)
        else:
            why = "its arguments are not constants"
    if param not in _SLOTS or spec is None:
        what = f"{r.seg(node)}: " + (why if spec is None else f"'{param}' is not a parameter "
                                                               "seqc initializes")
        return r.refuse(mod, node, f"{what}; the module's initial weights would differ",
                        field=name, received=r.seg(node))
    mod.inits[param] = (spec, node)
    return None


PARAMS = ("weight", "bias")
# a parameter's own in-place initializers -> the torch.nn.init function they are, with its
# argument names
_INPLACE = {"normal_": ("normal_", {}), "uniform_": ("uniform_", {"from": "a", "to": "b"}),
            "zero_": ("zeros_", {}), "fill_": ("constant_", {"value": "val"})}


def is_param(v: Any) -> bool:
    """`module.weight` / `module.bias` (also through `.data`) of a torch module."""
    return isinstance(v, BoundMethod) and isinstance(v.obj, TorchMod) and v.name in PARAMS


def param_attr(r: Reader, p: BoundMethod, attr: str, node: ast.AST) -> Any:
    """`fc.weight.data` is the parameter itself; `fc.weight.normal_` (any in-place method) a
    method of it; any other attribute a run-time value."""
    if attr == "data":
        return p
    if attr.endswith("_"):
        return BoundMethod(p, attr)
    return Opaque(node, f"{r.seg(node)} is an attribute of a run-time value")


def reads_grad(call: ast.Call) -> bool:
    """`w.data.add_(-lr * w.grad)`: an update computed from a gradient."""
    return any(isinstance(n, ast.Attribute) and n.attr == "grad"
               for a in [*call.args, *(k.value for k in call.keywords)] for n in ast.walk(a))


def param_method(r: Reader, p: BoundMethod, meth: str, args: list, kwargs: dict,
                 node: ast.Call) -> Any:
    """`fc.weight.data.normal_(0, 0.02)`, `uniform_`, `zero_()`, `fill_(v)`: an initializer,
    as torch.nn.init's; an update from a gradient (`add_(-lr * w.grad)`) is a hand-written
    training step, which seqc's training replaces (not run, as the loop around it); `copy_` of
    constants is a constant initializer (param_copy); any other in-place method (mul_, ...)
    changes the weights and is refused; a method that reads the weights is not run."""
    if meth in _INPLACE:
        name, renames = _INPLACE[meth]
        return torch_init(r, name, [p, *args], {renames.get(k, k): v for k, v in kwargs.items()},
                          node)
    if meth == "copy_":
        return param_copy(r, p, node)
    if meth.endswith("_") and reads_grad(node):
        r.skipped_at(node)  # a hand-written optimizer step: training, which seqc runs itself
        return Opaque(node, f"{r.seg(node)} is a training step")
    if meth.endswith("_"):
        return r.refuse(p.obj, node, f"{r.seg(node)} changes the module's weights in place, "
                                     "which seqc does not model", field=meth,
                        received=r.seg(node))
    r.skipped_at(node)
    return Opaque(node, f"{r.seg(node)} is not run")


# torch.tensor(<list>) and its kin; the dtypes that keep the copied values as they are
_TENSORS = ("torch.tensor", "torch.as_tensor", "torch.Tensor", "torch.FloatTensor",
            "torch.DoubleTensor")
_FLOATS = ("torch.float", "torch.float32", "torch.float64", "torch.double")
MAX_COPIED = 65536  # values a copied constant may hold


def param_copy(r: Reader, p: BoundMethod, node: ast.Call) -> Any:
    """`fc.bias.data.copy_(torch.tensor([1, 0, 0, 0, 1, 0], dtype=torch.float))`: the
    parameter starts at those constants (broadcast to its shape, as copy_ and Keras'
    Constant both do): a Constant initializer holding them. A source that is not constant
    numbers is refused."""
    from ._pyscript_names import norm
    from ._pyscript_values import Sym

    scope, src = r.call_scope, node.args[0] if len(node.args) == 1 else None
    why = "copy_ takes one source tensor"
    values: Any = None
    if src is not None and all(k.arg == "non_blocking" for k in node.keywords):
        values, why = r.ev(src, scope), "its source is not constant numbers"
        f = r.ev(src.func, scope) if isinstance(src, ast.Call) else None
        if isinstance(f, Sym) and norm(f.path) in _TENSORS:
            kw = {k.arg: r.ev(k.value, scope) for k in src.keywords}
            dtype = kw.pop("dtype", None)
            kw.pop("device", None)
            values = r.ev(src.args[0], scope) if len(src.args) == 1 else None
            if kw or dtype is not None and norm(getattr(dtype, "path", "")) not in _FLOATS:
                values, why = None, ("torch.tensor() is read with a float dtype (or none), "
                                     "without other arguments")
            elif norm(f.path) != "torch.tensor" and not isinstance(values, (list, tuple)):
                values = None  # torch.FloatTensor(6) is a tensor of 6 uninitialized values
    arr = _numbers(values)
    if arr is None:
        return r.refuse(p.obj, node, f"{r.seg(node)}: {why}; the module's initial weights "
                                     "would differ", field="copy_", received=r.seg(node))
    p.obj.inits[p.name] = ({"type": "Constant", "value": arr.tolist()}, node)
    return None


def _numbers(v: Any) -> Any:
    """v as a float array when it is a number or a (nested) list of finite numbers."""
    from ..training.initializers import constant_array

    arr = constant_array(v)
    return arr if arr is not None and arr.size <= MAX_COPIED and arr.ndim <= 4 else None


def apply_inits(r: Reader, mod: TorchMod, name: str, docs: list[dict]) -> None:
    """The initializers the script set on mod's parameters, into its spec layer."""
    if not mod.inits:
        return
    doc = next((d for d in docs if d.get("name") == name), None)
    for param, (spec, node) in mod.inits.items():
        slot = _SLOTS[param].get(doc["type"]) if doc is not None else None
        has = {"weight": doc.get("scale", True), "bias": doc.get(
            "center", doc.get("use_bias", True))}[param] if doc is not None else False
        if slot is None or not has:
            raise r.error(node, f"{r.seg(node)}: nn.{mod.cls} has no '{param}' that seqc "
                                "initializes", field=param, received=r.seg(node))
        value = spec.get("value")
        if param == "weight" and isinstance(value, list) and doc["type"] != "Embedding" and (
                doc["type"] != "Dense" and _rank(value) > 1 or doc["type"].startswith("Conv")):
            raise r.error(node, f"{r.seg(node)}: copying constants into the weight of "
                                f"nn.{mod.cls} is not read (its layout differs from "
                                "Keras')", field=param, received=r.seg(node))
        if param == "weight" and isinstance(value, list) and doc["type"] == "Dense":
            # PyTorch's (out, in) weight is Keras' (in, out) kernel transposed; a row that
            # copy_ broadcasts over the outputs is a column of the kernel
            rows = value if _rank(value) == 2 else [value]
            spec = {**spec, "value": [list(c) for c in zip(*rows)]}
        doc[slot] = spec


def _rank(v: Any) -> int:
    return 1 + _rank(v[0]) if isinstance(v, list) and v else int(isinstance(v, list))

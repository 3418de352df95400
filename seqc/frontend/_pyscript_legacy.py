"""Old spellings in a script's Keras layer calls, read with their Keras 3 meaning and one
warning line each (`Reader.warn`): Keras 1 argument names and positional kernel sizes (the
table in `_keras_legacy`), Keras 2's input_dim/input_length, and the None values Keras takes
for an argument's default.
"""

from __future__ import annotations

import ast
from typing import Any

from ..errors import DefinitionError, SeqcError
from ..ops._activations import HARD_SIGMOID_KERAS2
from ._keras_json_layers import BOOKKEEPING, INERT, PERFORMANCE
from ._keras_json_values import canonical_initializer
from ._keras_legacy import (
    DIM_ORDERING,
    KERAS1_ARGS,
    KERAS1_CONV_CLASSES,
    KERAS1_NAMES,
    gate_bias,
    keras1_target,
)
from ._pyscript_values import Lam, Layer, Opaque, Sym

RECURRENT = ("LSTM", "GRU", "SimpleRNN")
_FORGET_BIAS = (*RECURRENT, "ConvLSTM2D")  # Keras 2 read forget_bias_init on these
# Keras 1 arguments its conversion table handles outside the renames (preprocessors).
_KERAS1_EXTRA = {"nb_row", "nb_col", "kernel_dim1", "kernel_dim2", "kernel_dim3",
                 "forget_bias_init", "output_shape", "mode", "dropout"}
# Keras 3 layer arguments whose default is None and that seqc has no field for.
_NONE_DEFAULTS = {"weights", "quantization_config"}


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _shown(v: Any) -> str:
    if isinstance(v, Lam):
        return "lambda ..."
    return repr(v) if not isinstance(v, (Opaque, Layer)) else "..."


def keras1_args(r: Any, lay: Layer, kind: str, fields: set[str], args: list,
                kwargs: dict) -> tuple[list, dict]:
    """Keras 1 names -> Keras 2/3 names, as Keras 2's legacy interfaces did, with their value
    conversions; a Keras 1 name this kind never took is a located error."""
    node = lay.node
    old_style = lay.cls in KERAS1_CONV_CLASSES or any(
        k in KERAS1_NAMES and k not in fields for k in kwargs)
    if old_style:
        args, kwargs = _kernel_sizes(r, lay, kind, args, kwargs)
    out: dict = {}
    if kind == "Highway" and old_style and not {"transform_bias",
                                                 "transform_bias_initializer"} & set(kwargs):
        # Keras 1's Highway started its gate bias at transform_bias=-2.
        out["transform_bias_initializer"] = gate_bias(-2)
        r.warn(node, f"Keras 1 {lay.cls} without transform_bias: its gate bias starts at "
                     "Keras 1's default, -2")
    for k, v in kwargs.items():
        new = keras1_target(kind, k) if k not in fields else None
        if new is None:
            out[k] = v
            continue
        if new in kwargs or new in out:
            raise r.error(node, f"{lay.cls} gets both {k} (Keras 1's name) and {new}",
                          field=new, received=f"{k}={_shown(v)}, {new}=...",
                          hint=f"keep {new}")
        if k == "dim_ordering" and isinstance(v, str) and v in DIM_ORDERING:
            v = DIM_ORDERING[v]
        elif k == "consume_less":  # implementation: every value computes the same function
            r.warn(node, f"Keras 1 argument {lay.cls}(consume_less={_shown(v)}) is a "
                         "performance switch; ignored")
            continue
        elif k == "transform_bias" and kind == "Highway":
            try:
                v = gate_bias(v)
            except SeqcError as e:
                raise r.error(node, e.message, field=k, received=e.received) from None
        elif new.endswith("_initializer") and isinstance(v, str):
            v = canonical_initializer(v)
        elif new.endswith("_initializer") and isinstance(v, Lam):
            v = _lambda_initializer(r, lay, k, new, v)
        elif k == "inner_activation" and v == "hard_sigmoid":
            v = dict(HARD_SIGMOID_KERAS2)  # Keras 1/2's clip(0.2x + 0.5, 0, 1)
        r.warn(node, f"Keras 1 argument {lay.cls}({k}={_shown(kwargs[k])}): read as "
                     f"{new}={_shown(v)}")
        if v is not None:
            out[new] = v
    for k in list(out):
        if k in fields:
            continue
        if k == "forget_bias_init" and kind in _FORGET_BIAS:
            v = out.pop(k)
            if v == "one" and kind in ("LSTM", "ConvLSTM2D"):
                out.setdefault("unit_forget_bias", True)
                r.warn(node, f"Keras 1 argument {lay.cls}(forget_bias_init='one'): read as "
                             "unit_forget_bias=True")
            else:
                r.warn(node, f"Keras 1 argument {lay.cls}(forget_bias_init={_shown(v)}) "
                             "is ignored, as Keras 2 ignored it")
        elif k == "dropout" and kind == "Embedding":
            out.pop(k)
            r.warn(node, f"Keras 1 argument {lay.cls}(dropout=...) is ignored, as Keras 2 "
                         "ignored it (a SpatialDropout1D after the Embedding does that)")
        elif k == "mode" and kind == "BatchNormalization":
            if out[k] != 0:
                raise r.error(node, f"Keras 1's BatchNormalization(mode={_shown(out[k])}) "
                                    "has no Keras 2 or 3 equivalent", field="mode",
                              received=f"mode={_shown(out[k])}", hint="use mode=0 (drop it)")
            out.pop(k)
            r.warn(node, "Keras 1 argument BatchNormalization(mode=0) is the only mode "
                         "Keras 2 kept; dropped")
        elif k in KERAS1_NAMES | _KERAS1_EXTRA and k not in ("dropout", "mode"):
            known = sorted(c for c, pairs in KERAS1_ARGS.items() if k in dict(pairs))
            raise r.error(node, f"{k} is a Keras 1 argument {lay.cls} did not take",
                          field=k, received=f"{k}={_shown(out[k])}",
                          hint=f"Keras 1's {k} belongs to {', '.join(known[:4])}"
                               if known else f"remove {k}")
    return args, out


def _kernel_sizes(r: Any, lay: Layer, kind: str, args: list,
                  kwargs: dict) -> tuple[list, dict]:
    """Keras 1's Convolution2D(nb_filter, nb_row, nb_col) and Convolution3D(nb_filter,
    kernel_dim1, kernel_dim2, kernel_dim3): sizes one by one (positional or by those names),
    not a kernel_size tuple; Deconvolution2D's output_shape, which Keras 2 dropped."""
    names = {"Conv2D": ("nb_row", "nb_col"), "Conv2DTranspose": ("nb_row", "nb_col"),
             "SeparableConv2D": ("nb_row", "nb_col"), "ConvLSTM2D": ("nb_row", "nb_col"),
             "Conv3D": ("kernel_dim1", "kernel_dim2", "kernel_dim3"),
             "Conv3DTranspose": ("kernel_dim1", "kernel_dim2", "kernel_dim3")}.get(kind)
    if names is None:
        return args, kwargs
    kwargs = dict(kwargs)
    if kind.endswith("Transpose"):
        dropped = "output_shape" in kwargs
        kwargs.pop("output_shape", None)
        if len(args) == len(names) + 2 and isinstance(args[-1], (tuple, list)):
            args, dropped = args[:-1], True
        if dropped:
            r.warn(lay.node, f"Keras 1 argument {lay.cls}(output_shape=...) is dropped, as "
                             "Keras 2 dropped it")
    given = list(args[1:])
    rest = names[len(given):]
    if len(given) > len(names) or not all(n in kwargs for n in rest) or (
            len(given) < 2 and not rest):
        return args, kwargs
    sizes = tuple(given + [kwargs[n] for n in rest])
    if not all(_is_int(x) for x in sizes):
        return args, kwargs
    for n in rest:
        kwargs.pop(n)
    r.warn(lay.node, f"Keras 1 kernel sizes in {r.seg(lay.node)}: read as "
                     f"kernel_size={sizes}")
    if not args:
        return args, {**kwargs, "kernel_size": sizes}
    return [args[0], sizes], kwargs


def none_args(r: Any, lay: Layer, kind: str, fields: set[str], kwargs: dict) -> dict:
    """`None` where Keras takes it: dropped where None is Keras' default and seqc has no
    field (regularizers, constraints, ...); an initializer of None is what Keras builds it
    with, glorot_uniform (Layer.add_weight's default, not the layer's own)."""
    out: dict = {}
    for k, v in kwargs.items():
        if v is not None:
            out[k] = v
        elif k.endswith("_initializer") and k in fields:
            if kind == "LSTM" and k == "bias_initializer" and kwargs.get(
                    "unit_forget_bias", True) is not False:
                raise r.error(lay.node, "LSTM(bias_initializer=None) with unit_forget_bias="
                                        "True fails in Keras (the forget-gate bias calls the "
                                        "initializer)", field=k, received=f"{k}=None",
                              hint="drop bias_initializer (Keras' default is 'zeros')")
            r.warn(lay.node, f"{lay.cls}({k}=None): Keras initializes such a weight with "
                             f"glorot_uniform, not the layer's default; read as {k}="
                             "'glorot_uniform'")
            out[k] = "glorot_uniform"
        elif k in fields or not (k.endswith(("_regularizer", "_constraint")) or k in PERFORMANCE
                                 or k in INERT or k in BOOKKEEPING or k in _NONE_DEFAULTS):
            out[k] = v
    return out


def input_args(r: Any, lay: Layer, kind: str, fields: set[str], kwargs: dict) -> dict:
    """Keras 2's input_dim (and input_length) on a first layer -> input_shape: (input_dim,),
    or (input_length, input_dim) for a recurrent layer or Conv1D; Embedding's input_length ->
    (input_length,) of token ids when no shape is given, else dropped."""
    kwargs = dict(kwargs)
    if "input_dim" in kwargs and "input_dim" not in fields:
        dim = kwargs.pop("input_dim")
        if kind in (*RECURRENT, "Conv1D"):
            kwargs["input_shape"] = (kwargs.pop("input_length", None), dim)
        else:
            kwargs["input_shape"] = (dim,)
    if kind == "Embedding" and "input_length" in kwargs:
        n = kwargs.pop("input_length")
        if n is not None and "input_shape" not in kwargs and "batch_input_shape" not in kwargs:
            kwargs["input_shape"] = (n,)
            r.ids_input = True
            r.warn(lay.node, f"Embedding(input_length={_shown(n)}): read as the input shape "
                             f"({_shown(n)},) of int32 token ids")
        else:
            r.warn(lay.node, "Embedding(input_length=...) is dropped: the input shape is "
                             "given otherwise")
    return kwargs


# Keras 1's keras.initializations functions with a `scale` argument, by their Keras 3
# equivalent: normal(shape, scale) drew N(0, scale) (K.random_normal_variable), uniform(shape,
# scale) U(-scale, scale), identity(shape, scale) scale * I of a square matrix; zero and one.
_KERAS1_INITS = {"normal": ("RandomNormal", 0.05), "uniform": ("RandomUniform", 0.05),
                 "identity": ("Identity", 1.0), "zero": ("zeros", None),
                 "one": ("ones", None)}


def _lambda_initializer(r: Any, lay: Layer, old: str, new: str, lam: Lam) -> Any:
    """Keras 1's `init=lambda shape, name: normal(shape, scale=0.001, name=name)` (the
    examples' way to give an initializer arguments): a lambda whose body is one call of a
    keras.initializations function on its own (shape, name) with constant arguments, read as
    that initializer. The body is read, never run; any other lambda is a located error."""
    node, fn = lam.node, lam.node.body
    a = node.args
    params = [p.arg for p in a.posonlyargs + a.args]

    def refuse(why: str) -> DefinitionError:
        return r.error(node, f"{lay.cls}({old}=lambda ...): {why}", field=new,
                       received=r.seg(node),
                       hint="give a Keras 3 initializer, e.g. keras.initializers."
                            "RandomNormal(stddev=0.001)")

    if len(params) != 2 or a.vararg or a.kwarg or a.kwonlyargs or a.defaults:
        raise refuse("Keras 1 called an initializer as f(shape, name); this lambda takes "
                     "other arguments")
    if not isinstance(fn, ast.Call):
        raise refuse("its body is not one call of a keras.initializations function")
    f = r.ev(fn.func, lam.scope)
    short = f.path.rsplit(".", 1)[-1] if isinstance(f, Sym) else None
    if short not in _KERAS1_INITS or not f.path.startswith("keras.initializations."):
        raise refuse(f"{r.seg(fn.func)} is not one of keras.initializations' "
                     f"{', '.join(_KERAS1_INITS)}")
    shape, name = params
    if not fn.args or not (isinstance(fn.args[0], ast.Name) and fn.args[0].id == shape) or any(
            isinstance(x, ast.Starred) for x in fn.args) or any(
            k.arg is None for k in fn.keywords):
        raise refuse(f"the call does not pass the lambda's {shape} first")
    kwargs: dict = {}
    for k in fn.keywords:
        if k.arg == "name":
            if not (isinstance(k.value, ast.Name) and k.value.id == name):
                raise refuse("the call renames the weight")
            continue
        kwargs[k.arg] = r.ev(k.value, lam.scope)
    if len(fn.args) > 2 or len(fn.args) == 2 and "scale" in kwargs:
        raise refuse("the call has more arguments than (shape, scale)")
    if len(fn.args) == 2:
        kwargs["scale"] = r.ev(fn.args[1], lam.scope)
    kind, default = _KERAS1_INITS[short]
    if set(kwargs) - ({"scale"} if default is not None else set()):
        raise refuse(f"{short}() gets {', '.join(sorted(kwargs))}, which seqc does not read")
    scale = kwargs.get("scale", default)
    if default is not None and (isinstance(scale, bool) or not isinstance(scale, (int, float))):
        raise refuse(f"{short}()'s scale is not a constant number")
    if short == "identity" and new != "recurrent_initializer":
        raise refuse("Keras 1's identity initializes a square matrix only (a recurrent "
                     "kernel)")
    out: Any = {"RandomNormal": lambda s: {"type": kind, "mean": 0.0, "stddev": s},
                "RandomUniform": lambda s: {"type": kind, "minval": -s, "maxval": s},
                "Identity": lambda s: {"type": kind, "gain": s}}.get(
        kind, lambda s: kind)(scale)
    return out

"""The arguments of a torch.nn module bound to PyTorch's own signature (SIGNATURES: the
modules seqc reads, with their defaults), each checked constant; an unknown argument, one
given twice or a required one missing is refused, located.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..errors import DefinitionError

if TYPE_CHECKING:
    from .pyscript import Reader

REQ = object()  # a required argument
_DEV = (("device", None), ("dtype", None))
_CONV = [("in_channels", REQ), ("out_channels", REQ), ("kernel_size", REQ), ("stride", 1),
         ("padding", 0), ("dilation", 1), ("groups", 1), ("bias", True),
         ("padding_mode", "zeros"), *_DEV]
_MAXPOOL = [("kernel_size", REQ), ("stride", None), ("padding", 0), ("dilation", 1),
            ("return_indices", False), ("ceil_mode", False)]
_AVGPOOL = [("kernel_size", REQ), ("stride", None), ("padding", 0), ("ceil_mode", False),
            ("count_include_pad", True)]
_BN = [("num_features", REQ), ("eps", 1e-5), ("momentum", 0.1), ("affine", True),
       ("track_running_stats", True), *_DEV]
_RNN = [("input_size", REQ), ("hidden_size", REQ), ("num_layers", 1), ("bias", True),
        ("batch_first", False), ("dropout", 0.0), ("bidirectional", False)]
SIGNATURES: dict[str, list[tuple[str, Any]]] = {
    "Linear": [("in_features", REQ), ("out_features", REQ), ("bias", True), *_DEV],
    "Conv1d": _CONV, "Conv2d": _CONV,
    "MaxPool1d": _MAXPOOL, "MaxPool2d": _MAXPOOL,
    "AvgPool1d": _AVGPOOL, "AvgPool2d": [*_AVGPOOL, ("divisor_override", None)],
    "AdaptiveAvgPool1d": [("output_size", REQ)], "AdaptiveAvgPool2d": [("output_size", REQ)],
    "AdaptiveMaxPool1d": [("output_size", REQ), ("return_indices", False)],
    "AdaptiveMaxPool2d": [("output_size", REQ), ("return_indices", False)],
    "Flatten": [("start_dim", 1), ("end_dim", -1)],
    "Dropout": [("p", 0.5), ("inplace", False)],
    "Dropout2d": [("p", 0.5), ("inplace", False)],
    "BatchNorm1d": _BN, "BatchNorm2d": _BN,
    "Embedding": [("num_embeddings", REQ), ("embedding_dim", REQ), ("padding_idx", None),
                  ("max_norm", None), ("norm_type", 2.0), ("scale_grad_by_freq", False),
                  ("sparse", False), ("_weight", None), ("_freeze", False), *_DEV],
    "LSTM": [*_RNN, ("proj_size", 0), *_DEV], "GRU": [*_RNN, *_DEV],
    "RNN": [*_RNN[:3], ("nonlinearity", "tanh"), *_RNN[3:], *_DEV],
    "ReLU": [("inplace", False)], "Sigmoid": [], "Tanh": [], "Identity": [],
    "GELU": [("approximate", "none")], "LeakyReLU": [("negative_slope", 0.01),
                                                      ("inplace", False)],
    "ELU": [("alpha", 1.0), ("inplace", False)], "Softmax": [("dim", None)],
    "LogSoftmax": [("dim", None)], "SiLU": [("inplace", False)], "ReLU6": [("inplace", False)],
    "SELU": [("inplace", False)], "Softplus": [("beta", 1.0), ("threshold", 20.0)],
    "Softsign": [], "Mish": [("inplace", False)], "Hardsigmoid": [("inplace", False)],
    "Hardswish": [("inplace", False)],
    "Upsample": [("size", None), ("scale_factor", None), ("mode", "nearest"),
                 ("align_corners", None), ("recompute_scale_factor", None)],
    "UpsamplingNearest2d": [("size", None), ("scale_factor", None)],
    "UpsamplingBilinear2d": [("size", None), ("scale_factor", None)],
    "PixelShuffle": [("upscale_factor", REQ)],
    "ReflectionPad2d": [("padding", REQ)],
    "InstanceNorm1d": [("num_features", REQ), ("eps", 1e-5), ("momentum", 0.1),
                       ("affine", False), ("track_running_stats", False), *_DEV],
    "InstanceNorm2d": [("num_features", REQ), ("eps", 1e-5), ("momentum", 0.1),
                       ("affine", False), ("track_running_stats", False), *_DEV],
}


class Bound:
    """One module's arguments bound to PyTorch's signature, values checked constant."""

    def __init__(self, r: Reader, cls: str, name: str, mod: Any) -> None:
        self.r, self.cls, self.name, self.node, self.mod = r, cls, name, mod.node, mod
        sig = SIGNATURES[cls]
        names = [n for n, _ in sig]
        if len(mod.args) > len(names):
            raise r.error(mod.node, f"nn.{cls} takes at most {len(names)} positional "
                                    "arguments", field=cls,
                          received=f"{len(mod.args)} positional arguments")
        vals = dict(zip(names, mod.args))
        for k, v in mod.kwargs.items():
            if k not in names:
                from ..errors import did_you_mean

                raise r.error(mod.node, f"nn.{cls} has no argument '{k}'. Valid arguments: "
                                        f"{', '.join(names)}", field=k,
                              received=f"{k}={r.seg(mod.node)}", hint=did_you_mean(k, names))
            if k in vals:
                raise r.error(mod.node, f"nn.{cls} got '{k}' both by position and by name",
                              field=k)
            vals[k] = v
        self.v: dict[str, Any] = {}
        for n, default in sig:
            if n not in vals:
                if default is REQ:
                    raise r.error(mod.node, f"nn.{cls} needs the argument '{n}'", field=n,
                                  received=r.seg(mod.node))
                self.v[n] = default
            elif n == "device":
                continue
            elif n == "dtype":
                path = getattr(vals[n], "path", None)
                if vals[n] is not None and path not in ("torch.float32", "torch.float"):
                    raise r.error(mod.node, f"nn.{cls}: seqc models are float32",
                                  field="dtype", received=r.seg(mod.node))
            else:
                self.v[n] = r.const(vals[n], mod.node, f"nn.{cls}({n}=...)")

    def __getitem__(self, k: str) -> Any:
        return self.v[k]

    def error(self, message: str, field: str, hint: str | None = None) -> DefinitionError:
        return self.r.error(self.node, f"nn.{self.cls}: {message}", field=field,
                            received=f"{field}={self.v.get(field)!r}", hint=hint)

    def number(self, k: str) -> float:
        """A real-number argument (an int or a float, not a bool), as float."""
        v = self.v[k]
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise self.error(f"'{k}' must be a number", k)
        return float(v)

    def int(self, k: str, *, minimum: int = 0) -> int:
        v = self.v[k]
        if isinstance(v, bool) or not isinstance(v, int) or v < minimum:
            raise self.error(f"'{k}' must be an integer >= {minimum}", k)
        return v

    def ints(self, k: str, nd: int, *, minimum: int = 0) -> tuple[int, ...]:
        v = self.v[k]
        v = [v] * nd if isinstance(v, int) else v
        if not isinstance(v, list) or len(v) != nd or not all(
                isinstance(x, int) and not isinstance(x, bool) and x >= minimum for x in v):
            raise self.error(f"'{k}' must be an integer or {nd} integers >= {minimum}", k)
        return tuple(v)

    def require(self, k: str, value: Any, why: str) -> None:
        if self.v[k] != value:
            raise self.error(f"{k}={self.v[k]!r} is not supported ({why})", k,
                             hint=f"use {k}={value!r}")

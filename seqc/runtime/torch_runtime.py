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
torch is imported inside `TorchRunner.load` only: importing seqc never imports it.
"""

from __future__ import annotations

import importlib.util
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import DataError, UsageError
from .runners import NUMPY_BATCH, ModelSource, Predict, Runner

INSTALL_HINT = "pip install 'seqc[crosscheck]'"

# Bound on first use by _import_torch(); module-level so the builders below read naturally.
torch: Any = None
nn: Any = None
F: Any = None


def _import_torch() -> None:
    global torch, nn, F
    if torch is None:
        import torch as _torch
        import torch.nn.functional as _functional

        torch, nn, F = _torch, _torch.nn, _functional


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
        _import_torch()
        if intra_op_num_threads is not None:
            torch.set_num_threads(int(intra_op_num_threads))
        module = build_module(src.graph, src.params)
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
    _import_torch()
    steps = []
    for node in graph.nodes:
        p = {local: params[node.param_key(local)] for local in node.params}
        in_type = graph.types[node.inputs[0]]
        out_type = graph.types[node.outputs[0]]
        label = f"layer '{node.layer or node.name}' ({node.op})"
        b = Builder(label, in_type, node.inputs[0] in graph.masked)
        fn = b.build(node.op, node.attrs, p)
        mask_fn = None
        if node.outputs[0] in graph.masked:
            mask_fn = _mask_rule(node.op, node.attrs)
        cast = out_type.dtype.startswith("float") and node.op != "Embedding"
        steps.append(_step_class()(node.name, fn, b.modules, cast, mask_fn))
    model = _model_class()(graph, steps)
    return model.eval()


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
                g = self.graph
                env = {g.inputs[0]: x}
                masks: dict[str, Any] = {}
                for node, step in zip(g.nodes, self.steps):
                    xin = env[node.inputs[0]]
                    mask = masks.get(node.inputs[0])
                    env[node.outputs[0]] = step(xin, mask)
                    if step.mask_fn is not None:
                        masks[node.outputs[0]] = step.mask_fn(xin, mask)
                return env[g.outputs[0]]

        _CLASSES["Model"] = SeqcTorchModel
    return _CLASSES["Model"]


def _mask_rule(kind: str, a: Any) -> Callable:
    """The output mask of a node whose output is masked (Keras' compute_mask)."""
    if kind == "Masking":
        return lambda x, m: (x != a.mask_value).any(dim=-1)
    if kind == "Embedding":
        return lambda x, m: x != 0
    return lambda x, m: m  # pass-through (recurrent layers with return_sequences included)


# ---- helpers ----

def _t(v: Any) -> Any:
    return torch.from_numpy(np.array(v, dtype=np.float32))


def _channels_last(a: Any) -> bool:
    return getattr(a, "data_format", "channels_last") != "channels_first"


def _to_cf(x: Any, a: Any) -> Any:
    """The IR tensor as torch's (N, C, *spatial)."""
    return x.movedim(-1, 1) if _channels_last(a) else x


def _from_cf(y: Any, a: Any) -> Any:
    return y.movedim(1, -1) if _channels_last(a) else y


def keras_pads(sizes: tuple[int, ...], kernel: tuple[int, ...], strides: tuple[int, ...],
               dilation: tuple[int, ...], padding: str) -> list[tuple[int, int]]:
    """Keras/TF padding per spatial axis: 'same' pads max((ceil(n/s) - 1) s + k_eff - n, 0)
    with the odd pixel after; 'causal' pads k_eff - 1 before; 'valid' nothing."""
    pads = []
    for n, k, s, d in zip(sizes, kernel, strides, dilation):
        ke = (k - 1) * d + 1
        if padding == "same":
            total = max((-(-n // s) - 1) * s + ke - n, 0)
            pads.append((total // 2, total - total // 2))
        elif padding == "causal":
            pads.append((ke - 1, 0))
        else:
            pads.append((0, 0))
    return pads


def _fpad(pads: list[tuple[int, int]]) -> list[int]:
    """Per-axis (before, after) -> F.pad's list, which starts at the last axis."""
    out: list[int] = []
    for b, e in reversed(pads):
        out += [b, e]
    return out


def _pad_spatial(xcf: Any, pads: list[tuple[int, int]], value: float = 0.0) -> Any:
    if not any(b or e for b, e in pads):
        return xcf
    return F.pad(xcf, _fpad(pads), value=value)


def _conv_fn(nd: int) -> Callable:
    return {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}[nd]


def _conv_weight(kernel: np.ndarray) -> Any:
    """Keras (*k, in, out) -> torch (out, in, *k)."""
    nd = kernel.ndim - 2
    return _t(kernel).permute(nd + 1, nd, *range(nd)).contiguous()


def _bias_cf(b: Any, nd: int) -> Any:
    return b.reshape(1, -1, *(1,) * nd)


# ---- activations (Keras 3 definitions, torch's own functions) ----

def _relu(negative_slope: float = 0.0, max_value: float | None = None,
          threshold: float = 0.0) -> Callable:
    def f(x: Any) -> Any:
        if threshold:
            # Keras: x if x > threshold else negative_slope * (x - threshold)
            y = torch.where(x > threshold, x, negative_slope * (x - threshold))
        elif negative_slope:
            y = F.leaky_relu(x, negative_slope)
        else:
            y = F.relu(x)
        return y if max_value is None else torch.clamp(y, max=max_value)
    return f


def activation(spec: Any) -> Callable | None:
    """Keras activation (canonical seqc spec: a name or {"type": name, **kwargs}) as a torch
    function; None when torch has no exact equivalent."""
    name = spec if isinstance(spec, str) else spec["type"]
    kw = {} if isinstance(spec, str) else {k: v for k, v in spec.items() if k != "type"}
    axis = int(kw.get("axis", -1))
    table: dict[str, Callable[[], Callable]] = {
        "linear": lambda: (lambda x: x),
        "relu": lambda: _relu(**kw),
        "leaky_relu": lambda: (lambda x: F.leaky_relu(x, kw.get("negative_slope", 0.2))),
        "sigmoid": lambda: torch.sigmoid,
        "tanh": lambda: torch.tanh,
        "softmax": lambda: (lambda x: F.softmax(x, dim=axis)),
        "log_softmax": lambda: (lambda x: F.log_softmax(x, dim=axis)),
        "elu": lambda: (lambda x: F.elu(x, alpha=kw.get("alpha", 1.0))),
        "selu": lambda: F.selu,
        "gelu": lambda: (lambda x: F.gelu(
            x, approximate="tanh" if kw.get("approximate") else "none")),
        "silu": lambda: F.silu,
        "swish": lambda: F.silu,
        "softplus": lambda: F.softplus,
        "softsign": lambda: F.softsign,
        "exponential": lambda: torch.exp,
        "relu6": lambda: F.relu6,
        "mish": lambda: F.mish,
        "hard_sigmoid": lambda: F.hardsigmoid,  # Keras 3: relu6(x + 3) / 6
        "hard_silu": lambda: F.hardswish,
        "hard_swish": lambda: F.hardswish,
    }
    make = table.get(name)
    return None if make is None else make()


# ---- the builder: one IR node -> fn(x, mask) ----

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
        method = getattr(self, "_" + kind, None)
        if method is None:
            for prefix, family in _FAMILIES:
                if kind.startswith(prefix):
                    method = getattr(self, family)
                    break
        if method is None:
            raise self.refuse(kind)
        return method(kind, a, p)

    # -- core --

    def _InputLayer(self, kind, a, p):
        return lambda x, m: x

    def _Dense(self, kind, a, p):
        k = p["kernel"]
        lin = nn.Linear(k.shape[0], k.shape[1], bias=a.use_bias)
        with torch.no_grad():
            lin.weight.copy_(_t(k).T)
            if a.use_bias:
                lin.bias.copy_(_t(p["bias"]))
        self.modules.append(lin)
        return lambda x, m: lin(x)

    def _Activation(self, kind, a, p):
        f = activation(a.activation)
        if f is None:
            raise self.refuse(f"Activation({a.activation!r})")
        return lambda x, m: f(x)

    def _ReLU(self, kind, a, p):
        f = _relu(a.negative_slope, a.max_value, a.threshold)
        return lambda x, m: f(x)

    def _LeakyReLU(self, kind, a, p):
        return lambda x, m: F.leaky_relu(x, a.negative_slope)

    def _ELU(self, kind, a, p):
        return lambda x, m: F.elu(x, alpha=a.alpha)

    def _Softmax(self, kind, a, p):
        return lambda x, m: F.softmax(x, dim=a.axis)

    def _PReLU(self, kind, a, p):
        alpha = _t(p["alpha"])  # input.shape[1:], shared axes 1: broadcasts over the batch
        return lambda x, m: torch.where(x >= 0, x, alpha * x)

    def _identity(self, kind, a, p):
        # Dropout and noise layers are the identity at inference.
        if kind == "Dropout":
            drop = nn.Dropout(a.rate)
            self.modules.append(drop)  # eval mode: torch's Dropout passes x through
            return lambda x, m: drop(x)
        return lambda x, m: x

    _Dropout = _GaussianDropout = _GaussianNoise = _identity

    def _Masking(self, kind, a, p):
        return lambda x, m: x * (x != a.mask_value).any(dim=-1, keepdim=True).to(x.dtype)

    def _Embedding(self, kind, a, p):
        emb = nn.Embedding(a.input_dim, a.output_dim)
        with torch.no_grad():
            emb.weight.copy_(_t(p["embeddings"]))
        self.modules.append(emb)

        def f(x, m):
            ids = x.long() if not torch.is_floating_point(x) else x.trunc().long()
            bad = (ids < 0) | (ids >= a.input_dim)
            if bool(bad.any()):
                value = ids[bad][0].item()
                raise DataError(f"Embedding ids must be in [0, input_dim) = [0, {a.input_dim})",
                                field="input", received=f"id {value}")
            return emb(ids)
        return f

    # -- reshaping --

    def _Flatten(self, kind, a, p):
        def f(x, m):
            if a.data_format == "channels_first" and x.dim() > 2:
                x = x.movedim(1, -1)  # Keras flattens channels_first data in channels-last order
            return x.reshape(x.shape[0], -1)
        return f

    def _Reshape(self, kind, a, p):
        return lambda x, m: x.reshape(x.shape[0], *a.target_shape)

    def _Permute(self, kind, a, p):
        return lambda x, m: x.permute(0, *a.dims)

    def _RepeatVector(self, kind, a, p):
        return lambda x, m: x.unsqueeze(1).expand(-1, a.n, -1)

    def _Rescaling(self, kind, a, p):
        scale, offset = _t(a.scale), _t(a.offset)
        return lambda x, m: x * scale + offset

    def _Normalization(self, kind, a, p):
        rank = self.in_type.rank
        keep = sorted({d % rank for d in a.axis})

        def placed(v: Any) -> Any:
            # Keras: a given mean/variance lines its dims up with the last kept axes; adapted
            # weights have one entry per kept axis.
            v = np.asarray(v, np.float32)
            shape = [1] * rank
            for i in range(1, v.ndim + 1):
                shape[keep[-i]] = v.shape[-i]
            return _t(v.reshape(shape))

        mean, var = ((a.mean, a.variance) if a.mean is not None
                     else (p["mean"], p["variance"]))
        mean, var = placed(mean), placed(var)
        denom = torch.clamp(torch.sqrt(var), min=1e-7)  # keras.config.epsilon()
        if a.invert:
            return lambda x, m: mean + x * denom
        return lambda x, m: (x - mean) / denom

    # -- normalization --

    def _BatchNormalization(self, kind, a, p):
        mean, var = _t(p["moving_mean"]), _t(p["moving_variance"])
        gamma = _t(p["gamma"]) if a.scale else None
        beta = _t(p["beta"]) if a.center else None

        def f(x, m):
            ax = a.axis % x.dim()
            xm = x.movedim(ax, 1)  # F.batch_norm normalizes axis 1
            y = F.batch_norm(xm, mean, var, gamma, beta, training=False, eps=a.epsilon)
            return y.movedim(1, ax)
        return f

    def _LayerNormalization(self, kind, a, p):
        rank = self.in_type.rank
        axes = sorted(d % rank for d in a.axis)
        rest = [d for d in range(rank) if d not in axes]
        perm = rest + axes
        inverse = list(np.argsort(perm))

        def bshape(x):
            return [x.shape[d] if d in axes else 1 for d in range(rank)]
        # Keras reshapes its weights (shape[d] for d in sorted(axis) as written) row-major
        # into the broadcast shape.
        gamma = _t(p["gamma"]) if "gamma" in p else None
        beta = _t(p["beta"]) if "beta" in p else None

        def f(x, m):
            if a.rms_scaling:
                var = torch.var(x, dim=axes, unbiased=False, keepdim=True)
                y = x * torch.rsqrt(var + a.epsilon)
            else:
                xt = x.permute(perm)
                y = F.layer_norm(xt, xt.shape[len(rest):], eps=a.epsilon).permute(inverse)
            if gamma is not None:
                y = y * gamma.reshape(bshape(x))
            if beta is not None:
                y = y + beta.reshape(bshape(x))
            return y
        return f

    # -- convolutions --

    def _conv(self, kind, a, p):
        if kind.endswith("Transpose"):
            return self._conv_transpose(kind, a, p)
        nd = len(a.kernel_size)
        conv = _conv_fn(nd)
        if kind.startswith("Depthwise") or kind.startswith("Separable"):
            dk = p["kernel" if kind.startswith("Depthwise") else "depthwise_kernel"]
            c, dm = dk.shape[-2:]
            # (*k, C, dm) -> (C*dm, 1, *k): output channel c*dm + j, as Keras/TF order them.
            w = _t(dk.reshape(*dk.shape[:-2], c * dm)).permute(nd, *range(nd)).unsqueeze(1)
            w, groups = w.contiguous(), c
        else:
            w, groups = _conv_weight(p["kernel"]), a.groups
        bias = _t(p["bias"]) if a.use_bias else None
        pw = None
        if kind.startswith("Separable"):
            pw = _conv_weight(p["pointwise_kernel"])
            conv_bias, pw_bias = None, bias
        else:
            conv_bias, pw_bias = bias, None

        def f(x, m):
            xcf = _to_cf(x, a)
            pads = keras_pads(tuple(xcf.shape[2:]), a.kernel_size, a.strides, a.dilation_rate,
                              a.padding)
            y = conv(_pad_spatial(xcf, pads), w, conv_bias, stride=a.strides,
                     dilation=a.dilation_rate, groups=groups)
            if pw is not None:
                y = conv(y, pw, pw_bias)
            return _from_cf(y, a)
        return f

    def _conv_transpose(self, kind, a, p):
        nd = len(a.kernel_size)
        convt = {1: F.conv_transpose1d, 2: F.conv_transpose2d, 3: F.conv_transpose3d}[nd]
        k = p["kernel"]  # Keras (*k, filters, in): the adjoint of a conv from filters to in
        w = _t(k).permute(nd + 1, nd, *range(nd)).contiguous()  # torch (in, filters, *k)
        bias = _t(p["bias"]) if a.use_bias else None
        crops = []
        for i in range(nd):
            ke = (a.kernel_size[i] - 1) * a.dilation_rate[i] + 1
            s = a.strides[i]
            op = None if a.output_padding is None else a.output_padding[i]
            # Keras' output size rule (as its JAX/TF backends: the transposed conv is a conv of
            # the stride-dilated input padded by (left, right)); torch's full transposed conv
            # is that input padded by ke - 1 on both sides, so crop the difference (a negative
            # crop appends zeros).
            if a.padding == "valid":
                left, right = ke - 1, ke - 1 + (max(ke, s) - ke if op is None else op)
            else:
                total = s + ke - 2 if op is None else ke + ke % 2 - 2 + op
                left = min(total // 2 + total % 2, ke - 1)
                right = total - left
            crops.append((ke - 1 - left, ke - 1 - right))

        def f(x, m):
            y = convt(_to_cf(x, a), w, None, stride=a.strides, dilation=a.dilation_rate)
            y = F.pad(y, _fpad([(-b, -e) for b, e in crops]))  # negative pads crop
            if bias is not None:
                y = y + _bias_cf(bias, nd)
            return _from_cf(y, a)
        return f

    # -- pooling --

    def _pool(self, kind, a, p):
        if kind.startswith("Global"):
            return self._global_pool(kind, a, p)
        nd = len(a.pool_size)
        ones = (1,) * nd
        if kind.startswith("Max"):
            pool = {1: F.max_pool1d, 2: F.max_pool2d, 3: F.max_pool3d}[nd]

            def f(x, m):
                xcf = _to_cf(x, a)
                pads = keras_pads(tuple(xcf.shape[2:]), a.pool_size, a.strides, ones, a.padding)
                y = pool(_pad_spatial(xcf, pads, -math.inf), a.pool_size, a.strides)
                return _from_cf(y, a)
            return f
        avg = {1: F.avg_pool1d, 2: F.avg_pool2d, 3: F.avg_pool3d}[nd]

        def g(x, m):
            xcf = _to_cf(x, a)
            pads = keras_pads(tuple(xcf.shape[2:]), a.pool_size, a.strides, ones, a.padding)
            y = avg(_pad_spatial(xcf, pads), a.pool_size, a.strides)
            if any(b or e for b, e in pads):
                # Keras averages the real pixels only: divide by the share of each window
                # that lies inside the input.
                inside = torch.ones((1, 1, *xcf.shape[2:]), dtype=xcf.dtype)
                y = y / avg(_pad_spatial(inside, pads), a.pool_size, a.strides)
            return _from_cf(y, a)
        return g

    def _global_pool(self, kind, a, p):
        rank = self.in_type.rank
        axes = list(range(1, rank - 1)) if _channels_last(a) else list(range(2, rank))
        average = "Average" in kind

        def f(x, m):
            if average and m is not None:
                w = m.to(x.dtype).unsqueeze(-1)  # (N, T, 1): the valid steps only (Keras)
                y = (x * w).sum(dim=1, keepdim=True) / w.sum(dim=1, keepdim=True)
            else:
                y = x.mean(dim=axes, keepdim=True) if average else x.amax(dim=axes,
                                                                          keepdim=True)
            return y if a.keepdims else y.reshape(x.shape[0], -1)
        return f

    # -- padding, cropping, upsampling --

    def _spatial_axes(self, a, nd):
        first = 1 if _channels_last(a) else 2
        return list(range(first, first + nd))

    def _pairs(self, v, nd):
        return [tuple(v)] if nd == 1 else [tuple(e) for e in v]

    def _resize(self, kind, a, p):
        nd = int(kind[-2])
        axes = self._spatial_axes(a, nd)
        rank = self.in_type.rank
        if kind.startswith("ZeroPadding") or kind.startswith("Cropping"):
            crop = kind.startswith("Cropping")
            pairs = self._pairs(a.cropping if crop else a.padding, nd)
            per_axis = [(0, 0)] * rank
            for ax, (b, e) in zip(axes, pairs):
                per_axis[ax] = (-b, -e) if crop else (b, e)
            lst = _fpad(per_axis[1:])  # F.pad never touches the batch axis here
            return lambda x, m: F.pad(x, lst)
        sizes = a.size if isinstance(a.size, tuple) else (a.size,)
        if getattr(a, "interpolation", "nearest") == "bilinear":
            def bilinear(x, m):
                # Keras: ops.image.resize(antialias=False), half-pixel centres = torch's
                # align_corners=False.
                y = F.interpolate(_to_cf(x, a), scale_factor=tuple(float(s) for s in sizes),
                                  mode="bilinear", align_corners=False)
                return _from_cf(y, a)
            return bilinear

        def nearest(x, m):
            for ax, s in zip(axes, sizes):
                if s != 1:
                    x = torch.repeat_interleave(x, s, dim=ax)
            return x
        return nearest

    # -- recurrent --

    def _rnn(self, kind, a, p, *, prefix: str = "") -> Callable:
        u = a.units
        if kind == "GRU" and not a.reset_after:
            raise self.refuse("GRU(reset_after=False)",
                              hint="torch's GRU applies the reset gate after the recurrent "
                                   "matmul (Keras' reset_after=True, the default)")
        if kind == "SimpleRNN":
            if a.activation not in ("tanh", "relu"):
                raise self.refuse(f"SimpleRNN(activation={a.activation!r})",
                                  hint="torch's RNN supports activation 'tanh' or 'relu'")
        elif a.activation != "tanh" or a.recurrent_activation != "sigmoid":
            raise self.refuse(
                f"{kind}(activation={a.activation!r}, "
                f"recurrent_activation={a.recurrent_activation!r})",
                hint=f"torch's {kind} uses activation 'tanh' and recurrent_activation "
                     "'sigmoid' (Keras' defaults)")
        kernel = p[prefix + "kernel"]
        rec = p[prefix + "recurrent_kernel"]
        bias = p.get(prefix + "bias") if a.use_bias else None
        f_in = kernel.shape[0]
        gates = kernel.shape[1] // u
        b_in = b_rec = None
        if kind == "GRU":
            order = np.r_[u:2 * u, 0:u, 2 * u:3 * u]  # Keras z,r,h -> torch r,z,n
            kernel, rec = kernel[:, order], rec[:, order]
            if bias is not None:
                b_in, b_rec = bias[0][order], bias[1][order]
        elif bias is not None:  # LSTM gates i,f,c,o are torch's i,f,g,o
            b_in, b_rec = bias, np.zeros_like(bias)
        assert kernel.shape[1] == gates * u
        if kind == "SimpleRNN":
            seq = nn.RNN(f_in, u, nonlinearity=a.activation, bias=a.use_bias,
                         batch_first=True)
            cell = nn.RNNCell(f_in, u, bias=a.use_bias, nonlinearity=a.activation)
        else:
            seq = getattr(nn, kind)(f_in, u, bias=a.use_bias, batch_first=True)
            cell = getattr(nn, kind + "Cell")(f_in, u, bias=a.use_bias)
        with torch.no_grad():
            for w_name, arr in (("weight_ih", kernel.T), ("weight_hh", rec.T),
                                ("bias_ih", b_in), ("bias_hh", b_rec)):
                if arr is None:
                    continue
                getattr(seq, w_name + "_l0").copy_(_t(arr))
                getattr(cell, w_name).copy_(_t(arr))
        self.modules += [seq, cell]
        lstm = kind == "LSTM"

        def f(x, m):
            if a.go_backwards:
                x = x.flip(1)
                m = None if m is None else m.flip(1)
            if m is None:
                out, _ = seq(x)
                return out if a.return_sequences else out[:, -1]
            # Keras' masks: a masked step keeps the state and repeats the previous output
            # (zeros with zero_output_for_mask); torch's packed sequences only model
            # right-padding, so step through torch's cell instead.
            n, t = x.shape[:2]
            h = x.new_zeros(n, u)
            c = x.new_zeros(n, u) if lstm else None
            outs = []
            for i in range(t):
                valid = m[:, i:i + 1]
                if lstm:
                    h_new, c_new = cell(x[:, i], (h, c))
                    c = torch.where(valid, c_new, c)
                else:
                    h_new = cell(x[:, i], h)
                h = torch.where(valid, h_new, h)
                outs.append(torch.where(valid, h, torch.zeros_like(h))
                            if a.zero_output_for_mask else h)
            return torch.stack(outs, 1) if a.return_sequences else outs[-1]
        return f

    def _SimpleRNN(self, kind, a, p):
        return self._rnn(kind, a, p)

    _LSTM = _GRU = _SimpleRNN

    def _Bidirectional(self, kind, a, p):
        from ..ops.bidirectional import layers

        (fw_op, fa), (bw_op, ba) = layers(a)
        fw = self._rnn(fw_op.kind, fa, p, prefix="forward/")
        bw = self._rnn(bw_op.kind, ba, p, prefix="backward/")
        mode = a.merge_mode

        def f(x, m):
            yf, yb = fw(x, m), bw(x, m)
            if fa.return_sequences:
                yb = yb.flip(1)  # back into time order, as Keras
            if mode == "concat":
                return torch.cat([yf, yb], dim=-1)
            if mode == "sum":
                return yf + yb
            if mode == "ave":
                return (yf + yb) / 2
            if mode == "mul":
                return yf * yb
            raise self.refuse(f"Bidirectional(merge_mode={mode!r})")
        return f

    def _TimeDistributed(self, kind, a, p):
        from ..ir.types import TensorType
        from ..ops.time_distributed import inner

        op, attrs, act = inner(a)
        sub = Builder(f"{self.label[:-1]}, wrapping {op.kind})",
                      TensorType((None, *self.in_type.shape[2:]), self.in_type.dtype), False,
                      self.modules)
        fn = sub.build(op.kind, attrs, p)
        act_fn = None
        if act is not None:
            act_fn = activation(act.activation)
            if act_fn is None:
                raise self.refuse(f"Activation({act.activation!r})")

        def f(x, m):
            n, t = x.shape[:2]
            y = fn(x.reshape(n * t, *x.shape[2:]), None)
            if act_fn is not None:
                y = act_fn(y)
            return y.reshape(n, t, *y.shape[1:])
        return f


# Kind-name prefixes handled by one method of Builder (checked in order).
_FAMILIES = (
    ("SpatialDropout", "_identity"),
    ("Conv", "_conv"), ("DepthwiseConv", "_conv"), ("SeparableConv", "_conv"),
    ("MaxPooling", "_pool"), ("AveragePooling", "_pool"),
    ("GlobalMaxPooling", "_pool"), ("GlobalAveragePooling", "_pool"),
    ("ZeroPadding", "_resize"), ("Cropping", "_resize"), ("UpSampling", "_resize"),
)

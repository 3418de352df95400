"""Torch builders for the core kinds: Dense (nn.Linear, kernel (in, out) -> weight (out, in)),
Highway, activations, the kinds that are the identity at inference (the `inference_identity`
facet), AutoContrast, Masking, Embedding, reshaping (with PyTorch's own affine_grid and
grid_sample), Rescaling, Normalization, BatchNormalization, LayerNormalization,
GroupNormalization and UnitNormalization. Each builder returns fn(x, mask)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import DataError
from ._torch_base import F, nn, relu, tensor, torch

if TYPE_CHECKING:
    from .torch_runtime import Builder


def dense(b: Builder, kind: str, a: Any, p: dict) -> Callable:
    k = p["kernel"]
    lin = nn.Linear(k.shape[0], k.shape[1], bias=a.use_bias)
    with torch.no_grad():
        lin.weight.copy_(tensor(k).T)
        if a.use_bias:
            lin.bias.copy_(tensor(p["bias"]))
    b.modules.append(lin)
    return lambda x, m: lin(x)


def highway(b: Builder, kind: str, a: Any, p: dict) -> Callable:
    """y = t * (h - x) + x, h = act(x @ kernel + bias), t = sigmoid(x @ transform_kernel + ...)."""
    f = b.activation(a.activation)
    w = tensor(np.concatenate([p["kernel"], p["transform_kernel"]], axis=1))
    bias = tensor(np.concatenate([p["bias"], p["transform_bias"]])) if a.use_bias else None

    def run(x: Any, m: Any) -> Any:
        z = x @ w if bias is None else x @ w + bias
        zh, zt = torch.chunk(z, 2, dim=-1)
        return torch.sigmoid(zt) * (f(zh) - x) + x
    return run


def activation_layer(b: Builder, kind: str, a: Any, p: dict) -> Callable:
    f = b.activation(a.activation)
    return lambda x, m: f(x)


def relu_layer(b: Builder, kind: str, a: Any, p: dict) -> Callable:
    f = relu(a.negative_slope, a.max_value, a.threshold)
    return lambda x, m: f(x)


def leaky_relu(b: Builder, kind: str, a: Any, p: dict) -> Callable:
    return lambda x, m: F.leaky_relu(x, a.negative_slope)


def elu(b: Builder, kind: str, a: Any, p: dict) -> Callable:
    return lambda x, m: F.elu(x, alpha=a.alpha)


def softmax(b: Builder, kind: str, a: Any, p: dict) -> Callable:
    return lambda x, m: F.softmax(x, dim=a.axis)


def prelu(b: Builder, kind: str, a: Any, p: dict) -> Callable:
    alpha = tensor(p["alpha"])  # input.shape[1:], shared axes 1: broadcasts over the batch
    return lambda x, m: torch.where(x >= 0, x, alpha * x)


def identity(b: Builder, kind: str, a: Any, p: dict) -> Callable:
    """Every kind with the `inference_identity` facet (Dropout, noise and augmentation layers,
    Identity): its input passed through."""
    return lambda x, m: x


def masking(b: Builder, kind: str, a: Any, p: dict) -> Callable:
    return lambda x, m: x * (x != a.mask_value).any(dim=-1, keepdim=True).to(x.dtype)


def embedding(b: Builder, kind: str, a: Any, p: dict) -> Callable:
    emb = nn.Embedding(a.input_dim, a.output_dim)
    with torch.no_grad():
        emb.weight.copy_(tensor(p["embeddings"]))
    b.modules.append(emb)

    def f(x, m):
        ids = x.long() if not torch.is_floating_point(x) else x.trunc().long()
        bad = (ids < 0) | (ids >= a.input_dim)
        if bool(bad.any()):
            value = ids[bad][0].item()
            raise DataError(f"Embedding ids must be in [0, input_dim) = [0, {a.input_dim})",
                            field="input", received=f"id {value}")
        return emb(ids)
    return f


# ---- reshaping ----

def flatten(b: Builder, kind: str, a: Any, p: dict) -> Callable:
    def f(x, m):
        if a.data_format == "channels_first" and x.dim() > 2:
            x = x.movedim(1, -1)  # Keras flattens channels_first data in channels-last order
        return x.reshape(x.shape[0], -1)
    return f


def reshape(b: Builder, kind: str, a: Any, p: dict) -> Callable:
    return lambda x, m: x.reshape(x.shape[0], *a.target_shape)


def permute(b: Builder, kind: str, a: Any, p: dict) -> Callable:
    return lambda x, m: x.permute(0, *a.dims)


def pixel_shuffle(b: Builder, kind: str, a: Any, p: dict) -> Callable:
    return lambda x, m: F.pixel_shuffle(x, a.upscale_factor)


def affine_grid(b: Builder, kind: str, a: Any, p: dict) -> Callable:
    import warnings

    def f(x, m):
        with warnings.catch_warnings():  # a unit-size grid with corners: seqc's own rule too
            warnings.filterwarnings("ignore", "Since version 1.3.0, affine_grid")
            return F.affine_grid(x, [x.shape[0], 1, *a.size], align_corners=a.align_corners)
    return f


def grid_sample(b: Builder, kind: str, a: Any, p: dict) -> Callable:
    def f(xs, ms):
        x, grid = xs
        first = a.data_format == "channels_first"
        y = F.grid_sample(x if first else x.movedim(-1, 1), grid, mode=a.mode,
                          padding_mode=a.padding_mode, align_corners=a.align_corners)
        return y if first else y.movedim(1, -1)
    return f


def repeat_vector(b: Builder, kind: str, a: Any, p: dict) -> Callable:
    return lambda x, m: x.unsqueeze(1).expand(-1, a.n, -1)


# ---- preprocessing and normalization ----

def rescaling(b: Builder, kind: str, a: Any, p: dict) -> Callable:
    scale, offset = tensor(a.scale), tensor(a.offset)
    return lambda x, m: x * scale + offset


def normalization(b: Builder, kind: str, a: Any, p: dict) -> Callable:
    rank = b.in_type.rank
    keep = sorted({d % rank for d in a.axis})

    def placed(v: Any) -> Any:
        # Keras: a given mean/variance lines its dims up with the last kept axes; adapted
        # weights have one entry per kept axis.
        v = np.asarray(v, np.float32)
        shape = [1] * rank
        for i in range(1, v.ndim + 1):
            shape[keep[-i]] = v.shape[-i]
        return tensor(v.reshape(shape))

    mean, var = ((a.mean, a.variance) if a.mean is not None
                 else (p["mean"], p["variance"]))
    mean, var = placed(mean), placed(var)
    denom = torch.clamp(torch.sqrt(var), min=1e-7)  # keras.config.epsilon()
    if a.invert:
        return lambda x, m: mean + x * denom
    return lambda x, m: (x - mean) / denom


def batch_normalization(b: Builder, kind: str, a: Any, p: dict) -> Callable:
    mean, var = tensor(p["moving_mean"]), tensor(p["moving_variance"])
    gamma = tensor(p["gamma"]) if a.scale else None
    beta = tensor(p["beta"]) if a.center else None

    def f(x, m):
        ax = a.axis % x.dim()
        xm = x.movedim(ax, 1)  # F.batch_norm normalizes axis 1
        y = F.batch_norm(xm, mean, var, gamma, beta, training=False, eps=a.epsilon)
        return y.movedim(1, ax)
    return f


def layer_normalization(b: Builder, kind: str, a: Any, p: dict) -> Callable:
    rank = b.in_type.rank
    axes = sorted(d % rank for d in a.axis)
    rest = [d for d in range(rank) if d not in axes]
    perm = rest + axes
    inverse = list(np.argsort(perm))

    def bshape(x):
        return [x.shape[d] if d in axes else 1 for d in range(rank)]
    # Keras reshapes its weights (shape[d] for d in sorted(axis) as written) row-major
    # into the broadcast shape.
    gamma = tensor(p["gamma"]) if "gamma" in p else None
    beta = tensor(p["beta"]) if "beta" in p else None

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


def group_normalization(b: Builder, kind: str, a: Any, p: dict) -> Callable:
    """F.group_norm on the grouped axis moved to axis 1 (its channel axis): torch groups
    consecutive channels, as Keras' reshape (..., groups, channels // groups, ...) does."""
    gamma = tensor(p["gamma"]) if a.scale else None
    beta = tensor(p["beta"]) if a.center else None

    def f(x, m):
        ax = a.axis % x.dim()
        groups = x.shape[ax] if a.groups == -1 else a.groups
        y = F.group_norm(x.movedim(ax, 1), groups, gamma, beta, eps=a.epsilon)
        return y.movedim(1, ax)
    return f


def unit_normalization(b: Builder, kind: str, a: Any, p: dict) -> Callable:
    """Keras' ops.normalize(order=2, epsilon=1e-12): x * min(rsqrt(sum(x^2)), 1 / epsilon)."""
    def f(x, m):
        dims = tuple(sorted(d % x.dim() for d in a.axis))
        inv = torch.rsqrt(torch.sum(torch.square(x), dim=dims, keepdim=True))
        return x * torch.clamp(inv, max=1.0 / 1e-12)
    return f


BUILDERS = {
    "Dense": dense, "Highway": highway, "Activation": activation_layer,
    "ReLU": relu_layer, "LeakyReLU": leaky_relu, "ELU": elu, "Softmax": softmax,
    "PReLU": prelu,
    "Masking": masking, "Embedding": embedding, "Flatten": flatten, "Reshape": reshape,
    "Permute": permute, "PixelShuffle": pixel_shuffle, "RepeatVector": repeat_vector,
    "AffineGrid": affine_grid, "GridSample": grid_sample,
    "Rescaling": rescaling,
    "Normalization": normalization, "BatchNormalization": batch_normalization,
    "LayerNormalization": layer_normalization, "GroupNormalization": group_normalization,
    "UnitNormalization": unit_normalization,
}


def auto_contrast(b: Builder, kind: str, a: Any, p: dict) -> Callable:
    """Keras' AutoContrast (seqc/ops/auto_contrast.py): it applies at inference too."""
    lo, hi = a.value_range
    byte = (lo, hi) == (0.0, 255.0)

    def f(x, m):
        v = x if byte else (x - lo) / (hi - lo) * 255.0
        low, high = v.amin(dim=(1, 2), keepdim=True), v.amax(dim=(1, 2), keepdim=True)
        scale = 255.0 / (high - low)
        y = torch.clip(v * scale + (-low * scale), 0.0, 255.0)
        y = y if byte else y / 255.0 * (hi - lo) + lo
        return torch.where(torch.isnan(y), x, y)
    return f


BUILDERS["AutoContrast"] = auto_contrast

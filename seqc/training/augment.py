"""Random image augmentation while training: Keras' ImageDataGenerator transforms
(keras/src/legacy/preprocessing/image.py), drawn per image from a seeded generator.

Each image (rows, cols, channels) gets its own random rotation, shift, shear and zoom
(one affine map about the image centre, sampled with linear interpolation and the fill
mode at the borders), then flips, then the `rescale` factor, in Keras' order
(get_random_transform, apply_transform, standardize). The affine sampling is written here in
NumPy rather than calling scipy.ndimage.affine_transform as Keras does, so training keeps
seqc's core dependencies; tests compare it with Keras' own apply_transform.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import UsageError

# The ImageDataGenerator arguments seqc runs, with Keras' defaults.
DEFAULTS: dict[str, Any] = {
    "rotation_range": 0, "width_shift_range": 0.0, "height_shift_range": 0.0,
    "shear_range": 0.0, "zoom_range": 0.0, "channel_shift_range": 0.0,
    "horizontal_flip": False, "vertical_flip": False, "fill_mode": "nearest", "cval": 0.0,
    "rescale": None}
FILL_MODES = ("nearest", "constant", "reflect", "wrap")


def _number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def check(cfg: dict) -> dict:
    """The augmentation settings with Keras' defaults filled in; UsageError names a bad one."""
    unknown = sorted(set(cfg) - set(DEFAULTS))
    if unknown:
        raise UsageError(f"augmentation has no setting {unknown[0]!r}", field="augmentation",
                         received=f"{unknown[0]}={cfg[unknown[0]]!r}",
                         hint=f"the settings are {', '.join(DEFAULTS)}")
    out = {**DEFAULTS, **cfg}
    for k in ("rotation_range", "shear_range", "channel_shift_range", "cval"):
        if not _number(out[k]):
            raise UsageError(f"augmentation {k} must be a number", field=k,
                             received=repr(out[k]))
    for k in ("width_shift_range", "height_shift_range"):
        v = out[k]
        if not (_number(v) or (isinstance(v, list) and v and all(_number(e) for e in v))):
            raise UsageError(f"augmentation {k} must be a number or a list of numbers",
                             field=k, received=repr(v))
    z = out["zoom_range"]
    if not (_number(z) or (isinstance(z, (list, tuple)) and len(z) == 2 and all(
            _number(e) for e in z))):
        raise UsageError("augmentation zoom_range must be a number or two numbers",
                         field="zoom_range", received=repr(z))
    for k in ("horizontal_flip", "vertical_flip"):
        if not isinstance(out[k], bool):
            raise UsageError(f"augmentation {k} must be true or false", field=k,
                             received=repr(out[k]))
    if out["fill_mode"] not in FILL_MODES:
        raise UsageError("augmentation fill_mode is not one seqc runs", field="fill_mode",
                         received=repr(out["fill_mode"]),
                         hint=f"use one of {', '.join(FILL_MODES)}")
    if out["rescale"] is not None and not _number(out["rescale"]):
        raise UsageError("augmentation rescale must be a number", field="rescale",
                         received=repr(out["rescale"]))
    return out


def _shift(r: Any, size: int, rng: np.random.Generator) -> float:
    """Keras' draw for a shift range: a float r is uniform in [-r, r), an int or a list is a
    choice (times a random sign); a range below 1 is a fraction of the image size."""
    if isinstance(r, list) or (isinstance(r, int) and not isinstance(r, bool)):
        t = float(rng.choice(r)) * float(rng.choice([-1, 1]))
    else:
        t = float(rng.uniform(-r, r))
    return t * size if np.max(r) < 1 else t


def random_transform(cfg: dict, shape: tuple, rng: np.random.Generator) -> dict:
    """One image's transform parameters (Keras' get_random_transform, drawn from `rng`)."""
    zoom = cfg["zoom_range"]
    lo, hi = (1 - zoom, 1 + zoom) if _number(zoom) else zoom
    theta = float(rng.uniform(-cfg["rotation_range"], cfg["rotation_range"])) \
        if cfg["rotation_range"] else 0.0
    tx = _shift(cfg["height_shift_range"], shape[0], rng) if cfg["height_shift_range"] else 0.0
    ty = _shift(cfg["width_shift_range"], shape[1], rng) if cfg["width_shift_range"] else 0.0
    shear = float(rng.uniform(-cfg["shear_range"], cfg["shear_range"])) \
        if cfg["shear_range"] else 0.0
    zx, zy = (1.0, 1.0) if lo == 1 and hi == 1 else (float(v) for v in rng.uniform(lo, hi, 2))
    csr = cfg["channel_shift_range"]
    return {"theta": theta, "tx": tx, "ty": ty, "shear": shear, "zx": zx, "zy": zy,
            "flip_horizontal": bool(rng.random() < 0.5) and cfg["horizontal_flip"],
            "flip_vertical": bool(rng.random() < 0.5) and cfg["vertical_flip"],
            "channel_shift_intensity": float(rng.uniform(-csr, csr)) if csr else None}


def _matrix(p: dict, h: int, w: int) -> np.ndarray | None:
    """Keras' apply_affine_transform matrix (rotation, shift, shear, zoom, composed in that
    order about the centre), in array (row, col) coordinates; None for the identity."""
    m = np.eye(3)
    if p.get("theta", 0):
        t = np.deg2rad(p["theta"])
        m = m @ np.array([[np.cos(t), -np.sin(t), 0], [np.sin(t), np.cos(t), 0], [0, 0, 1]])
    if p.get("tx", 0) or p.get("ty", 0):
        m = m @ np.array([[1, 0, p.get("tx", 0)], [0, 1, p.get("ty", 0)], [0, 0, 1]])
    if p.get("shear", 0):
        s = np.deg2rad(p["shear"])
        m = m @ np.array([[1, -np.sin(s), 0], [0, np.cos(s), 0], [0, 0, 1]])
    if p.get("zx", 1) != 1 or p.get("zy", 1) != 1:
        m = m @ np.array([[p.get("zx", 1), 0, 0], [0, p.get("zy", 1), 0], [0, 0, 1]])
    if all(p.get(k, d) == d for k, d in (("theta", 0), ("tx", 0), ("ty", 0), ("shear", 0),
                                          ("zx", 1), ("zy", 1))):
        return None
    ox, oy = h / 2 - 0.5, w / 2 - 0.5
    m = np.array([[1, 0, ox], [0, 1, oy], [0, 0, 1]]) @ m @ np.array(
        [[1, 0, -ox], [0, 1, -oy], [0, 0, 1]])
    # Keras swaps the x and y axes (channels-last images have col_axis > row_axis).
    m[:, [0, 1]] = m[:, [1, 0]]
    m[[0, 1]] = m[[1, 0]]
    return m


def _index(i: np.ndarray, n: int, mode: str) -> np.ndarray:
    """Integer sample positions mapped into [0, n) the way scipy.ndimage extends a border."""
    if mode == "reflect":  # d c b a | a b c d | d c b a
        period = 2 * n
        i = np.mod(i, period)
        return np.where(i >= n, period - 1 - i, i)
    return np.clip(i, 0, n - 1)


def _wrap(r: np.ndarray, n: int) -> np.ndarray:
    """scipy.ndimage's "wrap" for linear interpolation: period n - 1 (the first and last pixels
    meet at the seam); a position below 0 folds into (0, n - 1], one above n - 1 into
    [0, n - 1)."""
    if n == 1:
        return np.zeros_like(r)
    f = np.mod(r, n - 1)
    return np.where(r < 0, np.where(f == 0, n - 1, f), np.where(r > n - 1, f, r))


def apply_affine(x: np.ndarray, m: np.ndarray, fill_mode: str = "nearest",
                 cval: float = 0.0) -> np.ndarray:
    """Sample image x (rows, cols, channels) at m @ (row, col, 1) for every output pixel with
    linear interpolation (scipy.ndimage.affine_transform with order=1, per channel)."""
    h, w = x.shape[:2]
    rr, cc = np.meshgrid(np.arange(h, dtype=np.float64), np.arange(w, dtype=np.float64),
                         indexing="ij")
    r = m[0, 0] * rr + m[0, 1] * cc + m[0, 2]
    c = m[1, 0] * rr + m[1, 1] * cc + m[1, 2]
    if fill_mode == "wrap":
        r, c = _wrap(r, h), _wrap(c, w)
    r0, c0 = np.floor(r), np.floor(c)
    fr, fc = (r - r0)[..., None], (c - c0)[..., None]
    r0, c0 = r0.astype(np.int64), c0.astype(np.int64)
    ri = [_index(r0, h, fill_mode), _index(r0 + 1, h, fill_mode)]
    ci = [_index(c0, w, fill_mode), _index(c0 + 1, w, fill_mode)]
    xf = x.astype(np.float64)
    out = ((1 - fr) * ((1 - fc) * xf[ri[0], ci[0]] + fc * xf[ri[0], ci[1]])
           + fr * ((1 - fc) * xf[ri[1], ci[0]] + fc * xf[ri[1], ci[1]]))
    if fill_mode == "constant":
        # scipy's "constant": a sample position outside the image takes cval (no blending
        # with the border); a small tolerance as scipy's own keeps the edge rows.
        eps = 1e-6
        outside = (r < -eps) | (r > h - 1 + eps) | (c < -eps) | (c > w - 1 + eps)
        out[outside] = cval
    return out.astype(x.dtype)


def apply_transform(x: np.ndarray, p: dict, fill_mode: str = "nearest",
                    cval: float = 0.0) -> np.ndarray:
    """Keras' ImageDataGenerator.apply_transform for one channels-last image."""
    m = _matrix(p, x.shape[0], x.shape[1])
    if m is not None:
        x = apply_affine(x, m, fill_mode, cval)
    if p.get("channel_shift_intensity") is not None:  # Keras' apply_channel_shift
        x = np.clip(x + x.dtype.type(p["channel_shift_intensity"]), x.min(), x.max())
    if p.get("flip_horizontal"):
        x = x[:, ::-1]
    if p.get("flip_vertical"):
        x = x[::-1]
    return x


def augment_batch(xb: Any, cfg: dict, rng: np.random.Generator) -> Any:
    """A batch of images (or the one input of a dict), each transformed at random then
    rescaled, as an ImageDataGenerator flow yields it."""
    if isinstance(xb, dict):
        return {k: augment_batch(v, cfg, rng) for k, v in xb.items()}
    out = np.empty_like(xb)
    for i, img in enumerate(xb):
        p = random_transform(cfg, img.shape, rng)
        out[i] = apply_transform(img, p, cfg["fill_mode"], cfg["cval"])
    if cfg["rescale"]:
        out *= out.dtype.type(cfg["rescale"])
    return out


def rescale_first(x: Any, cfg: dict) -> tuple[Any, dict]:
    """(x rescaled once, the settings left to run per batch). `rescale` is a fixed
    preprocessing the model expects at inference too: done up front, validation and held-out
    rows are seen as the model sees them. It commutes with the transforms (interpolation,
    flips and clipping are linear in the pixel values) once cval and the channel shift are
    scaled with it."""
    r = cfg.get("rescale")
    if not r:
        return x, cfg
    rest = {k: v for k, v in cfg.items() if k != "rescale"}
    for k in ("cval", "channel_shift_range"):
        if k in rest:
            rest[k] = rest[k] * r
    scale = np.float32(r)
    if isinstance(x, dict):
        return {k: np.asarray(v, np.float32) * scale for k, v in x.items()}, rest
    return np.asarray(x, np.float32) * scale, rest


def prepare(cfg: dict | None, x: Any, validation_data: Any) -> tuple[dict | None, Any, Any]:
    """fit's start: (the checked settings left to run per batch, x, validation_data), both
    rescaled once where the settings rescale (rescale_first)."""
    if cfg is None:
        return None, x, validation_data
    from .shards import is_shard_source

    rescale = check(cfg)["rescale"]
    if rescale and not is_shard_source(x):
        x, cfg = rescale_first(x, cfg)
        if isinstance(validation_data, (tuple, list)) and validation_data:
            validation_data = (rescale_first(validation_data[0], {"rescale": rescale})[0],
                               *validation_data[1:])
    return check(cfg), x, validation_data


def check_input(cfg: dict, x: Any) -> None:
    """Augmentation transforms images: float arrays of rank 4 (samples, rows, cols, channels)
    into a model of one input."""
    if isinstance(x, dict):
        x = next(iter(x.values())) if len(x) == 1 else None
    a = None if x is None else np.asarray(x)
    if a is None or a.ndim != 4 or a.dtype.kind != "f":
        raise UsageError("augmentation transforms images: it takes one float input array of "
                         "shape (samples, rows, cols, channels)", field="augmentation",
                         received="several inputs" if a is None else
                         f"an array of shape {a.shape} and dtype {a.dtype}")

"""Checks and normalises what the user passes to fit / evaluate / predict.

Arrays come back as the dtype the loop expects (x as the input dtype, labels as float32 or
int64 class ids, weights float32), or a DataError / UsageError names the first bad row.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..errors import DataError, UsageError, did_you_mean


def no_unknown(unknown: dict, fn: str, valid: list[str]) -> None:
    for k, v in unknown.items():
        raise UsageError(f"{fn}() got an unexpected argument '{k}'", field=k,
                         received=f"{k}={v!r}", hint=did_you_mean(k, valid))


def positive_int(v: Any, name: str) -> int:
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v <= 0:
        raise UsageError(f"{name} must be a positive integer", field=name,
                         received=f"{name}={v!r}")
    return int(v)


def nonneg_int(v: Any, name: str) -> int:
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 0:
        raise UsageError(f"{name} must be a non-negative integer", field=name,
                         received=f"{name}={v!r}")
    return int(v)


def verbose_level(v: Any) -> int:
    if v == "auto":
        return 1
    if v in (0, 1, 2):
        return int(v)
    raise UsageError("verbose must be 'auto', 0, 1 or 2", field="verbose",
                     received=f"verbose={v!r}")


def as_list(v: Any) -> list:
    if v is None:
        return []
    return list(v) if isinstance(v, (list, tuple)) else [v]


def _as_array(a: Any, name: str) -> np.ndarray:
    if a is None:
        raise DataError(f"{name} is missing", field=name)
    try:
        arr = np.asarray(a)
    except (ValueError, TypeError) as e:
        raise DataError(f"{name} cannot be read as an array (ragged rows?)", field=name,
                        received=str(e)) from None
    if arr.dtype == bool:
        arr = arr.astype(np.float32)
    if not np.issubdtype(arr.dtype, np.number):
        raise DataError(f"{name} must be numeric", field=name, received=f"dtype {arr.dtype}",
                        hint="encode strings as numbers; seqc.training.data.load_csv maps "
                             "string labels to class ids")
    if arr.ndim == 0:
        raise DataError(f"{name} must have a batch axis", field=name,
                        received=f"a scalar {arr!r}")
    if len(arr) == 0:
        raise DataError(f"{name} is empty (0 samples)", field=name,
                        received=f"shape {arr.shape}")
    return arr


def _first_bad_row(bad: np.ndarray) -> int:
    return int(np.argmax(bad.reshape(len(bad), -1).any(axis=1)))


def _check_finite(arr: np.ndarray, name: str) -> None:
    if not np.issubdtype(arr.dtype, np.floating):
        return
    # min/max propagate NaN and see inf without allocating a mask the size of the data.
    lo, hi = arr.min(), arr.max()
    if np.isfinite(lo) and np.isfinite(hi):
        return
    bad = ~np.isfinite(arr)
    row = _first_bad_row(bad)
    where = f"row {row}"
    if arr.ndim > 1:
        idx = tuple(int(i) for i in np.argwhere(bad[row])[0])
        where += f", column {idx[0]}" if len(idx) == 1 else f", index {idx}"
        value = arr[row][idx]
    else:
        value = arr[row]
    kind = "NaN" if np.isnan(value) else ("+Inf" if value > 0 else "-Inf")
    raise DataError(f"{name} holds a non-finite value ({kind}) in {where}", field=name,
                    received=f"{name}[{row}] = {_short(arr[row])}",
                    hint="drop or impute missing values before training")


def _short(row: np.ndarray) -> str:
    return np.array2string(np.asarray(row), threshold=8, precision=4)


def prepare_x(model: Any, x: Any, name: str = "x", in_type: Any = None) -> np.ndarray:
    """x as the model's input dtype (float32 unless the input is declared integer), checked
    against the input shape (`in_type`, default the first input's) and for NaN/Inf."""
    arr = _as_array(x, name)
    in_type = in_type or model.graph.input_type
    feats = in_type.features
    got = arr.shape[1:]
    if len(got) != len(feats) or any(d is not None and d != g for d, g in zip(feats, got)):
        want = _shape_str(feats)
        if len(feats) == 1 and len(got) == 1:
            msg = f"{name} has {got[0]} features per sample but the model expects {feats[0]}"
        else:
            msg = f"{name} has per-sample shape {got} but the model expects {want}"
        hint = None
        if len(got) == 0 and feats == (1,):
            hint = f"reshape it: {name}.reshape(-1, 1)"
        elif len(got) == 1 and len(feats) > 1 and math.prod(
                d for d in feats if d is not None) == got[0]:
            hint = f"reshape it: {name}.reshape(-1, {', '.join(str(d) for d in feats)})"
        raise DataError(msg, field=name,
                        received=f"{name} shape {arr.shape}, expected (N, {_dims(feats)})",
                        hint=hint)
    if in_type.dtype.startswith("int"):
        if np.issubdtype(arr.dtype, np.floating):
            _check_finite(arr, name)
            if np.any(arr != np.round(arr)):
                row = _first_bad_row(arr != np.round(arr))
                raise DataError(f"{name} must hold integer ids (the model input is "
                                f"{in_type.dtype}); row {row} does not", field=name,
                                received=f"{name}[{row}] = {_short(arr[row])}")
        return arr.astype(in_type.dtype, copy=False)
    arr = arr.astype(np.float32, copy=False)
    _check_finite(arr, name)
    return arr


def _dims(shape: tuple) -> str:
    return ", ".join("?" if d is None else str(d) for d in shape)


def _shape_str(shape: tuple) -> str:
    """Per-sample shapes print as (30,); full shapes print their batch as N: (N, 3)."""
    return "(" + _dims(shape) + ("," if len(shape) == 1 else "") + ")"


def prepare_y(model: Any, loss: Any, y: Any, n: int, name: str = "y",
              out_type: Any = None) -> np.ndarray:
    """Labels checked against the loss and the output shape (`out_type`, default the first
    output's), normalised for the loss: sparse class ids as int64 shaped like the output
    without its class axis; anything else float32 shaped like the output (a (N,) target for
    one output unit becomes (N, 1))."""
    arr = _as_array(y, name)
    if len(arr) != n:
        xname = "x" if name.endswith("]") else (name[:-1] + "x" if name.endswith("y") else "x")
        raise DataError(f"{xname} and {name} have different numbers of samples", field=name,
                        received=f"{xname}: {n} samples, {name}: {len(arr)} samples")
    _check_finite(arr, name)
    out = (out_type or model.graph.output_type).shape
    own = getattr(loss, "prepare_labels", None)
    if own is not None:  # a loss whose labels are not shaped like the output (CTC)
        return own(arr, out, name)
    k = out[-1]
    lname = getattr(loss, "name", "") or ""
    sparse = bool(getattr(loss, "sparse", False)) or "sparse" in lname
    if sparse:
        return _sparse_labels(arr, out, loss, lname, name)
    body = out[1:]
    shape_ok = _fits(arr.shape[1:], body)
    if not shape_ok and k == 1 and _fits(arr.shape[1:], body[:-1]):
        arr = arr[..., None]
        shape_ok = True
    if not shape_ok:
        is_ids = (arr.ndim == 1 or (arr.ndim == 2 and arr.shape[1] == 1)) and \
            np.all(arr == np.round(arr))
        if lname == "categorical_crossentropy" and is_ids and k is not None and k > 1:
            raise DataError(
                f"categorical_crossentropy expects one-hot labels of shape (N, {k}), but "
                f"{name} holds one class id per sample", field=name,
                received=f"{name} shape {arr.shape}",
                hint="use loss='sparse_categorical_crossentropy' for integer labels, or "
                     f"one-hot encode {name}")
        width = arr.shape[-1] if arr.ndim > 1 else 1
        hint = None
        if lname == "binary_crossentropy" and k == 1 and width > 1:
            hint = ("the model has one sigmoid unit; pass the positive-class column, or use "
                    f"Dense({width}, activation='softmax') with categorical_crossentropy")
        raise DataError(
            f"{name} does not match the model output: the model outputs {k} value(s) per "
            f"sample, {name} has shape {arr.shape}", field=name,
            received=f"{name} shape {arr.shape}, model output {_shape_str(('N', *out[1:]))}",
            hint=hint or f"the last layer needs {width} unit(s), or {name} needs {k} column(s)")
    arr = arr.astype(np.float32, copy=False)
    if lname == "binary_crossentropy":
        bad = (arr < 0) | (arr > 1)
        if bad.any():
            row = _first_bad_row(bad)
            raise DataError(f"binary_crossentropy labels must be in [0, 1]; row {row} is not",
                            field=name, received=f"{name}[{row}] = {_short(arr[row])}",
                            hint="for more than two classes use sparse_categorical_crossentropy"
                                 " with a softmax output")
    return arr


def _fits(got: tuple, want: tuple) -> bool:
    return len(got) == len(want) and all(w is None or w == g for w, g in zip(want, got))


def _sparse_labels(arr: np.ndarray, out: tuple, loss: Any, lname: str, name: str) -> np.ndarray:
    k = out[-1]
    body = out[1:-1]
    if _fits(arr.shape[1:], body):
        ids = arr
    elif _fits(arr.shape[1:], (*body, 1)):
        ids = arr[..., 0]
    else:
        looks_onehot = arr.ndim >= 2 and arr.shape[-1] == k and np.all((arr == 0) | (arr == 1))
        raise DataError(
            f"{lname or 'the loss'} expects one integer class id per sample, but {name} has "
            f"shape {arr.shape}", field=name,
            received=f"{name} shape {arr.shape}, model output {_shape_str(('N', *out[1:]))}",
            hint="use loss='categorical_crossentropy' for one-hot labels, or pass "
                 f"{name}.argmax(axis=-1)" if looks_onehot else
            f"pass class ids of shape (N,), values in [0, {k})")
    if np.issubdtype(ids.dtype, np.floating):
        frac = ids != np.round(ids)
        if frac.any():
            row = _first_bad_row(frac)
            raise DataError(f"{lname} labels must be integer class ids; row {row} is not",
                            field=name, received=f"{name}[{row}] = {_short(ids[row])}",
                            hint="for soft or one-hot labels use categorical_crossentropy")
    ids = ids.astype(np.int64, copy=False)
    ignore = getattr(loss, "ignore_class", None)
    bad = (ids < 0) | (ids >= k)
    if ignore is not None:
        bad &= ids != ignore
    if bad.any():
        row = _first_bad_row(bad)
        value = int(ids[row][bad[row]].flat[0]) if ids.ndim > 1 else int(ids[row])
        raise DataError(f"class id {value} in row {row} of {name} is outside [0, {k}): the "
                        f"model's last layer has {k} units", field=name,
                        received=f"{name}[{row}] = {value}",
                        hint=f"the last layer needs one unit per class (at least {value + 1})"
                        if value >= k else "class ids start at 0")
    return ids


def prepare_sample_weight(sw: Any, n: int, name: str = "sample_weight") -> np.ndarray | None:
    if sw is None:
        return None
    arr = _as_array(sw, name)
    if arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr[:, 0]
    if arr.ndim != 1 or len(arr) != n:
        raise DataError(f"{name} must hold one weight per sample, shape ({n},)", field=name,
                        received=f"{name} shape {arr.shape}")
    arr = arr.astype(np.float32, copy=False)
    _check_finite(arr, name)
    return arr


def class_weight_to_sample_weights(y: np.ndarray, class_weight: dict,
                                   class_names: list[str] | None = None) -> np.ndarray:
    """Keras' rule: the class of a sample is argmax of one-hot rows, else the rounded label;
    classes missing from the dict weigh 1."""
    if not isinstance(class_weight, dict):
        raise UsageError("class_weight must be a dict {class id: weight}", field="class_weight",
                         received=f"class_weight={class_weight!r}")
    for k, v in class_weight.items():
        if isinstance(v, bool) or not isinstance(v, (int, float, np.number)) or not np.isfinite(v):
            raise UsageError("class_weight values must be finite numbers", field="class_weight",
                             received=f"class_weight[{k!r}] = {v!r}")
    labels = y
    if labels.ndim > 1:
        labels = labels.argmax(axis=-1) if labels.shape[-1] != 1 else labels[..., 0]
    labels = np.round(labels.reshape(len(labels), -1)[:, 0]).astype(np.int64)
    weights = np.ones(len(labels), dtype=np.float32)
    for k, v in class_weight.items():
        weights[labels == _class_id(k, class_names)] = v
    return weights


def _class_id(key: Any, class_names: list[str] | None) -> int:
    """A class_weight key: an integer id (JSON gives "0"), or a class name when the labels
    were strings (CSV labels mapped to ids, names kept on the model)."""
    if isinstance(key, (int, np.integer)) and not isinstance(key, bool):
        return int(key)
    if isinstance(key, str) and key.lstrip("-").isdigit():
        return int(key)
    if isinstance(key, str) and class_names and key in class_names:
        return class_names.index(key)
    known = f"class ids 0..{len(class_names) - 1} or names {class_names}" if class_names \
        else "integer class ids"
    raise UsageError(f"class_weight key {key!r} is not a class of this data; expected {known}",
                     field="class_weight", received=f"class_weight key {key!r}",
                     hint=did_you_mean(str(key), class_names or []))


def per_name(v: Any, names: list[str], what: str) -> list:
    """One entry per name, in `names` order, from a list/tuple of that length or a dict
    holding every name (Keras' rule for y, sample_weight, loss and loss_weights of a model
    with several outputs)."""
    if isinstance(v, dict):
        missing = [k for k in names if k not in v]
        extra = [k for k in v if k not in names]
        if missing or extra:
            bad = extra[0] if extra else None
            raise UsageError(f"{what} must be a dict with one entry per output {names}",
                             field=what, received=f"keys {list(v)}",
                             hint=did_you_mean(str(bad), names) if bad is not None
                             else f"missing {missing}")
        return [v[k] for k in names]
    if isinstance(v, (list, tuple)) and len(v) == len(names):
        return list(v)
    got = f"a list of {len(v)}" if isinstance(v, (list, tuple)) else type(v).__name__
    raise UsageError(f"{what} must be a list of {len(names)} (one per output, in order "
                     f"{names}) or a dict by output name", field=what, received=got)


def nth(items: list | None, j: int) -> Any:
    """Item j of a per-output list (None stays None)."""
    return None if items is None else items[j]


def take(data: Any, idx: Any) -> Any:
    """Rows `idx` of an array, or of each array in a dict / list (None stays None)."""
    if data is None:
        return None
    if isinstance(data, dict):
        return {k: take(v, idx) for k, v in data.items()}
    if isinstance(data, list):
        return [take(v, idx) for v in data]
    if (type(data) is np.ndarray and data.ndim and data.flags.c_contiguous
            and isinstance(idx, np.ndarray)
            and idx.dtype.kind in "iu"):
        # The same rows as data[idx], gathered 1.4x (a 128x784 float32 batch) to 2.4x (its
        # 128x10 labels) faster than fancy indexing's general path.
        return np.take(data, idx, axis=0)
    return data[idx]


def n_samples(data: Any) -> int:
    """The number of samples of an array, or of the first array of a dict / list."""
    if isinstance(data, dict):
        return n_samples(next(iter(data.values())))
    if isinstance(data, list):
        return n_samples(data[0])
    return len(data)


def unpack_validation(data: Any, prepare: Any) -> tuple:
    """validation_data as (x, y, sample_weight) prepared by `prepare(x, y, sw, prefix)`."""
    if not isinstance(data, (tuple, list)) or len(data) not in (2, 3):
        raise UsageError("validation_data must be a tuple (x_val, y_val) or "
                         "(x_val, y_val, sample_weight_val)", field="validation_data",
                         received=f"{type(data).__name__}"
                         + (f" of length {len(data)}" if isinstance(data, (tuple, list)) else ""))
    return prepare(data[0], data[1], data[2] if len(data) == 3 else None, "validation_data ")


def check_validation_split(v: Any) -> float:
    if not isinstance(v, (int, float)) or not 0.0 <= v < 1.0:
        raise DataError("validation_split must be in [0, 1)", field="validation_split",
                        received=f"validation_split={v!r}",
                        hint="e.g. validation_split=0.2 keeps the last 20% for validation")
    return v


def split_validation(x: Any, y: Any, sw: Any, validation_split: float) -> tuple:
    """((x, y, sw) to train on, (x, y, sw) to validate on): Keras takes the LAST fraction,
    before shuffling. Each of x, y, sw is an array or a dict / list of arrays."""
    split_at = split_point(n_samples(x), validation_split)
    tail, head = slice(split_at, None), slice(None, split_at)
    return (take(x, head), take(y, head), take(sw, head)), \
        (take(x, tail), take(y, tail), take(sw, tail))


def split_point(n: int, validation_split: float) -> int:
    """The first validation row of n samples: Keras validates on the last fraction."""
    split_at = int(math.floor(n * (1.0 - validation_split)))
    if split_at == 0 or split_at == n:
        raise DataError(
            f"training data contains {n} samples, which is not sufficient to split it into "
            f"a validation and training set as specified by "
            f"validation_split={validation_split}", field="validation_split",
            received=f"{n} samples", hint="provide more data or a different "
                                          "validation_split")
    return split_at

"""Connectionist temporal classification (Graves et al., 2006) as `keras.losses.CTC`: y_true
(N, L) integer labels padded at the end with 0, y_pred (N, T, C) logits; class 0 is the blank.
Per sample: -log p(labels | x), summed over every alignment of the labels to the T steps of
log_softmax(y_pred), by the forward-backward recursion in log space (NumPy, float64).

d loss / d logits[t, k] = softmax[t, k] - (occupancy of the states labelled k at step t):
the forward and backward variables give the occupancies, so the gradient is exact.

    >>> import numpy as np, seqc
    >>> logits = np.zeros((1, 2, 3), np.float32)  # 2 steps, 3 classes, uniform
    >>> round(seqc.losses.CTC()(np.array([[1]]), logits), 6)  # paths 1-, -1, 11: 3/9
    1.098612
"""

from __future__ import annotations

import numpy as np

from ..errors import DataError
from .loss_base import F64, Loss, _as_pred, _log_softmax


class CTC(Loss):
    """CTC loss over the whole output sequence (every sample uses all T steps, as Keras)."""

    name = "ctc"
    default_display_name = "ctc"

    def _prepare(self, y_true, y_pred):
        yp = _as_pred(y_pred)
        if yp.ndim != 3:
            raise DataError("ctc: y_pred must be logits of shape (batch, steps, classes)",
                            field="y_pred", received=f"y_pred shape {yp.shape}",
                            hint="end the model with a (T, C) output: Dense(C) after a "
                                 "recurrent or convolutional sequence layer")
        return self.prepare_labels(y_true, yp.shape, "y"), yp

    def prepare_labels(self, y_true, out_shape: tuple, name: str) -> np.ndarray:
        """y_true checked against an output of shape (N, T, C): int64 (N, L), ids in
        [1, C) followed by 0 padding, each sequence short enough for T steps. The fit loop
        calls this in place of its own label checks."""
        if len(out_shape) != 3:
            raise DataError("ctc needs a sequence output of shape (batch, steps, classes)",
                            field="loss", received=f"model output rank {len(out_shape)}",
                            hint="return_sequences=True on the last recurrent layer, then "
                                 "Dense(classes)")
        yt = np.asarray(y_true)
        if yt.ndim != 2 or not (np.issubdtype(yt.dtype, np.number) and yt.dtype != bool):
            raise DataError("ctc: labels must be integer sequences of shape (batch, length), "
                            "padded with 0", field=name,
                            received=f"{name} shape {yt.shape}, dtype {yt.dtype}")
        if not np.all(yt == np.round(yt)):
            raise DataError("ctc: labels must be integers", field=name,
                            received=f"non-integer values in {name}")
        ids = yt.astype(np.int64)
        c, t = out_shape[-1], out_shape[-2]
        if ids.size and (ids.min() < 0 or (c is not None and ids.max() >= c)):
            raise DataError(f"ctc: label ids must be in [1, {c}) (0 is the blank and the "
                            "padding)", field=name,
                            received=f"ids from {ids.min()} to {ids.max()}, {c} classes",
                            hint="the last layer needs one unit per label plus one for the "
                                 "blank, class 0")
        n_labels = (ids != 0).sum(axis=1)
        padded = np.arange(ids.shape[1]) >= n_labels[:, None]
        if np.any((ids == 0) != padded):
            row = int(np.argmax(np.any((ids == 0) != padded, axis=1)))
            raise DataError("ctc: 0 is the blank and may only pad the end of a label "
                            f"sequence; row {row} has a 0 before a label", field=name,
                            received=f"{name}[{row}] = {ids[row].tolist()}")
        if t is not None:
            repeats = ((ids[:, 1:] == ids[:, :-1]) & (ids[:, 1:] != 0)).sum(axis=1)
            need = n_labels + repeats
            if np.any(need > t):
                row = int(np.argmax(need > t))
                raise DataError(
                    f"ctc: row {row}'s labels need {int(need[row])} steps (one per label and "
                    f"a blank between repeats), the output has {t}", field=name,
                    received=f"{name}[{row}] = {ids[row].tolist()}",
                    hint="use a longer output sequence (less downsampling)")
        return ids

    def _masks(self, yt, yp, mask):
        if mask is not None:
            raise DataError("ctc: the output carries a timestep mask; Keras' CTC uses every "
                            "step, so a masked output is not modelled", field="loss",
                            received="a masked (N, T, C) output",
                            hint="remove the Masking layer or mask_zero before the CTC output")
        return None

    def _values(self, yt, yp):
        lp = _log_softmax(yp.astype(F64), -1)
        alpha, beta, lpe, ext, loglik = _forward_backward(lp, yt)
        occupancy = np.exp(alpha + beta - lpe - loglik[:, None, None])  # (N, T, S)

        def back(dv):
            n, t, _ = lp.shape
            dlp = np.zeros_like(lp)
            np.add.at(dlp, (np.arange(n)[:, None, None], np.arange(t)[None, :, None],
                            np.broadcast_to(ext[:, None, :], occupancy.shape)), -occupancy)
            # through log_softmax: dx = dlp - softmax * sum(dlp)
            dx = dlp - np.exp(lp) * dlp.sum(axis=-1, keepdims=True)
            return dv[:, None, None] * dx
        return -loglik, back


def _forward_backward(lp: np.ndarray, ids: np.ndarray):
    """Log forward and backward variables over the blank-extended labels (N, T, S), the
    log-probabilities of the extended labels, the extended labels and log p(labels)."""
    n, t, _ = lp.shape
    n_labels = (ids != 0).sum(axis=1)
    ext = np.zeros((n, 2 * ids.shape[1] + 1), np.int64)
    ext[:, 1::2] = ids
    s = ext.shape[1]
    lpe = np.take_along_axis(lp, np.broadcast_to(ext[:, None, :], (n, t, s)), axis=2)
    # s -> s + 2 skips a blank between two different labels
    skip = np.zeros((n, s), bool)
    skip[:, 2:] = (ext[:, 2:] != 0) & (ext[:, 2:] != ext[:, :-2])
    rows, last = np.arange(n), 2 * n_labels
    has_label = n_labels > 0
    with np.errstate(divide="ignore"):
        alpha = np.full((n, t, s), -np.inf)
        alpha[:, 0, 0] = lpe[:, 0, 0]
        if s > 1:
            alpha[:, 0, 1] = np.where(has_label, lpe[:, 0, 1], -np.inf)
        for k in range(1, t):
            a = alpha[:, k - 1]
            a1 = _shift(a, 1)
            a2 = np.where(skip, _shift(a, 2), -np.inf)
            alpha[:, k] = np.logaddexp(np.logaddexp(a, a1), a2) + lpe[:, k]
        beta = np.full((n, t, s), -np.inf)
        beta[rows, t - 1, last] = lpe[rows, t - 1, last]
        prev = np.maximum(last - 1, 0)
        beta[rows, t - 1, prev] = np.where(has_label, lpe[rows, t - 1, prev],
                                           beta[rows, t - 1, prev])
        skip_next = np.zeros_like(skip)
        skip_next[:, :-2] = skip[:, 2:]
        for k in range(t - 2, -1, -1):
            b = beta[:, k + 1]
            b1 = _shift(b, -1)
            b2 = np.where(skip_next, _shift(b, -2), -np.inf)
            beta[:, k] = np.logaddexp(np.logaddexp(b, b1), b2) + lpe[:, k]
        end = alpha[rows, t - 1, last]
        loglik = np.where(has_label, np.logaddexp(end, alpha[rows, t - 1, prev]), end)
    return alpha, beta, lpe, ext, loglik


def _shift(a: np.ndarray, k: int) -> np.ndarray:
    """a moved k places along the last axis (right for k > 0), filled with -inf."""
    out = np.full_like(a, -np.inf)
    if k > 0:
        out[:, k:] = a[:, :-k]
    else:
        out[:, :k] = a[:, -k:]
    return out

"""Checks that warn before training: settings that Keras accepts and that train to a useless
model without a word (softmax with binary crossentropy, a linear output read as probabilities,
a validation split of label-sorted data, ...). Each finding has a stable code, SEQC-Wnnn,
listed in docs/errors.md with an example and the fix.

`fit` runs them once, after the data passed its checks and before the first epoch, and hands
the findings to `report`: Python warnings (seqc.SeqcWarning) by default, or the handler that
`seqc build` installs with `reporting()` (a `warnings:` block, --ignore, --strict). The codes,
`Finding` and that reporting machinery are in `lint_report.py`.

What each check reads: the activation that ends each trained output (an `activation=`
argument, or an Activation / Softmax / ReLU layer after it, through dropout-like layers), the
output's loss and its from_logits, the optimizer's learning rate, and the labels of the
validation split. An output seqc cannot see through (a Reshape, a merge, a Lambda) is left
alone: a warning that may be wrong is worse than none.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..config import split_spec
from ..ops import REGISTRY
from .lint_report import Finding, report

# ---------------------------------------------------------------- what ends an output

# Layers that hand their input on unchanged at inference: an activation before them still ends
# the output.
_PASS_THROUGH = {"Dropout", "AlphaDropout", "GaussianDropout", "GaussianNoise",
                 "SpatialDropout1D", "SpatialDropout2D", "SpatialDropout3D", "Identity",
                 "ActivityRegularization"}
_SIGMOIDS = {"sigmoid", "hard_sigmoid"}
# Unbounded above and (nearly) never below 0: no probabilities, and dead below 0.
_RELUS = {"relu", "relu6", "elu", "selu", "gelu", "silu", "hard_silu", "mish", "softplus",
          "exponential", "leaky_relu"}
_RELU_LAYERS = {"ReLU": "relu", "LeakyReLU": "leaky_relu", "ELU": "elu", "PReLU": "prelu"}
# Values outside [0, 1], but no dead zone: fine as logits, wrong as probabilities.
_NOT_PROBABILITIES = {"tanh", "softsign", "log_softmax"}


@dataclass(frozen=True)
class Ending:
    """How an output ends: `kind` softmax | sigmoid | linear | relu | other | unknown; `fn`
    the activation's name; `layer` and `where` the layer that sets it; `setting` it as
    written."""

    kind: str
    fn: str
    layer: str
    where: str
    setting: str


def _ending(graph: Any, node: Any, kind: str, fn: str, setting: str) -> Ending:
    return Ending(kind, fn, node.layer or node.name, _where(graph, node), setting)


def _kind(fn: str) -> str:
    if fn == "softmax":
        return "softmax"
    if fn in _SIGMOIDS:
        return "sigmoid"
    if fn == "linear":
        return "linear"
    if fn in _RELUS:
        return "relu"
    return "other" if fn in _NOT_PROBABILITIES else "unknown"


def _activation(spec: Any) -> tuple[str, dict]:
    name, kwargs = split_spec(spec)
    return str(name), dict(kwargs)


def _layer_kind(graph: Any, node: Any) -> str:
    """The kind of the user's layer a node came from (`Dense` for `dense/activation`)."""
    for n in graph.nodes:
        if n.layer == node.layer:
            if n.op == "TimeDistributed":
                return f"TimeDistributed({n.attrs.layer['class_name']})"
            return n.op
    return node.op


def _where(graph: Any, node: Any) -> str:
    return f"layer '{node.layer or node.name}' ({_layer_kind(graph, node)})"


def output_ending(graph: Any, value: str) -> Ending | None:
    """How the output `value` ends, or None when seqc cannot tell (it is then not checked)."""
    producer = {v: n for n in graph.nodes for v in n.outputs}
    node = producer.get(value)
    while node is not None and (node.op in _PASS_THROUGH or (
            node.op == "Activation" and _activation(node.attrs.activation)[0] == "linear")):
        node = producer.get(node.inputs[0])
    if node is None:
        return None
    rank = graph.types[node.outputs[0]].rank
    if node.op == "Activation":
        fn, kw = _activation(node.attrs.activation)
        if fn == "softmax" and int(kw.get("axis", -1)) % rank != rank - 1:
            return None
        return _ending(graph, node, _kind(fn), fn, f'activation="{fn}"')
    if node.op == "Softmax":
        axis = node.attrs.axis
        if not isinstance(axis, int) or axis % rank != rank - 1:
            return None
        return _ending(graph, node, "softmax", "softmax", "Softmax")
    if node.op in _RELU_LAYERS:
        return _ending(graph, node, "relu", _RELU_LAYERS[node.op], node.op)
    if node.op == "TimeDistributed":
        from ..ops.time_distributed import inner

        op, _, act = inner(node.attrs)
        if act is not None:
            fn, kw = _activation(act.activation)
            if fn == "softmax" and int(kw.get("axis", -1)) != -1:
                return None
            return _ending(graph, node, _kind(fn), fn, f'activation="{fn}"')
        if not op.splits_activation:
            return None
        return _ending(graph, node, "linear", "linear", "no activation (linear)")
    if node.op in REGISTRY and REGISTRY[node.op].splits_activation:
        return _ending(graph, node, "linear", "linear", "no activation (linear)")
    return None


def _softmax_axis(graph: Any, node: Any) -> int | None:
    """The size of the axis a softmax node normalises over, or None for another node."""
    axis = None
    if node.op == "Activation":
        fn, kw = _activation(node.attrs.activation)
        if fn == "softmax":
            axis = int(kw.get("axis", -1))
    elif node.op == "Softmax" and isinstance(node.attrs.axis, int):
        axis = node.attrs.axis
    elif node.op == "TimeDistributed":
        from ..ops.time_distributed import inner

        act = inner(node.attrs)[2]
        if act is not None:
            fn, kw = _activation(act.activation)
            if fn == "softmax":
                axis = int(kw.get("axis", -1))
    if axis is None:
        return None
    shape = graph.types[node.outputs[0]].shape
    return shape[axis] if -len(shape) <= axis < len(shape) else None


# ---------------------------------------------------------------- the checks


def model_findings(model: Any, cfg: Any) -> list[Finding]:
    """The findings the model, its losses and its optimizer give (no data needed)."""
    graph = model.graph
    out: list[Finding] = []
    single = set()
    for node in graph.nodes:
        if _softmax_axis(graph, node) == 1:
            fn = "Softmax" if node.op == "Softmax" else 'activation="softmax"'
            single.add(node.layer or node.name)
            out.append(Finding(
                "SEQC-W002", _where(graph, node),
                f"{fn} over an axis of size 1 always outputs 1.0, whatever its input, so "
                "nothing before it can learn",
                'for two classes use Dense(1, activation="sigmoid") with '
                'loss="binary_crossentropy", or Dense(2, activation="softmax") with '
                'loss="sparse_categorical_crossentropy"'))
    heads = [h for h in cfg.heads if h.loss is not None and h.weight != 0]
    for h in heads:
        ending = output_ending(graph, h.value)
        if ending is None or (ending.kind == "softmax" and ending.layer in single):
            continue
        loss_set = (f'loss["{h.name}"]="{_loss_name(h.loss)}"' if len(cfg.heads) > 1
                    else f'loss="{_loss_name(h.loss)}"')
        out.extend(_head_findings(h.loss, ending, graph.types[h.value].shape[-1], loss_set))
    opt = _optimizer_finding(cfg.optimizer)
    return out + ([opt] if opt else [])


def _loss_name(loss: Any) -> str:
    return getattr(type(loss), "name", None) or type(loss).__name__


def _loss_family(loss: Any) -> str | None:
    """binary | categorical | sparse (crossentropies), regression (MSE / MAE), or None."""
    from . import losses

    if isinstance(loss, (losses.BinaryCrossentropy, losses.BinaryFocalCrossentropy)):
        return "binary"
    if isinstance(loss, (losses.CategoricalCrossentropy, losses.CategoricalFocalCrossentropy)):
        return "categorical" if int(loss.axis) == -1 else None
    if isinstance(loss, losses.SparseCategoricalCrossentropy):
        return "sparse" if int(loss.axis) == -1 else None
    if isinstance(loss, (losses.MeanSquaredError, losses.MeanAbsoluteError)):
        return "regression"
    return None


def _head_findings(loss: Any, end: Ending, k: int | None, loss_set: str) -> list[Finding]:
    family = _loss_family(loss)
    if family is None:
        return []
    if family == "regression":
        if end.kind == "softmax" and k is not None and k > 1:
            return [Finding(
                "SEQC-W006", end.where,
                f"{loss_set} on a softmax output over {k} units ({end.setting}): a "
                "regression loss on class "
                "probabilities gives a vanishing gradient exactly when the model is "
                "confidently wrong, so the classifier trains slowly and badly",
                'use loss="categorical_crossentropy" (one-hot labels) or '
                '"sparse_categorical_crossentropy" (class ids)')]
        return []
    want = "sigmoid" if family == "binary" else "softmax"
    from_logits = bool(getattr(loss, "from_logits", False))
    logits_form = f'{{"type": "{_loss_name(loss)}", "from_logits": true}}'
    found = []
    if family in ("categorical", "sparse") and k == 1:
        found.append(Finding(
            "SEQC-W009", end.where,
            f"{loss_set} on an output of 1 unit is always 0: over one class the only "
            "distribution is [1.0], so there is no gradient and nothing trains",
            'for two classes use Dense(1, activation="sigmoid") with '
            'loss="binary_crossentropy"; for n classes give the last layer n units'))
        return found
    if end.kind == "relu":
        found.append(Finding(
            "SEQC-W005", end.where,
            f"{end.setting} ends a classifier trained with {loss_set}: {end.fn} is 0 with "
            "zero gradient for every negative input and is no probability, so units that go "
            "negative stop learning and their class cannot be predicted",
            f'use activation="{want}" on the last layer, or no activation with the loss\'s '
            f"from_logits=True ({logits_form})"))
    elif not from_logits and end.kind in ("linear", "other"):
        what = ("the output has no activation (linear logits)" if end.kind == "linear" else
                f"{end.setting} gives values outside [0, 1]")
        found.append(Finding(
            "SEQC-W003", end.where,
            f"{what}, but {loss_set} has from_logits=False and reads its outputs as "
            "probabilities: outside [0, 1] they are clipped to [1e-7, 1 - 1e-7] and get no "
            "useful gradient, so training stalls",
            f"pass from_logits=True to the loss ({logits_form}), or end the last layer with "
            f'activation="{want}"'))
    elif not from_logits and family == "binary" and end.kind == "softmax" \
            and k is not None and k > 2:
        # Over 2 units softmax with binary crossentropy is the plain binary loss (p2 = 1 - p1),
        # so only 3 or more are a trap.
        found.append(Finding(
            "SEQC-W001", end.where,
            f"{end.setting} over {k} units trained with {loss_set}: softmax makes the units "
            "compete (they sum to 1), while binary crossentropy scores each unit as its own "
            'yes/no question; "accuracy" then means binary accuracy per unit, which looks '
            "high while the model learns little",
            'for one class per sample use loss="categorical_crossentropy" (one-hot labels) '
            'or "sparse_categorical_crossentropy" (class ids); for several labels per sample '
            'use activation="sigmoid"'))
    elif not from_logits and family != "binary" and end.kind == "sigmoid":
        found.append(Finding(
            "SEQC-W004", end.where,
            f"{end.setting} over {k} units trained with {loss_set}: sigmoid scores each unit "
            "on its own, but a categorical crossentropy expects one distribution over the "
            "classes; the loss rescales the outputs to sum to 1, so the model learns outputs "
            "that are not its class probabilities",
            'use activation="softmax" for one class per sample, or '
            'loss="binary_crossentropy" for several labels per sample'))
    elif from_logits and end.kind in ("softmax", "sigmoid"):
        found.append(Finding(
            "SEQC-W010", end.where,
            f"{end.setting} followed by {loss_set} with from_logits=True applies the "
            f"{end.fn} twice: the loss reads probabilities as logits, so predictions are "
            "squashed towards uniform and the gradients shrink",
            "drop the activation (the model then outputs logits), or set from_logits=False"))
    return found


_ADAPTIVE = ("Adam", "AdamW", "Adamax", "Nadam", "RMSprop", "Adagrad", "Adadelta", "Lion",
             "Lamb")


def _optimizer_finding(opt: Any) -> Finding | None:
    name = type(opt).__name__
    if name not in _ADAPTIVE:
        return None
    schedule = getattr(opt, "schedule", None)
    if schedule is None:
        rates = [float(opt.learning_rate)]
    else:  # its settings, not a value: a per-epoch schedule needs fit's steps to evaluate
        rates = [getattr(schedule, a, None) for a in ("initial_learning_rate", "warmup_target")]
        rates += list(getattr(schedule, "values", None) or [])  # PiecewiseConstantDecay
        rates = [float(v) for v in rates if isinstance(v, (int, float))]
    lr = max(rates, default=0.0)
    if not lr > 1.0:
        return None
    import inspect

    default = inspect.signature(type(opt)).parameters["learning_rate"].default
    return Finding(
        "SEQC-W008", f"optimizer {name}",
        f"learning_rate={lr:g} with {name}: an adaptive optimizer moves every weight by "
        "about the learning rate at each step, whatever the gradient's size, so a rate above "
        "1 throws the weights far off and training diverges",
        f"use learning_rate={default:g} (Keras' default for {name}); 1e-4 to 1e-2 is the "
        "usual range")


# ---------------------------------------------------------------- data

# What random order gives with at most this chance is not reported: a rare class may miss the
# training rows, or fill the validation rows, by chance; sorted data does it with certainty.
CHANCE = 1e-3


def data_findings(cfg: Any, ys: list, validation_split: float,
                  class_names: list[str] | None = None) -> list[Finding]:
    """SEQC-W007 for each output whose last `validation_split` of the rows (what Keras holds
    out, before shuffling) holds one label only, or classes no training row has, where rows
    in random order would do so with a chance under CHANCE."""
    if not validation_split:
        return []
    out = []
    several = len(cfg.heads) > 1
    for h, y in zip(cfg.heads, ys):
        y = np.asarray(y)
        n = len(y)
        cut = int(math.floor(n * (1.0 - validation_split)))
        if cut in (0, n):
            continue
        m = n - cut
        ids = _class_ids(h.loss, y)
        label = f"y['{h.name}']" if several else "y"
        kept = (f"validation_split={validation_split:g} keeps the last {m} rows for "
                "validation (taken before shuffling)")
        hint = ("shuffle the rows once before training (fit's shuffle=True shuffles only the "
                "training rows, after the split), or pass validation_data")
        rows = y.reshape(n, -1)
        # The training rows are compared only when the validation rows share one label.
        one_label = bool(np.all(rows[cut:] == rows[cut]))
        same = np.all(rows == rows[cut], axis=1) if one_label else None
        if same is not None and not same[:cut].all() and \
                _all_in(m, int(same.sum()), n) < CHANCE:
            what = _name(int(ids[cut]), class_names) if ids is not None and ids.ndim == 1 \
                else f"label {_short(y[cut])}"
            out.append(Finding(
                "SEQC-W007", f"labels {label}",
                f"{kept}, and every one of them has {what} while the training rows hold "
                "others: the data looks sorted by label, so validation measures one label "
                "only", hint))
            continue
        if ids is None:
            continue
        classes, counts = np.unique(ids[cut:], return_counts=True)
        missing = [int(c) for c, k in zip(classes, counts)
                   if _all_in(int(k), m, n) < CHANCE and not np.any(ids[:cut] == c)]
        if missing:
            names = ", ".join(_name(c, class_names) for c in missing[:5])
            more = f" and {len(missing) - 5} more" if len(missing) > 5 else ""
            out.append(Finding(
                "SEQC-W007", f"labels {label}",
                f"{kept}, and they hold {names}{more}, which no training row has: the data "
                "looks sorted by label, so the model is scored on classes it never sees", hint))
    return out


def _all_in(k: int, group: int, n: int) -> float:
    """The chance that k given rows of n, in random order, all fall in a group of `group`
    rows: C(group, k) / C(n, k)."""
    if k > group:
        return 0.0
    i = np.arange(k, dtype=np.float64)
    return float(np.exp(np.sum(np.log((group - i) / (n - i)))))


def _class_ids(loss: Any, y: np.ndarray) -> np.ndarray | None:
    """One class id per row (a 1-D array) for a classifier's labels; ids per step for
    sequence labels (2-D); None for other losses."""
    family = _loss_family(loss)
    if family == "sparse":
        return y
    if family == "categorical" and y.ndim >= 2 and y.shape[-1] > 1:
        return y.argmax(axis=-1)
    if family == "binary" and y.ndim == 2 and y.shape[1] == 1:
        return (y[:, 0] > 0.5).astype(np.int64)
    return None


def _name(c: int, class_names: list[str] | None) -> str:
    if class_names and 0 <= c < len(class_names):
        return f"class {c} ({class_names[c]!r})"
    return f"class {c}"


def _short(row: np.ndarray) -> str:
    return np.array2string(np.asarray(row), threshold=6, precision=4)


def before_training(model: Any, cfg: Any, ys: list, validation_split: float) -> None:
    """Run every check and report the findings (fit calls this before the first epoch)."""
    found = model_findings(model, cfg) + data_findings(cfg, ys, validation_split,
                                                       getattr(model, "class_names", None))
    report(sorted(found, key=lambda f: f.code))

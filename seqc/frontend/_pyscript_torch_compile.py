"""PyTorch loss modules and torch.optim optimizers created in a script -> a seqc compile
section, with PyTorch's defaults made explicit (its eps, AdamW's weight decay, RMSprop's
alpha = Keras' rho); anything seqc has no equivalent for leaves compile out.
"""

from __future__ import annotations

import ast
from typing import TYPE_CHECKING, Any

from ..errors import DefinitionError

if TYPE_CHECKING:
    from .pyscript import Reader

_LOSSES = {"CrossEntropyLoss": {"type": "SparseCategoricalCrossentropy", "from_logits": True},
           "MSELoss": "mse", "L1Loss": "mae", "BCELoss": "binary_crossentropy",
           "BCEWithLogitsLoss": {"type": "BinaryCrossentropy", "from_logits": True}}
_OPTIMS = {"SGD": ("SGD", ["params", "lr", "momentum", "dampening", "weight_decay",
                           "nesterov"]),
           "Adam": ("Adam", ["params", "lr", "betas", "eps", "weight_decay", "amsgrad"]),
           "AdamW": ("AdamW", ["params", "lr", "betas", "eps", "weight_decay", "amsgrad"]),
           "RMSprop": ("RMSprop", ["params", "lr", "alpha", "eps", "weight_decay",
                                   "momentum", "centered"]),
           "Adagrad": ("Adagrad", ["params", "lr", "lr_decay", "weight_decay",
                                   "initial_accumulator_value", "eps"]),
           # PyTorch's Adadelta is Keras' update rule with other defaults (lr 1, rho 0.9)
           "Adadelta": ("Adadelta", ["params", "lr", "rho", "eps", "weight_decay"])}


def torch_compile(r: Reader, layers: list[dict] | None = None) -> dict | None:
    """A loss (an nn.*Loss module, or the one F.*_loss function the script calls) and a
    torch.optim optimizer created in the script -> a compile section, when each is one seqc
    has (CrossEntropyLoss = sparse categorical crossentropy on logits; NLLLoss the same on a
    model ending in log_softmax, whose outputs are already log-probabilities). Anything else
    (several, unmapped, non-default options, an lr_scheduler) leaves compile out, with a note
    when seqc cannot model what the script trains with."""
    scheds = [m for m in r.torch_objects if m.cls.startswith("sched.")]
    step_lr = None
    if len(scheds) == 1 and scheds[0].cls == "sched.StepLR":
        step_lr = _step_lr(r, scheds[0])
    if scheds and step_lr is None:
        r.note(scheds[0].node, f"{r.seg(scheds[0].node)} changes the learning rate during "
                               "training in a way seqc does not model: no compile settings "
                               "taken from the script (give --optimizer and --loss, or a "
                               "schedule in a JSON spec)")
        return None
    losses = [m for m in r.torch_objects if m.cls in _LOSSES or m.cls.endswith("Loss")]
    optims = [m for m in r.torch_objects if m.cls.startswith("optim.")]
    if not losses:
        losses = _functional_losses(r)
    last_log_softmax = bool(layers) and layers[-1].get("activation") == {
        "type": "log_softmax", "axis": 1}
    if len(losses) != 1 or len(optims) != 1 or (
            losses[0].cls not in _LOSSES and not (losses[0].cls == "NLLLoss"
                                                  and last_log_softmax)):
        return None
    loss, opt = losses[0], optims[0]
    if loss.args or any(k != "reduction" or v != "mean" for k, v in loss.kwargs.items()):
        return None
    name = opt.cls[6:]
    if name not in _OPTIMS:
        r.note(opt.node, f"{r.seg(opt.node)}: seqc has no {name} optimizer, so the script's "
                         "training is not taken (no compile settings; give --optimizer and "
                         "--loss to train)")
        return None
    summed = _summed_loss(r)
    if summed is not None:
        r.note(summed, f"{r.seg(summed)} adds up the losses of several forward passes before "
                       "one backward() (samples fed one at a time, a summed batch loss); seqc "
                       "trains on batches with the mean loss, so the script's training is not "
                       "taken (no compile settings; give --optimizer and --loss to train)")
        return None
    clip = _clipping(r)
    if clip is None:
        return None
    kind, names = _OPTIMS[name]
    if len(opt.args) > len(names):
        return None
    a = {**dict(zip(names, opt.args)), **opt.kwargs}
    a.pop("params", None)
    spec: dict = {"type": kind}
    try:
        for k, v in a.items():
            v = r.const(v, opt.node, f"optim.{name}({k}=...)")
            if k == "lr":
                spec["learning_rate"] = float(v)
            elif k == "momentum" and kind in ("SGD", "RMSprop"):
                spec["momentum"] = float(v)
            elif k == "nesterov" and kind == "SGD":
                spec["nesterov"] = bool(v)
            elif k == "betas":
                spec["beta_1"], spec["beta_2"] = float(v[0]), float(v[1])
            elif k == "eps":
                spec["epsilon"] = float(v)
            elif k == "alpha" and kind == "RMSprop" or k == "rho" and kind == "Adadelta":
                spec["rho"] = float(v)
            elif k == "weight_decay" and kind == "AdamW":
                spec["weight_decay"] = float(v)
            elif k == "initial_accumulator_value":
                spec["initial_accumulator_value"] = float(v)
            elif v not in (0, 0.0, False):  # an option Keras' optimizer does not have
                return None
    except (DefinitionError, TypeError, IndexError, ValueError):
        return None
    if kind == "AdamW" and "weight_decay" not in spec:
        spec["weight_decay"] = 0.01  # PyTorch's AdamW default
    if kind == "SGD" and "learning_rate" not in spec:
        return None  # torch.optim.SGD's lr is required
    if kind == "Adagrad" and "epsilon" not in spec:
        spec["epsilon"] = 1e-10
    if kind in ("Adam", "AdamW") and "epsilon" not in spec:
        spec["epsilon"] = 1e-8
    if kind == "Adadelta":
        spec.setdefault("learning_rate", 1.0)
        spec.setdefault("rho", 0.9)
        spec.setdefault("epsilon", 1e-6)
    if kind == "RMSprop":
        spec.setdefault("rho", 0.99)
        spec.setdefault("epsilon", 1e-8)
        spec.setdefault("learning_rate", 0.01)
    spec.update(clip)
    if step_lr is not None:
        # scheduler.step() once per epoch, as the tutorials' loops call it
        spec["learning_rate"] = {"type": "StepLR", **step_lr,
                                 "initial_learning_rate": spec.get("learning_rate", 0.001)}
        r.note(scheds[0].node, f"{r.seg(scheds[0].node)}: read as a per-epoch StepLR schedule "
                               "(scheduler.step() once per epoch)")
    return {"optimizer": spec, "loss": _LOSSES.get(loss.cls, _NLL)}


def _step_lr(r: Reader, sched: Any) -> dict | None:
    """StepLR(optimizer, step_size, gamma=0.1) stepped once per epoch: its arguments, when
    the script steps it once per epoch (a `.step()` call outside the batch loop)."""
    names = ["optimizer", "step_size", "gamma", "last_epoch"]
    a = {**dict(zip(names, sched.args)), **sched.kwargs}
    try:
        size = r.const(a.get("step_size"), sched.node, "StepLR(step_size=...)")
        gamma = r.const(a.get("gamma", 0.1), sched.node, "StepLR(gamma=...)")
    except DefinitionError:
        return None
    if a.get("last_epoch", -1) != -1 or not isinstance(size, int) or isinstance(size, bool) \
            or not isinstance(gamma, (int, float)) or size < 1 or not _stepped_per_epoch(r):
        return None
    return {"step_size": size, "gamma": float(gamma)}


def _stepped_per_epoch(r: Reader) -> bool:
    """Every `<x>.step()` of the script that is not the optimizer's sits in a loop that has
    no loop inside it around the call (the epoch loop), not in the batch loop."""
    calls = []
    for loop in ast.walk(r.tree):
        if not isinstance(loop, (ast.For, ast.While)):
            continue
        for st in loop.body:
            for n in ast.walk(st):
                if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute) and (
                        n.func.attr == "step") and isinstance(n.func.value, ast.Name) and (
                        "sched" in n.func.value.id):
                    inner = any(isinstance(x, (ast.For, ast.While)) and n in ast.walk(x)
                                for x in ast.walk(st))
                    calls.append(inner)
    return bool(calls) and not any(calls)


_CLIPS = {"clip_grad_norm_": "global_clipnorm", "clip_grad_norm": "global_clipnorm",
          "clip_grad_value_": "clipvalue"}


def _clipping(r: Reader) -> dict | None:
    """`torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm)` -> the optimizer's
    `global_clipnorm` (PyTorch scales by max_norm / (norm + 1e-6), Keras by max_norm / norm:
    the same within 1e-6 relative), `clip_grad_value_(..., v)` -> `clipvalue` (the same clamp).
    {} when the script clips nothing; None, with a note, when it clips in a way seqc does not
    model (another norm, a subset of the parameters, several calls, a value it cannot read):
    then the script's training is not taken, never taken without its clipping."""
    calls = [n for n in ast.walk(r.tree) if isinstance(n, ast.Call) and isinstance(
        n.func, (ast.Attribute, ast.Name)) and getattr(n.func, "attr", getattr(
            n.func, "id", None)) in _CLIPS]
    if not calls:
        return {}

    def refuse(n: ast.AST, why: str) -> None:
        r.note(n, f"{r.seg(n)} clips the gradients {why}; seqc does not model that, so the "
                  "script's training is not taken (no compile settings; give --optimizer "
                  "with clipnorm/global_clipnorm/clipvalue and --loss to train)")

    n = calls[0]
    attr = getattr(n.func, "attr", getattr(n.func, "id", ""))
    if len({ast.dump(c) for c in calls}) > 1:
        return refuse(calls[1], "in more than one way")
    names = ["parameters", "max_norm", "norm_type"] if _CLIPS[attr] == "global_clipnorm" \
        else ["parameters", "clip_value"]
    a = {**dict(zip(names, n.args)), **{k.arg: k.value for k in n.keywords}}
    params = a.get("parameters")
    if not (isinstance(params, ast.Call) and isinstance(params.func, ast.Attribute)
            and params.func.attr == "parameters" and not params.args
            and isinstance(params.func.value, ast.Name) and _is_model(r, params.func.value)):
        return refuse(n, "of the parameters given (not every parameter of the model)")
    if set(a) - set(names) - {"error_if_nonfinite", "foreach"}:
        return refuse(n, f"with {', '.join(sorted(set(a) - set(names)))}=")
    try:  # read in the module's scope: a value local to a training function is not read
        value, norm = (r.const(r.ev(a[k], r.module_scope), n, f"{attr}({k}=...)")
                       if k in a else 2 for k in (names[1], "norm_type"))
    except (DefinitionError, KeyError, TypeError):
        return refuse(n, "by a value seqc cannot read")
    if norm not in (2, 2.0) or isinstance(value, bool) or not isinstance(
            value, (int, float)) or value <= 0:
        return refuse(n, f"with norm_type={norm!r}" if norm not in (2, 2.0)
                      else f"by {value!r}")
    r.note(n, f"{r.seg(n)}: read as the optimizer's {_CLIPS[attr]}={float(value)!r}")
    return {_CLIPS[attr]: float(value)}


def _is_model(r: Reader, name: ast.Name) -> bool:
    """`name` is a whole model of the script (nn.Sequential or a module class instance), not
    one layer of it."""
    from ._pyscript_values import Instance, ModelVal

    try:
        return isinstance(r.ev(name, r.module_scope), (Instance, ModelVal))
    except Exception:  # noqa: BLE001 - a name the reader cannot evaluate is no model here
        return False


def _summed_loss(r: Reader) -> ast.AST | None:
    """`batch_loss += loss` of a name the script calls .backward() on: a loss summed over
    several forward passes (the char-RNN tutorial's loop over the names of a batch)."""
    back = {n.func.value.id for n in ast.walk(r.tree) if isinstance(n, ast.Call) and isinstance(
        n.func, ast.Attribute) and n.func.attr == "backward" and isinstance(n.func.value,
                                                                              ast.Name)}
    return next((n for n in ast.walk(r.tree) if isinstance(n, ast.AugAssign) and isinstance(
        n.target, ast.Name) and n.target.id in back), None)


# F.nll_loss on log-probabilities is cross-entropy on them as logits: log_softmax of a
# log_softmax output is itself.
_NLL = {"type": "SparseCategoricalCrossentropy", "from_logits": True}
_FUNCTIONAL = {"cross_entropy": "CrossEntropyLoss", "nll_loss": "NLLLoss",
               "mse_loss": "MSELoss", "l1_loss": "L1Loss",
               "binary_cross_entropy": "BCELoss",
               "binary_cross_entropy_with_logits": "BCEWithLogitsLoss"}


def _functional_losses(r: Reader) -> list:
    """The training loss a script computes with torch.nn.functional (`F.nll_loss(output,
    target)` in its training loop), as one loss module; several kinds give none."""
    from ._pyscript_values import TorchMod

    found: dict[str, Any] = {}
    for n in ast.walk(r.tree):
        if not isinstance(n, ast.Call) or not isinstance(n.func, ast.Attribute):
            continue
        name = _FUNCTIONAL.get(n.func.attr)
        path = r.static_path(n.func.value, r.module_scope) if name else None
        if name and path in ("torch.nn.functional", "torch"):
            kw = {k.arg: k.value.value for k in n.keywords
                  if k.arg == "reduction" and isinstance(k.value, ast.Constant)}
            if kw.get("reduction", "mean") == "mean":  # a summed test loss is not training's
                found.setdefault(name, TorchMod(name, [], {}, n))
    return list(found.values())

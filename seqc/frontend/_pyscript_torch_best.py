"""A PyTorch training loop's best-only checkpoint: inside the (skipped) epoch loop,
`if valid_loss <= valid_loss_min: torch.save(model.state_dict(), P); valid_loss_min =
valid_loss`, and after it `model.load_state_dict(torch.load(P))`. That restores the weights of
the epoch with the lowest validation loss, which is Keras' EarlyStopping(monitor="val_loss",
restore_best_weights=True) with a patience that never stops training. seqc honours it when the
validation loss is read from a loader over a `SubsetRandomSampler` holdout of the training
set, `indices[:split]` with `split = int(np.floor(F * len(dataset)))` (the training loader
takes `indices[split:]`): the build validates on the fraction F (`validation_split=F`).
Anything else about the save (another condition, another loader) is refused at the load.

The patterns are matched on the syntax; nothing is run.
"""

from __future__ import annotations

import ast
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .pyscript import Reader

PATIENCE = 2 ** 31 - 1  # never stops training: only the restore of the best epoch is meant


def record_conditional_saves(r: Reader, body: list, scope: Any, node: ast.AST) -> None:
    """`torch.save(M.state_dict(), P)` under an `if` in code the reader skips (`node`: the
    skipped loop or `if`): remembered by the path's key with its `if`, for a later load of P.
    What other saves wrote is no longer known (_pyscript_checkpoints)."""
    r.forget_saves(body)
    for top in [node, *(n for st in body for n in ast.walk(st))]:
        if not isinstance(top, ast.If):
            continue
        for n in top.body:
            call = n.value if isinstance(n, ast.Expr) else None
            if isinstance(call, ast.Call) and len(call.args) >= 2 and _is_torch_save(
                    r, call.func, scope):
                r.call_scope = scope
                r.best_saves.setdefault(r.path_key(call.args[1]), (call, top))


def _loop_of(r: Reader, cond: ast.If) -> ast.AST | None:
    """The outermost module-level loop around `cond` (the epoch loop)."""
    return next((st for st in r.tree.body if isinstance(st, ast.For) and any(
        n is cond for n in ast.walk(st))), None)


def _is_torch_save(r: Reader, f: ast.AST, scope: Any) -> bool:
    path = r.static_path(f, scope)
    return path is not None and path.endswith("torch.save")


def restore_best(r: Reader, obj: Any, node: ast.Call, key: Any) -> bool:
    """`model.load_state_dict(torch.load(P))` of a checkpoint saved under a condition in the
    training loop: read as restoring the best validation-loss epoch, or refused."""
    if r.survey:  # the binding survey reads leniently; the real read decides
        return True
    save, cond = r.best_saves[key]
    what = r.seg(node)
    loop = _loop_of(r, cond)
    fraction, why = (None, "the save is not in a module-level epoch loop") if loop is None \
        else _validation_fraction(r, save, cond, loop, obj)
    if fraction is None:
        r.refuse(obj, node, f"{what} loads the checkpoint that the training loop saves at line "
                            f"{save.lineno} only when `{r.seg(cond.test)}`; seqc restores the "
                            f"best epoch only for a validation loss it computes ({why})",
                 field="load_state_dict", received=what,
                 hint="save unconditionally (the last epoch's weights), or validate on a "
                      "SubsetRandomSampler holdout of the training set as the PyTorch "
                      "tutorials do")
        return True
    obj.fit = {**(obj.fit or {}), "validation_split": fraction,
               "callbacks": [{"type": "EarlyStopping", "monitor": "val_loss", "mode": "min",
                              "patience": PATIENCE, "restore_best_weights": True}]}
    r.note(node, f"{what} reloads the checkpoint saved at line {save.lineno} when the "
                 f"validation loss improves: read as restoring the best epoch's weights on "
                 f"val_loss over a holdout of {fraction:g} of the training rows (the script "
                 "samples it at random, seqc holds out the last rows, as Keras' "
                 "validation_split does; an equal loss keeps the earlier epoch)")
    return True


def _validation_fraction(r: Reader, save: ast.Call, cond: ast.If, loop: ast.AST,
                         obj: Any) -> tuple[float | None, str]:
    t = cond.test
    if not (isinstance(t, ast.Compare) and len(t.ops) == 1 and isinstance(
            t.ops[0], (ast.Lt, ast.LtE)) and isinstance(t.left, ast.Name) and isinstance(
            t.comparators[0], ast.Name)):
        return None, "the condition is not `loss <= best`"
    cur, best = t.left.id, t.comparators[0].id
    if not any(isinstance(n, ast.Assign) and len(n.targets) == 1 and isinstance(
            n.targets[0], ast.Name) and n.targets[0].id == best and isinstance(
            n.value, ast.Name) and n.value.id == cur for n in cond.body):
        return None, f"`{best} = {cur}` does not follow the save"
    arg = save.args[0]
    if not (isinstance(arg, ast.Call) and isinstance(arg.func, ast.Attribute)
            and arg.func.attr == "state_dict" and not arg.args):
        return None, "the checkpoint is not a state_dict()"
    if r.resolve_obj(r.ev(arg.func.value, r.module_scope)) is not obj:
        return None, "it saves another model's state_dict()"
    loaders = [n.iter.id for n in ast.walk(loop) if isinstance(n, ast.For) and isinstance(
        n.iter, ast.Name) and any(isinstance(a, ast.AugAssign) and isinstance(
            a.target, ast.Name) and a.target.id == cur for a in ast.walk(n))]
    steps = [n.iter.id for n in ast.walk(loop) if isinstance(n, ast.For) and isinstance(
        n.iter, ast.Name) and any(isinstance(c, ast.Call) and isinstance(
            c.func, ast.Attribute) and c.func.attr == "step" for c in ast.walk(n))]
    if len(set(loaders)) != 1 or len(set(steps)) != 1 or loaders[0] in steps:
        return None, f"{cur} is not summed over one loader that does not train"
    val = _sampler_slice(r, loaders[0])
    train = _sampler_slice(r, steps[0])
    if val is None or train is None:
        return None, "the loaders do not sample a SubsetRandomSampler split of the indices"
    (vdata, vidx, vhead), (tdata, tidx, thead) = val, train
    if vdata != tdata or vidx != tidx or not vhead or thead:
        return None, ("the validation loader does not take indices[:split] of the dataset "
                      "whose indices[split:] the training loader takes")
    return _split_fraction(r, vidx, vdata)


def _module_def(r: Reader, name: str) -> ast.AST | None:
    """The one module-level assignment to `name` (its value; a tuple assignment: the
    element), None when there is not exactly one."""
    found = []
    for st in r.tree.body:
        if not isinstance(st, ast.Assign) or len(st.targets) != 1:
            continue
        t = st.targets[0]
        if isinstance(t, ast.Name) and t.id == name:
            found.append(st.value)
        elif isinstance(t, ast.Tuple) and isinstance(st.value, ast.Tuple) and len(
                t.elts) == len(st.value.elts):
            found += [v for e, v in zip(t.elts, st.value.elts)
                      if isinstance(e, ast.Name) and e.id == name]
    return found[0] if len(found) == 1 else None


def _call_named(v: ast.AST | None, name: str) -> ast.Call | None:
    if isinstance(v, ast.Call):
        f = v.func
        if (f.attr if isinstance(f, ast.Attribute) else getattr(f, "id", None)) == name:
            return v
    return None


def _sampler_slice(r: Reader, loader: str) -> tuple[str, str, bool] | None:
    """`L = DataLoader(D, ..., sampler=S)`, `S = SubsetRandomSampler(I)` (or the call written
    as the argument), `I` one side of
    `indices[:split]` / `indices[split:]`: (D, "indices:split", whether it is the head)."""
    dl = _call_named(_module_def(r, loader), "DataLoader")
    if dl is None or not dl.args or not isinstance(dl.args[0], ast.Name):
        return None
    sampler = next((k.value for k in dl.keywords if k.arg == "sampler"), None)
    if any(k.arg == "shuffle" for k in dl.keywords) or sampler is None:
        return None
    srs = _call_named(_module_def(r, sampler.id) if isinstance(sampler, ast.Name) else sampler,
                      "SubsetRandomSampler")
    if srs is None or len(srs.args) != 1 or not isinstance(srs.args[0], ast.Name):
        return None
    part = _module_def(r, srs.args[0].id)
    if not (isinstance(part, ast.Subscript) and isinstance(part.value, ast.Name)
            and isinstance(part.slice, ast.Slice) and part.slice.step is None):
        return None
    lo, hi = part.slice.lower, part.slice.upper
    if lo is None and isinstance(hi, ast.Name):
        return dl.args[0].id, f"{part.value.id}:{hi.id}", True
    if hi is None and isinstance(lo, ast.Name):
        return dl.args[0].id, f"{part.value.id}:{lo.id}", False
    return None


def _split_fraction(r: Reader, idx: str, data: str) -> tuple[float | None, str]:
    """`indices = list(range(len(D)))` and `split = int(np.floor(F * len(D)))` (or through a
    name `num_train = len(D)`): F, a constant between 0 and 1."""
    indices, split = idx.split(":")
    why = f"{split} is not int(np.floor(F * len({data})))"

    def is_len(v: ast.AST | None) -> bool:
        if isinstance(v, ast.Name):
            v = _module_def(r, v.id)
        return isinstance(v, ast.Call) and isinstance(v.func, ast.Name) and (
            v.func.id == "len") and len(v.args) == 1 and isinstance(
            v.args[0], ast.Name) and v.args[0].id == data

    rng = _module_def(r, indices)
    if not (_call_named(rng, "list") and _call_named(rng.args[0] if rng.args else None,
                                                    "range")
            and len(rng.args[0].args) == 1 and is_len(rng.args[0].args[0])):
        return None, f"{indices} is not list(range(len({data})))"
    v = _call_named(_module_def(r, split), "int")
    if v is None or len(v.args) != 1:
        return None, why
    v = v.args[0]
    inner = _call_named(v, "floor")
    if inner is not None and len(inner.args) == 1:
        v = inner.args[0]
    if not (isinstance(v, ast.BinOp) and isinstance(v.op, ast.Mult)):
        return None, why
    frac = v.right if is_len(v.left) else v.left if is_len(v.right) else None
    f = r.ev(frac, r.module_scope) if frac is not None else None
    if not isinstance(f, float) or not 0 < f < 1:
        return None, why
    return f, ""

"""PyTorch models -> seqc spec docs: an `nn.Sequential` (nested ones and script-defined
modules inlined) becomes a chain of spec layers, a forward() that branches, merges or returns
several tensors the graph form; the input shape comes from a comment, the data given, a
module-level input_shape or the first module. Each module's own mapping is in
_pyscript_torch_layers, its arguments bound in _pyscript_torch_bound.
"""

from __future__ import annotations

import ast
import functools
from typing import TYPE_CHECKING, Any

from ..errors import DefinitionError
from ..ir.types import TensorType, batched
from ._pyscript_forward_values import RNNS
from ._pyscript_layer_type import _step
from ._pyscript_subclass import read_instance
from ._pyscript_torch_bound import SIGNATURES, Bound
from ._pyscript_torch_compile import torch_compile
from ._pyscript_torch_forward import is_fold, view_input, view_layers
from ._pyscript_torch_init import apply_inits
from ._pyscript_torch_layers import _map, _shape
from ._pyscript_values import Instance, ModelVal, Scope, TorchMod, find_opaque, is_input_shape

if TYPE_CHECKING:
    from .pyscript import Reader

# Modules without parameters whose output shape is their input's: skipped when the input
# shape is derived from the first Linear.
_SHAPELESS = {"ReLU", "Sigmoid", "Tanh", "Identity", "GELU", "LeakyReLU", "ELU", "Softmax",
              "LogSoftmax", "SiLU", "ReLU6", "SELU", "Softplus", "Softsign", "Mish",
              "Hardsigmoid", "Hardswish", "Dropout", "Dropout2d", "Flatten"}
_INPUT_NAMES = ("input_shape", "INPUT_SHAPE")
# Modules that act on each row alone (the last axis): what may follow a fold of the time
# steps into the batch (is_fold), run per step on (N, T, H). Softmax(dim) is not: its dim
# names another axis once the rows are unfolded.
_PER_STEP = (_SHAPELESS - {"Flatten", "Softmax", "LogSoftmax", "Dropout2d"}) | {"Linear"}


def _freeze(r: Reader, b: Bound, docs: list[dict]) -> None:
    """requires_grad=False on a module's parameters: its layers do not train."""
    for d in docs:
        if d["type"] == "BatchNormalization":
            raise r.error(b.node, f"nn.{b.cls} is frozen (requires_grad=False), but PyTorch "
                                  "still updates its running statistics in train mode, while "
                                  "a frozen Keras/seqc BatchNormalization runs in inference "
                                  "mode", field="requires_grad", received=r.seg(b.node),
                          hint="freeze the other modules only, or call .eval() semantics "
                               "explicitly by building without BatchNorm")
        d["trainable"] = False


def _flatten(r: Reader, model: ModelVal, prefix: str, out: list | None = None,
             inp: int = -1, ends: list | None = None) -> list[tuple[str, Any, ast.AST,
                                                                  list[int]]]:
    """The modules of a model, nested ones inlined, each with the flat indices of the items
    it reads (-1: the model's input): a chain reads the item before, a forward that
    branches (ModelVal.srcs) what it names."""
    out = [] if out is None else out
    start = len(out)
    ends = [] if ends is None else ends  # the flat index of each of model's items' output
    for k, (name, v, node) in enumerate(model.items):
        name = prefix + (name if name is not None else str(len(out) - start))
        srcs = [(ends[k - 1] if k else inp)] if model.srcs is None else [
            ends[j] if j >= 0 else inp for j in model.srcs[k]]
        sub = None
        if isinstance(v, ModelVal) and v.framework == "torch":
            v.consumed = True
            sub = v
        elif isinstance(v, Instance):  # a script-defined module: _pyscript_subclass
            v.consumed = True
            sub = read_instance(r, v)
        if sub is not None:
            if sub.outs is not None:
                raise r.error(node, f"{r.seg(node)}: a module whose forward() returns several "
                                    "tensors, used inside another model, is not read",
                              field="forward", received=r.seg(node))
            _flatten(r, sub, name + ".", out, srcs[0])
            ends.append(len(out) - 1 if len(out) > start and sub.items else srcs[0])
            continue
        if isinstance(v, TorchMod) and (v.cls in SIGNATURES or v.cls.startswith("<")):
            out.append((name, v, node, srcs))  # "<select:...>", "<view>": see torch_doc
            ends.append(len(out) - 1)
        elif isinstance(v, TorchMod):
            raise r.error(v.node, f"nn.{v.cls} is not supported in an nn.Sequential read by "
                                  "seqc", field="layer", received=r.seg(v.node),
                          hint="supported: " + ", ".join(sorted(SIGNATURES)))
        else:
            raise r.not_a_layer(v, node, "torch")
    return out


def _input(r: Reader, mods: list, module: Scope) -> tuple[list, str]:
    first = next((m for _, m in mods if m.cls not in _SHAPELESS
                  and not m.cls.startswith("<select:")), None)
    dtype = r.comment.get("input_dtype") or (
        "int64" if first is not None and first.cls == "Embedding" else "float32")
    if "input_shape" in r.comment:
        return r.comment["input_shape"], dtype
    x = r.bindings.x
    if x is not None and x.ndim >= 2:
        # The data the model is fed: its per-sample shape is the input, as PyTorch takes it.
        if first is not None and first.cls == "Embedding" and x.dtype.kind in "iu":
            dtype = "int64"
        return [int(d) for d in x.shape[1:]], dtype
    for name in _INPUT_NAMES:
        if name in module.vars:
            v = module.vars[name]
            if find_opaque(v) is not None:
                raise r.shape_error(find_opaque(v))
            if isinstance(v, int) and not isinstance(v, bool):
                v = (v,)
            if not is_input_shape(v):
                raise r.error(None, f"the module-level {name} must be a list of positive "
                                    "integers (per sample, batch excluded)",
                              field="input_shape", received=repr(v))
            return list(v), dtype
    if first is not None and first.cls == "Linear":
        return [first.int("in_features", minimum=1)], dtype
    if first is not None and view_input(first) is not None:  # forward(): x.view(-1, 1, 28, 28)
        return view_input(first), dtype
    if first is not None and first.cls == "Embedding" or getattr(first, "rank", None) == 2:
        return [None], dtype  # token ids of any length; x.split(k, 1): any number of steps
    node = first.node if first is not None else None
    what = f"nn.{first.cls}" if first is not None else "none"
    raise r.error(node, "PyTorch scripts do not declare the input shape, and seqc cannot "
                        f"derive it from the first module ({what})",
                  field="input_shape",
                  hint="add a comment `# seqc: input_shape = [1, 28, 28]` (per sample, "
                       "channels first, batch excluded) or a module-level "
                       "`input_shape = (1, 28, 28)`")


def torch_doc(r: Reader, model: ModelVal, module: Scope) -> tuple[dict, list[ast.AST]]:
    ends: list[int] = []
    flat = _flatten(r, model, "", ends=ends)
    items = [(name, v, node) for name, v, node, _ in flat]
    srcs = [s for *_, s in flat]
    mods = []
    # requires_grad is per parameter in PyTorch: freezing a Sequential froze each module in it
    # at that moment (set_trainable), and a later requires_grad_(True) on one module wins.
    trainable = {name: v.trainable for name, v, _ in items}
    for name, v, _ in items:
        if v.cls.startswith("<"):
            mods.append((name, v))
        else:
            mods.append((name, Bound(r, v.cls, name, v)))
    if not mods:
        raise r.error(model.node, "the nn.Sequential has no modules", field="layers")
    shape, dtype = _input(r, mods, module)
    t = batched(tuple(shape), dtype)
    outs = [len(flat) - 1] if model.outs is None else [ends[k] for k in model.outs]
    if model.outs is not None or any(s != [i - 1] for i, s in enumerate(srcs)):
        state = None if model.state is None else ends[model.state.item]
        return _graph_doc(r, model, mods, srcs, trainable, t, outs, state)
    layers: list[dict] = []
    nodes: list[ast.AST] = []
    i = 0
    while i < len(mods):
        name, b = mods[i]
        if not isinstance(b, Bound) and b.cls == "<view>":  # a forward()'s view/reshape
            for d in view_layers(r, b, t, name):
                t = _step(r, d, t, b.node, len(layers))
                layers.append(d)
                nodes.append(b.node)
            i += 1
            continue
        if not isinstance(b, Bound):
            raise r.error(b.node, f"{b.kwargs.get('class', 'this module')} selects from a "
                                  "recurrent layer's (output, state) tuple, but follows no "
                                  "nn.LSTM/nn.GRU", field="layer", received=r.seg(b.node))
        nxt = mods[i + 1] if i + 1 < len(mods) else None
        docs, consumed = _map(b, t, nxt)
        apply_inits(r, b.mod, name, docs)
        if not trainable[name]:
            _freeze(r, b, docs)
        for d in docs:
            t = _step(r, d, t, b.node, len(layers))
            layers.append(d)
            nodes.append(b.node)
        i += 2 if consumed else 1
    if not layers:
        raise r.error(model.node, "the nn.Sequential has only Identity modules",
                      field="layers")
    doc: dict = {"input_shape": shape, "layers": layers}
    if dtype != "float32":
        doc["input_dtype"] = dtype
    compile_cfg = torch_compile(r, layers)
    if compile_cfg and model.compile is None:
        model.compile = compile_cfg
    return doc, nodes


def _affine_grid(r: Reader, b: TorchMod, name: str, ins: list[TensorType]) -> dict:
    """F.affine_grid(theta, x.size()): the output size is x's (N, C, H, W) height and width."""
    size = b.kwargs.get("size")
    if size is None:
        t = ins[1]
        if t.rank != 4 or None in t.shape[2:]:
            raise r.error(b.node, "F.affine_grid(theta, x.size()) makes a 2-D grid from the "
                                  "size of an (N, C, H, W) tensor of known height and width",
                          field="size", received=f"{r.seg(b.node)} with x of shape {_shape(t)}")
        size = list(t.shape[2:])
    return {"type": "AffineGrid", "name": name, "size": size,
            "align_corners": b.kwargs["align_corners"]}


def _state_step(r: Reader, node: ast.AST, index: int, d: dict,
                t: TensorType | list) -> TensorType:
    return _step(r, d, t, node, index)


def _graph_doc(r: Reader, model: ModelVal, mods: list, srcs: list, trainable: dict,
               t0: TensorType, outs: list[int], state: int | None = None
               ) -> tuple[dict, list[ast.AST]]:
    """A forward() that branches or merges -> the graph form of the spec (entries reading
    what their `from` names): each module mapped as in a chain, on the type of the value it
    reads; merges are `<merge:Kind>` items (x + y, torch.cat)."""
    from ..ir.build import _describe_inputs

    types: dict[int, TensorType] = {-1: t0}
    names: dict[int, str] = {-1: "input"}
    readers: dict[int, int] = {}
    for s in srcs:
        for j in s:
            readers[j] = readers.get(j, 0) + 1
    fold = None
    layers: list[dict] = []
    nodes: list[ast.AST] = []
    i = 0
    while i < len(mods):
        name, b = mods[i]
        ins = [types[j] for j in srcs[i]]
        cur = [names[j] for j in srcs[i]]
        consumed = False
        if not isinstance(b, Bound) and b.cls.startswith("<merge:"):
            docs = [{"type": b.cls[7:-1], "name": name, **b.kwargs}]
        elif not isinstance(b, Bound) and b.cls == "<affine_grid>":
            docs = [_affine_grid(r, b, name, ins)]
            ins, cur = ins[:1], cur[:1]  # the second source gives its size only
        elif not isinstance(b, Bound) and b.cls == "<view>" and is_fold(b, ins[0]):
            docs, fold = [], _fold(r, b, i, mods, srcs, outs)
        elif not isinstance(b, Bound) and b.cls == "<view>":
            docs = view_layers(r, b, ins[0], name)
        elif not isinstance(b, Bound):
            raise r.error(b.node, f"{b.kwargs.get('class', 'this module')} selects from a "
                                  "recurrent layer's (output, state) tuple, but follows no "
                                  "nn.LSTM/nn.GRU", field="layer", received=r.seg(b.node))
        else:
            # the next item, when it reads only this one and nothing else reads this one
            nxt = mods[i + 1] if i + 1 < len(mods) and srcs[i + 1] == [i] and readers.get(
                i) == 1 else None
            docs, consumed = _map(b, ins[0], nxt)
            apply_inits(r, b.mod, name, docs)
            if not trainable[name]:
                _freeze(r, b, docs)
        t = ins if len(ins) > 1 else ins[0]
        if i == state:  # forward(x, hidden): the layer taking and returning the state
            from ._pyscript_torch_state import wire

            docs, state_in, state_out, t, cur = wire(b, docs, cur, t, functools.partial(
                _state_step, r, b.node, len(layers)))
            layers += docs
            nodes += [b.node] * len(docs)
            docs = []
        for d in docs:
            try:
                t = _step(r, d, t, b.node, len(layers))
            except DefinitionError as e:  # name the values a merge reads, as build_dag does
                if len(cur) > 1:
                    e.received = f"{e.received}; inputs {_describe_inputs(cur, ins)}"
                    e.args = (e.format(),)
                raise
            layers.append({**d, "from": cur})
            nodes.append(b.node)
            cur = [d["name"]]
        for j in (i, i + 1) if consumed else (i,):
            types[j], names[j] = t, cur[0]
        i += 2 if consumed else 1
    compile_cfg = torch_compile(r, layers)
    if compile_cfg and model.compile is None and len(outs) > 1:
        r.note(None, f"{model.name or 'the model'} returns {len(outs)} tensors: the script's "
                     "loss trains what it picks from them, while seqc trains every output "
                     "with a loss of its own; the script's loss and optimizer are not taken "
                     "(give compile settings per output to train it)")
    elif compile_cfg and model.compile is None:
        model.compile = compile_cfg
    doc = {"inputs": {"input": {"shape": list(t0.shape[1:]), "dtype": t0.dtype}},
           "layers": layers, "outputs": [names[j] for j in outs]}
    if state is not None:  # PyTorch's (layers, N, hidden) state at the ONNX boundary
        doc["inputs"].update(state_in)
        doc["outputs"] += state_out
        doc["states"] = dict(zip(state_in, state_out))
    if fold is not None:  # (N, T, V) in the IR, PyTorch's (N * T, V) at the ONNX boundary
        doc["folds"] = doc["outputs"][:1]
    return doc, nodes


def _fold(r: Reader, b: TorchMod, i: int, mods: list, srcs: list, outs: list[int]) -> int:
    """A view folding an (N, T, H) output into (N * T, H) rows (is_fold): read only where
    per-step modules alone follow it, in a line, up to the forward's first returned value."""
    after = mods[i + 1:outs[0] + 1]
    j = srcs[i][0]  # back through per-step modules to the recurrent layer the rows come from
    while j >= 0 and len(srcs[j]) == 1 and (mods[j][1].cls == "<select:output>" or isinstance(
            mods[j][1], Bound) and mods[j][1].cls in _PER_STEP - {"Linear"}):
        j = srcs[j][0]
    rnn = mods[j][1] if j >= 0 else None
    if not (isinstance(rnn, Bound) and rnn.cls in RNNS and rnn["batch_first"] is True):
        # a time-major layer's (T, N, H) folds to rows t * N + n, not seqc's [n, t]
        raise r.error(b.node, "this view folds the time steps into the batch (N * T, H); "
                              "seqc reads it on the (N, T, H) output of an nn.LSTM/GRU/RNN "
                              "with batch_first=True", field="view", received=r.seg(b.node))
    if outs[0] <= i or any(srcs[k] != [k - 1] for k in range(i + 1, outs[0] + 1)) or any(
            not isinstance(m, Bound) or m.cls not in _PER_STEP for _, m in after) or any(
            i in s for k, s in enumerate(srcs) if k > outs[0]):
        raise r.error(b.node, "this view folds the time steps into the batch (N * T, H); "
                              "seqc reads it only where per-step layers (nn.Linear, dropout, "
                              "activations) alone follow it up to the forward's first "
                              "returned value", field="view", received=r.seg(b.node))
    return i

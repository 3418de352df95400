"""Which of a script's models is built: the one `--model` names, else the one it compiles or
fits, else the one left; several candidates are an error listing them, never a silent pick.
The model chosen is checked for refused statements and for layers another model trained.
"""

from __future__ import annotations

from typing import Any

from ._pyscript_subclass import read_instance, read_uninstantiated
from ._pyscript_values import Instance, Layer, ModelVal


class ModelChoice:
    """Choosing the model to build (a mixin of `pyscript.Reader`)."""

    def choose_model(self) -> ModelVal:
        """The model to build: the one --model names; else the one the script compiles or
        fits (even when a second Sequential wraps it for inference, as TF's beginner
        tutorial adds a Softmax); else the one model left. Several candidates and no
        `model` variable among them is an error listing them, never a silent pick.
        A subclassed model's instance another model holds is a part of that model; one
        compiled or fitted counts as used (_pyscript_subclass keeps its settings on a shell)."""
        insts = [i for i in self.instances if not i.consumed]
        current = getattr(self, "module_scope", None)
        self.current_model = current.vars.get("model") if current is not None else None
        everything = self.distinct([*self.models, *insts])
        wanted = self.bindings.model
        if wanted is not None:
            hits = [c for c in everything if wanted in c.names
                    or isinstance(c, ModelVal) and c.name == wanted]
            if not hits:
                raise self.error(None, f"--model {wanted}: the script builds no model of that "
                                       "name", field="--model", received=wanted,
                                 hint="the models: " + self.candidates(everything))
            return self.resolve_candidate(hits[-1])
        used = self.distinct([m for m in self.models if m.compile is not None
                          or m.fit is not None]
                         + [i for i in insts if i.shell.compile is not None
                            or i.shell.fit is not None])
        unused = [i for i in insts if i not in used]
        cands: list[Any] = used if len(used) > 1 or used and not unused else (
            self.distinct([m for m in self.models if not m.consumed] + unused))
        if len(cands) > 1:
            cands = self.without_copies(cands)  # a reload of another's checkpoint
        if len(cands) > 1:
            named = [c for c in cands if "model" in c.names]
            if len(named) == 1:
                return self.resolve_candidate(named[0])
            raise self.error(
                cands[1].node, "the script builds more than one model, and none is the "
                               "`model` variable; seqc builds one", field="model",
                received="models: " + self.candidates(cands),
                hint="choose one with --model NAME (seqc.load(path, model=NAME))")
        owners = [o for o in self.param_owners if not any(
            o is v for m in self.models for _, v, _ in m.items)]
        if not cands and len(owners) == 1:
            # `model = nn.Linear(784, 10)` trained through model.parameters(): a one-module
            # model, as PyTorch runs it
            mod = owners[0]
            m = ModelVal("torch", mod.node)
            m.append("0", mod, mod.node)
            m.names = list(mod.names)
            return self.resolve_candidate(m)
        if not cands:
            subclassed = [c for c in self.classes if c.kind in ("keras_model", "torch_module")
                          and c.selector is None]
            if subclassed:  # defined, never instantiated: read with its defaults
                return self.resolve_candidate(read_uninstantiated(self, subclassed))
            raise self.error(
                None, "no model found: the script has no keras Sequential(...) or "
                      "torch.nn.Sequential(...)", field="model",
                hint="build the model with Sequential([...]) / model.add(...) or "
                     "nn.Sequential(...), or a keras.Model / nn.Module subclass")
        return self.resolve_candidate(cands[0])

    def distinct(self, cands: list) -> list:
        return _distinct(cands, getattr(self, "current_model", None))

    def resolve_candidate(self, c: Any) -> ModelVal:
        if isinstance(c, Instance):
            c = read_instance(self, c)  # _pyscript_subclass: __init__ and forward/call
        self.check_refusals(c)
        self.check_pretrained_parts(c)
        return c

    def check_pretrained_parts(self, m: ModelVal) -> None:
        """A layer of the model built that another model of the script trained first (a base
        fitted, then reused) starts from those trained weights in Keras; seqc trains the
        model built from initial weights, so that is refused, never silently different."""
        def parts(v: Any, out: set[int]) -> set[int]:
            if _trains(v):
                out.add(id(v))
            for _, x, _ in getattr(v, "items", ()):
                parts(x, out)
            return out

        mine = parts(m, set()) - {id(m)}
        for other in self.models:
            if other is m or other.fit is None or id(other) in mine:
                continue
            shared = parts(other, set()) & mine
            if shared:
                raise self.error(
                    other.node, f"{' / '.join(other.names) or 'a model'} is trained (fit) "
                                "before the model built reuses its layers; seqc trains the "
                                "model built once, from initial weights",
                    field="model", received=f"models sharing layers: "
                    f"{self.candidates([other])} and {self.candidates([m])}",
                    hint="build the second model from the first's build output (seqc build, "
                         "then load its weights), or share no trained layers")

    def candidates(self, cands: list) -> str:
        return "; ".join(f"{' / '.join(c.names) or '(unnamed)'} at {self.where(c.node)}"
                         for c in cands)


def _trains(v: Any) -> bool:
    """Whether fitting a model changes this layer: it has trainable weights and is not frozen
    (an adapted Normalization shared by two models is not changed by either's fit)."""
    from ..ops import REGISTRY
    from ..ops.base import KIND_ALIASES

    if isinstance(v, Layer):
        if v.kwargs.get("trainable") is False:
            return False
        op = REGISTRY.get(KIND_ALIASES.get(v.cls, v.cls))
        return op is None or op.category not in (
            "reshaping", "pooling", "regularization", "preprocessing") and (
            op.category != "activation" or op.kind == "PReLU")
    return not isinstance(v, ModelVal)  # a nested model counts by its layers


def _distinct(cands: list, prefer: Any = None) -> list:
    """One candidate per place in the script that builds a model: a builder function called
    in a loop (k-fold) builds one model many times. The last build stands for them, or the
    one the `model` variable holds at the end (`prefer`)."""
    last: dict[int, Any] = {}
    for c in cands:
        if last.get(id(c.node)) is prefer and prefer is not None:
            continue
        last.pop(id(c.node), None)
        last[id(c.node)] = c
    return list(last.values())

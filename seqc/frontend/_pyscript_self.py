"""`self` while a script-defined model class is read: the pieces the subclassed-model reader
(_pyscript_subclass) and the forward()/call() walker (_pyscript_forward and its mixins) both
use, in a leaf below them so the two import one way (the walker reaches `read_instance`
through the Reader, `Reader.read_instance`)."""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..errors import DefinitionError
from ._pyscript_values import Instance, LocalClass, Opaque, is_const

if TYPE_CHECKING:
    from .pyscript import Reader


class Training:
    """The model's training flag: `self.training` (torch), the `training` argument (Keras)."""

    def __repr__(self) -> str:
        return "training"


TRAINING = Training()


@dataclass(eq=False)
class SelfObj:
    """`self` while __init__ and forward()/call() are read: the attributes set so far."""

    inst: Instance
    attrs: dict[str, Any] = field(default_factory=dict)

    def get(self, attr: str, node: ast.AST) -> Any:
        if attr in self.attrs:
            return self.attrs[attr]
        if attr == "training":
            return TRAINING
        cls = self.inst.cls.node
        fn = next((s for s in cls.body if isinstance(s, ast.FunctionDef) and s.name == attr),
                  None)
        if fn is not None and not fn.decorator_list:
            return SelfMethod(fn, self)  # read inline where it is called
        if fn is not None:
            return Opaque(node, f"self.{attr} is a decorated method of {cls.name}; seqc reads "
                                "plain helper methods only")
        return Opaque(node, f"self.{attr} is not set in {cls.name}.__init__")

    def names(self) -> dict[int, str]:
        """id(module) -> its attribute path ("conv1", "layers.2"): the layer names."""
        out: dict[int, str] = {}
        for k, v in self.attrs.items():
            if isinstance(v, (list, tuple)):
                for i, x in enumerate(v):
                    out.setdefault(id(x), f"{k}.{i}")
            elif not is_const(v):
                out.setdefault(id(v), k)
        return out


@dataclass(eq=False)
class SelfMethod:
    """`self.make_layer` / `self.encode`: a plain method of the class being read, read
    inline where it is called (in __init__ like __init__'s own statements, in forward() as
    part of the layer chain)."""

    fn: ast.FunctionDef
    selfobj: SelfObj


MAX_METHOD_DEPTH = 20


def find_method(r: Reader, cls: LocalClass, name: str, depth: int = 0) -> ast.FunctionDef | None:
    """The method as Python finds it: the class, then script-defined base classes."""
    for s in cls.node.body:
        if isinstance(s, ast.FunctionDef) and s.name == name:
            if s.decorator_list:
                raise r.error(s, f"{cls.node.name}.{name}() is decorated; seqc reads plain "
                                 "methods only", field=name, received=r.seg(s))
            return s
    for b in cls.node.bases:
        if isinstance(b, ast.Name) and cls.scope is not None and depth < 10:
            try:
                base = cls.scope.lookup(b.id)
            except KeyError:
                continue
            if isinstance(base, LocalClass):
                found = find_method(r, base, name, depth + 1)
                if found is not None:
                    return found
    return None


def refusal(r: Reader, node: ast.AST, owner: str, what: str,
            hint: str | None = None) -> DefinitionError:
    return r.error(node, f"{owner}: {what}", field="forward", received=r.seg(node),
                   hint=hint or "seqc reads a forward()/call() that passes one tensor through "
                                "layers in order (x = self.layer(x) ... return x); write other "
                                "models as nn.Sequential(...) / keras.Sequential([...])")

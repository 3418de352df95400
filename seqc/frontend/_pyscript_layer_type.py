"""The output type of one spec layer while a script's model is read (the kind's own parse,
check and shape rule), for the readers that must know a type before the IR is built (a
PyTorch forward's view, a Lambda's `x[:, -1]`).
"""

from __future__ import annotations

import ast
from typing import TYPE_CHECKING

from ..errors import SeqcError
from ..ir.types import TensorType

if TYPE_CHECKING:
    from .pyscript import Reader


def _step(r: Reader, d: dict, t: TensorType | list, node: ast.AST,
          index: int) -> TensorType:
    """The output type of one spec layer: the kind's own parse, check and shape rule (`t`:
    the input type, or a list of them for a merge)."""
    from ..errors import layer_label
    from ..ops import get_op
    from ..ops._promote import infer

    cfg = {k: v for k, v in d.items() if k not in ("type", "name", "trainable")}
    try:
        op = get_op(d["type"])
        if op.splits_activation:
            cfg.pop("activation", None)
        attrs = op.parse_attrs(cfg)
        op.check(attrs)
        # the builder's rule (Keras' int -> float32 for Dense & co.); return_state: after
        out = infer(op, attrs, t if isinstance(t, list) else [t])[0]
    except SeqcError as e:
        raise e.located(file=r.where(node),
                        layer=layer_label(index, d.get("name"), d["type"])) from None
    return out

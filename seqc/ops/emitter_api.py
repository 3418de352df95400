"""The interface a kind's `lower(attrs, params, xs, em)` writes ONNX through: what `em` offers.

seqc.export.emitter.Emitter implements it (tests/export checks every member is there); `ops`
names only this Protocol, so lowerings are typed without importing the exporter or onnx.
Values are ONNX value names (str). Layouts: None is the IR's own (channels-last),
`CHANNELS_FIRST`, or an int64 permutation of a flattened channels-first tensor's features.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

import numpy as np

from ..ir.types import TensorType


class Emitter(Protocol):
    CHANNELS_FIRST: str
    opset: int
    # The ONNX value of the timestep mask (bool (N, T)) the node's input carries, or None.
    mask: str | None
    nodes: list[Any]  # the onnx.NodeProto list emitted so far

    def op(self, op_type: str, inputs: list[str], n_out: int = 1,
           **attrs: Any) -> str | list[str]:
        """Add a node in the default domain; its output name (a list when n_out > 1)."""
        ...

    def const(self, array: np.ndarray, hint: str) -> str:
        """An initializer holding a constant (shared by value when small)."""
        ...

    def weight(self, local_name: str, array: np.ndarray) -> str:
        """The current node's parameter, named `<node name>/<local_name>`."""
        ...

    def type_of(self, value_name: str) -> TensorType: ...

    def declare(self, value_name: str, type_: TensorType) -> None: ...

    def layout_of(self, value: str) -> Any: ...

    def is_channels_first(self, value: str) -> bool: ...

    def set_layout(self, value: str, layout: Any) -> None: ...

    def offer_form(self, value: str, form: str, make: Callable[[], str]) -> None:
        """`make()` emits `value` in another form ("time_major"), made only when asked for."""
        ...

    def form_of(self, value: str, form: str) -> str | None:
        """`value` in `form` when its producer offered it, else None."""
        ...

    def canonical(self, value: str) -> str:
        """`value` in the IR's layout, converted once however many consumers ask."""
        ...

    def channels_first(self, value: str) -> str: ...

    def unify(self, xs: list[str]) -> list[str]:
        """Several inputs in one physical layout."""
        ...

    def lower_op(self, op: Any, attrs: Any, params: dict, xs: list[str],
                 out_types: list[TensorType]) -> list[str]:
        """Lower an inner kind (a wrapper's layer) as the exporter lowers a node."""
        ...

    def subgraph(self, name: str, inputs: list[tuple[str, str, tuple]],
                 build: Callable[[list[str]], list[str]], out_shapes: list[tuple]) -> Any:
        """An ONNX GraphProto (a Loop or Scan body) built by `build` on its own emitter."""
        ...

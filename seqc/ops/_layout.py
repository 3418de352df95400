"""For kinds with the "custom" export layout that work on a value in whatever layout it has
(normalizations over named axes): keep a channels-first value as it is and renumber the axes."""

from __future__ import annotations

from .emitter_api import Emitter


def in_place_input(x: str, em: Emitter) -> tuple[str, bool]:
    """(value, whether it is channels-first): a channels-first value is kept, a permuted
    flattening is put back in Keras' order."""
    if em.is_channels_first(x):
        return x, True
    return em.canonical(x), False


def physical_axis(axis: int, rank: int, first: bool) -> int:
    """The non-negative Keras axis `axis` of a rank-`rank` value, in the value ONNX holds:
    channels-first moves the channels (last) to 1 and every spatial axis one up."""
    if not first:
        return axis
    return 1 if axis == rank - 1 else axis + 1


def set_output_layout(y: str, first: bool, em: Emitter) -> str:
    em.set_layout(y, em.CHANNELS_FIRST if first else None)
    return y

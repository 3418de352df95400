"""The layer library: one module per kind, registered by the explicit import list below.

Adding a kind = one new file here plus one line in this list; tests/ops checks that every
module in this package (except helpers starting with `_`) is imported and registered.
"""

from . import (  # noqa: F401  (imported for registration)
    activation,
    dense,
    dropout,
    elu,
    flatten,
    input_layer,
    leaky_relu,
    normalization,
    prelu,
    relu,
    rescaling,
    reshape,
    softmax,
)
from .base import REGISTRY, OpDef, get_op

__all__ = ["REGISTRY", "OpDef", "get_op"]

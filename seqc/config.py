"""One reading of the `name | {"type": name, **kwargs}` form used for optimizers, losses,
schedules, initializers, metrics, callbacks and activations.

Keras' own serialised form `{"module", "class_name", "config": {...}, "registered_name"}` is
accepted too, so configs copied out of Keras files work unchanged.
"""

from __future__ import annotations

from typing import Any

KERAS_SERIALIZATION_KEYS = ("module", "registered_name")


def split_spec(spec: str | dict) -> tuple[Any, dict]:
    """`"adam"` -> ("adam", {}); `{"type": "adam", "learning_rate": 0.1}` -> ("adam", {...});
    `{"class_name": "Adam", "config": {...}}` -> ("Adam", {...}). The name is None when the
    dict has neither "type" nor "class_name"; callers turn that into their own error."""
    if isinstance(spec, str):
        return spec, {}
    if not isinstance(spec, dict):
        from .errors import DefinitionError

        raise DefinitionError('must be a name or an object {"type": name, ...}',
                              received=repr(spec)[:80],
                              hint='e.g. "glorot_uniform" or {"type": "he_normal", "seed": 1}')
    kwargs = dict(spec)
    name = kwargs.pop("type", None) or kwargs.pop("class_name", None)
    if "config" in kwargs and (kwargs["config"] is None or isinstance(kwargs["config"], dict)):
        kwargs = {**(kwargs.pop("config") or {}), **kwargs}
    for k in KERAS_SERIALIZATION_KEYS:
        kwargs.pop(k, None)
    return name, kwargs

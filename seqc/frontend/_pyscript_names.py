"""Keras import-alias resolution: every spelling of a Keras module path (tf.keras, the TF 2
aliases, tf_keras, keras.src, seqc's own Keras-named API) normalised to "keras.<module>",
and the names in it.
"""

from __future__ import annotations

import re

# Module-path prefixes that all mean Keras (tf.keras, the TF 2 aliases, Keras' own src tree).
_KERAS_PREFIXES = (
    ("tensorflow.python.keras", "keras"), ("tensorflow.compat.v2.keras", "keras"),
    ("tensorflow.keras", "keras"), ("tf_keras", "keras"), ("keras.src", "keras"),
    ("keras.api", "keras"), ("tensorflow.optimizers", "keras.optimizers"),
    ("tensorflow.losses", "keras.losses"), ("tensorflow.metrics", "keras.metrics"),
    ("tensorflow.initializers", "keras.initializers"),
    # Keras 2.0-2.2's deprecated layers (Highway, MaxoutDense, ...) lived in keras.legacy.layers.
    ("keras.legacy.layers", "keras.layers"),
    # seqc's Python API mirrors Keras' names (seqc.Sequential, seqc.layers.Dense,
    # seqc.optimizers.Adam, seqc.Input): a script written against it reads as Keras.
    ("seqc", "keras"),
    # six.moves.range is the builtin on Python 3 (scripts written for Python 2 and 3).
    ("six.moves.range", "builtins.range"), ("six.moves.xrange", "builtins.range"),
)
KERAS_SEQUENTIAL = ("keras.Sequential", "keras.models.Sequential")


def norm(path: str) -> str:
    for pre, rep in _KERAS_PREFIXES:
        if path == pre or path.startswith(pre + "."):
            return rep + path[len(pre):]
    return path


def keras_member(path: str, module: str) -> str | None:
    """`keras.layers.Dense` -> "Dense" for module "layers" (Keras 2 submodules such as
    keras.layers.core.Dense too); None when the path is elsewhere."""
    path = norm(path)
    m = re.fullmatch(rf"keras\.{re.escape(module)}\.(?:[a-z_0-9]+\.)*([A-Za-z_]\w*)", path)
    return m.group(1) if m else None


def function_name(path: str) -> str | None:
    """`tf.nn.relu`, `keras.activations.softmax`, `keras.losses.mse` -> their names: Keras
    accepts the function itself wherever it accepts the name."""
    p = norm(path)
    for pre in ("tensorflow.nn.", "keras.activations.", "keras.losses.", "keras.metrics.",
                "keras.ops.", "tensorflow.math."):
        if p.startswith(pre) and "." not in p[len(pre):] and p[len(pre):][:1].islower():
            return p[len(pre):]
    return None

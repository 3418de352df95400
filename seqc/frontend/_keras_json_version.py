"""Which Keras wrote a model JSON, and what that version's configs mean in Keras 3's terms.

detect_version: "keras3" | "tf.keras2" | "keras2.0" from `keras_version` (when present) or the
keys only one family writes. `Reader` carries the version through one file's reading;
`version_args` turns Keras 2 spellings and defaults into the Keras 3 arguments they mean.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from ..errors import DefinitionError, SeqcError

VERSIONS = ("keras3", "tf.keras2", "keras2.0")


def detect_version(doc: dict) -> tuple[str, tuple[int, ...] | None]:
    """("keras3" | "tf.keras2" | "keras2.0", the parsed keras_version or None)."""
    kv_text = doc.get("keras_version")
    kv = _version_tuple(kv_text) if isinstance(kv_text, str) else None
    if isinstance(doc.get("config"), list):
        return "keras2.0", kv
    if kv is not None:
        if kv[0] >= 3:
            return "keras3", kv
        # Multi-backend Keras ended at 2.3.1; tf.keras says "2.x.y-tf" before 2.4 and owns 2.4+.
        if "-tf" in kv_text or kv >= (2, 4) or doc.get("backend") not in (None, "tensorflow",
                                                                           "theano", "cntk"):
            return "tf.keras2", kv
        return "keras2.0", kv
    if "backend" in doc:
        return "tf.keras2", None
    text_keys = _keys_and_values(doc)
    if "batch_input_shape" in text_keys or "Policy" in text_keys:
        return "tf.keras2", None
    return "keras3", None


def _version_tuple(text: str) -> tuple[int, ...] | None:
    m = re.match(r"(\d+)(?:\.(\d+))?(?:\.(\d+))?", text)
    if not m:
        return None
    return tuple(int(g) for g in m.groups() if g is not None)


def _keys_and_values(obj: Any, depth: int = 0) -> set[str]:
    """Dict keys and class names found in the doc (the version signals), bounded depth."""
    out: set[str] = set()
    if depth > 12:
        return out
    if isinstance(obj, dict):
        for k, v in obj.items():
            out.add(k)
            if k == "class_name" and isinstance(v, str):
                out.add(v)
            out |= _keys_and_values(v, depth + 1)
    elif isinstance(obj, list):
        for v in obj:
            out |= _keys_and_values(v, depth + 1)
    return out


@dataclass
class Reader:
    """One file's reading: where errors point, the version's rules, and the training-only
    settings met on the way ("layer: key=value", see _keras_json_training)."""

    file: str
    version: str
    kv: tuple[int, ...] | None
    training_only: list[str] = field(default_factory=list)

    @property
    def keras2(self) -> bool:
        return self.version != "keras3"

    @property
    def legacy_normal(self) -> bool:
        # Multi-backend Keras before 2.2.5 drew VarianceScaling "normal" with stddev
        # sqrt(scale / n), truncated but not corrected for the truncation.
        return self.version == "keras2.0" and (self.kv is None or self.kv < (2, 2, 5))

    def err(self, message: str, label: str | None, field_: str | None, received: Any,
            hint: str | None = None) -> DefinitionError:
        return DefinitionError(message, file=self.file, layer=label, field=field_,
                               received=received, hint=hint)

    def located(self, e: SeqcError, label: str | None, field_: str,
                received: Any = None) -> DefinitionError:
        """An error from one of seqc's tables (initializers, optimizers, losses, metrics),
        pointed at this file's layer and field."""
        return self.err(e.message, label, field_, e.received if received is None else received,
                        e.hint)


def version_args(r: Reader, cls: str, kind: str, cfg: dict, label: str, prefix: str) -> dict:
    """Keras 2 spellings and defaults -> Keras 3 arguments with the same meaning."""
    if cls == "ThresholdedReLU":
        theta = cfg.pop("theta", 1.0)  # Keras 2's default
        cfg["threshold"] = theta
    if kind == "BatchNormalization" and isinstance(cfg.get("axis"), list):
        # tf.keras stores a built layer's axis as a list of positive axes.
        if len(cfg["axis"]) != 1:
            raise r.err("BatchNormalization over several axes is not supported", label,
                        prefix + "axis", f"axis={cfg['axis']}")
        cfg["axis"] = cfg["axis"][0]
    if cfg.get("time_major"):
        raise r.err("time_major=True (time-first inputs) is not supported", label,
                    prefix + "time_major", "time_major=True",
                    hint="feed (batch, time, features) inputs and drop time_major")
    if cls == "Highway":
        cfg = _legacy_highway(r, cfg, label, prefix)
    if kind in ("LSTM", "GRU", "ConvLSTM2D") and r.version == "keras2.0":
        # Multi-backend Keras' defaults, for configs written before a key existed.
        cfg.setdefault("recurrent_activation", "hard_sigmoid")
        if kind == "GRU":
            cfg.setdefault("reset_after", False)
    return cfg


def _legacy_highway(r: Reader, cfg: dict, label: str, prefix: str) -> dict:
    """Keras 1/2's Highway config (init, W_regularizer, bias, ...: Keras 3 has no Highway)
    in seqc's names. Its gate bias starts where that Keras started it: Keras 1's
    transform_bias when the config has one, else Keras 2's 1; seqc's own -1 only for a
    config in seqc's names."""
    from ._keras_legacy import KERAS1_ARGS, KERAS2_GATE_BIAS, gate_bias

    renames = dict(KERAS1_ARGS["Highway"])
    if not r.keras2 and not any(k in cfg for k in renames):
        return cfg
    out = {}
    for k, v in cfg.items():
        new = renames.get(k, k)
        if new in out or (new != k and new in cfg):
            raise r.err(f"Highway gets both {k} and {new}", label, prefix + new,
                        f"{k}={short(v)}")
        if k == "transform_bias":
            try:
                v = gate_bias(v)
            except SeqcError as e:
                raise r.located(e, label, prefix + k) from None
        out[new] = v
    out.setdefault("transform_bias_initializer",
                   {"class_name": "Constant", "config": {"value": KERAS2_GATE_BIAS}})
    return out


# ---------------------------------------------------------------- small helpers

def short(v: Any, n: int = 160) -> str:
    text = repr(v)
    return text if len(text) <= n else text[: n - 3] + "..."


def snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def dtype_name(dtype: Any) -> str:
    """"float32", a DTypePolicy / Policy object, or {"config": {"name": ...}} -> its name."""
    if isinstance(dtype, str):
        return dtype
    if isinstance(dtype, dict):
        cfg = dtype.get("config")
        if isinstance(cfg, dict) and isinstance(cfg.get("name"), str):
            return cfg["name"]
        if isinstance(dtype.get("name"), str):
            return dtype["name"]
    return repr(dtype)

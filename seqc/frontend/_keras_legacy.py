"""Keras 1 and Keras 2 spellings -> the Keras 3 arguments they mean, for the readers that meet
them (scripts; the Keras 2 JSON reader for lr).

KERAS1_ARGS is Keras 2.0-2.2's own conversion table (keras/legacy/interfaces.py: the
`legacy_*_support` decorators), by seqc kind; DIM_ORDERING and CONSUME_LESS its value maps.
Keras 2 warned "Update your `Dense` call to the Keras 2 API" and renamed; the readers do the
same, one warning line per renamed argument.
"""

from __future__ import annotations

from typing import Any

from ..errors import DefinitionError

# Keras 1 image layouts; "default" was the keras.json setting, which seqc fixes to Keras 3's.
DIM_ORDERING = {"tf": "channels_last", "th": "channels_first", "default": None}

_WEIGHTS = (("init", "kernel_initializer"), ("W_regularizer", "kernel_regularizer"),
            ("b_regularizer", "bias_regularizer"), ("W_constraint", "kernel_constraint"),
            ("b_constraint", "bias_constraint"), ("bias", "use_bias"))
_CONV = (("nb_filter", "filters"), ("subsample", "strides"), ("border_mode", "padding"),
         ("dim_ordering", "data_format"), *_WEIGHTS)
_POOL1D = (("pool_length", "pool_size"), ("stride", "strides"), ("border_mode", "padding"))
_POOL = (("border_mode", "padding"), ("dim_ordering", "data_format"))
_ORDER = (("dim_ordering", "data_format"),)
_RNN = (("output_dim", "units"), ("init", "kernel_initializer"),
        ("inner_init", "recurrent_initializer"), ("inner_activation", "recurrent_activation"),
        ("W_regularizer", "kernel_regularizer"), ("b_regularizer", "bias_regularizer"),
        ("U_regularizer", "recurrent_regularizer"), ("dropout_W", "dropout"),
        ("dropout_U", "recurrent_dropout"), ("consume_less", "implementation"))


def _table() -> dict[str, tuple[tuple[str, str], ...]]:
    t: dict[str, tuple[tuple[str, str], ...]] = {
        "Dense": (("output_dim", "units"), *_WEIGHTS),
        "Dropout": (("p", "rate"),), "GaussianDropout": (("p", "rate"),),
        "SpatialDropout1D": (("p", "rate"),),
        "SpatialDropout2D": (("p", "rate"), *_ORDER), "SpatialDropout3D": (("p", "rate"), *_ORDER),
        "GaussianNoise": (("sigma", "stddev"),),
        "Embedding": (("init", "embeddings_initializer"),
                      ("W_regularizer", "embeddings_regularizer"),
                      ("W_constraint", "embeddings_constraint")),
        "MaxPooling1D": _POOL1D, "AveragePooling1D": _POOL1D,
        "PReLU": (("init", "alpha_initializer"),),
        "UpSampling1D": (("length", "size"),),
        "Conv1D": (("nb_filter", "filters"), ("filter_length", "kernel_size"),
                   ("subsample_length", "strides"), ("border_mode", "padding"), *_WEIGHTS),
        # SeparableConv2D's `init` sets both initializers (see keras1_args).
        "SeparableConv2D": tuple(p for p in _CONV if p[0] not in (
            "init", "W_regularizer", "W_constraint")),
        "BatchNormalization": (("beta_init", "beta_initializer"),
                               ("gamma_init", "gamma_initializer")),
        "LSTM": _RNN, "GRU": _RNN, "SimpleRNN": _RNN,
        # Keras 2's legacy_convlstm2d_support (its preprocessor also reads nb_row/nb_col and
        # forget_bias_init, as for Conv2D and LSTM; see _pyscript_legacy).
        "ConvLSTM2D": (("nb_filter", "filters"), ("subsample", "strides"),
                       ("border_mode", "padding"), ("dim_ordering", "data_format"),
                       ("init", "kernel_initializer"), ("inner_init", "recurrent_initializer"),
                       ("W_regularizer", "kernel_regularizer"),
                       ("U_regularizer", "recurrent_regularizer"),
                       ("b_regularizer", "bias_regularizer"),
                       ("inner_activation", "recurrent_activation"), ("dropout_W", "dropout"),
                       ("dropout_U", "recurrent_dropout"), ("bias", "use_bias")),
        # Keras 1's keras.layers.Highway / Keras 2's keras.legacy.layers.Highway (W, b:
        # kernel, bias; `init` for both kernels; Keras 1's transform_bias, see gate_bias).
        "Highway": (*_WEIGHTS, ("transform_bias", "transform_bias_initializer")),
    }
    for d in (2, 3):
        for k in (f"MaxPooling{d}D", f"AveragePooling{d}D"):
            t[k] = _POOL
        for k in (f"UpSampling{d}D", f"ZeroPadding{d}D", f"Cropping{d}D"):
            t[k] = _ORDER
        t[f"Conv{d}D"] = t[f"Conv{d}DTranspose"] = _CONV
    for d in (1, 2, 3):
        for k in (f"GlobalMaxPooling{d}D", f"GlobalAveragePooling{d}D"):
            t[k] = _ORDER
    return t


KERAS1_ARGS = _table()
KERAS1_NAMES = {old for pairs in KERAS1_ARGS.values() for old, _ in pairs}
# Layer classes Keras 2 still exported under their Keras 1 names (seqc.ops.base.KIND_ALIASES
# has the Convolution*D ones).
KERAS1_CLASSES = {"Deconvolution2D": "Conv2DTranspose", "Deconvolution3D": "Conv3DTranspose",
                  "Deconv2D": "Conv2DTranspose", "Deconv3D": "Conv3DTranspose"}
# A Keras 1 class spelling: positional kernel sizes follow Keras 1's (nb_row, nb_col) order.
KERAS1_CONV_CLASSES = {"Convolution2D", "Convolution3D", "Deconvolution2D", "Deconvolution3D",
                       "SeparableConvolution2D", "Deconv2D", "Deconv3D"}


# Keras 2's legacy Highway started its gate bias (b_carry) at 1 ('one') and dropped Keras 1's
# transform_bias argument (default -2) with a warning; seqc's default is -1.
KERAS2_GATE_BIAS = 1.0


def gate_bias(value: Any) -> dict:
    """Keras 1's Highway(transform_bias=v) (its gate bias started at v) as seqc's
    transform_bias_initializer."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise DefinitionError("Highway's transform_bias must be a number", field="transform_bias",
                              received=f"transform_bias={value!r}")
    return {"class_name": "Constant", "config": {"value": float(value)}}


def keras1_target(kind: str, old: str) -> str | None:
    """The Keras 2/3 name of Keras 1 argument `old` on layer kind `kind`, or None."""
    return dict(KERAS1_ARGS.get(kind, ())).get(old)


def rename_lr(cfg: dict) -> bool:
    """Keras 2's optimizer `lr` -> `learning_rate`, in place; True when it was there. Both
    given is a DefinitionError (the caller locates it)."""
    if "lr" not in cfg:
        return False
    if "learning_rate" in cfg:
        raise DefinitionError("the optimizer gives both lr and learning_rate",
                              field="lr", received=f"lr={cfg['lr']}, "
                                                   f"learning_rate={cfg['learning_rate']}")
    cfg["learning_rate"] = cfg.pop("lr")
    return True


def decay_schedule(learning_rate: Any, decay: Any) -> dict:
    """Keras 2's optimizer `decay` (lr / (1 + decay * iterations), iterations counted before
    the update) as the Keras 3 schedule that computes the same: InverseTimeDecay with
    decay_steps=1."""
    if isinstance(learning_rate, dict):
        raise DefinitionError("Keras 2's decay on top of a learning-rate schedule has no "
                              "Keras 3 equivalent", field="decay",
                              received=f"decay={decay}, learning_rate={learning_rate}",
                              hint="fold the decay into the schedule and drop decay=")
    return {"type": "InverseTimeDecay", "initial_learning_rate": learning_rate,
            "decay_steps": 1, "decay_rate": decay}

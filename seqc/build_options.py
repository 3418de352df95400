"""`seqc build`'s settings: BuildOptions (the CLI's flags), the compile settings they override,
and where progress lines go."""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from typing import Any

__all__ = ["BuildOptions", "compile_settings", "fit_verbose", "say"]


@dataclass
class BuildOptions:
    out_dir: str | None = None
    data: str | None = None
    x: str | None = None
    y: str | None = None
    target: str | None = None
    # fit's validation_data: --val-data FILE or --val-x/--val-y (a spec's data.validation)
    val_data: str | None = None
    val_x: str | None = None
    val_y: str | None = None
    epochs: int | None = None
    batch_size: int | None = None
    steps_per_epoch: int | None = None  # overrides the definition's, as epochs does
    seed: int | None = None
    opset: int = 17
    input_layout: str = "channels_last"
    fold_batchnorm: bool = True
    fold_preprocessing: bool = True
    train: bool = True
    verbose: int = 1  # 0 quiet, 1 progress, 2 also the export's passes and node counts
    max_memory: int | None = -1  # -1: the model's default limit
    atol: float = 1e-5
    rtol: float = 1e-4
    runtimes: tuple[str, ...] = ("onnxruntime",)
    log: Any = print  # progress lines (None: silent)
    extra: dict = field(default_factory=dict)
    # Override the definition's compile section (a Keras file's compile_config included).
    optimizer: str | None = None
    loss: str | None = None
    learning_rate: float | None = None
    test_vectors: int = 8  # held-out rows embedded in model.onnx (0: none)
    defines: dict = field(default_factory=dict)  # --define NAME=VALUE for a script
    model: str | None = None  # --model NAME: which of a script's models to build
    # Export variants (seqc.export.variants), each validated and scored on the held-out rows.
    float16: bool = False
    int8: str | None = None  # "dynamic" | "static"
    save_optimized: str | None = None  # an onnxruntime optimization level
    cleanup: bool = False  # seqc's ONNX clean-up passes on model.onnx (seqc.export.cleanup)
    clean: bool = False  # the new folder keeps none of the old one's other files (rejected/...)
    report: bool = True  # report.html, when the report extra (matplotlib) is installed

    # Warnings before training (seqc.training.lint): `warn` prints the block (None: `log`, or
    # Python warnings when both are None), `ignore` drops codes, `strict` stops the build.
    warn: Any = None
    ignore: tuple[str, ...] = ()
    strict: bool = False
    tensorboard: str | None = None  # --tensorboard DIR: TensorBoard logs with histograms


def compile_settings(defn: Any, opts: BuildOptions) -> dict | None:
    """The definition's compile kwargs with the --optimizer/--loss/--learning-rate flags
    applied; None when neither gives a loss and an optimizer to train with."""
    cfg = dict(defn.compile or {})
    if opts.optimizer is not None:
        cfg["optimizer"] = opts.optimizer
    if opts.loss is not None:
        cfg["loss"] = opts.loss
    if opts.learning_rate is not None:
        from .config import split_spec

        name, kwargs = split_spec(cfg.get("optimizer", "rmsprop"))
        cfg["optimizer"] = {**kwargs, "type": name, "learning_rate": opts.learning_rate}
    return cfg or None


def fit_verbose(opts: BuildOptions) -> int:
    """Keras' per-step bar (1) when the epoch lines go to a terminal, else one line per
    epoch (2); 0 when quiet."""
    if not opts.verbose:
        return 0
    return 1 if getattr(sys.stdout, "isatty", lambda: False)() else 2


def say(opts: BuildOptions, msg: str) -> None:
    if opts.log is not None and opts.verbose:
        opts.log(msg)

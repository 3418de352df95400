"""`seqc build`: definition -> (trained) model -> model.onnx, proven against the NumPy forward.

Everything is written to a staging folder beside the output folder first; the output folder is
replaced as a whole (seqc.publish) only after export and validation succeeded, so a failed or
killed build never leaves a half-written model.onnx, never mixes two builds, and never damages
an earlier good build. The output folder is locked for the whole build. A build whose ONNX
disagrees with NumPy keeps its artifacts in `<out>/rejected/` and exits 1.

This module runs the steps in order; next to it are build_options.py (BuildOptions),
build_data.py (the data), build_folder.py (the output and staging folders) and
build_export.py (export, validation and the report).
"""

from __future__ import annotations

import os
import shutil
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import numpy as np

from .build_data import (
    definition_bindings,
    load_build_data,
    load_validation_data,
    sharded,
    val_dataset,
)
from .build_export import export_and_validate
from .build_folder import ARTIFACTS, OPTIONAL_ARTIFACTS, staging_folder, take_folder
from .build_options import BuildOptions, compile_settings, fit_verbose, say
from .errors import DataError, SeqcError, UsageError, ValidationFailure
from .publish import MARKER, publish

# BuildOptions and compile_settings are imported from here by the CLI, convert and tests.
__all__ = ["MAX_VALIDATION_ROWS", "N_SYNTHETIC", "BuildOptions", "build", "check_build_memory",
           "compile_settings"]


# Inputs compared between NumPy and onnxruntime when the build has no held-out data.
N_SYNTHETIC = 64
MAX_VALIDATION_ROWS = 1024


def _lint_reporting(opts: BuildOptions, def_path: str, seen: list[dict]) -> Any:
    """Where fit's warnings go: a `warnings:` block before the first epoch (--ignore, --strict);
    those not ignored are also appended to `seen` (report.json's "warnings")."""
    from .training import lint_report

    show = lint_report.reporter(opts.warn or opts.log, ignore=opts.ignore,
                                strict=opts.strict, file=str(def_path))

    def handle(findings: list[Any]) -> None:
        seen.extend(f.to_json() for f in findings if f.code not in opts.ignore)
        show(findings)

    return lint_report.reporting(handle)


def _data_label(dataset: Any) -> str | None:
    return getattr(dataset, "source", None)


def build(def_path: str, opts: BuildOptions | None = None) -> dict[str, Any]:
    """Run the whole pipeline; returns the report. Raises SeqcError on bad input and
    ValidationFailure (exit 1) when the exported model disagrees with NumPy."""
    with ExitStack() as held:  # the output folder's lock, from the parse to the publication
        return _build(def_path, opts or BuildOptions(), held)


def _build(def_path: str, opts: BuildOptions, held: ExitStack) -> dict[str, Any]:
    from .frontend import load_definition

    timings: dict[str, float] = {}
    from .training.checks import n_samples, take

    t0 = time.perf_counter()
    limit = {} if opts.max_memory == -1 else {"max_memory": opts.max_memory}
    bindings, flag_data = definition_bindings(def_path, opts, opts.defines, opts.model)
    defn = load_definition(def_path, bindings=bindings, **limit)
    model = defn.model
    timings["parse_s"] = time.perf_counter() - t0
    for line in defn.notes:
        say(opts, line)
    out_dir = Path(opts.out_dir or os.path.join("build", model.name))
    target = take_folder(out_dir, opts, held)

    fit_cfg = dict(defn.fit or {})
    flag_cfg = {}  # the flags win over the definition's fit (every stage's, in stages)
    for key, val in (("epochs", opts.epochs), ("batch_size", opts.batch_size),
                     ("seed", opts.seed), ("steps_per_epoch", opts.steps_per_epoch)):
        if val is not None:
            fit_cfg[key] = flag_cfg[key] = val
    if opts.tensorboard is not None:
        from .training.tensorboard import TensorBoard

        fit_cfg["callbacks"] = [*(fit_cfg.get("callbacks") or []),
                                TensorBoard(log_dir=opts.tensorboard, histogram_freq=1)]
    if opts.seed is not None and opts.seed != model.seed:
        model.seed = opts.seed
        if not defn.has_weights:  # a Keras file's weights are kept: training continues
            model._init_params()

    defn.compile = compile_settings(defn, opts)
    if defn.compile:
        # Check the compile section even when nothing will train, so a typo in an optimizer
        # name never passes silently.
        try:
            model.compile(**defn.compile)
        except SeqcError as e:
            raise e.located(file=str(def_path)) from None

    t = time.perf_counter()
    # The flags' data was read plainly for the definition; a spec's data section says how
    # to read it (timeseries windows, label dtype), so it is read again that way.
    # A model with several inputs or outputs reads the named arrays of an .npz by its names.
    several_io = len(model.graph.inputs) > 1 or len(model.graph.outputs) > 1
    shards = None
    if opts.data and sharded(opts.data):  # data larger than memory: streamed by fit
        from .data import build_source

        shards = build_source(defn, opts.data, opts.target)
    dataset = None if shards is not None else flag_data \
        if flag_data is not None and not defn.data and not several_io \
        else load_build_data(defn, opts)
    val = load_validation_data(defn, opts) if defn.format != "python" else None if \
        bindings.val_x is None else val_dataset(bindings)
    staged = defn.extra.get("stage_data")  # a script's stages on their own arrays
    if staged and dataset is not None:
        from .training.stages import last_stage_data

        dataset, val = last_stage_data(staged, dataset)
    timings["data_s"] = time.perf_counter() - t
    check_build_memory(model, dataset, max(  # the largest batch of any stage
        [fit_cfg, *({**st["fit"], **flag_cfg} for st in defn.stages or [])],
        key=lambda c: c.get("batch_size") or 32), opts, def_path)
    if dataset is not None and dataset.class_names:
        model.class_names = list(dataset.class_names)
    aug = fit_cfg.get("augmentation")
    if aug and aug.get("rescale") and dataset is not None:
        from .training.augment import rescale_first

        dataset.x, fit_cfg["augmentation"] = rescale_first(dataset.x, aug)
        say(opts, f"augmentation rescale={aug['rescale']:g}: the data given is rescaled once, "
                  "as the model sees it in training, validation and the held-out checks")
    if dataset is not None and not isinstance(dataset.x, dict):
        from .training.data import shape_rows_for

        note = shape_rows_for(dataset, model.graph.input_type)
        if note:
            say(opts, note)

    history: dict[str, list[float]] = {}
    final_metrics: dict[str, float] = {}
    events: list[dict] = []  # EarlyStopping / ReduceLROnPlateau, for the report
    warned: list[dict] = []  # the warnings before training (training/lint.py), for the report
    trained = False
    holdout_x = holdout_y = train_x = None
    if opts.train and defn.compile and dataset is not None and dataset.y is None:
        say(opts, "No labels given (--x without --y): exporting the initial weights "
                  "untrained; labels are needed only to train")
    elif opts.train and defn.compile and (dataset is not None or shards is not None):
        if shards is not None:
            say(opts, f"Training {model.name} on {len(shards)} samples in "
                      f"{len(shards.shards)} shards")
            x, y = shards, None
        else:
            say(opts, f"Training {model.name} on {len(dataset)} samples" if not staged else
                f"Training {model.name} in {len(staged)} stages on their own rows ("
                f"{', '.join(str(len(s[0])) for s in staged)} samples)")
            y = dataset.y if isinstance(dataset.y, dict) else defn.prepare_labels(dataset.y)
            x = dataset.x  # data.one_hot above; several inputs/outputs: dicts by name
        t = time.perf_counter()
        try:
            # A NaN or infinite loss stops the build (exit 1), where Keras would train on.
            with _lint_reporting(opts, def_path, warned):
                if val is not None:  # Keras: validation_data wins over validation_split
                    fit_cfg["validation_data"] = (val.x, val.y if isinstance(val.y, dict)
                                                  else defn.prepare_labels(val.y))
                if defn.stages:  # fit, freeze, compile, fit: seqc.training.stages
                    from .training.stages import fit_stages

                    stage_flags = {**flag_cfg, **({"validation_data": fit_cfg[
                        "validation_data"]} if val is not None else {})}
                    hist, fit_cfg, defn.extra["stages_run"] = fit_stages(
                        model, defn.stages, x, y, defn.fit or {}, stage_flags,
                        fit_cfg["callbacks"][-1:] if opts.tensorboard is not None else [],
                        data=staged and [(sx, defn.prepare_labels(sy), vx, vy if vy is None
                                          else defn.prepare_labels(vy))
                                         for sx, sy, vx, vy in staged],
                        verbose=fit_verbose(opts), nonfinite="raise")
                else:
                    hist = model.fit(x, y, **{**fit_cfg, "verbose": fit_verbose(opts),
                                              "nonfinite": "raise"})
        except DataError as e:
            # The fit loop names the array and row; the user also needs the file.
            raise e.located(file=_data_label(dataset)) from None
        except SeqcError as e:  # fit settings (callbacks, class_weight...) come from the spec
            raise e.located(file=str(def_path)) from None
        timings["train_s"] = time.perf_counter() - t
        history = hist if defn.stages else {k: [float(v) for v in vs]
                                            for k, vs in hist.history.items()}
        final_metrics = {k: vs[-1] for k, vs in history.items() if vs}
        events = [e for r in defn.extra["stages_run"] for e in r["events"]] if defn.stages \
            else list(getattr(hist, "events", []))
        trained = True
        split = float(fit_cfg.get("validation_split") or 0.0)
        if val is not None:
            holdout_x, holdout_y, train_x = val.x, fit_cfg["validation_data"][1], x
        elif shards is not None:
            from .data import holdout

            start = int(len(shards) * (1 - split)) if split > 0 else 0
            holdout_x, holdout_y = holdout(model, shards, start, MAX_VALIDATION_ROWS)
            train_x = holdout(model, shards, 0, MAX_VALIDATION_ROWS)[0]
        elif split > 0:
            cut = int(len(dataset) * (1 - split))
            head, tail = slice(None, cut), slice(cut, None)
            train_x, holdout_x, holdout_y = take(x, head), take(x, tail), take(y, tail)
        else:
            train_x = x
    elif opts.train and defn.compile and dataset is None and shards is None:
        fits = (defn.extra.get("python") or {}).get("fit_data")
        say(opts, "No data given (definition has no data section, no --data/--x/--y): "
                  "exporting the initial weights untrained"
            + (f"; the script's {', '.join(fits)} is not run (give its data with --x/--y "
               "or --data)" if fits else ""))
    if opts.tensorboard is not None and not trained:
        say(opts, f"--tensorboard: nothing was trained, so no logs were written to "
                  f"{opts.tensorboard}")
    if holdout_x is None and dataset is not None:
        holdout_x, train_x = dataset.x, dataset.x
        if dataset.y is not None:
            holdout_y = dataset.y if isinstance(dataset.y, dict) else \
                defn.prepare_labels(dataset.y)
    if holdout_x is None or n_samples(holdout_x) == 0:
        from .runtime.validate import random_inputs

        graph = model.graph
        holdout_x = {n: random_inputs(graph.types[n], (opts.seed or 0) + i, N_SYNTHETIC,
                                      ids=True, graph=graph)
                     for i, n in enumerate(graph.inputs)}
        if len(graph.inputs) == 1:
            holdout_x = holdout_x[graph.inputs[0]]
        holdout_y = None
    rows = slice(None, MAX_VALIDATION_ROWS)
    if isinstance(holdout_x, dict):
        holdout_x = take(holdout_x, rows)
    else:
        holdout_x = np.asarray(holdout_x)[rows]
    if holdout_y is not None:
        holdout_y = take(holdout_y, rows) if isinstance(holdout_y, dict) else \
            np.asarray(holdout_y)[rows]
    if several_io and (opts.float16 or opts.int8 or opts.save_optimized):
        raise UsageError("--float16, --int8 and --save-optimized take a model with one input "
                         "and one output for now", field="--float16",
                         received=f"inputs {list(model.graph.inputs)}, outputs "
                                  f"{model.graph.output_names}",
                         hint="build without them; the float32 model.onnx has every input "
                              "and output")

    staging = staging_folder(target, out_dir)
    try:
        try:
            report = export_and_validate(model, defn, staging,
                                         (holdout_x, holdout_y, train_x), opts, timings,
                                         history, final_metrics, trained, t0, events, warned)
        except DataError as e:  # held-out rows of the data the model does not take
            raise e.located(file=_data_label(dataset)) from None
        ok = report["validation"]["ok"] and (report["variants"] or {}).get("ok", True)
        if ok:
            written = [n for n in OPTIONAL_ARTIFACTS if (staging / n).exists()]
            publish(staging, target, ARTIFACTS + OPTIONAL_ARTIFACTS, keep_others=not opts.clean)
            say(opts, f"Wrote {', '.join([*ARTIFACTS, *written])} to {out_dir}/")
        else:
            previous = (target / "model.onnx").exists()
            target.mkdir(exist_ok=True)
            rejected = target / "rejected"
            shutil.rmtree(rejected, ignore_errors=True)
            (staging / MARKER).unlink()
            os.replace(staging, rejected)
            what = ("the exported ONNX model disagrees with the NumPy model on held-out inputs: "
                    + report["validation"]["summary"]) if not report["validation"]["ok"] else (
                "an export variant is outside its tolerance or loses more than one point of "
                "held-out accuracy (report.json, \"variants\")")
            raise ValidationFailure(
                what,
                file=str(def_path),
                hint=f"artifacts kept in {out_dir}/rejected/ for inspection; "
                     + (f"the previous build in {out_dir}/ is untouched" if previous else
                        "no model was published"))
    finally:
        if (staging / MARKER).exists():  # never published: an abandoned build
            shutil.rmtree(staging, ignore_errors=True)
    return report


def check_build_memory(model: Any, dataset: Any, fit_cfg: dict, opts: Any,
                       def_path: str) -> None:
    """The --max-memory check again, now that the data, the batch size and the optimizer are
    known (the model checked the parameters alone when it was built)."""
    from .model import check_memory
    from .training.checks import n_samples

    limit = model.max_memory if opts.max_memory == -1 else opts.max_memory
    train = bool(opts.train and model.compiled and dataset is not None
                 and dataset.y is not None)
    arrays = [] if dataset is None else [
        *(dataset.x.values() if isinstance(dataset.x, dict) else [dataset.x]),
        *(dataset.y.values() if isinstance(dataset.y, dict) else [dataset.y])]
    for a in arrays:
        if a is not None and np.ndim(a) == 0:  # before anything counts its rows
            raise DataError("the data is one value, not rows of samples", file=_data_label(
                dataset), field="data", received=f"an array of shape () ({np.asarray(a).dtype})",
                hint="save one row per sample: x of shape (samples, features...)")
    data_bytes = sum(int(getattr(a, "nbytes", 0)) for a in arrays if a is not None)
    piped = [st.get("batch") for st in fit_cfg.get("pipeline") or [] if isinstance(st, dict)]
    batch = fit_cfg.get("batch_size") or next((b for b in piped if isinstance(b, int)), 32)
    batch, rows = int(batch), N_SYNTHETIC
    if dataset is not None:
        rows = min(max(n_samples(dataset.x), 1), MAX_VALIDATION_ROWS)
        batch = min(batch, rows)
    slots = len(model.compiled.optimizer.slot_names()) if train else 0
    check_memory(model.graph, limit, def_path, batch_size=batch, train=train, slots=slots,
                 data_bytes=data_bytes, rows=rows)

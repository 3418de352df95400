"""The `seqc` command. Exit codes: 0 success, 1 validation disagreement or failed check,
2 bad input (one-paragraph message, no traceback unless --debug), anything else is a bug.

Only click is imported at module level so `seqc --help` stays fast; every command imports
the stage it needs inside its body.
"""

from __future__ import annotations

import errno
import functools
import os
import re
import sys
import traceback
import warnings

import click

from . import __version__

EXIT_BUG = 70  # EX_SOFTWARE: an internal error, never bad input


class _State:
    debug = False


def _fail(message: str, code: int) -> None:
    click.echo(message, err=True)
    sys.exit(code)


_DISK_HINTS = {
    errno.EEXIST: "a file is in the way: -o names a file where a folder is needed, or a "
                  "folder on the path is a file; choose another -o",
    errno.ENOTDIR: "a part of the path is a file, not a folder; choose another -o",
    errno.EISDIR: "the path is a folder where a file is needed; name a file",
    errno.EACCES: "no permission to write there; choose another -o",
    errno.EPERM: "no permission to write there; choose another -o",
    errno.EROFS: "the file system is read-only; choose another -o",
    errno.ENOSPC: "the disk is full; free some space or choose another -o",
    errno.EDQUOT: "the disk quota is used up; free some space or choose another -o",
}


def _disk_fault_hint(e: BaseException) -> str | None:
    """A hint when `e` is a file-system fault on a named path (read-only or full disk, a file
    in the way), which is the user's to fix; None for anything else."""
    if isinstance(e, OSError) and e.errno in _DISK_HINTS and (
            e.filename or e.errno in (errno.ENOSPC, errno.EDQUOT)):
        return _DISK_HINTS[e.errno]
    return None


def handle_errors(fn):
    """Turn SeqcError into its exit code and message; anything else is reported as a bug.
    NumPy's RuntimeWarnings become one line (_numeric_note)."""

    @functools.wraps(fn)
    def run(*args, **kwargs):
        from .errors import SeqcError

        try:
            return fn(*args, **kwargs)
        except SeqcError as e:
            if _State.debug:
                traceback.print_exc()
            label = "validation failed" if e.exit_code == 1 else "error"
            if e.kind == "training":
                label = "training failed"
            _fail(f"{label}: {e}", e.exit_code)
        except KeyboardInterrupt:
            _fail("interrupted", 130)
        except BrokenPipeError:
            # `seqc ... | head`: the reader left. Say nothing more (stdout is gone; Python's
            # own advice is to point it at devnull so the exit flush cannot fail again) and
            # exit as a shell reports a process ended by SIGPIPE.
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            sys.exit(128 + 13)
        except (click.exceptions.Exit, click.ClickException, SystemExit):
            raise
        except Exception as e:  # noqa: BLE001 - the last line of defence: report, don't crash
            if _State.debug:
                traceback.print_exc()
            hint = _disk_fault_hint(e)
            if hint is not None:  # the disk or the path, not seqc: bad input, exit 2
                _fail(f"error: {e.filename or 'writing the output'}: {e.strerror}\n"
                      f"hint: {hint}", 2)
            _fail(f"internal error (a bug in seqc, please report it): {type(e).__name__}: {e}\n"
                  "hint: rerun with --debug for the traceback", EXIT_BUG)

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        if _State.debug:
            return run(*args, **kwargs)
        caught: list = []
        try:
            with warnings.catch_warnings(record=True) as caught:
                return run(*args, **kwargs)
        finally:
            # Outside the recording: showwarning inside it would append to `caught` while
            # it is iterated, without end.
            _numeric_note(caught)

    return wrapper


def _numeric_note(caught: list) -> None:
    """NumPy's floating-point RuntimeWarnings ("overflow encountered in matmul"), caught while
    a command ran, become one seqc line: inf and NaN are seqc's to report (a NaN loss stops a
    build, a disagreement exits 1), not Python warnings from inside seqc. Every other warning
    is shown as Python would have shown it."""
    numeric = [w for w in caught if issubclass(w.category, RuntimeWarning)
               and " encountered in " in str(w.message)]
    for w in caught:
        if w not in numeric:
            warnings.showwarning(w.message, w.category, w.filename, w.lineno)
    if numeric:
        kinds = sorted({str(w.message).split(" encountered in ")[0] for w in numeric})
        click.echo(f"note: NumPy reported {' and '.join(kinds)} (inf or NaN in the arithmetic); "
                   "the results above include them (--debug shows where)", err=True)


def parse_size(text: str | None) -> int | None:
    """'4GB', '512MiB', '1e9', 'none' -> bytes (None = no limit)."""
    if text is None:
        return None
    t = text.strip().lower()
    if t in ("none", "off", "0", "unlimited"):
        return None
    m = re.fullmatch(r"([0-9.e+]+)\s*(b|kb|kib|mb|mib|gb|gib|tb|tib)?", t)
    if not m:
        from .errors import UsageError

        raise UsageError("--max-memory must be a size such as 8GB or 'none'", field="--max-memory",
                         received=f"--max-memory {text}")
    unit = (m.group(2) or "b").replace("i", "")
    mult = {"b": 1, "kb": 1024, "mb": 1024**2, "gb": 1024**3, "tb": 1024**4}[unit]
    return int(float(m.group(1)) * mult)


def _time_limited(fn):
    """--time-limit SECONDS: every onnxruntime run the command makes stops after this long
    (runtime/bounds.py), so a model whose loop never ends cannot hang the command."""

    @functools.wraps(fn)
    def wrapper(*args, time_limit=None, **kwargs):
        from .runtime.bounds import DEFAULT_TIME_LIMIT
        from .runtime.bounds import time_limit as limit

        seconds = DEFAULT_TIME_LIMIT if time_limit is None else _parse_seconds(time_limit)
        with limit(seconds):
            return fn(*args, **kwargs)

    return click.option(
        "--time-limit", default=None, metavar="SECONDS",
        help="Stop any one onnxruntime run (one batch) after this many seconds (default "
             "600; 'none' for no limit).")(wrapper)


def _parse_seconds(text: str) -> float | None:
    if text.strip().lower() in ("none", "off", "unlimited"):
        return None
    try:
        seconds = float(text)
    except ValueError:
        seconds = -1.0
    if not seconds > 0 or seconds == float("inf"):
        from .errors import UsageError

        raise UsageError("--time-limit must be a number of seconds > 0, or 'none'",
                         field="--time-limit", received=f"--time-limit {text}")
    return seconds


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="seqc")
@click.option("--debug", is_flag=True, help="Show tracebacks for errors.")
def cli(debug: bool) -> None:
    """seqc: compile sequential neural networks to trained, validated ONNX.

    \b
    seqc build examples/breast_cancer_mlp.json     parse, train, export, validate
    seqc convert model.keras -o model.onnx         a Keras model to ONNX, no training
    seqc validate build/my_model                   every runtime agrees; stored vectors hold
    seqc bench build/my_model --numpy              latency percentiles and throughput
    seqc summary examples/digits_mlp.json          Keras-style layer table
    seqc plot build/my_model -o model.svg          draw the model (--history: curves)
    seqc ops                                       supported layer kinds
    """
    _State.debug = debug


def _data_options(fn):
    """--data/--x/--y/--target: the data a definition is fitted on (a script's fit names and
    a model with no input shape take their shapes from it)."""
    for opt in reversed([
        click.option("--data", type=click.Path(), default=None,
                     help="Data: a .csv with a header row, an .npz with x and y, or (build) "
                          "a folder or glob of shards streamed from disk (see docs/scale.md)."),
        click.option("--x", "x_path", type=click.Path(), default=None,
                     help="Inputs as .npy (alone: shapes only, no training)."),
        click.option("--y", "y_path", type=click.Path(), default=None, help="Labels as .npy."),
        click.option("--target", default=None,
                     help="CSV (or Parquet shards') label column name."),
    ]):
        fn = opt(fn)
    return fn


def _validation_options(fn):
    """--val-data/--val-x/--val-y: fit's validation_data (a script's own validation_data)."""
    for opt in reversed([
        click.option("--val-data", type=click.Path(), default=None,
                     help="Validation data (fit's validation_data): a .csv (read with "
                          "--target) or an .npz with x and y."),
        click.option("--val-x", "val_x", type=click.Path(), default=None,
                     help="Validation inputs as .npy (with --val-y)."),
        click.option("--val-y", "val_y", type=click.Path(), default=None,
                     help="Validation labels as .npy."),
    ]):
        fn = opt(fn)
    return fn


def _reading_options(fn):
    """--define and --model: what a Python script cannot say itself."""
    fn = click.option("--model", "model_name", default=None,
                      help="Which model to build when a script builds several (its variable "
                           "or function name, or its name=...).")(fn)
    return click.option("--define", "defines", multiple=True, metavar="NAME=VALUE",
                        help="A value the script cannot compute (repeatable; a Python "
                             "literal): --define num_classes=10.")(fn)


@cli.command()
@click.argument("definition", type=click.Path())
@click.option("-o", "--out", "out_dir", type=click.Path(), default=None,
              help="Output folder (default build/<model name>/), replaced as a whole once "
                   "the build is validated.")
@_data_options
@_validation_options
@_reading_options
@click.option("--epochs", type=click.IntRange(min=1), default=None)
@click.option("--batch-size", type=click.IntRange(min=1), default=None)
@click.option("--seed", type=int, default=None)
@click.option("--opset", type=int, default=17, show_default=True, help="ONNX opset.")
@click.option("--input-layout", type=click.Choice(["nhwc", "nchw", "channels_last",
                                                  "channels_first"], case_sensitive=False),
              default="nhwc", show_default=True,
              help="Layout of the ONNX model's input: nhwc as in Keras (one Transpose at the "
                   "input of a conv net), or nchw (no Transpose; spatial outputs stay NCHW).")
@click.option("--no-fold-batchnorm", is_flag=True,
              help="Keep BatchNormalization nodes instead of folding them into the Conv/Dense "
                   "beside them.")
@click.option("--no-fold-preprocessing", is_flag=True,
              help="Keep Rescaling and Normalization nodes instead of folding them into the "
                   "layer beside them.")
@click.option("--no-train", is_flag=True, help="Export the initial weights without training.")
@click.option("--optimizer", default=None,
              help="Override the definition's optimizer (a name, e.g. adam).")
@click.option("--loss", default=None, help="Override the definition's loss (a name).")
@click.option("--learning-rate", type=float, default=None,
              help="Override the optimizer's learning rate.")
@click.option("--float16", "float16", is_flag=True,
              help="Also write model.fp16.onnx (float16 weights, float32 I/O), validated and "
                   "scored on the held-out rows.")
@click.option("--int8", type=click.Choice(["dynamic", "static"]), default=None,
              help="Also write model.int8.onnx (onnxruntime.quantization; static is calibrated "
                   "on the training rows), validated and scored on the held-out rows.")
@click.option("--save-optimized", type=click.Choice(["basic", "extended", "layout", "all"]),
              default=None, help="Also write model.opt.onnx, the graph as onnxruntime "
                                 "optimizes it (tied to this onnxruntime and CPU).")
@click.option("--cleanup", is_flag=True,
              help="Run seqc's ONNX clean-up passes on model.onnx and report each.")
@click.option("--clean", is_flag=True,
              help="Start the output folder afresh: its rejected/ and any other file the "
                   "old folder held go with it (a build keeps them otherwise).")
@click.option("--test-vectors", type=click.IntRange(min=0), default=8, show_default=True,
              help="Held-out inputs and their outputs embedded in model.onnx, so `seqc "
                   "validate model.onnx` can re-check it alone (0: none).")
@click.option("--max-memory", default=None,
              help="Refuse models needing more training memory than this (default 4GB; "
                   "'none' to turn the check off).")
@click.option("--strict", is_flag=True,
              help="Stop with exit 2 when a check before training warns (docs/errors.md).")
@click.option("--ignore", "ignore", multiple=True, metavar="CODE",
              help="Silence one warning before training, e.g. --ignore SEQC-W003 "
                   "(repeatable).")
@click.option("--tensorboard", "tensorboard", type=click.Path(), default=None, metavar="DIR",
              help="Write TensorBoard logs (scalars, learning rate, histograms, graph) to DIR "
                   "(the tensorboard extra).")
@click.option("--no-report", is_flag=True,
              help="Do not draw report.html (the report extra's page; report.json is always "
                   "written).")
@click.option("-q", "--quiet", is_flag=True, help="No progress output.")
@click.option("-v", "--verbose", is_flag=True,
              help="Also print the export passes and the ONNX node count per op type.")
@handle_errors
def build(definition, out_dir, data, x_path, y_path, target, val_data, val_x, val_y, defines,
          model_name, epochs,
          batch_size, seed, opset, input_layout, no_fold_batchnorm, no_fold_preprocessing,
          no_train, optimizer, loss, learning_rate, float16, int8, save_optimized, cleanup,
          clean, test_vectors, max_memory, strict, ignore, tensorboard, no_report, quiet,
          verbose) -> None:
    """Parse DEFINITION, train it, export model.onnx and prove it matches NumPy.

    DEFINITION is a seqc JSON spec, a Keras model (.keras, legacy .h5, or model.to_json()
    output, with the weights of a <stem>.weights.h5 beside it), a Keras-style or PyTorch
    nn.Sequential Python script (read, never run), or a build folder. A Keras model with
    weights continues training from them, with the file's compile settings unless
    --optimizer/--loss/--learning-rate override them. Settings that would train badly are
    printed in a `warnings:` block before the first epoch (codes: docs/errors.md)."""
    from .frontend import parse_defines
    from .pipeline import BuildOptions
    from .pipeline import build as run_build
    from .training.lint_report import check_codes

    opts = BuildOptions(out_dir=out_dir, data=data, x=x_path, y=y_path, target=target,
                        val_data=val_data, val_x=val_x, val_y=val_y,
                        defines=parse_defines(defines), model=model_name,
                        epochs=epochs, batch_size=batch_size, seed=seed, opset=opset,
                        input_layout=input_layout.lower(),
                        fold_batchnorm=not no_fold_batchnorm,
                        fold_preprocessing=not no_fold_preprocessing, train=not no_train,
                        optimizer=optimizer, loss=loss, learning_rate=learning_rate,
                        test_vectors=test_vectors, float16=float16, int8=int8,
                        save_optimized=save_optimized, cleanup=cleanup, clean=clean,
                        report=not no_report, verbose=0 if quiet else (2 if verbose else 1),
                        max_memory=-1 if max_memory is None else parse_size(max_memory),
                        log=click.echo, warn=functools.partial(click.echo, err=True),
                        ignore=check_codes(ignore), strict=strict, tensorboard=tensorboard)
    report = run_build(definition, opts)
    if not quiet:
        fm = report["final_metrics"]
        shown = ", ".join(f"{k}={v:.4f}" for k, v in fm.items())
        click.echo(f"Built {report['name']}: {report['parameters']['total']:,} parameters"
                   + (f"; {shown}" if shown else "")
                   + f"; {report['timings'].get('total_s', 0):.1f} s")


@cli.command()
@click.argument("source", type=click.Path())
@click.option("-o", "--out", "out_path", type=click.Path(), required=True,
              help="model.onnx (validated against NumPy) or x.keras (Keras 3).")
@click.option("--opset", type=int, default=17, show_default=True, help="ONNX opset.")
@click.option("--input-layout", type=click.Choice(["nhwc", "nchw", "channels_last",
                                                  "channels_first"], case_sensitive=False),
              default="nhwc", show_default=True, help="Layout of the ONNX model's input.")
@click.option("--no-fold-batchnorm", is_flag=True, help="Keep BatchNormalization nodes.")
@click.option("--no-fold-preprocessing", is_flag=True,
              help="Keep Rescaling and Normalization nodes.")
@click.option("--max-memory", default=None, help="As for build (default 4GB; 'none').")
@click.option("-q", "--quiet", is_flag=True, help="No validation table.")
@_data_options
@_reading_options
@handle_errors
def convert(source, out_path, opset, input_layout, no_fold_batchnorm, no_fold_preprocessing,
            max_memory, quiet, data, x_path, y_path, target, defines, model_name) -> None:
    """Convert SOURCE to ONNX or .keras without training (no TensorFlow needed).

    SOURCE is a Keras model (.keras, legacy .h5, or Keras JSON with a <stem>.weights.h5 beside
    it), or anything `seqc build` reads. An ONNX output is checked against seqc's NumPy forward
    before it replaces OUT; a disagreement exits 1 and leaves OUT untouched."""
    from .convert import ConvertOptions
    from .convert import convert as run_convert
    from .frontend import parse_defines

    opts = ConvertOptions(data=data, x=x_path, y=y_path, target=target,
                          defines=parse_defines(defines), model=model_name,
                          opset=opset, input_layout=input_layout.lower(),
                          fold_batchnorm=not no_fold_batchnorm,
                          fold_preprocessing=not no_fold_preprocessing,
                          max_memory=-1 if max_memory is None else parse_size(max_memory),
                          log=None if quiet else click.echo)
    info = run_convert(source, out_path, opts)
    click.echo(f"Wrote {out_path} ({info['parameters']:,} parameters"
               + ("" if info["weights"] else "; no weights in the source: initial weights")
               + ")")


@cli.command()
@click.argument("definition", type=click.Path())
@_data_options
@_validation_options
@_reading_options
@handle_errors
def summary(definition, data, x_path, y_path, target, val_data, val_x, val_y, defines,
            model_name) -> None:
    """Print a Keras-style table: layer, output shape, parameter count.

    A script's shapes that come from its data (input_shape=x_train.shape[1:], no input shape
    at all, num_classes = y.max() + 1) are taken from --data or --x/--y."""
    from .build_data import definition_bindings
    from .frontend import load_definition, parse_defines
    from .pipeline import BuildOptions

    opts = BuildOptions(data=data, x=x_path, y=y_path, target=target, val_data=val_data,
                        val_x=val_x, val_y=val_y)
    bindings, _ = definition_bindings(definition, opts, parse_defines(defines), model_name)
    defn = load_definition(definition, bindings=bindings)
    for line in defn.notes:
        click.echo(line)
    click.echo(defn.model.summary(print_fn=None))


@cli.command()
@click.argument("definition", type=click.Path())
@click.option("-o", "--out", "out_path", type=click.Path(), required=True,
              help="The drawing: model.png or model.svg (curves.png with --history).")
@click.option("--history", is_flag=True,
              help="Draw a build folder's training curves (report.json) instead of the model.")
@click.option("--show-shapes", is_flag=True, help="Each layer's input and output shapes.")
@click.option("--show-layer-names", is_flag=True, help="Each layer's name beside its class.")
@click.option("--show-dtype", is_flag=True, help="Each layer's output dtype.")
@click.option("--show-trainable", is_flag=True, help="Whether each layer is trainable.")
@click.option("--show-layer-activations", is_flag=True,
              help="A layer's activation beside its class (Dense + relu).")
@click.option("--rankdir", type=click.Choice(["TB", "LR"]), default="TB", show_default=True,
              help="Top to bottom or left to right.")
@click.option("--dpi", type=click.IntRange(min=10, max=1200), default=200, show_default=True,
              help="Resolution of a PNG.")
@_data_options
@_reading_options
@handle_errors
def plot(definition, out_path, history, show_shapes, show_layer_names, show_dtype,
         show_trainable, show_layer_activations, rankdir, dpi, data, x_path, y_path, target,
         defines, model_name) -> None:
    """Draw the model like keras.utils.plot_model (DEF or a build folder), or with --history
    a build's training curves. Needs the report extra: pip install 'seqc[report]'."""
    from .report import need_matplotlib
    from .report.draw import history_figure, model_figure, save

    need_matplotlib("seqc plot")
    if history:
        from .report.html import read_build_report

        report = read_build_report(definition)
        fig = history_figure(report.get("history") or {}, report.get("training_events"))
        fig.set_dpi(dpi)
        click.echo(f"Wrote {save(fig, out_path)}")
        return
    from .build_data import definition_bindings
    from .frontend import load_definition, parse_defines
    from .pipeline import BuildOptions

    opts = BuildOptions(data=data, x=x_path, y=y_path, target=target)
    bindings, _ = definition_bindings(definition, opts, parse_defines(defines), model_name)
    defn = load_definition(definition, bindings=bindings)
    fig = model_figure(defn.model.graph, show_shapes=show_shapes, show_dtype=show_dtype,
                       show_layer_names=show_layer_names, rankdir=rankdir,
                       show_layer_activations=show_layer_activations,
                       show_trainable=show_trainable, dpi=dpi)
    click.echo(f"Wrote {save(fig, out_path)}")


@cli.command()
@click.option("--markdown", is_flag=True, help="Print the Markdown table used for docs/layers.md.")
@handle_errors
def ops(markdown: bool) -> None:
    """List the supported layer kinds, from the registry."""
    from .docs import layers_markdown, layers_table

    click.echo(layers_markdown() if markdown else layers_table())


# Options that only sharded predict (INPUTS... -o FOLDER) reads.
_SHARDED_ONLY = ("address", "workers", "cpus_per_worker", "gpus_per_worker", "retries",
                 "out_format", "overwrite")


@cli.command()
@click.argument("model", type=click.Path())
@click.argument("inputs", metavar="INPUTS...", nargs=-1, required=True)
@click.option("-o", "--out", "out_path", type=click.Path(), required=True,
              help="Output file (.npy or .csv) for one INPUT file; a folder for sharded "
                   "predict (one output shard per input shard).")
@click.option("--provider", type=click.Choice(["cpu", "cuda", "auto"]), default=None,
              help="onnxruntime provider [default: cpu; cuda on GPU workers].")
@click.option("--batch-size", type=click.IntRange(min=1), default=1024, show_default=True)
@click.option("--threads", type=click.IntRange(min=1), default=None,
              help="onnxruntime intra-op threads (sharded: --cpus-per-worker).")
@click.option("--target", default=None, help="CSV/Parquet column to drop (the label) if present.")
@click.option("--column", "columns", multiple=True,
              help="Parquet feature column(s): one list column, or one per feature "
                   "(repeatable).")
@click.option("--windows/--no-windows", default=None,
              help="Timeseries models: cut the raw series into the training windows "
                   "(default: when INPUT is the raw series, not pre-made windows).")
@click.option("--engine", type=click.Choice(["local", "ray", "dask"]), default=None,
              help="Sharded predict on a local process pool, Ray or Dask [default: local].")
@click.option("--address", default=None,
              help="An existing Ray or Dask cluster (default: start a local one).")
@click.option("--workers", type=click.IntRange(min=1), default=None,
              help="Workers, each with one onnxruntime session [default: CPUs / "
                   "--cpus-per-worker].")
@click.option("--cpus-per-worker", type=click.FloatRange(min=0, min_open=True), default=1,
              show_default=True, help="CPUs each worker reserves (its intra-op threads).")
@click.option("--gpus-per-worker", type=click.FloatRange(min=0), default=0, show_default=True,
              help="GPUs each worker reserves; its session runs on CUDA.")
@click.option("--retries", type=click.IntRange(min=0), default=2, show_default=True,
              help="Retries of a failed shard before it is reported failed.")
@click.option("--format", "out_format", type=click.Choice(["npy", "parquet", "csv"]),
              default="npy", show_default=True, help="Output shard format.")
@click.option("--overwrite", is_flag=True,
              help="Start again: forget OUTDIR's manifest and outputs instead of resuming.")
@click.option("-q", "--quiet", is_flag=True, help="No progress output.")
@click.pass_context
@handle_errors
@_time_limited
def predict(ctx, model, inputs, out_path, provider, batch_size, threads, target, columns,
            windows, engine, address, workers, cpus_per_worker, gpus_per_worker, retries,
            out_format, overwrite, quiet) -> None:
    """Run MODEL (.onnx or build folder) on INPUTS with onnxruntime.

    \b
    One file:  seqc predict MODEL INPUT -o OUT.npy|OUT.csv
    Shards:    seqc predict MODEL data/ 'lake/*.parquet' x.npy -o OUTDIR --engine ray

    INPUT is a .npy, .npz, .csv or .parquet file. With several inputs, a folder or a glob, or
    -o naming a folder, each input shard is predicted into OUTDIR/<its name>.<format> on the
    engine, with a ledger (OUTDIR/_manifest.jsonl) that a rerun resumes from; see
    docs/scale.md. A shard that still fails after --retries is listed and the run exits 1."""
    import glob
    import os

    from .errors import UsageError

    one = inputs[0]
    sharded = (engine is not None or len(inputs) > 1 or os.path.isdir(one)
               or (glob.has_magic(one) and not os.path.isfile(one))
               or os.path.splitext(out_path)[1].lower() not in (".npy", ".csv", ".npz"))
    if not sharded:
        given = [p for p in _SHARDED_ONLY
                 if ctx.get_parameter_source(p) is not click.core.ParameterSource.DEFAULT]
        if given:
            flag = "--" + given[0].replace("out_", "").replace("_", "-")
            raise UsageError(f"{flag} is for sharded predict (INPUTS... -o FOLDER, or "
                             "--engine)", field=flag, received=f"-o {out_path}",
                             hint="pass --engine local to predict the file as one shard "
                                  "into a folder")
        from .runtime.predict import predict_file

        n = predict_file(model, one, out_path, provider=provider or "cpu",
                         batch_size=batch_size, threads=threads, target=target,
                         columns=list(columns) or None, windows=windows,
                         log=None if quiet else click.echo, progress=not quiet)
        if not quiet:
            click.echo(f"Wrote {n} predictions to {out_path}")
        return
    if threads is not None:
        raise UsageError("--threads is one process's; sharded predict gives each worker "
                         "--cpus-per-worker threads", field="--threads",
                         received=f"--threads {threads}", hint="pass --cpus-per-worker")
    from .errors import ValidationFailure
    from .runtime.sharded import predict_dataset, summary

    report = predict_dataset(model, list(inputs), out_path, engine=engine or "local",
                             address=address, workers=workers, cpus_per_worker=cpus_per_worker,
                             gpus_per_worker=gpus_per_worker, retries=retries,
                             format=out_format, column=list(columns) or None, target=target,
                             batch_size=batch_size, provider=provider, windows=windows,
                             overwrite=overwrite, quiet=quiet, log=click.echo)
    if report["failed"]:
        if quiet:
            click.echo(summary(report), err=True)
        raise ValidationFailure(f"{len(report['failed'])} of {report['shards']} shards failed",
                                file=out_path, hint="the failed shards are listed above; the "
                                "others are done and a rerun resumes")


@cli.command()
@click.argument("model", type=click.Path())
@click.option("--port", type=click.IntRange(min=1, max=65535), default=None,
              help="Port on localhost (default: Netron's 8080, 8081 or a free one).")
@click.option("--browse/--no-browser", default=False, show_default=True,
              help="Also open the address in a web browser.")
@handle_errors
def view(model, port, browse) -> None:
    """Open MODEL (.onnx or a build folder) in Netron on localhost (the view extra)."""
    from . import view as netron_view

    url = netron_view.serve(model, port=port, browse=browse)
    click.echo(f"Serving {netron_view.model_file(model)} in Netron at {url} (Ctrl-C stops)")
    netron_view.wait()


@cli.command()
@click.argument("model", type=click.Path())
@click.option("--inputs", type=click.Path(), default=None,
              help="Inputs (.npy/.npz/.csv); default: seeded random inputs of the right shape.")
@click.option("--runtimes", default=None,
              help="Comma-separated: numpy, onnxruntime, onnxruntime-basic, onnxruntime-noopt, "
                   "onnxruntime-cuda, onnx-reference, keras, torch (default: all available but "
                   "keras and torch; numpy needs the IR, which a model.onnx seqc wrote carries).")
@click.option("--atol", type=float, default=None,
              help="Absolute tolerance (default: by output dtype, 1e-5 for float32; the stored "
                   "tolerance for embedded test vectors).")
@click.option("--rtol", type=float, default=None,
              help="Relative tolerance (default: by output dtype, 1e-4 for float32).")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@handle_errors
@_time_limited
def validate(model, inputs, runtimes, atol, rtol, as_json) -> None:
    """Run the same inputs on each runtime and compare; exit 1 on disagreement.

    Without --inputs, a model that carries test vectors (every `seqc build` embeds some) is
    checked against the outputs stored with it, on those inputs; other models get seeded
    random inputs."""
    import json
    import os

    from .errors import DataError, ValidationFailure
    from .publish import readable_folder
    from .runtime.predict import read_inputs_for
    from .runtime.validate import validate as run_validate
    from .runtime.vector_checks import check_vectors
    from .runtime.vectors import read_vectors

    model = readable_folder(model)  # a build folder between the two renames of its swap
    onnx_path = os.path.join(model, "model.onnx") if os.path.isdir(model) else model
    vec = None
    if inputs is None and onnx_path.lower().endswith(".onnx") and os.path.isfile(onnx_path):
        vec = read_vectors(onnx_path)
    if vec is not None:  # read once here; validate would otherwise read the vectors again
        x = vec.ir_arrays()[0] if os.path.isdir(model) or vec.named else vec.x
    else:
        x = read_inputs_for(model, inputs)
    names = [r.strip() for r in runtimes.split(",")] if runtimes else None
    try:
        result = run_validate(model, x, runtimes=names, atol=atol, rtol=rtol,
                              print_table=False)
    except DataError as e:  # the model does not take --inputs' arrays: name that file
        raise e.located(file=inputs) from None
    check = check_vectors(onnx_path, atol=atol, rtol=rtol) if vec is not None else None
    if as_json:
        out = result.to_json()
        if check is not None:
            out["test_vectors"] = check.to_json()
        click.echo(json.dumps(out, indent=1))
    else:
        click.echo(result.format_table())
        if check is not None:
            click.echo(check.summary())
    if not result.ok:
        raise ValidationFailure("runtimes disagree beyond the tolerance",
                                hint="see the table above for which runtime and by how much")
    if check is not None and not check.ok:
        raise ValidationFailure("the model no longer gives the outputs stored with it",
                                hint="the file changed after it was built (see the test "
                                     "vectors line above)")


@cli.command()
@click.argument("model", type=click.Path())
@click.option("--batch-sizes", default="1,64,1024", show_default=True)
@click.option("--provider", type=click.Choice(["cpu", "cuda", "auto"]), default="cpu",
              show_default=True)
@click.option("--threads", type=click.IntRange(min=1), default=None,
              help="onnxruntime intra-op threads.")
@click.option("--numpy", "with_numpy", is_flag=True,
              help="Also time seqc's NumPy forward (needs a build folder).")
@click.option("--min-time", type=click.FloatRange(min=0), default=0.5, show_default=True,
              help="Seconds of timed runs per batch size (at least --iterations runs).")
@click.option("--iterations", type=click.IntRange(min=1), default=20, show_default=True)
@click.option("--io-binding/--no-io-binding", default=None,
              help="Bind inputs and outputs on the device (default: on CUDA only), so timings "
                   "leave out host-device copies.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@handle_errors
@_time_limited
def bench(model, batch_sizes, provider, threads, with_numpy, min_time, iterations, io_binding,
          as_json) -> None:
    """Session creation, latency p50/p90/p99, throughput and peak memory per batch size."""
    import json

    from .runtime.bench import bench as run_bench

    r = run_bench(model, batch_sizes=batch_sizes, provider=provider, threads=threads,
                  numpy=with_numpy, min_time_s=min_time, min_iterations=iterations,
                  io_binding=io_binding, log=None if as_json else click.echo)
    click.echo(json.dumps(r.to_json(), indent=1) if as_json else r.format_table())


def main() -> None:
    cli(prog_name="seqc")


if __name__ == "__main__":
    main()

"""The `seqc` commands that read a definition (a spec, a Keras model, a script): build,
convert, summary, plot; and ops, the layer kinds a definition may use."""

from __future__ import annotations

import functools

import click

from .support import (
    data_options,
    handle_errors,
    parse_size,
    reading_options,
    validation_options,
)

__all__ = ["build", "convert", "ops", "plot", "summary"]


@click.command()
@click.argument("definition", type=click.Path())
@click.option("-o", "--out", "out_dir", type=click.Path(), default=None,
              help="Output folder (default build/<model name>/), replaced as a whole once "
                   "the build is validated.")
@data_options
@validation_options
@reading_options
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
    from ..frontend import parse_defines
    from ..pipeline import BuildOptions
    from ..pipeline import build as run_build
    from ..training.lint_report import check_codes

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


@click.command()
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
@data_options
@reading_options
@handle_errors
def convert(source, out_path, opset, input_layout, no_fold_batchnorm, no_fold_preprocessing,
            max_memory, quiet, data, x_path, y_path, target, defines, model_name) -> None:
    """Convert SOURCE to ONNX or .keras without training (no TensorFlow needed).

    SOURCE is a Keras model (.keras, legacy .h5, or Keras JSON with a <stem>.weights.h5 beside
    it), or anything `seqc build` reads. An ONNX output is checked against seqc's NumPy forward
    before it replaces OUT; a disagreement exits 1 and leaves OUT untouched."""
    from ..convert import ConvertOptions
    from ..convert import convert as run_convert
    from ..frontend import parse_defines

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


@click.command()
@click.argument("definition", type=click.Path())
@data_options
@validation_options
@reading_options
@handle_errors
def summary(definition, data, x_path, y_path, target, val_data, val_x, val_y, defines,
            model_name) -> None:
    """Print a Keras-style table: layer, output shape, parameter count.

    A script's shapes that come from its data (input_shape=x_train.shape[1:], no input shape
    at all, num_classes = y.max() + 1) are taken from --data or --x/--y."""
    from ..build_data import definition_bindings
    from ..frontend import load_definition, parse_defines
    from ..pipeline import BuildOptions

    opts = BuildOptions(data=data, x=x_path, y=y_path, target=target, val_data=val_data,
                        val_x=val_x, val_y=val_y)
    bindings, _ = definition_bindings(definition, opts, parse_defines(defines), model_name)
    defn = load_definition(definition, bindings=bindings)
    for line in defn.notes:
        click.echo(line)
    click.echo(defn.model.summary(print_fn=None))


@click.command()
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
@data_options
@reading_options
@handle_errors
def plot(definition, out_path, history, show_shapes, show_layer_names, show_dtype,
         show_trainable, show_layer_activations, rankdir, dpi, data, x_path, y_path, target,
         defines, model_name) -> None:
    """Draw the model like keras.utils.plot_model (DEF or a build folder), or with --history
    a build's training curves. Needs the report extra: pip install 'seqc[report]'."""
    from ..report import need_matplotlib
    from ..report.draw import history_figure, model_figure, save

    need_matplotlib("seqc plot")
    if history:
        from ..report.html import read_build_report

        report = read_build_report(definition)
        fig = history_figure(report.get("history") or {}, report.get("training_events"))
        fig.set_dpi(dpi)
        click.echo(f"Wrote {save(fig, out_path)}")
        return
    from ..build_data import definition_bindings
    from ..frontend import load_definition, parse_defines
    from ..pipeline import BuildOptions

    opts = BuildOptions(data=data, x=x_path, y=y_path, target=target)
    bindings, _ = definition_bindings(definition, opts, parse_defines(defines), model_name)
    defn = load_definition(definition, bindings=bindings)
    fig = model_figure(defn.model.graph, show_shapes=show_shapes, show_dtype=show_dtype,
                       show_layer_names=show_layer_names, rankdir=rankdir,
                       show_layer_activations=show_layer_activations,
                       show_trainable=show_trainable, dpi=dpi)
    click.echo(f"Wrote {save(fig, out_path)}")


@click.command()
@click.option("--markdown", is_flag=True, help="Print the Markdown table used for docs/layers.md.")
@handle_errors
def ops(markdown: bool) -> None:
    """List the supported layer kinds, from the registry."""
    from ..docs import layers_markdown, layers_table

    click.echo(layers_markdown() if markdown else layers_table())

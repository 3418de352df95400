"""The `seqc` commands on an exported model (a build folder or an .onnx file): predict, view,
validate, bench."""

from __future__ import annotations

import click

from .support import handle_errors, time_limited

__all__ = ["bench", "predict", "validate", "view"]


# Options that only sharded predict (INPUTS... -o FOLDER) reads.
_SHARDED_ONLY = ("address", "workers", "cpus_per_worker", "gpus_per_worker", "retries",
                 "out_format", "overwrite")


@click.command()
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
@time_limited
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

    from ..errors import UsageError

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
        from ..runtime.predict import predict_file

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
    from ..errors import ValidationFailure
    from ..runtime.sharded import predict_dataset, summary

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


@click.command()
@click.argument("model", type=click.Path())
@click.option("--port", type=click.IntRange(min=1, max=65535), default=None,
              help="Port on localhost (default: Netron's 8080, 8081 or a free one).")
@click.option("--browse/--no-browser", default=False, show_default=True,
              help="Also open the address in a web browser.")
@handle_errors
def view(model, port, browse) -> None:
    """Open MODEL (.onnx or a build folder) in Netron on localhost (the view extra)."""
    from .. import view as netron_view

    url = netron_view.serve(model, port=port, browse=browse)
    click.echo(f"Serving {netron_view.model_file(model)} in Netron at {url} (Ctrl-C stops)")
    netron_view.wait()


@click.command()
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
@time_limited
def validate(model, inputs, runtimes, atol, rtol, as_json) -> None:
    """Run the same inputs on each runtime and compare; exit 1 on disagreement.

    Without --inputs, a model that carries test vectors (every `seqc build` embeds some) is
    checked against the outputs stored with it, on those inputs; other models get seeded
    random inputs."""
    import json
    import os

    from ..errors import DataError, ValidationFailure
    from ..publish import readable_folder
    from ..runtime.predict import read_inputs_for
    from ..runtime.validate import validate as run_validate
    from ..runtime.vector_checks import check_vectors
    from ..runtime.vectors import read_vectors

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


@click.command()
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
@time_limited
def bench(model, batch_sizes, provider, threads, with_numpy, min_time, iterations, io_binding,
          as_json) -> None:
    """Session creation, latency p50/p90/p99, throughput and peak memory per batch size."""
    import json

    from ..runtime.bench import bench as run_bench

    r = run_bench(model, batch_sizes=batch_sizes, provider=provider, threads=threads,
                  numpy=with_numpy, min_time_s=min_time, min_iterations=iterations,
                  io_binding=io_binding, log=None if as_json else click.echo)
    click.echo(json.dumps(r.to_json(), indent=1) if as_json else r.format_table())

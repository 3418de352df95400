"""The `seqc` command. Exit codes: 0 success, 1 validation disagreement or failed check,
2 bad input (one-paragraph message, no traceback unless --debug), anything else is a bug.

Only click is imported at module level so `seqc --help` stays fast; every command imports
the stage it needs inside its body. This module is the group and the entry point; the
commands are next to it: definitions.py (build, convert, summary, plot, ops: commands that
read a definition) and exported.py (predict, view, validate, bench: commands on an exported
model); support.py holds the error handling and the options they share.
"""

from __future__ import annotations

import click

from .. import __version__
from .definitions import build, convert, ops, plot, summary
from .exported import bench, predict, validate, view
from .support import EXIT_BUG, State, handle_errors, parse_size

__all__ = ["EXIT_BUG", "cli", "handle_errors", "main", "parse_size"]


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
    State.debug = debug


for _command in (build, convert, summary, plot, ops, predict, view, validate, bench):
    cli.add_command(_command)


def main() -> None:
    cli(prog_name="seqc")


if __name__ == "__main__":
    main()

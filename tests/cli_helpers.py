"""CLI helpers shared by the hostile-input and bounds tests: run a command in-process, and
check it was refused cleanly (its exit code, no traceback, the words of its message)."""

from click.testing import CliRunner

from seqc.cli import cli


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def refused(r, *words: str, code: int = 2) -> str:
    assert r.exit_code == code, r.output
    assert "Traceback" not in r.output and "internal error" not in r.output, r.output
    for w in words:
        assert w in r.output, r.output
    return r.output

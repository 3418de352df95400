"""DESIGN.md's dependency rules, checked with ast, and the import-time promises."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[1] / "seqc"

# stage -> stages it must never import (dependencies point one way).
FORBIDDEN = {
    "ops": {"frontend", "training", "export", "runtime", "cli", "model", "pipeline", "report"},
    "ir": {"frontend", "training", "export", "runtime", "cli", "model", "pipeline", "report"},
    "training": {"frontend", "export", "runtime", "cli", "pipeline", "report"},
    "export": {"frontend", "runtime", "cli", "pipeline", "report"},
    "frontend": {"export", "runtime", "cli", "pipeline", "report"},
    "runtime": {"report"},
}
# The exceptions, each a module a stage may import although its stage is forbidden, and why.
ALLOWED = {
    # Keras' HDF5 weight layout (and the .keras archive's members) is one module that the
    # .keras reader and the .keras writer share, so the two cannot drift apart.
    ("export", "seqc.frontend._keras_h5"),
}
# Third-party modules only some stages may import. The keras and torch runtimes are the
# cross-checks (seqc validate --runtimes keras,torch); they import them inside load().
# frontend/onnx_reader.py reads .onnx definitions (inside its functions); onnx_checks.py reads
# a file onnx.checker refuses when onnxruntime loads it, as predict does (inside a function).
RESTRICTED = {"onnx": {"export", "runtime", "frontend"},
              "onnxruntime": {"export", "runtime", "frontend"},
              "torch": {"runtime"}, "keras": {"runtime"}, "tensorflow": set(),
              "ray": {"runtime"}, "dask": {"runtime"}, "distributed": {"runtime"},
              "pyarrow": {"runtime"},
              # The report extra: drawings and the browser check only (seqc/report).
              "matplotlib": {"report"}, "selenium": {"report"}, "PIL": set()}


def _module_of(path: Path) -> str:
    """seqc/runtime/validate.py -> "seqc.runtime.validate"; a package's __init__.py -> its name."""
    parts = path.relative_to(PKG.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_of(p): p for p in PKG.rglob("*.py")}


def _type_checking_only(tree: ast.AST) -> set[int]:
    """ids of the import nodes under `if TYPE_CHECKING:` (annotations only, never run)."""
    out: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and (
                getattr(node.test, "id", None) == "TYPE_CHECKING"
                or getattr(node.test, "attr", None) == "TYPE_CHECKING"):
            out |= {id(n) for stmt in node.body for n in ast.walk(stmt)}
    return out


def _imports(path: Path, *, type_checking: bool = True) -> list[tuple[str, int]]:
    """Absolute module names imported by a file, at any depth (function-level imports too),
    relative imports resolved; `from pkg import name` gives pkg.name when that is a seqc module,
    else pkg. `type_checking=False` leaves out the imports under `if TYPE_CHECKING:`."""
    tree = ast.parse(path.read_text())
    rel = path.relative_to(PKG.parent).with_suffix("")
    pkg_parts = list(rel.parts[:-1])
    skip = set() if type_checking else _type_checking_only(tree)
    out = []
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Import):
            out += [(a.name, node.lineno) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = pkg_parts[: len(pkg_parts) - node.level + 1]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            for a in node.names:
                sub = f"{mod}.{a.name}"
                out.append((sub if sub in MODULES else mod, node.lineno))
    return out


def _stage(path: Path) -> str:
    rel = path.relative_to(PKG)
    return rel.parts[0].removesuffix(".py") if len(rel.parts) > 1 else rel.stem


@pytest.mark.parametrize("path", sorted(PKG.rglob("*.py")), ids=lambda p: str(p.relative_to(PKG)))
def test_dependency_rules(path: Path) -> None:
    stage = _stage(path)
    for mod, line in _imports(path):
        parts = mod.split(".")
        if parts[0] == "seqc" and len(parts) > 1 and (stage, mod) not in ALLOWED:
            assert parts[1] not in FORBIDDEN.get(stage, set()), (
                f"{path.relative_to(PKG)}:{line}: stage '{stage}' imports seqc.{parts[1]}")
        allowed = RESTRICTED.get(parts[0])
        if allowed is not None:
            assert stage in allowed, f"{path.relative_to(PKG)}:{line}: {stage} imports {mod}"


def _run(code: str) -> str:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True).stdout


def test_import_seqc_is_light() -> None:
    out = _run("import sys, seqc; seqc.layers.Dense; seqc.Sequential; seqc.predict_dataset;"
               "heavy = ('onnx', 'onnxruntime', 'torch', 'keras', 'ray', 'dask', 'distributed',"
               " 'pyarrow', 'matplotlib');"
               "print(sorted(m for m in heavy if m in sys.modules))")
    assert out.strip() == "[]"


def test_cli_help_is_light() -> None:
    out = _run("import sys\nfrom click.testing import CliRunner\nfrom seqc.cli import cli\n"
               "r = CliRunner().invoke(cli, ['--help'])\nassert r.exit_code == 0, r.output\n"
               "r = CliRunner().invoke(cli, ['predict', '--help'])\nassert r.exit_code == 0\n"
               "print(sorted(m for m in ('numpy', 'onnx', 'onnxruntime', 'ray', 'dask',"
               " 'distributed', 'pyarrow') if m in sys.modules))")
    assert out.strip() == "[]"


def test_training_works_without_onnx() -> None:
    code = """
import sys, importlib.abc
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name.split('.')[0] in ('onnx', 'onnxruntime'):
            raise ImportError('blocked: ' + name)
sys.meta_path.insert(0, Block())
import numpy as np, seqc
m = seqc.Sequential([seqc.layers.Input((3,)), seqc.layers.Dense(4, activation='relu'),
                     seqc.layers.Dense(1, activation='sigmoid')])
m.compile(optimizer='adam', loss='binary_crossentropy', metrics=['accuracy'])
x = np.random.default_rng(0).normal(size=(64, 3)).astype('float32')
m.fit(x, (x[:, :1] > 0).astype('float32'), epochs=2, verbose=0)
print(m.predict(x).shape)
"""
    assert _run(code).strip() == "(64, 1)"

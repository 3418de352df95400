"""DESIGN.md's dependency rules, checked with ast, and the import-time promises."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

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


def _modules(root: Path) -> dict[str, Path]:
    """Module name -> file for a package folder: seqc/runtime/validate.py ->
    "seqc.runtime.validate", a package's __init__.py -> the package's name."""
    out = {}
    for path in root.rglob("*.py"):
        parts = path.relative_to(root.parent).with_suffix("").parts
        out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return out


MODULES = _modules(PKG)


def _type_checking_only(tree: ast.AST) -> set[int]:
    """ids of the nodes under `if TYPE_CHECKING:` (imports for annotations, never run)."""
    out: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and (
                getattr(node.test, "id", None) == "TYPE_CHECKING"
                or getattr(node.test, "attr", None) == "TYPE_CHECKING"):
            out |= {id(n) for stmt in node.body for n in ast.walk(stmt)}
    return out


def _imports(path: Path, *, root: Path = PKG, modules: dict[str, Path] = MODULES,
             type_checking: bool = True) -> list[tuple[str, int]]:
    """Absolute module names imported by a file, at any depth (function-level imports too),
    relative imports resolved; `from pkg import name` gives pkg.name when that is a module of
    `modules`, else pkg. `type_checking=False` leaves out the imports under TYPE_CHECKING."""
    tree = ast.parse(path.read_text())
    rel = path.relative_to(root.parent).with_suffix("")
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
                out.append((sub if sub in modules else mod, node.lineno))
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


# ---- import circles ----

# Import circles left to break, as (importer, imported) edges. None is left: the last, the
# Python-script reader's subclass <-> forward walker, went when _pyscript_subclass.py was split
# (the pieces both use in _pyscript_self.py, read_instance reached through the Reader). Nothing
# may be added here; an edge no longer imported fails the test below.
KNOWN_CIRCLE_EDGES: set[tuple[str, str]] = set()


def import_graph(root: Path = PKG) -> dict[str, dict[str, int]]:
    """Module -> {module of the same package it imports: line of the first such import}.
    Imports at any depth count (a function-level import still closes a circle); those under
    `if TYPE_CHECKING:` do not (they never run). A module's parent packages, which Python
    imports before it, are not edges: a package __init__ that re-exports its modules is not a
    circle with them."""
    modules = MODULES if root == PKG else _modules(root)
    graph: dict[str, dict[str, int]] = {}
    for name, path in modules.items():
        deps: dict[str, int] = {}
        for mod, line in _imports(path, root=root, modules=modules, type_checking=False):
            while mod and mod not in modules:
                mod = mod.rpartition(".")[0]
            if mod and mod != name:
                deps.setdefault(mod, line)
        graph[name] = deps
    return graph


def find_cycle(graph: dict[str, Any]) -> list[str] | None:
    """One import circle as [a, b, ..., a], or None when the graph has none (iterative DFS)."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    for root in sorted(graph):
        if root in state:
            continue
        path, stack = [root], [iter(sorted(graph[root]))]
        state[root] = 1
        while stack:
            nxt = next(stack[-1], None)
            if nxt is None:
                state[path.pop()] = 2
                stack.pop()
            elif state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt]
            elif nxt not in state:
                state[nxt] = 1
                path.append(nxt)
                stack.append(iter(sorted(graph.get(nxt, ()))))
    return None


def _describe_cycle(graph: dict[str, dict[str, int]], cycle: list[str], root: Path) -> str:
    files = MODULES if root == PKG else _modules(root)
    return "import circle:\n" + "\n".join(
        f"  {a} imports {b} at {files[a].relative_to(root.parent)}:{graph[a][b]}"
        for a, b in zip(cycle, cycle[1:]))


def test_no_import_circles() -> None:
    graph = import_graph()
    stale = sorted(e for e in KNOWN_CIRCLE_EDGES if e[1] not in graph.get(e[0], {}))
    assert not stale, f"no longer imported: remove from KNOWN_CIRCLE_EDGES: {stale}"
    pruned = {m: {d: line for d, line in deps.items() if (m, d) not in KNOWN_CIRCLE_EDGES}
              for m, deps in graph.items()}
    cycle = find_cycle(pruned)
    assert cycle is None, _describe_cycle(pruned, cycle, PKG)


def test_cycle_finder_catches_planted_circles(tmp_path: Path) -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": set(), "d": {"a", "c"}}) is None
    cycle = find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}})
    assert cycle is not None and cycle[0] == cycle[-1] and set(cycle) == {"a", "b", "c"}
    # A circle closed only by a function-level relative import is still found; one closed
    # only under TYPE_CHECKING is not (it never runs); a package re-exporting is no circle.
    pkg = tmp_path / "p"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("from .sub.b import g\n")
    (pkg / "a.py").write_text("from .sub import b\n")
    (pkg / "sub" / "__init__.py").write_text("")
    (pkg / "sub" / "b.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from ..a import x\n"
        "def g():\n    return 1\n")
    graph = import_graph(pkg)
    assert graph["p.a"] == {"p.sub.b": 1} and find_cycle(graph) is None
    (pkg / "sub" / "b.py").write_text("def g():\n    from .. import a\n    return a\n")
    graph = import_graph(pkg)
    cycle = find_cycle(graph)
    assert cycle is not None and set(cycle) == {"p.a", "p.sub.b"}
    assert "p/sub/b.py:2" in _describe_cycle(graph, cycle, pkg)


# ---- one job per file: file length ----

MAX_LINES = 450
# A longer file says why in its module docstring, with this phrase.
LONG_FILE_REASON = "Over 450 lines because"
# Files over MAX_LINES that are being split (issue 20); nothing may be added. An entry whose
# file is back under the limit, says why, or is gone fails the test below, so the list only
# shrinks.
KNOWN_LONG_FILES = {
}


def long_files(root: Path = PKG) -> dict[str, tuple[int, bool]]:
    """File (relative to `root`, '/'-separated) -> (lines, whether its module docstring says
    why), for the files over MAX_LINES. Lines count as `wc -l` counts them."""
    out = {}
    for path in sorted(root.rglob("*.py")):
        text = path.read_text()
        lines = text.count("\n")
        if lines > MAX_LINES:
            why = LONG_FILE_REASON in (ast.get_docstring(ast.parse(text)) or "")
            out[path.relative_to(root).as_posix()] = (lines, why)
    return out


def test_files_are_short_or_say_why() -> None:
    found = long_files()
    stale = sorted(f for f in KNOWN_LONG_FILES if f not in found or found[f][1])
    assert not stale, f"under {MAX_LINES} lines or saying why now: remove from " \
                      f"KNOWN_LONG_FILES: {stale}"
    unexplained = sorted(f"seqc/{f} ({n} lines)" for f, (n, why) in found.items()
                         if not why and f not in KNOWN_LONG_FILES)
    assert not unexplained, (
        f"over {MAX_LINES} lines: split along its concerns, or say why in the module "
        f"docstring ('{LONG_FILE_REASON} ...'): {unexplained}")


def test_long_file_finder_reads_the_docstring(tmp_path: Path) -> None:
    body = "x = 1\n" * MAX_LINES
    (tmp_path / "short.py").write_text('"""Short."""\n' + "x = 1\n" * (MAX_LINES - 1))
    (tmp_path / "long.py").write_text('"""Long."""\n' + body)
    (tmp_path / "why.py").write_text(f'"""Why.\n\n{LONG_FILE_REASON} one table."""\n' + body)
    (tmp_path / "comment.py").write_text(f"# {LONG_FILE_REASON} nothing.\n" + body)
    assert long_files(tmp_path) == {"long.py": (MAX_LINES + 1, False),
                                    "why.py": (MAX_LINES + 3, True),
                                    "comment.py": (MAX_LINES + 1, False)}


def _module_map() -> set[str]:
    """The files docs/architecture.md's module map lists, relative to seqc/."""
    text = (PKG.parent / "docs" / "architecture.md").read_text()
    section = text.split("### Every module, one line each", 1)[1].split("\n## ", 1)[0]
    listed, pkg = set(), None
    for line in section.splitlines():
        head = re.match(r"\*\*`seqc/(.*?)`\*\*", line)
        if head:
            pkg = head.group(1)
        elif (item := re.match(r"- `(\w+\.py)`: ", line)) and pkg is not None:
            listed.add(pkg + item.group(1))
        elif re.match(r"- \w+: `", line):  # a category of layer kinds, in seqc/ops/
            listed |= {f"ops/{f}" for f in re.findall(r"`(\w+\.py)`", line)}
    return listed


def test_module_map_lists_every_module() -> None:
    files = {p.relative_to(PKG).as_posix() for p in PKG.rglob("*.py")}
    listed = _module_map()
    assert not files - listed, f"add to docs/architecture.md's module map: {sorted(files - listed)}"
    assert not listed - files, f"gone, remove from the module map: {sorted(listed - files)}"

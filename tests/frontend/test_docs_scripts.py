"""docs/python-scripts.md's examples are read by the tests: each ```python block is written to
a file and read by seqc, checked against the `<!-- doc-test: ... -->` line before it (default:
it builds). `summary x=N,F y=N:C` binds data of those shapes (y one-hot with C classes;
`labels=N:C`: y as class ids); `trainable=`, `output=`, `params=` check the model;
`refused LINE` expects an error there."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from seqc.errors import DefinitionError
from seqc.frontend import Bindings
from seqc.frontend.pyscript import load_script
from seqc.ir.summary import parameter_counts

DOC = Path(__file__).resolve().parents[2] / "docs" / "python-scripts.md"
BLOCK = re.compile(r"(?:<!-- doc-test: (?P<directive>[^>]*) -->\n)?```python\n(?P<code>.*?)```",
                   re.S)
CASES = [(m.group("directive") or "builds", m.group("code"))
         for m in BLOCK.finditer(DOC.read_text())]


def test_the_doc_has_examples():
    assert len(CASES) >= 5


@pytest.mark.parametrize("directive, code", CASES,
                         ids=[f"block{i}" for i in range(len(CASES))])
def test_doc_example(tmp_path, directive, code):
    p = tmp_path / "model.py"
    p.write_text(code)
    args = dict(kv.split("=", 1) for kv in directive.split()[1:] if "=" in kv)
    if directive.startswith("refused"):
        line = directive.split()[1]
        with pytest.raises(DefinitionError, match=re.escape(f"model.py:{line}:")):
            load_script(p)
        return
    x = y = None
    if "x" in args:
        x = np.random.default_rng(0).normal(size=[int(d) for d in args["x"].split(",")])
        x = x.astype("float32")
    if "y" in args:
        n, c = (int(v) for v in args["y"].split(":"))
        y = np.eye(c, dtype="float32")[np.arange(n) % c]
    if "labels" in args:  # class ids, as load_data() returns them
        n, c = (int(v) for v in args["labels"].split(":"))
        y = (np.arange(n) % c).astype("uint8")
    defn = load_script(p, bindings=Bindings(x=x, y=y) if x is not None else None)
    counts = parameter_counts(defn.model.graph)
    if "trainable" in args:
        assert counts["trainable"] == int(args["trainable"])
    if "params" in args:
        assert counts["total"] == int(args["params"])
    if "output" in args:
        assert defn.model.graph.output_type.shape[-1] == int(args["output"])

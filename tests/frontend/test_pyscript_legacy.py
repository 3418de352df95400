"""Scripts written for older Keras (1.x and 2.x spellings), against seqc's own API, and the
script-reading bugs around them: each old spelling maps to its Keras 3 meaning with one
warning line; what cannot be mapped is a DefinitionError at file:line:col."""

from __future__ import annotations

import textwrap
import warnings
from pathlib import Path

from click.testing import CliRunner

from seqc.cli import cli
from seqc.frontend.pyscript import script_to_spec

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def write(tmp_path: Path, text: str, name: str = "model.py") -> Path:
    p = tmp_path / name
    p.write_text(textwrap.dedent(text))
    return p


def read(src: str, file: str = "m.py") -> tuple[dict, list[str]]:
    """(spec doc, warning messages) of a script."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        doc = script_to_spec(textwrap.dedent(src), file)
    return doc, [str(w.message) for w in caught]


# ---- synthetic inputs for a variable length ----


def test_variable_length_conv1d_script_builds_without_training(tmp_path):
    """Validation rows and test vectors take a length every layer accepts (19 here), not 8."""
    script = write(tmp_path, """\
        import keras
        from keras import layers
        model = keras.Sequential([
            layers.Conv1D(32, 5, activation="relu", input_shape=(None, 14)),
            layers.MaxPooling1D(3),
            layers.Conv1D(32, 5, activation="relu"),
            layers.GlobalMaxPooling1D(),
            layers.Dense(1),
        ])
        model.compile(optimizer="rmsprop", loss="mae")
        """)
    out = tmp_path / "b"
    r = CliRunner().invoke(cli, ["build", str(script), "--no-train", "-o", str(out), "-q"])
    assert r.exit_code == 0, r.output
    r = CliRunner().invoke(cli, ["validate", str(out)])
    assert r.exit_code == 0, r.output

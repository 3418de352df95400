"""Stateful recurrent models in Keras scripts: batch_input_shape keeps its batch for a stateful
model, and model.reset_states() after each one-epoch fit run becomes fit(reset_states="epoch");
a reset placed anywhere else is refused with its line, never skipped."""

from __future__ import annotations

import textwrap

import numpy as np
import pytest

from seqc.errors import DefinitionError
from seqc.frontend import Bindings
from seqc.frontend.pyscript import load_script

HEAD = """
import numpy as np
from keras.models import Sequential
from keras.layers import Dense, LSTM
model = Sequential()
model.add(LSTM(5, batch_input_shape=(4, 2, 1), return_sequences=True, stateful={st}))
model.add(LSTM(3, stateful={st}))
model.add(Dense(1))
model.compile(loss='mse', optimizer='rmsprop')
"""


def _read(tmp_path, body: str, stateful: bool = True):
    p = tmp_path / "m.py"
    p.write_text(HEAD.format(st=stateful) + textwrap.dedent(body))
    x, y = np.zeros((8, 2, 1), np.float32), np.zeros((8, 1), np.float32)
    return load_script(p, bindings=Bindings(x=x, y=y))


def test_the_keras_stateful_example_loop_resets_every_epoch(tmp_path):
    d = _read(tmp_path, """
        for i in range(3):
            model.fit(x, y, batch_size=4, epochs=1, shuffle=False)
            model.reset_states()
        model.predict(x, batch_size=4)
        """)
    assert d.fit["reset_states"] == "epoch" and d.fit["epochs"] == 3
    g = d.model.graph
    assert g.types[g.inputs[0]].shape == (4, 2, 1) and g.output_type.shape == (4, 1)
    assert any("reset_states" in n for n in d.extra["python"]["notes"])


def test_a_stateful_model_without_resets_carries_its_states(tmp_path):
    d = _read(tmp_path, "model.fit(x, y, batch_size=4, epochs=3, shuffle=False)\n")
    assert "reset_states" not in d.fit and d.fit["epochs"] == 3


def test_a_model_without_stateful_layers_keeps_a_symbolic_batch(tmp_path):
    d = _read(tmp_path, """
        for i in range(2):
            model.fit(x, y, batch_size=4, epochs=1)
            model.reset_states()
        """, stateful=False)
    assert "reset_states" not in d.fit
    assert d.model.graph.types[d.model.graph.inputs[0]].shape[0] is None


@pytest.mark.parametrize("body", [
    # two epochs per run: a reset every second epoch
    """
    for i in range(3):
        model.fit(x, y, batch_size=4, epochs=2, shuffle=False)
        model.reset_states()
    """,
    # a reset after every second run
    """
    for i in range(4):
        model.fit(x, y, batch_size=4, epochs=1, shuffle=False)
        if i % 2 == 1:
            model.reset_states()
    """,
    # a layer's own reset
    """
    model.fit(x, y, batch_size=4, epochs=1, shuffle=False)
    model.layers[0].reset_states()
    """,
], ids=["every_second_epoch", "after_some_runs", "one_layer"])
def test_other_resets_are_refused_with_their_line(tmp_path, body):
    with pytest.raises(DefinitionError, match=r"m\.py:\d+.*reset_states"):
        _read(tmp_path, body)

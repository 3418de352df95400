"""seqc plot / Model.plot: the drawing is checked structurally (boxes and arrows counted in the
SVG against the graph's layers and connections), a PNG by its signature and size."""

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

pytest.importorskip("matplotlib")

import seqc  # noqa: E402
from seqc.cli import cli  # noqa: E402
from seqc.errors import UsageError  # noqa: E402

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
SVG_NS = "{http://www.w3.org/2000/svg}"


def counts(svg_path) -> tuple[int, int]:
    root = ET.parse(svg_path).getroot()
    ids = [g.get("id", "") for g in root.iter(f"{SVG_NS}g")]
    return (sum(i.startswith("seqc-node-") for i in ids),
            sum(i.startswith("seqc-edge-") for i in ids))


def spec_counts(spec: dict) -> tuple[int, int]:
    """Boxes and arrows read off a graph spec's layers by hand: one box per input and per
    layer (a "repeat" block expanded), one arrow per name in "from" (the entry before when
    there is none)."""
    layers = []
    for entry in spec["layers"]:
        block = entry.get("layers", [entry])  # "repeat" on a block or on one layer
        layers += block * entry.get("repeat", 1)
    edges = 0
    for entry in layers:
        src = entry.get("from")
        edges += 1 if src is None else (1 if isinstance(src, str) else len(src))
    return 1 + len(layers), edges


def test_chain_svg_has_a_box_per_layer_and_an_arrow_between_each(tmp_path):
    out = tmp_path / "m.svg"
    r = CliRunner().invoke(cli, ["plot", str(EXAMPLES / "breast_cancer_mlp.json"), "-o", str(out),
                                 "--show-shapes", "--show-layer-names"])
    assert r.exit_code == 0, r.output
    # input, normalization, dense, dense_1: 4 boxes, 3 arrows
    assert counts(out) == (4, 3)
    text = out.read_text()
    assert "dense_1 (Dense)" in text and "out: (None, 1)" in text and "params: 992" in text


@pytest.mark.parametrize("name", ["resnet_digits", "cbhg_tagger"])
def test_dag_svg_counts_match_the_spec(tmp_path, name):
    spec = json.loads((EXAMPLES / f"{name}.json").read_text())
    out = tmp_path / "m.svg"
    r = CliRunner().invoke(cli, ["plot", str(EXAMPLES / f"{name}.json"), "-o", str(out),
                                 "--rankdir", "LR"])
    assert r.exit_code == 0, r.output
    assert counts(out) == spec_counts(spec)


def test_model_plot_png_and_options(tmp_path):
    m = seqc.load(str(EXAMPLES / "resnet_digits.json"))
    png = m.plot(str(tmp_path / "m.png"), show_shapes=True, show_dtype=True,
                 show_trainable=True, dpi=60)
    data = Path(png).read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 1000
    from PIL import Image

    with Image.open(png) as im:
        assert im.width > 50 and im.height > 200  # top to bottom: taller than wide
    svg = m.plot(str(tmp_path / "m.svg"), show_dtype=True, show_trainable=True)
    text = Path(svg).read_text()
    assert "dtype: float32" in text and "trainable" in text
    assert "stem (Conv2D)" not in text  # Keras 3's default: no layer names
    with pytest.raises(UsageError, match="rankdir"):
        m.plot(str(tmp_path / "x.svg"), rankdir="BT")


def test_plot_refusals(tmp_path):
    r = CliRunner().invoke(cli, ["plot", str(EXAMPLES / "digits_mlp.json"), "-o",
                                 str(tmp_path / "m.pdf")])
    assert r.exit_code == 2 and ".png or .svg" in r.output
    r = CliRunner().invoke(cli, ["plot", str(EXAMPLES / "digits_mlp.json"), "--history", "-o",
                                 str(tmp_path / "c.png")])
    assert r.exit_code == 2 and "build folder" in r.output
    assert not list(tmp_path.iterdir())


def test_history_curves_with_callback_events(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 4)).astype("float32")
    y = (x[:, :1] > 0).astype("float32")
    m = seqc.Sequential([seqc.layers.Input((4,)), seqc.layers.Dense(1, activation="sigmoid")])
    m.compile(optimizer=seqc.optimizers.Adam(learning_rate=0.5), loss="binary_crossentropy",
              metrics=["accuracy"])
    es = seqc.callbacks.EarlyStopping(patience=1, restore_best_weights=True, min_delta=10)
    rl = seqc.callbacks.ReduceLROnPlateau(patience=1, factor=0.5, min_delta=10)
    h = m.fit(x, y, epochs=6, validation_split=0.25, verbose=0, callbacks=[rl, es])
    kinds = [e["event"] for e in h.events]
    assert "early_stopping" in kinds and "restored_best" in kinds and "reduce_lr" in kinds
    assert {"event": "restored_best", "epoch": es.best_epoch,
            "monitor": "val_loss"} in h.events
    from seqc.report.draw import history_figure, save, svg_text

    fig = history_figure(h.history, h.events)
    text = svg_text(fig)
    assert "early stop" in text and "restored best" in text and "LR reduced" in text
    out = save(fig, str(tmp_path / "curves.png"))
    assert Path(out).read_bytes()[:4] == b"\x89PNG"


SHIPPED = sorted(p.name for p in EXAMPLES.glob("*.json"))


@pytest.mark.parametrize("name", SHIPPED)
def test_every_shipped_example_draws_in_svg_and_png(tmp_path, name):
    """Issue 18: `seqc plot` draws each example; the SVG's boxes and arrows are the spec's
    input and layers and their connections, counted off the spec by hand."""
    want = spec_counts(json.loads((EXAMPLES / name).read_text()))
    svg, png = tmp_path / "m.svg", tmp_path / "m.png"
    for out in (svg, png):
        r = CliRunner().invoke(cli, ["plot", str(EXAMPLES / name), "-o", str(out),
                                     "--show-shapes"])
        assert r.exit_code == 0, r.output
    assert counts(svg) == want
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 1000

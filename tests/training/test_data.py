"""Data loading: CSV (labels, features, errors with file/line/column), .npz, .npy pairs."""

from __future__ import annotations

import numpy as np
import pytest

from seqc.errors import DataError
from seqc.training.data import load_csv, load_data, load_npy_pair, load_npz


def write(path, text):
    path.write_text(text)
    return str(path)


def test_csv_string_labels_map_to_sorted_ids(tmp_path):
    p = write(tmp_path / "d.csv", "a,species,b\n1,setosa,2\n3.5,virginica,4\n5,setosa,-6e-1\n"
                                  "7,versicolor,8\n\n")
    ds = load_csv(p, "species")
    assert ds.x.dtype == np.float32 and ds.x.shape == (4, 2)
    np.testing.assert_allclose(ds.x, [[1, 2], [3.5, 4], [5, -0.6], [7, 8]])
    assert ds.class_names == ["setosa", "versicolor", "virginica"]
    assert ds.y.tolist() == [0, 2, 0, 1] and ds.y.dtype == np.int64
    assert ds.feature_names == ["a", "b"]
    assert len(ds) == 4


def test_csv_numeric_labels(tmp_path):
    p = write(tmp_path / "d.csv", "x1,label\n0.5,1\n0.1,0\n")
    ds = load_csv(p, "label")
    assert ds.y.dtype == np.int64 and ds.y.tolist() == [1, 0] and ds.class_names is None
    p = write(tmp_path / "r.csv", "x1,price\n0.5,1.25\n0.1,3\n")
    assert load_csv(p, "price").y.dtype == np.float32
    assert load_csv(p, "price", label_dtype="category").class_names == ["1.25", "3"]
    with pytest.raises(DataError, match="not a whole number"):
        load_csv(p, "price", label_dtype="int64")
    p = write(tmp_path / "s.csv", "x1,kind\n0.5,a\n")
    with pytest.raises(DataError, match="line 2: target 'kind' holds 'a'"):
        load_csv(p, "kind", label_dtype="float32")


def test_csv_missing_target_suggests_the_nearest_column(tmp_path):
    p = write(tmp_path / "d.csv", "age,income,label\n1,2,0\n")
    with pytest.raises(DataError, match="target column 'labels'") as e:
        load_csv(p, "labels")
    assert "did you mean 'label'" in str(e.value) and "d.csv" in str(e.value)


def test_csv_non_numeric_cell_names_file_line_and_column(tmp_path):
    p = write(tmp_path / "d.csv", "age,income,label\n1,2,0\n3,lots,1\n")
    with pytest.raises(DataError) as e:
        load_csv(p, "label")
    msg = str(e.value)
    assert "d.csv" in msg and "line 3" in msg and "'income'" in msg and "'lots'" in msg
    p = write(tmp_path / "e.csv", "age,income,label\n1,,0\n")
    with pytest.raises(DataError, match="line 2.*'income' holds an empty cell"):
        load_csv(p, "label")


def test_csv_structure_errors(tmp_path):
    with pytest.raises(DataError, match="line 3 has 2 cells"):
        load_csv(write(tmp_path / "a.csv", "a,b,c\n1,2,3\n1,2\n"), "c")
    with pytest.raises(DataError, match="empty"):
        load_csv(write(tmp_path / "b.csv", "\n"), "c")
    with pytest.raises(DataError, match="no data rows"):
        load_csv(write(tmp_path / "c.csv", "a,b\n"), "b")
    with pytest.raises(DataError, match="no feature columns"):
        load_csv(write(tmp_path / "d.csv", "b\n1\n"), "b")


def test_missing_files_name_the_file(tmp_path):
    missing = str(tmp_path / "nope.csv")
    with pytest.raises(DataError, match="not found") as e:
        load_csv(missing, "y")
    assert missing in str(e.value)
    with pytest.raises(DataError, match="nope.npz"):
        load_npz(str(tmp_path / "nope.npz"))
    with pytest.raises(DataError, match="y file not found"):
        np.save(tmp_path / "x.npy", np.zeros((2, 2)))
        load_npy_pair(str(tmp_path / "x.npy"), str(tmp_path / "y.npy"))


def test_npz(tmp_path):
    p = tmp_path / "d.npz"
    np.savez(p, x=np.ones((3, 2)), y=np.arange(3))
    ds = load_npz(str(p))
    assert ds.x.shape == (3, 2) and ds.y.tolist() == [0, 1, 2]
    np.savez(tmp_path / "bad.npz", X=np.ones((3, 2)))
    with pytest.raises(DataError, match="no array 'x'") as e:
        load_npz(str(tmp_path / "bad.npz"))
    assert "did you mean 'X'" in str(e.value)
    np.savez(tmp_path / "obj.npz", x=np.array([{"a": 1}], dtype=object), y=np.zeros(1))
    with pytest.raises(DataError, match="cannot read"):
        load_npz(str(tmp_path / "obj.npz"))
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(DataError, match="junk.npz"):
        load_npz(str(tmp_path / "junk.npz"))


def test_npy_pair(tmp_path):
    np.save(tmp_path / "x.npy", np.ones((4, 2)))
    np.save(tmp_path / "y.npy", np.zeros(4))
    np.save(tmp_path / "y3.npy", np.zeros(3))
    ds = load_npy_pair(str(tmp_path / "x.npy"), str(tmp_path / "y.npy"))
    assert ds.x.shape == (4, 2) and ds.y.shape == (4,)
    with pytest.raises(DataError, match="x 4 rows, y 3 rows"):
        load_npy_pair(str(tmp_path / "x.npy"), str(tmp_path / "y3.npy"))


def test_load_data_dispatch(tmp_path):
    write(tmp_path / "d.csv", "a,t\n1,x\n2,y\n")
    np.savez(tmp_path / "d.npz", x=np.ones((2, 1)), y=np.zeros(2))
    np.save(tmp_path / "x.npy", np.ones((2, 1)))
    np.save(tmp_path / "y.npy", np.zeros(2))
    assert load_data(str(tmp_path / "d.csv"), target="t").class_names == ["x", "y"]
    assert load_data(str(tmp_path / "d.npz")).x.shape == (2, 1)
    assert load_data(x=str(tmp_path / "x.npy"), y=str(tmp_path / "y.npy")).y.shape == (2,)
    spec = {"path": "d.csv", "target": "t"}
    assert load_data(spec, base_dir=str(tmp_path)).y.tolist() == [0, 1]
    assert load_data({"x": "x.npy", "y": "y.npy"}, base_dir=str(tmp_path)).x.shape == (2, 1)
    with pytest.raises(DataError, match="--target"):
        load_data(str(tmp_path / "d.csv"))
    with pytest.raises(DataError, match="unsupported data file type '.txt'"):
        load_data(str(tmp_path / "d.txt"))
    with pytest.raises(DataError, match="did you mean 'target'"):
        load_data({"path": "d.csv", "targt": "t"}, base_dir=str(tmp_path))
    with pytest.raises(DataError, match="not both"):
        load_data("d.csv", x="x.npy")


def test_csv_rows_are_reshaped_to_a_spatial_model_input():
    from seqc.ir.types import batched
    from seqc.training.data import Dataset, shape_rows_for

    ds = Dataset(np.arange(2 * 12, dtype=np.float32).reshape(2, 12), None, source="d.csv")
    note = shape_rows_for(ds, batched((2, 3, 2)))
    assert ds.x.shape == (2, 2, 3, 2) and "(2, 3, 2)" in note
    np.testing.assert_array_equal(ds.x[1], np.arange(12, 24).reshape(2, 3, 2))  # C order
    flat = Dataset(np.zeros((2, 12), np.float32), None)
    assert shape_rows_for(flat, batched((12,))) is None and flat.x.shape == (2, 12)
    with pytest.raises(DataError, match="needs 8 per sample") as e:
        shape_rows_for(Dataset(np.zeros((2, 12), np.float32), None, source="d.csv"),
                       batched((2, 2, 2)))
    assert "d.csv" in str(e.value)


def test_take_gathers_the_same_rows_as_fancy_indexing():
    """checks.take's np.take path (C-contiguous array, integer rows) gives x[idx] exactly:
    values, dtype, shape and C layout; boolean rows, slices and other layouts keep x[idx]."""
    from seqc.training.checks import take

    rng = np.random.default_rng(0)
    idx = rng.permutation(50)[:17]
    for x in (rng.random((50, 6), dtype=np.float32), rng.integers(0, 9, (50, 3, 2)),
              np.asfortranarray(rng.random((50, 4))), np.array(list("abcdefghij") * 5),
              rng.random((50, 6))[:, ::2]):
        for i in (idx, idx.astype(np.int32), idx - 50, rng.random(50) > 0.5, slice(3, 9)):
            got, want = take(x, i), x[i]
            assert got.dtype == want.dtype and got.shape == want.shape
            assert np.array_equal(got, want)
            assert got.flags.c_contiguous == want.flags.c_contiguous
    with pytest.raises(IndexError):
        take(np.zeros((3, 2)), np.array([5]))
    d = take({"a": np.arange(10.0), "b": [np.arange(10), None]}, np.array([4, 1]))
    assert d["a"].tolist() == [4.0, 1.0] and d["b"][0].tolist() == [4, 1] and d["b"][1] is None

import dataclasses
import io
import json
import zipfile

import numpy as np
import pytest

from mnist_ova.errors import InputError
from mnist_ova.trainer import snapshots
from mnist_ova.trainer.model import OneVsAllLogisticRegression
from mnist_ova.trainer.snapshots import Snapshots
from mnist_ova.trainer.persist import FORMAT_VERSION, PREPROCESSING, load_model, save_model
from mnist_ova.trainer.preprocess import standardise
from mnist_ova.fileio import add_to_zip


def test_a_saved_model_predicts_the_same_after_loading(tmp_path, small_digits):
    images, labels = small_digits
    X = standardise(images)
    model = OneVsAllLogisticRegression(max_iter=30).fit(X, labels)
    save_model(model, tmp_path / "model.npz", metadata={"data": "sample"})
    loaded, metadata = load_model(tmp_path / "model.npz")
    assert metadata == {"data": "sample"}
    assert loaded.coef_.dtype == np.float64 and loaded.coef_.shape == (10, 784)
    assert loaded.n_features_in_ == 784
    np.testing.assert_array_equal(loaded.predict_proba(X), model.predict_proba(X))
    assert loaded.get_params() == model.get_params()
    assert [len(h) for h in loaded.cost_history_] == [len(h) for h in model.cost_history_]


def test_the_same_model_gives_the_same_bytes(small_digits):
    images, labels = small_digits
    model = OneVsAllLogisticRegression(max_iter=3).fit(standardise(images[:100]), labels[:100])
    files = [io.BytesIO(), io.BytesIO()]
    for f in files:
        save_model(model, f, metadata={})
    assert files[0].getvalue() == files[1].getvalue()


def string_labelled(n=60):
    rng = np.random.RandomState(0)
    X = rng.randn(n, 3)
    y = np.array(["cat", "dog", "emu"], dtype=object)[np.arange(n) % 3]
    X[y == "dog", 0] += 4
    X[y == "emu", 1] += 4
    return X, y


def test_string_labels_survive_saving_without_pickle(tmp_path):
    X, y = string_labelled()
    model = OneVsAllLogisticRegression(max_iter=100, learning_rate=0.5, dtype="float32").fit(X, y)
    save_model(model, tmp_path / "model.npz", metadata={})
    with np.load(tmp_path / "model.npz", allow_pickle=False) as npz:
        assert npz["classes"].dtype.kind == "U"
    loaded, _ = load_model(tmp_path / "model.npz")
    assert loaded.classes_.tolist() == ["cat", "dog", "emu"] and loaded.coef_.dtype == np.float32
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))


def test_feature_names_survive_saving(tmp_path):
    pd = pytest.importorskip("pandas")
    X, y = string_labelled()
    frame = pd.DataFrame(X, columns=["a", "b", "c"])
    model = OneVsAllLogisticRegression(max_iter=100, learning_rate=0.5).fit(frame, y)
    save_model(model, tmp_path / "model.npz", metadata={})
    loaded, _ = load_model(tmp_path / "model.npz")
    assert loaded.feature_names_in_.tolist() == ["a", "b", "c"]
    np.testing.assert_array_equal(loaded.predict(frame), model.predict(frame))


def test_labels_that_are_neither_numbers_nor_text_cannot_be_saved(tmp_path):
    X, _ = string_labelled(4)
    model = OneVsAllLogisticRegression(max_iter=2).fit(X, [0, 1, 0, 1])
    model.classes_ = np.array([object(), object()], dtype=object)
    with pytest.raises(ValueError, match="labels are numbers or strings"):
        save_model(model, tmp_path / "model.npz", metadata={})


def save_format_1(model, file, *, metadata):
    """``save_model`` as the tool's first version wrote it: ``W`` (n_features, n_classes), format 1."""
    longest = max(len(h) for h in model.cost_history_)
    history = np.full((longest, len(model.cost_history_)), np.nan)
    for k, h in enumerate(model.cost_history_):
        history[: len(h), k] = h
    arrays = {"W": model.coef_.T.copy(), "b": model.intercept_, "classes": model.classes_, "n_iter": model.n_iter_,
              "cost_history": history, "params": json.dumps(model.get_params(), sort_keys=True),
              "metadata": json.dumps(metadata, sort_keys=True), "format_version": 1,
              "preprocessing": PREPROCESSING}
    with zipfile.ZipFile(file, "w") as archive:
        for name, value in arrays.items():
            buffer = io.BytesIO()
            np.lib.format.write_array(buffer, np.asarray(value), allow_pickle=False)
            add_to_zip(archive, f"{name}.npy", buffer.getvalue())


def test_a_format_1_model_still_loads(tmp_path, small_digits):
    assert FORMAT_VERSION == 3
    images, labels = small_digits
    X = standardise(images)
    model = OneVsAllLogisticRegression(max_iter=20).fit(X, labels)
    save_format_1(model, tmp_path / "model.npz", metadata={"key": "old"})
    loaded, metadata = load_model(tmp_path / "model.npz")
    assert metadata == {"key": "old"}
    assert loaded.coef_.shape == (10, 784) and loaded.coef_.flags.c_contiguous
    np.testing.assert_array_equal(loaded.coef_, model.coef_)
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))
    assert [len(h) for h in loaded.cost_history_] == [len(h) for h in model.cost_history_]


def test_snapshots_and_their_scores_survive_saving(tmp_path, small_digits):
    images, labels = small_digits
    X = standardise(images)
    model = OneVsAllLogisticRegression(max_iter=40, dtype="float32").fit(X[:500].astype(np.float32), labels[:500])
    unscored = tmp_path / "unscored.npz"
    save_model(model, unscored, metadata={})
    assert not load_model(unscored)[0].snapshots_.scored
    model.snapshots_ = snapshots.score(model.snapshots_, X[:500], labels[:500], X[500:], labels[500:])
    save_model(model, tmp_path / "model.npz", metadata={})
    loaded = load_model(tmp_path / "model.npz")[0].snapshots_
    for field in dataclasses.fields(Snapshots):
        value = getattr(loaded, field.name)
        np.testing.assert_array_equal(value, getattr(model.snapshots_, field.name))
        assert value.dtype == getattr(model.snapshots_, field.name).dtype
    assert loaded.coef.dtype == np.float32 and loaded.scored


def test_a_model_without_snapshots_loads_and_the_unreleased_format_2_is_refused(tmp_path, small_digits):
    """A format-3 file without snapshots (a model read from format 1 and saved again) loads as such; format 2
    was never released (CHANGELOG.md), so no file of it is read."""
    images, labels = small_digits
    X = standardise(images)
    model = OneVsAllLogisticRegression(max_iter=20).fit(X, labels)
    buffer = io.BytesIO()
    save_model(model, buffer, metadata={"key": "old"})
    with np.load(io.BytesIO(buffer.getvalue()), allow_pickle=False) as npz:
        arrays = {key: npz[key] for key in npz.files if not key.startswith("snapshot_")}
    write_entries(tmp_path / "model.npz", arrays)
    loaded, metadata = load_model(tmp_path / "model.npz")
    assert metadata == {"key": "old"} and not hasattr(loaded, "snapshots_")
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))
    write_entries(tmp_path / "two.npz", {**arrays, "format_version": 2})
    with pytest.raises(InputError, match=r"has format 2; this tool reads formats 1 and 3: train it again"):
        load_model(tmp_path / "two.npz")


@pytest.mark.parametrize("content", [b"", b"not a zip at all", b"PK\x03\x04" + bytes(60)])
def test_a_corrupt_model_is_a_clear_error(tmp_path, content):
    (tmp_path / "model.npz").write_bytes(content)
    with pytest.raises(InputError, match="damaged or no model of this tool"):
        load_model(tmp_path / "model.npz")


def test_an_npz_that_is_no_model(tmp_path):
    np.savez(tmp_path / "model.npz", W=np.zeros((4, 2)))
    with pytest.raises(InputError, match="damaged or no model"):
        load_model(tmp_path / "model.npz")


def test_a_missing_model_is_named(tmp_path):
    with pytest.raises(InputError, match="model '.*model.npz' does not exist$"):
        load_model(tmp_path / "model.npz")


def test_trainer_messages_quote_no_command_line_flags(tmp_path):
    (tmp_path / "model.npz").write_bytes(b"damaged")
    with pytest.raises(InputError) as info:
        load_model(tmp_path / "model.npz")
    assert "--" not in str(info.value)


@pytest.fixture(scope="module")
def saved_arrays():
    """The entries of a good file, scored snapshots included, to damage one at a time."""
    rng = np.random.RandomState(0)
    X, y = rng.randn(30, 4), np.arange(30) % 3
    model = OneVsAllLogisticRegression(max_iter=5).fit(X, y)
    model.snapshots_ = snapshots.score(model.snapshots_, X, y, X, y)
    buffer = io.BytesIO()
    save_model(model, buffer, metadata={"data": "x"})
    with np.load(io.BytesIO(buffer.getvalue()), allow_pickle=False) as npz:
        return {key: npz[key] for key in npz.files}


def write_entries(path, arrays, *, allow_pickle=False):
    with zipfile.ZipFile(path, "w") as archive:
        for name, value in arrays.items():
            buffer = io.BytesIO()
            np.lib.format.write_array(buffer, np.asarray(value), allow_pickle=allow_pickle)
            archive.writestr(f"{name}.npy", buffer.getvalue())


CRAFTED = {
    "object array": ({"classes": np.array([0, "x", None], dtype=object)}, "damaged or no model of this tool"),
    "text weights": ({"coef": np.full((3, 4), "1.0")}, "'coef' is a 2-D array of <U3"),
    "integer weights": ({"coef": np.zeros((3, 4), dtype=np.int64)}, "'coef' is a 2-D array of int64"),
    "half weights": ({"coef": np.zeros((3, 4), dtype=np.float16)}, "must be float32 or float64"),
    "mixed precision": ({"intercept": np.zeros(3, dtype=np.float32)}, "must be float32 or float64 alike"),
    "1-D weights": ({"coef": np.zeros(12)}, "'coef' is a 1-D array"),
    "too few intercepts": ({"intercept": np.zeros(2)}, "do not fit together"),
    "too few labels": ({"classes": np.array([0, 1])}, "do not fit together"),
    "one model": ({"coef": np.zeros((1, 4)), "intercept": np.zeros(1), "classes": np.array([0]),
                   "n_iter": np.array([5]), "cost_history": np.zeros((5, 1))}, "do not fit together"),
    "NaN weight": ({"coef": np.array([[0, 0, 0, np.nan]] * 3)}, "NaN or infinite"),
    "infinite intercept": ({"intercept": np.array([0, np.inf, 0])}, "NaN or infinite"),
    "repeated labels": ({"classes": np.array([0, 0, 1])}, "distinct, sorted"),
    "NaN label": ({"classes": np.array([0.0, 1.0, np.nan])}, "distinct, sorted and finite"),
    "iterations beyond history": ({"n_iter": np.array([5, 6, 99])}, "do not fit its cost history"),
    "negative iterations": ({"n_iter": np.array([-1, 5, 5])}, "do not fit its cost history"),
    "params no JSON": ({"params": "{learning_rate"}, "'params' is no valid JSON"),
    "params a list": ({"params": "[1, 2]"}, "'params' must be a JSON object"),
    "unknown param": ({"params": '{"alpha": 1}'}, "unknown hyper-parameters \\['alpha'\\]"),
    "bad param": ({"params": '{"max_iter": -3}'}, "hyper-parameters are invalid \\(max_iter must be"),
    "dtype disagrees": ({"params": '{"dtype": "float32"}'}, "weights are float64 but its dtype parameter"),
    "metadata a number": ({"metadata": "3"}, "'metadata' must be a JSON object"),
    "no classes": ({"classes": None}, "has no entry 'classes'"),
    "newer format": ({"format_version": 4}, "has format 4; this tool reads formats 1 and 3"),
    "snapshots misfit": ({"snapshot_coef": np.zeros((5, 3, 3))}, "'snapshot_coef' has shape \\(5, 3, 3\\)"),
    "snapshot text cost": ({"snapshot_cost": np.full((5, 3), "x")}, "'snapshot_cost' is a 2-D array of <U1"),
    "snapshots out of order": ({"snapshot_iterations": np.array([1, 3, 2, 4, 5])}, "must increase and end"),
    "snapshots end early": ({"snapshot_iterations": np.arange(5)}, "must increase and end at its last iteration, 5"),
    "snapshot NaN weight": ({"snapshot_intercept": np.full((5, 3), np.nan)}, "snapshot weights hold NaN"),
    "snapshot precision": ({"snapshot_coef": np.zeros((5, 3, 4), np.float32)}, "snapshot weights must be float64"),
    "half the scores": ({"snapshot_test_multiclass": None}, "some snapshot accuracies but not all"),
    "text format": ({"format_version": "2"}, "'format_version' is a 0-D array of <U1"),
    "feature names misfit": ({"feature_names": np.array(["a", "b"])}, "names 2 features but its weights have 4"),
}


@pytest.mark.parametrize("case", CRAFTED)
def test_a_crafted_model_is_an_input_error(tmp_path, saved_arrays, case):
    changes, message = CRAFTED[case]
    arrays = {**saved_arrays, **changes}
    arrays = {key: value for key, value in arrays.items() if value is not None}
    write_entries(tmp_path / "model.npz", arrays, allow_pickle=case == "object array")
    with pytest.raises(InputError, match=message) as info:
        load_model(tmp_path / "model.npz")
    assert info.value.exit_code == 2 and "\n" not in str(info.value)


def test_an_array_larger_than_memory_is_an_input_error(tmp_path, saved_arrays):
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": "<f8", "fortran_order": False,
                                                  "shape": (2**20, 2**20)})  # 8 TiB
    with zipfile.ZipFile(tmp_path / "model.npz", "w") as archive:
        archive.writestr("coef.npy", header.getvalue() + bytes(64))
    with pytest.raises(InputError, match="model .* (cannot be loaded|is damaged)"):
        load_model(tmp_path / "model.npz")


def write_bomb(path):
    """A model.npz of a few hundred KB of deflated zeros declared as 400 MiB of weights."""
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": "<f8", "fortran_order": False, "shape": (10, 5_242_880)})
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        with archive.open("coef.npy", "w", force_zip64=True) as entry:
            entry.write(header.getvalue())
            for _ in range(400):
                entry.write(bytes(1 << 20))


def test_a_decompression_bomb_is_refused_before_it_is_inflated(tmp_path, saved_arrays):
    """A few hundred KB of deflated zeros declared as 400 MiB of weights: refused from the archive's
    directory, before any entry is inflated (a 4 MB file was inflated to 3 GiB, then refused)."""
    import resource
    import time

    write_bomb(tmp_path / "model.npz")
    before, start = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, time.perf_counter()
    with pytest.raises(InputError, match=r"model '.*model.npz' is damaged or crafted: its entries unpack to "
                                         r"41943\d+ bytes from \d+ in the file, more than 16 times as many"):
        load_model(tmp_path / "model.npz")
    assert time.perf_counter() - start < 1
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 100_000  # KiB: nothing inflated


def test_a_model_of_the_tool_is_far_within_the_unpack_bound(tmp_path, saved_arrays):
    write_entries(tmp_path / "model.npz", saved_arrays)
    assert load_model(tmp_path / "model.npz")[0].coef_.shape == (3, 4)

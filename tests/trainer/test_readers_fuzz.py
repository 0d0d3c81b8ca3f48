"""Random bytes into every file reader (IDX, .npz, .mat, model.npz, the config file): the run either goes on
(exit 0) or stops with one line and exit 2, the tool's own InputError; any other exception is a bug."""
import gzip
import io
import json
import zipfile

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mnist_ova.trainer import data
from mnist_ova.errors import ExitCode, InputError

# No example database: a failing example saved in the checkout (.hypothesis/) would replay on every later run
# there, long after the bug it found is another one's to fix; the seed of a failure is in the test's output.
FUZZ = settings(max_examples=150, deadline=None, database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture])

# Bytes that start like the real thing reach deeper into each reader than pure noise; sides up to 2**32 - 1
# reach shapes NumPy cannot hold even when empty.
idx_like = st.builds(lambda kind, ndim, dims, body: bytes([0, 0, kind, ndim]) + b"".join(
    d.to_bytes(4, "big") for d in dims) + body,
    st.sampled_from([0x08, 0x09, 0x0B, 0x0C, 0x0D, 0x0E, 0x07]), st.integers(0, 4),
    st.lists(st.one_of(st.integers(0, 70), st.integers(0, 2**32 - 1)), max_size=4), st.binary(max_size=600))


def read_or_refuse(read, path, check):
    """``read(path)``: either a value that passes ``check`` or one line of ``InputError`` (exit 2), nothing else."""
    try:
        value = read(path)
    except InputError as exc:
        assert exc.exit_code == ExitCode.BAD_INPUT
        assert str(exc).strip() and str(exc).isprintable(), repr(str(exc))
        return
    check(value)


def check_idx(path):
    def check(array):
        assert isinstance(array, np.ndarray) and array.shape == data.idx_header(path).shape
    return check


def check_dataset(dataset):
    """What a reader returns is the data the rest of the tool expects: one label per image, each
    image of the declared shape."""
    assert dataset.images.ndim == 2 and dataset.labels.shape == (dataset.images.shape[0],)
    assert dataset.images.shape[1] == int(np.prod(dataset.image_shape))


@FUZZ
@given(content=st.one_of(st.binary(max_size=2000), idx_like), compressed=st.booleans())
def test_idx_reader(tmp_path, content, compressed):
    path = tmp_path / ("x-images-idx3-ubyte.gz" if compressed else "x-images-idx3-ubyte")
    path.write_bytes(gzip.compress(content) if compressed and len(content) % 3 else content)
    read_or_refuse(data.read_idx, path, check_idx(path))


@FUZZ
@given(content=st.one_of(st.binary(max_size=2000), st.builds(lambda b: b"MATLAB 5.0 MAT-file" + b, st.binary(max_size=800))))
def test_mat_reader(tmp_path, content):
    path = tmp_path / "x.mat"
    path.write_bytes(content)
    read_or_refuse(data.load_path, path, check_dataset)


def npz_like(entries):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, body in entries:
            archive.writestr(name, body)
    return buffer.getvalue()


def npy_bytes(array):
    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


arrays = st.builds(lambda shape, kind: np.zeros(shape, dtype=kind),
                   st.lists(st.integers(0, 5), max_size=4).map(tuple), st.sampled_from(["u1", "f8", "i4", "U3", "?"]))


@FUZZ
@given(content=st.one_of(
    st.binary(max_size=2000),
    st.lists(st.tuples(st.sampled_from(["X.npy", "y.npy", "x_train.npy", "y_train.npy", "x_test.npy",
                                        "y_test.npy", "junk"]), st.binary(max_size=300)), max_size=4,
             unique_by=lambda entry: entry[0]).map(npz_like),
    st.lists(st.tuples(st.sampled_from(["X.npy", "y.npy"]), arrays.map(npy_bytes)), max_size=3,
             unique_by=lambda entry: entry[0]).map(npz_like)))
def test_npz_reader(tmp_path, content):
    path = tmp_path / "x.npz"
    path.write_bytes(content)
    read_or_refuse(data.load_path, path, check_dataset)


# --- model.npz: a good model's entries and metadata, damaged one at a time, loaded and rendered from

json_values = st.recursive(st.none() | st.booleans() | st.integers(-2**64, 2**64) | st.floats() | st.text(max_size=6),
                           lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner,
                                                                                       max_size=3), max_leaves=6)
entry_values = st.one_of(st.none(), arrays, st.builds(np.asarray, json_values.map(json.dumps)))


@pytest.fixture(scope="module")
def good_model(tmp_path_factory):
    """(the data, the entries of a model the tool trained on them, its metadata as a dict)."""
    from mnist_ova.pipeline import cli

    folder = tmp_path_factory.mktemp("model")
    rng = np.random.RandomState(0)
    np.savez(folder / "xy.npz", X=rng.randint(0, 256, (40, 4)), y=np.arange(40) % 3)
    assert cli.main(["train", "--data", str(folder / "xy.npz"), "--out", str(folder / "out"), "--iterations", "3",
                     "--quiet"]) == 0
    with np.load(folder / "out" / "model.npz", allow_pickle=False) as npz:
        entries = {key: npz[key] for key in npz.files}
    return folder / "xy.npz", entries, json.loads(str(entries["metadata"]))


def changed(document, path, value):
    """``document`` with the field at ``path`` (keys) set to ``value``, or removed where ``value`` is None."""
    document = json.loads(json.dumps(document))
    *parents, last = path
    target = document
    for key in parents:
        if not isinstance(target.get(key), dict):
            target[key] = {}
        target = target[key]
    if value is None:
        target.pop(last, None)
    else:
        target[last] = value
    return document


METADATA_FIELDS = [("data",), ("config",), ("dataset",), ("profile",), ("title_page",), ("train_seconds",),
                   ("key",), *((("config", key) for key in ("dtype", "split", "test_size", "seed", "solver",
                                                             "learning_rate", "iterations", "l2", "tol"))),
                   ("dataset", "sha256"), ("dataset", "class_names"), ("title_page", "title"),
                   ("profile", "name"), ("profile", "class_names"), ("profile", "first_label")]


@FUZZ
@given(entries=st.dictionaries(st.sampled_from(["coef", "intercept", "classes", "n_iter", "cost_history", "params",
                                                "format_version", "snapshot_iterations", "snapshot_coef"]),
                               entry_values, max_size=2),
       metadata=st.lists(st.tuples(st.sampled_from(METADATA_FIELDS), json_values), max_size=3),
       noise=st.one_of(st.none(), st.binary(max_size=400)))
def test_model_reader(tmp_path, good_model, entries, metadata, noise):
    from mnist_ova.pipeline import config, jobs
    from tests.trainer.test_persist import write_entries

    data_path, good, recorded = good_model
    for path, value in metadata:
        recorded = changed(recorded, path, value)
    arrays = {**good, **entries, "metadata": np.asarray(json.dumps(recorded))}
    path = tmp_path / "model.npz"
    if noise is not None:
        path.write_bytes(noise)
    else:
        write_entries(path, {key: value for key, value in arrays.items() if value is not None})
    settings_ = config.settings_from({"data": str(data_path)})
    read_or_refuse(lambda p: jobs.from_saved_model(p, settings_, log=lambda message: None), path,
                   lambda trained: trained.evaluation.to_dict())


# --- the config file: every key of the tool's own with values of any TOML type

def toml_text(value):
    """``value`` written as TOML (strings escaped, so that control characters reach the checks, not the parser)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return '"' + "".join(c if c.isprintable() and c not in '"\\' and not 0xD800 <= ord(c) < 0xE000
                             else f"\\U{ord(c):08X}" if ord(c) > 0xFFFF else f"\\u{ord(c):04X}" for c in value) + '"'
    if isinstance(value, list):
        return "[" + ", ".join(map(toml_text, value)) + "]"
    return "{" + ", ".join(f"{toml_text(key)} = {toml_text(item)}" for key, item in value.items()) + "}"


toml_values = st.recursive(st.booleans() | st.integers(-2**64, 2**64) | st.floats() | st.text(max_size=8)
                           | st.sampled_from(["a,b", "a,a", "mnist", "pdf,gif", "640x360", "recall:0=0.5"]),
                           lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
                               st.sampled_from(["name", "class-names", "title", "item", "citation", "x"]), inner,
                               max_size=3), max_leaves=6)


def config_keys():
    from mnist_ova.pipeline import config

    # notes, history and MLflow have fuzz tests of their own readers
    return sorted(set(config.BY_NAME) - {"notes", "history", "mlflow-uri"})


@FUZZ
@given(table=st.dictionaries(st.sampled_from(config_keys()), toml_values, max_size=4))
def test_config_reader(tmp_path, table):
    from mnist_ova.pipeline import config

    path = tmp_path / "run.toml"
    path.write_text("".join(f"{key} = {toml_text(value)}\n" for key, value in table.items()), encoding="utf-8")
    def check(settings_):
        assert isinstance(settings_, config.Settings)

    read_or_refuse(lambda p: config.settings_from({}, p), path, check)

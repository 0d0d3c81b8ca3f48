"""``model.npz``: the learned weights and what is needed to use them again.

Format 3 stores ``coef`` as (n_classes, n_features), as the estimator holds it, the class labels as numbers
or text (a unicode array, so the file loads with ``allow_pickle=False``) and the training snapshots
(``snapshot_*``: weights, biases, costs and, once scored, accuracies at about 100 iterations) when the model
has them. Format 1, which release 0.1.0 wrote (``W`` as (n_features, n_classes), integer labels), is still
read, as a model without snapshots; format 2 was never released and is not.

A file is checked entry by entry before a model is built from it: a damaged or crafted file
(object arrays, wrong dtypes, shapes that do not fit together, non-finite weights, unknown or
invalid hyper-parameters) is an ``InputError`` that names the file and what is wrong.
"""
import dataclasses
import io
import json
import os
import zipfile
import zlib

import numpy as np

from mnist_ova.errors import InputError
from mnist_ova.trainer.data import not_an_archive
from mnist_ova.trainer.model import OneVsAllLogisticRegression
from mnist_ova.trainer.snapshots import Snapshots
from mnist_ova.fileio import add_to_zip

FORMAT_VERSION = 3
PREPROCESSING = "per-image standardisation: (x - row mean) / row std, constant images become 0"
LABEL_KINDS = "biufU"  # bool, integer, float, text: what a label array may hold in a file
_ENTRIES = {1: ("W", "b"), FORMAT_VERSION: ("coef", "intercept")}  # the weights' entries of each format read
SNAPSHOT_PREFIX = "snapshot_"  # + a field of trainer.snapshots.Snapshots


def save_model(model, file, *, metadata):
    """Write ``model`` and a JSON-serialisable ``metadata`` dict to ``file`` (a path or binary file).

    The same model gives the same bytes: unlike ``np.savez``, the archive's entries carry a
    fixed date instead of the time of writing.
    """
    longest = max(len(h) for h in model.cost_history_)
    history = np.full((longest, len(model.cost_history_)), np.nan)
    for k, h in enumerate(model.cost_history_):
        history[: len(h), k] = h
    arrays = {"coef": model.coef_, "intercept": model.intercept_, "classes": _storable_labels(model.classes_),
              "n_iter": model.n_iter_, "cost_history": history,
              "params": json.dumps(model.get_params(), sort_keys=True, default=_plain),
              "metadata": json.dumps(metadata, sort_keys=True), "format_version": FORMAT_VERSION,
              "preprocessing": PREPROCESSING}
    if hasattr(model, "feature_names_in_"):
        arrays["feature_names"] = np.asarray(model.feature_names_in_, dtype=str)
    if getattr(model, "snapshots_", None) is not None:
        snapshots = model.snapshots_
        # The accuracies all or none: a fit's snapshots know only their training accuracies until scored.
        arrays.update({SNAPSHOT_PREFIX + field.name: getattr(snapshots, field.name)
                       for field in dataclasses.fields(snapshots) if getattr(snapshots, field.name) is not None
                       and (snapshots.scored or field.name not in snapshots.SCORES)})
    with zipfile.ZipFile(file, "w") as archive:
        for name, value in arrays.items():
            buffer = io.BytesIO()
            np.lib.format.write_array(buffer, np.asarray(value), allow_pickle=False)
            add_to_zip(archive, f"{name}.npy", buffer.getvalue())


def _storable_labels(classes):
    """The labels as an array that loads without pickle: numbers as they are, text as unicode."""
    classes = np.asarray(classes)
    if classes.dtype.kind == "O" and all(isinstance(c, str) for c in classes):
        classes = classes.astype(str)
    if classes.dtype.kind not in LABEL_KINDS:
        raise ValueError(f"a model can be saved when its labels are numbers or strings; got labels of dtype "
                         f"{classes.dtype}: {classes.tolist()[:5]!r}")
    return classes


def _plain(value):
    """NumPy scalars (a grid search may set them) as the Python numbers JSON knows."""
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def load_model(path):
    """(model, metadata) from a file written by ``save_model`` (or by release 0.1.0); any damage is an
    ``InputError``."""
    name = str(path)
    try:
        _check_unpacked_size(path, name)
        with np.load(path, allow_pickle=False) as npz:
            arrays = {key: npz[key] for key in npz.files}
    except InputError:  # a ValueError too, already worded
        raise
    except FileNotFoundError:
        raise InputError(f"model {name!r} does not exist") from None
    except MemoryError as exc:
        raise InputError(f"model {name!r} cannot be loaded ({exc}): it is damaged, or larger than this "
                         "machine's memory") from None
    except (OSError, ValueError, KeyError, TypeError, zipfile.BadZipFile, zlib.error, EOFError) as exc:
        raise InputError(f"model {name!r} is damaged or no model of this tool ({not_an_archive(exc)})") from None
    return _model_from(arrays, name)


# The tool stores its models' entries uncompressed; arrays of weights deflate poorly. So a file whose entries
# unpack to many times its size is crafted (a 4 MB file of zeros unpacks to 3 GiB) and is refused before any
# entry is inflated; the slack admits a small re-compressed model's text entries, which are mostly zeros.
MAX_UNPACK_RATIO = 16
UNPACK_SLACK = 1 << 20


def _check_unpacked_size(path, name):
    """Refuse a decompression bomb from the archive's directory: zipfile never inflates an entry past its
    declared size, so the declared sizes bound what loading will allocate."""
    packed = os.path.getsize(path)
    with zipfile.ZipFile(path) as archive:
        unpacked = sum(info.file_size for info in archive.infolist())
    if unpacked > MAX_UNPACK_RATIO * packed + UNPACK_SLACK:
        raise InputError(f"model {name!r} is damaged or crafted: its entries unpack to {unpacked} bytes from "
                         f"{packed} in the file, more than {MAX_UNPACK_RATIO} times as many")


def _model_from(arrays, name):
    def damaged(what):
        return InputError(f"model {name!r} is damaged: {what}")

    def entry(key, kinds, ndim):
        if key not in arrays:
            raise InputError(f"model {name!r} is damaged or no model of this tool (it has no entry {key!r})")
        value = arrays[key]
        if value.dtype.kind not in kinds or value.ndim != ndim:
            raise damaged(f"{key!r} is a {value.ndim}-D array of {value.dtype}")
        return value

    version = entry("format_version", "iu", 0)
    if int(version) not in _ENTRIES:
        raise InputError(f"model {name!r} has format {int(version)}; this tool reads formats "
                         f"{' and '.join(map(str, _ENTRIES))}: train it again with this version")
    coef_key, intercept_key = _ENTRIES[int(version)]
    coef = entry(coef_key, "f", 2)
    if int(version) == 1:
        coef = np.ascontiguousarray(coef.T)  # format 1 kept one column per model
    intercept = entry(intercept_key, "f", 1)
    classes = entry("classes", LABEL_KINDS, 1)
    n_iter = entry("n_iter", "iu", 1)
    history = entry("cost_history", "f", 2)
    K, d = coef.shape
    if coef.dtype not in (np.float32, np.float64) or intercept.dtype != coef.dtype:
        raise damaged(f"the weights must be float32 or float64 alike; got {coef.dtype} and {intercept.dtype}")
    if K < 2 or d < 1 or intercept.shape != (K,) or classes.shape != (K,) or n_iter.shape != (K,) \
            or history.shape[1:] != (K,):
        raise damaged(f"its arrays do not fit together: weights {coef.shape}, intercepts {intercept.shape}, "
                      f"labels {classes.shape}, iterations {n_iter.shape}, cost history {history.shape}")
    if not (np.isfinite(coef).all() and np.isfinite(intercept).all()):
        raise damaged("its weights hold NaN or infinite values")
    if classes.dtype.kind == "f" and not np.isfinite(classes).all() or not np.array_equal(np.unique(classes),
                                                                                          classes):
        raise damaged(f"its labels must be distinct, sorted and finite; got {classes.tolist()[:10]!r}")
    if n_iter.min() < 0 or n_iter.max() > history.shape[0]:
        raise damaged(f"its iteration counts {n_iter.tolist()} do not fit its cost history of "
                      f"{history.shape[0]} steps")
    params, metadata = _json(entry("params", "U", 0), "params", damaged), \
        _json(entry("metadata", "U", 0), "metadata", damaged)
    unknown = set(params) - set(OneVsAllLogisticRegression().get_params())
    if unknown:
        raise damaged(f"it has unknown hyper-parameters {sorted(unknown)}")
    model = OneVsAllLogisticRegression(**params)
    try:
        model._validated_params()
    except InputError as exc:
        raise damaged(f"its hyper-parameters are invalid ({exc})") from None
    if np.dtype(model.dtype) != coef.dtype:
        raise damaged(f"its weights are {coef.dtype} but its dtype parameter says {model.dtype}")
    model.coef_, model.intercept_, model.classes_ = coef, intercept, classes
    model.n_iter_ = n_iter.astype(np.int64)
    model.n_features_in_ = d
    model.cost_history_ = [history[: n, k] for k, n in enumerate(model.n_iter_)]
    if "feature_names" in arrays:
        names = entry("feature_names", "U", 1)
        if names.shape != (d,):
            raise damaged(f"it names {names.size} features but its weights have {d}")
        model.feature_names_in_ = names.astype(object)  # as scikit-learn keeps them
    if SNAPSHOT_PREFIX + "iterations" in arrays:
        model.snapshots_ = _snapshots(arrays, entry, damaged, coef, int(model.n_iter_.max()))
    return model, metadata


def _snapshots(arrays, entry, damaged, coef, last):
    """The training snapshots of a format-3 file, checked against the final weights ``coef``."""
    K, d = coef.shape
    iterations = entry(SNAPSHOT_PREFIX + "iterations", "iu", 1).astype(np.int64)
    S = iterations.size
    shapes = {"coef": (3, (S, K, d)), "intercept": (2, (S, K)), "cost": (2, (S, K)), "train_accuracy": (2, (S, K)),
              "test_accuracy": (2, (S, K)), "train_multiclass": (1, (S,)), "test_multiclass": (1, (S,))}
    values = {}
    for field, (ndim, shape) in shapes.items():
        key = SNAPSHOT_PREFIX + field
        if key not in arrays and field not in ("coef", "intercept", "cost"):
            continue  # accuracies are added once scored
        value = entry(key, "f", ndim)
        if value.shape != shape:
            raise damaged(f"{key!r} has shape {value.shape}; its {S} snapshots of {K} models of {d} weights need "
                          f"{shape}")
        values[field] = value
    if S == 0 or np.any(np.diff(iterations) <= 0) or iterations[0] < 0 or iterations[-1] != last:
        raise damaged(f"its snapshot iterations {iterations.tolist()[:10]} must increase and end at its last "
                      f"iteration, {last}")
    if values["coef"].dtype != coef.dtype or values["intercept"].dtype != coef.dtype:
        raise damaged(f"its snapshot weights must be {coef.dtype} as its weights; got {values['coef'].dtype} "
                      f"and {values['intercept'].dtype}")
    if not (np.isfinite(values["coef"]).all() and np.isfinite(values["intercept"]).all()):
        raise damaged("its snapshot weights hold NaN or infinite values")
    if set(Snapshots.SCORES) & set(values) and not set(Snapshots.SCORES) <= set(values):
        raise damaged(f"it has some snapshot accuracies but not all of {list(Snapshots.SCORES)}")
    return Snapshots(iterations, **values)


def _json(value, key, damaged):
    try:
        parsed = json.loads(str(value))
    except ValueError as exc:
        raise damaged(f"{key!r} is no valid JSON ({exc})") from None
    if not isinstance(parsed, dict):
        raise damaged(f"{key!r} must be a JSON object; got {type(parsed).__name__}")
    return parsed

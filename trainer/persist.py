"""``model.npz``: the learned weights and what is needed to use them again."""
import io
import json
import zipfile
import zlib

import numpy as np

from mnist_ova.trainer.data import not_an_archive
from mnist_ova.errors import InputError
from mnist_ova.trainer.writing import add_to_zip
from mnist_ova.trainer.model import OneVsAllLogisticRegression

FORMAT_VERSION = 1
PREPROCESSING = "per-image standardisation: (x - row mean) / row std, constant images become 0"


def save_model(model, file, *, metadata):
    """Write ``model`` and a JSON-serialisable ``metadata`` dict to ``file`` (a path or binary file).

    The same model gives the same bytes: unlike ``np.savez``, the archive's entries carry a
    fixed date instead of the time of writing.
    """
    longest = max(len(h) for h in model.cost_history_)
    history = np.full((longest, len(model.cost_history_)), np.nan)
    for k, h in enumerate(model.cost_history_):
        history[: len(h), k] = h
    arrays = {"W": model.coef_, "b": model.intercept_, "classes": model.classes_, "n_iter": model.n_iter_,
              "cost_history": history, "params": json.dumps(model.get_params(), sort_keys=True),
              "metadata": json.dumps(metadata, sort_keys=True), "format_version": FORMAT_VERSION,
              "preprocessing": PREPROCESSING}
    with zipfile.ZipFile(file, "w") as archive:
        for name, value in arrays.items():
            buffer = io.BytesIO()
            np.lib.format.write_array(buffer, np.asarray(value), allow_pickle=False)
            add_to_zip(archive, f"{name}.npy", buffer.getvalue())


def load_model(path):
    """(model, metadata) from a file written by ``save_model``; any damage is an ``InputError``."""
    try:
        with np.load(path, allow_pickle=False) as npz:
            if int(npz["format_version"]) != FORMAT_VERSION:
                raise InputError(f"model {str(path)!r} has format {int(npz['format_version'])}; this tool reads "
                                 f"format {FORMAT_VERSION}: train again with --force")
            model = OneVsAllLogisticRegression(**json.loads(str(npz["params"])))
            model.coef_, model.intercept_ = npz["W"], npz["b"]
            model.classes_, model.n_iter_ = npz["classes"], npz["n_iter"]
            history = npz["cost_history"]
            model.cost_history_ = [history[: n, k] for k, n in enumerate(model.n_iter_)]
            metadata = json.loads(str(npz["metadata"]))
    except FileNotFoundError:
        raise InputError(f"model {str(path)!r} does not exist: train one first with 'run.py train'") from None
    except InputError:
        raise
    except (OSError, ValueError, KeyError, TypeError, zipfile.BadZipFile, zlib.error, EOFError) as exc:
        raise InputError(f"model {str(path)!r} is damaged or no model of this tool ({not_an_archive(exc)}): "
                         "train again with --force") from None
    if model.coef_.ndim != 2 or model.coef_.shape[1] != model.classes_.size or model.intercept_.shape != (
            model.classes_.size,):
        raise InputError(f"model {str(path)!r} has inconsistent array shapes: train again with --force")
    return model, metadata

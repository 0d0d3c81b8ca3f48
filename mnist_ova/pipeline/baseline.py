"""``predictions.csv`` (one row per test example) and ``--baseline PATH``: an earlier output folder
read back and compared with this run."""
import csv
import dataclasses
import io
import json
import os
from pathlib import Path

import numpy as np

from mnist_ova.errors import InputError
from mnist_ova.fileio import MiB, read_bounded
from mnist_ova.pipeline import outputs
from mnist_ova.trainer import statistics

FIXED_COLUMNS = ("row", "true", "predicted")
METRICS_LIMIT = 64 * MiB  # a metrics.json of 10,000 classes is a few MiB
PREDICTIONS_LIMIT = 1024 * MiB  # a predictions.csv of 70,000 rows and 100 classes is about 60 MiB
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")  # what makes a spreadsheet read a cell as a formula


def neutralised(text):
    """A text cell a spreadsheet shows as text, never runs: one that begins like a formula gets a
    leading single quote, as OWASP's advice on CSV injection says (the csv module quotes it when it
    holds a quote or a comma)."""
    return f"'{text}" if text.startswith(FORMULA_STARTS) else text


def predictions_csv(evaluation, test_rows):
    """The text of ``predictions.csv``: each test example's row index in the data, its true and
    predicted class (as the report names them, neutralised against CSV injection), every class's
    normalised score (``score:<class>``, what the prediction and the calibration use) and every model's
    raw sigmoid output (``output:<class>``, what the ROC and precision-recall curves use), in test order."""
    e = evaluation
    raw = [str(name) for name in evaluation.class_names]  # headers begin with "score:"/"output:": no formula
    names = [neutralised(name) for name in raw]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow([*FIXED_COLUMNS, *(f"score:{name}" for name in raw), *(f"output:{name}" for name in raw)])
    # Scores to 6 significant digits; the outputs in full (the csv module writes repr): the ROC's very ties.
    columns = zip(np.asarray(test_rows).tolist(), e.true_index.tolist(), e.predicted_index.tolist(),
                  e.scores.tolist(), np.asarray(e.binary_scores, dtype=np.float64).tolist())
    writer.writerows([row, names[true], names[predicted], *("%.6g" % s for s in scores), *outputs]
                     for row, true, predicted, scores, outputs in columns)
    return buffer.getvalue()


def read_predictions(path):
    """(data rows, right) of a ``predictions.csv``; an input error when it is not one."""
    text = read_bounded(path, limit=PREDICTIONS_LIMIT, what="baseline", encoding="utf-8")
    reader = csv.reader(io.StringIO(text, newline=""))
    header = next(reader, None)
    if header is None or tuple(header[:3]) != FIXED_COLUMNS:
        raise InputError(f"{str(path)!r} is no predictions.csv of this tool: its header should start with "
                         f"{','.join(FIXED_COLUMNS)}")
    rows, right = [], []
    try:
        for line in reader:
            rows.append(int(line[0]))
            right.append(line[1] == line[2])
    except (ValueError, IndexError) as exc:
        raise InputError(f"{str(path)!r} has a malformed line ({exc}); pass an output folder of this tool") from None
    return np.array(rows, dtype=np.int64), np.array(right, dtype=bool)


# The parts of a metrics.json that the comparison and the gates read, with their types: a leaf is
# "number", "whole" or "text"; a dict lists keys (each optional), a one-item list types every item.
METRICS_SHAPE = {
    "multiclass_accuracy": "number", "one_vs_all_accuracy": "number",
    "dataset": {"n_test": "whole", "sha256": "text", "class_names": ["text"]},
    "config": {"split": "text", "test_size": "number", "seed": "whole"},
    "calibration": {"brier_score": "number", "log_loss": "number", "expected_calibration_error": "number"},
    "per_class": [{"recall": "number", "precision": "number", "support": "whole", "label": "whole"}],
}
_LEAVES = {"number": ((int, float), "a number"), "whole": ((int,), "a whole number"), "text": ((str,), "text")}


def _type_problem(value, shape, key=""):
    """The first place where ``value`` does not have ``shape``, as "key K must be ...; got ...", or None."""
    if isinstance(shape, dict):
        if not isinstance(value, dict):
            return f"key {key} must be a table; got {_shown(value)}"
        found = (_type_problem(value[k], sub, f"{key}.{k}" if key else k) for k, sub in shape.items() if k in value)
        return next((problem for problem in found if problem), None)
    if isinstance(shape, list):
        if not isinstance(value, list):
            return f"key {key} must be a list; got {_shown(value)}"
        found = (_type_problem(item, shape[0], f"{key}[{i}]") for i, item in enumerate(value))
        return next((problem for problem in found if problem), None)
    types, words = _LEAVES[shape]
    if isinstance(value, bool) or not isinstance(value, types):
        return f"key {key} must be {words}; got {_shown(value)}"
    return None


def _shown(value):
    text = json.dumps(value)
    return text if len(text) <= 40 else text[:37] + "..."


@dataclasses.dataclass(frozen=True)
class Baseline:
    path: Path | str  # the folder, or the history's run ("history:best (run 3 in runs.sqlite)")
    metrics: dict
    predictions: tuple | None  # (data rows, right), None when the folder has no predictions.csv


def load(path):
    """An earlier output folder's ``metrics.json`` and ``predictions.csv``, read before any work so
    that a wrong path fails at once (and so that it may be the output folder itself)."""
    path = Path(path)
    metrics_path = path / outputs.METRICS
    if not path.is_dir():
        raise InputError(f"baseline {str(path)!r} is not a folder: give an earlier output folder (with metrics.json)")
    if not os.path.lexists(metrics_path):
        raise InputError(f"baseline {str(path)!r} has no metrics.json: give an output folder of an earlier run")
    try:
        metrics = json.loads(read_bounded(metrics_path, limit=METRICS_LIMIT, what="baseline", encoding="utf-8"))
    except ValueError as exc:
        raise InputError(f"baseline {str(metrics_path)!r} is no valid JSON ({exc})") from None
    if not isinstance(metrics, dict) or "multiclass_accuracy" not in metrics or "dataset" not in metrics:
        raise InputError(f"baseline {str(metrics_path)!r} is not a metrics.json of this tool")
    problem = _type_problem(metrics, METRICS_SHAPE)
    if problem:
        raise InputError(f"baseline {str(metrics_path)!r} is not a metrics.json of this tool: {problem}; pass an "
                         "output folder of this tool")
    predictions_path = path / outputs.PREDICTIONS
    predictions = read_predictions(predictions_path) if os.path.lexists(predictions_path) else None
    return Baseline(path, metrics, predictions)


def compare(trained, metrics, baseline):
    """This run (its ``metrics.json`` document ``metrics``) against the baseline."""
    e = trained.evaluation
    current = (np.asarray(trained.test_rows), e.predicted_index == e.true_index,
               np.asarray(e.class_names)[e.true_index])
    return statistics.compare(metrics, baseline.metrics, current, baseline.predictions)

"""``predictions.csv`` (one row per test example) and ``--baseline PATH``: an earlier output folder
read back and compared with this run."""
import csv
import dataclasses
import io
import json
from pathlib import Path

import numpy as np

from mnist_ova.errors import InputError
from mnist_ova.pipeline import outputs
from mnist_ova.trainer import statistics

FIXED_COLUMNS = ("row", "true", "predicted")


def predictions_csv(evaluation, test_rows):
    """The text of ``predictions.csv``: each test example's row index in the data, its true and
    predicted class (as the report names them), every class's normalised score (``score:<class>``, what
    the prediction and the calibration use) and every model's raw sigmoid output (``output:<class>``,
    what the ROC and precision-recall curves use), in test order."""
    e, names = evaluation, list(evaluation.class_names)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow([*FIXED_COLUMNS, *(f"score:{name}" for name in names), *(f"output:{name}" for name in names)])
    for position, row in enumerate(np.asarray(test_rows).tolist()):
        writer.writerow([row, names[e.true_index[position]], names[e.predicted_index[position]],
                         *(f"{score:.6g}" for score in e.scores[position]),
                         *(repr(float(output)) for output in e.binary_scores[position])])  # exact: the same ties
    return buffer.getvalue()


def read_predictions(path):
    """(data rows, right) of a ``predictions.csv``; an input error when it is not one."""
    try:
        with open(path, newline="", encoding="utf-8") as f:
            reader = csv.reader(f)
            header = next(reader, None)
            if header is None or tuple(header[:3]) != FIXED_COLUMNS:
                raise InputError(f"{str(path)!r} is no predictions.csv of this tool: its header should start with "
                                 f"{','.join(FIXED_COLUMNS)}")
            rows, right = [], []
            for line in reader:
                rows.append(int(line[0]))
                right.append(line[1] == line[2])
    except (ValueError, IndexError) as exc:
        if isinstance(exc, InputError):
            raise
        raise InputError(f"{str(path)!r} has a malformed line ({exc}); pass an output folder of this tool") from None
    return np.array(rows, dtype=np.int64), np.array(right, dtype=bool)


@dataclasses.dataclass(frozen=True)
class Baseline:
    path: Path
    metrics: dict
    predictions: tuple | None  # (data rows, right), None when the folder has no predictions.csv


def load(path):
    """An earlier output folder's ``metrics.json`` and ``predictions.csv``, read before any work so
    that a wrong path fails at once (and so that it may be the output folder itself)."""
    path = Path(path)
    metrics_path = path / outputs.METRICS
    if not path.is_dir():
        raise InputError(f"baseline {str(path)!r} is not a folder: give an earlier output folder (with metrics.json)")
    if not metrics_path.is_file():
        raise InputError(f"baseline {str(path)!r} has no metrics.json: give an output folder of an earlier run")
    try:
        metrics = json.loads(metrics_path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise InputError(f"baseline {str(metrics_path)!r} is no valid JSON ({exc})") from None
    if not isinstance(metrics, dict) or "multiclass_accuracy" not in metrics or "dataset" not in metrics:
        raise InputError(f"baseline {str(metrics_path)!r} is not a metrics.json of this tool")
    predictions_path = path / outputs.PREDICTIONS
    predictions = read_predictions(predictions_path) if predictions_path.is_file() else None
    return Baseline(path, metrics, predictions)


def compare(trained, metrics, baseline):
    """This run (its ``metrics.json`` document ``metrics``) against the baseline."""
    e = trained.evaluation
    current = (np.asarray(trained.test_rows), e.predicted_index == e.true_index,
               np.asarray(e.class_names)[e.true_index])
    return statistics.compare(metrics, baseline.metrics, current, baseline.predictions)

"""predictions.csv read back with the csv module: hostile class names stay one cell each."""
import csv
import io
import types

import numpy as np

from mnist_ova.pipeline import baseline

# A comma, quotes, a line break and the starts of spreadsheet formulas (OWASP's CSV injection). No bare
# "\r": Python 3.11's csv module leaves it unquoted under a "\n" line end, and check_text refuses it anyway.
HOSTILE = ["a,b", 'say "hi"', "two\nlines", "=cmd|' /C calc'!A0", "+1", "-2", "@SUM(A1)", "\ttab", '"quoted"', "plain"]


def evaluation(n=40, names=HOSTILE):
    rng = np.random.RandomState(7)
    outputs = rng.rand(n, len(names))
    return types.SimpleNamespace(class_names=tuple(names), true_index=rng.randint(0, len(names), n),
                                 predicted_index=rng.randint(0, len(names), n),
                                 scores=outputs / outputs.sum(axis=1, keepdims=True), binary_scores=outputs)


def test_predictions_csv_reads_back_with_every_cell_in_its_column(tmp_path):
    e, rows = evaluation(), np.arange(40) * 3 + 1
    text = baseline.predictions_csv(e, rows)
    table = list(csv.reader(io.StringIO(text, newline="")))
    K = len(HOSTILE)
    assert table[0] == ["row", "true", "predicted", *(f"score:{name}" for name in HOSTILE),
                        *(f"output:{name}" for name in HOSTILE)]
    assert len(table) == 1 + rows.size and all(len(line) == 3 + 2 * K for line in table)
    shown = ["a,b", 'say "hi"', "two\nlines", "'=cmd|' /C calc'!A0", "'+1", "'-2", "'@SUM(A1)", "'\ttab", '"quoted"',
             "plain"]
    for line, row, true, predicted, scores, outputs in zip(table[1:], rows, e.true_index, e.predicted_index,
                                                           e.scores, e.binary_scores):
        assert int(line[0]) == row
        assert (line[1], line[2]) == (shown[true], shown[predicted])
        np.testing.assert_allclose([float(v) for v in line[3:3 + K]], scores, rtol=5e-6)
        assert [float(v) for v in line[3 + K:]] == outputs.tolist()  # exact
    path = tmp_path / "predictions.csv"
    path.write_text(text, encoding="utf-8", newline="")
    read_rows, right = baseline.read_predictions(path)
    np.testing.assert_array_equal(read_rows, rows)
    np.testing.assert_array_equal(right, e.true_index == e.predicted_index)

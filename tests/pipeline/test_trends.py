"""Across builds from a history written here: what changed between builds, and which changes in
accuracy were real by McNemar's paired test (checked against scipy's exact binomial test)."""
import numpy as np
from scipy.stats import binomtest

from mnist_ova.pipeline import history, trends

N = 400  # test rows


def run(accuracy_rows, *, iterations, sha="s" * 64, commit="c1"):
    """A recorded run whose test rows 0..N-1 are right exactly where ``accuracy_rows`` is True."""
    from mnist_ova.trainer.statistics import wilson_interval

    right = np.asarray(accuracy_rows)
    accuracy = right.mean()
    low, high = wilson_interval(int(right.sum()), N)
    true_index = np.zeros(N, dtype=int)
    return {"time": "2026-11-30T00:00:00Z", "command": "c", "tool_version": "0.2.0", "data_name": "d.npz",
            "data_sha256": sha, "config": {"iterations": iterations, "split": "seed", "test_size": 0.2, "seed": 42},
            "config_digest": "x", "multiclass_accuracy": accuracy, "multiclass_low": low, "multiclass_high": high,
            "one_vs_all_accuracy": 0.9, "one_vs_all_low": 0.89, "one_vs_all_high": 0.91, "per_class": [],
            "metrics": {}, "git_commit": commit, "git_dirty": False, "commit_url": None, "out": "/o",
            "predictions": history.pack_predictions(np.arange(N), true_index, np.where(right, 0, 1))}


def test_real_changes_are_those_the_paired_test_and_the_intervals_both_call_real(tmp_path):
    store = tmp_path / "runs.sqlite"
    rng = np.random.RandomState(0)
    first = rng.rand(N) < 0.60
    second = first | (rng.rand(N) < 0.5)  # many more right: a real rise
    third = second.copy()
    third[np.flatnonzero(third)[:3]] = False  # three fewer: noise
    for right, iterations, commit in ((first, 10, "c1"), (second, 100, "c2")):
        history.record(store, run(right, iterations=iterations, commit=commit), timings={}, artifacts=[])
    current = dict(run(third, iterations=100, commit="c2", sha="t" * 64))
    current_predictions = history.unpack_predictions(current["predictions"])
    found = history.open_history(store, warn=print)
    across = trends.across_builds(found, current, current_predictions)
    this, second_build, first_build = across["table"]
    assert first_build["verdict"] == "first" and first_build["changes"] == []
    assert second_build["changes"] == ["iterations 10 → 100", "commit c1 → c2"]
    b, c = int(np.sum(first & ~second)), int(np.sum(~first & second))
    assert second_build["p_value"] == binomtest(min(b, c), b + c, 0.5).pvalue < 0.05
    assert second_build["verdict"] == "real" and across["real"] == [second_build]
    # Other data: the test rows are other images, so the builds are not paired.
    assert this["verdict"] == "unpaired" and this["p_value"] is None
    assert this["changes"] == [f"data {'s' * 8}… → {'t' * 8}…"]
    assert across["best"]["label"] == "#2" and across["chart"]["labels"] == ["#1", "#2", "this run"]


def test_fewer_than_two_earlier_runs_give_no_chapter(tmp_path):
    store = tmp_path / "runs.sqlite"
    history.record(store, run(np.ones(N, bool), iterations=1), timings={}, artifacts=[])
    current = run(np.ones(N, bool), iterations=2)
    assert trends.across_builds(history.open_history(store, warn=print), current,
                                history.unpack_predictions(current["predictions"])) is None


def test_a_later_schema_migrates_an_older_file_and_keeps_its_rows(tmp_path, monkeypatch):
    store = tmp_path / "runs.sqlite"
    history.record(store, run(np.ones(N, bool), iterations=1), timings={}, artifacts=[])
    monkeypatch.setattr(history, "MIGRATIONS", (*history.MIGRATIONS, ("ALTER TABLE runs ADD COLUMN note TEXT",)))
    monkeypatch.setattr(history, "SCHEMA_VERSION", len(history.MIGRATIONS))
    history.record(store, run(np.ones(N, bool), iterations=2), timings={}, artifacts=[])
    import sqlite3

    with sqlite3.connect(store) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == 2
        assert db.execute("SELECT id, note FROM runs").fetchall() == [(1, None), (2, None)]

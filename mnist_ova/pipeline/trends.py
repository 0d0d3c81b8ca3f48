"""Across builds: this run beside the earlier runs of the same data in the ``--history``, as numbers
for the report's chapter, its chart and ``summary.md``: each build's accuracies with their intervals,
what changed from the build before (config keys, data, tool version, commit), and whether the change
in accuracy was real by the paired test of the baseline comparison (McNemar, intervals apart)."""
import numpy as np

from mnist_ova.pipeline import history as run_history
from mnist_ova.render.views import interval
from mnist_ova.trainer import statistics

MIN_EARLIER = 2  # earlier runs of the same data before the chapter appears
CHART_BUILDS = 30  # the chart shows the latest builds, this one included
TABLE_BUILDS = 10  # and the table
SUMMARY_BUILDS = 5  # and summary.md


def _build(run, label):
    return {"label": label, "id": run.get("id"), "time": run["time"], "commit": run["git_commit"],
            "short_commit": run["git_commit"][:10] if run["git_commit"] else None, "dirty": run["git_dirty"],
            "url": run_history.safe_commit_url(run["commit_url"], run["git_commit"]), "tool_version": run["tool_version"], "data_sha256": run["data_sha256"],
            "multiclass": run["multiclass_accuracy"],
            "multiclass_interval": interval((run["multiclass_low"], run["multiclass_high"])),
            "one_vs_all": run["one_vs_all_accuracy"],
            "one_vs_all_interval": interval((run["one_vs_all_low"], run["one_vs_all_high"])), "config": run["config"]}


def _pair(range_):
    return range_["low"], range_["high"]


def changes(before, after):
    """What differs between two builds, in words: config keys, the data, the tool, the commit."""
    said = [f"{key} {before['config'].get(key)} → {after['config'].get(key)}"
            for key in sorted(set(before["config"]) | set(after["config"]))
            if before["config"].get(key) != after["config"].get(key)]
    if before["data_sha256"] != after["data_sha256"]:
        said.append(f"data {before['data_sha256'][:8]}… → {after['data_sha256'][:8]}…")
    if before["tool_version"] != after["tool_version"]:
        said.append(f"mnist-ova {before['tool_version']} → {after['tool_version']}")
    if before["commit"] != after["commit"] and (before["commit"] or after["commit"]):
        said.append(f"commit {before['short_commit'] or 'none'} → {after['short_commit'] or 'none'}")
    elif after["dirty"] and not before["dirty"]:
        said.append("uncommitted changes")
    return said


def paired_test(before, after, before_predictions, after_predictions):
    """(p-value, verdict) of the multiclass accuracy's change from ``before`` to ``after``: McNemar's
    exact test on the test rows both scored, and ``statistics.verdict`` (real only when that paired test
    rejects equal accuracy). The p-value is None when the runs cannot be paired (other data or split)."""
    same_split = all(before["config"].get(k) == after["config"].get(k) for k in statistics.SPLIT_KEYS)
    pairing = None
    if before["data_sha256"] == after["data_sha256"] and same_split and before_predictions is not None \
            and after_predictions is not None:
        pairing = statistics.pair(*_right(after_predictions), *_right(before_predictions))
    if pairing is None:
        return None, "unpaired"
    change = statistics.Change("multiclass_accuracy", before["multiclass"], after["multiclass"],
                               _pair(before["multiclass_interval"]), _pair(after["multiclass_interval"]),
                               p_value=pairing.p_value)
    return pairing.p_value, statistics.verdict(change)


def _right(predictions):
    rows, true_index, predicted_index = predictions
    return rows, np.asarray(true_index) == np.asarray(predicted_index)


def across_builds(history, current, current_predictions):
    """The chapter's numbers, or None with fewer than ``MIN_EARLIER`` earlier runs of this data.
    ``history`` is the ``run_history.History`` read before the run, ``current`` this run's
    ``run_history.run_record`` and ``current_predictions`` its (test rows, true, predicted)."""
    earlier = history.of_data(current["data_name"])
    if len(earlier) < MIN_EARLIER:
        return None
    builds = [_build(run, f"#{run['id']}") for run in earlier] + [_build(current, "this run")]
    # The table's builds and the one before the first of them, whose predictions pair with it.
    shown = builds[-(TABLE_BUILDS + 1):]
    ids = [b["id"] for b in shown if b["id"] is not None]
    predictions = run_history.predictions_of(history.path, ids)
    predictions[None] = current_predictions
    for before, after in zip(shown, shown[1:]):
        after["changes"] = changes(before, after)
        after["step"] = after["multiclass"] - before["multiclass"]
        after["p_value"], after["verdict"] = paired_test(before, after, predictions.get(before["id"]),
                                                         predictions[after["id"]])
    table = shown[-TABLE_BUILDS:]
    for build in table:
        build.setdefault("changes", [])
        build.setdefault("p_value", None)
        build.setdefault("step", None)
        build.setdefault("verdict", "first")
    chart = builds[-CHART_BUILDS:]
    first, last = builds[0], builds[-1]
    best = max(builds, key=lambda b: (b["multiclass"], b["id"] or float("inf")))
    return {
        "data_name": current["data_name"], "n_builds": len(builds), "history": str(history.path),
        "chart": {"labels": [b["label"] for b in chart], "multiclass": [b["multiclass"] for b in chart],
                  "multiclass_interval": [_pair(b["multiclass_interval"]) for b in chart],
                  "one_vs_all": [b["one_vs_all"] for b in chart], "urls": [b["url"] for b in chart]},
        "table": list(reversed(table)),  # the latest first
        "real": [b for b in table if b["verdict"] == "real"],
        "first": first, "last": last, "best": best, "change": last["multiclass"] - first["multiclass"],
        "summary_rows": list(reversed(builds[-SUMMARY_BUILDS:])),
    }


def _escaped(text):
    """``text`` with each character that is not printable as its escape (``\\x1b``): a value someone wrote
    into the history cannot move the terminal's cursor, retitle it or ring its bell."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def runs_table(runs):
    """The runs of a history as a terminal table, oldest first; the last column says what changed
    since the run of the same data before it."""
    if not runs:
        return "no runs recorded yet"
    header = ("run", "time (UTC)", "data", "multiclass accuracy (95 %)", "one-vs-all", "commit", "version",
              "changed since the run before on this data")
    lines: list[tuple] = []
    previous: dict[str, dict] = {}
    for run in runs:
        build = _build(run, f"#{run['id']}")
        before = previous.get(run["data_name"])
        previous[run["data_name"]] = build
        low, high = _pair(build["multiclass_interval"])
        commit = (build["short_commit"] or "–") + ("+dirty" if build["dirty"] else "")
        lines.append(tuple(map(_escaped, (
            str(run["id"]), run["time"], f"{run['data_name']} {run['data_sha256'][:8]}",
            f"{100 * build['multiclass']:.2f} % ({100 * low:.1f}–{100 * high:.1f})",
            f"{100 * build['one_vs_all']:.2f} %", commit, run["tool_version"],
            ("; ".join(changes(before, build)) or "nothing") if before else "first run"))))
    widths = [max(len(row[i]) for row in (header, *lines)) for i in range(len(header) - 1)]
    return "\n".join("  ".join(cell.ljust(width) for cell, width in zip(row, widths)) + "  " + row[-1]
                     for row in (header, *lines))

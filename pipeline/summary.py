"""``summary.md``: the headline metrics with their intervals, the changes against the baseline, the
gates, and links to the report files; appended to ``$GITHUB_STEP_SUMMARY`` when that is set, so that
GitHub Actions shows it on the run's page."""
import os

from mnist_ova.environment import step_summary_path
from mnist_ova.pipeline import outputs
from mnist_ova.trainer.statistics import HEADLINE, verdict

VERDICTS = {"none": "no change", "within-noise": "within the noise", "real": "**real**"}


def _percent(value):
    return f"{100 * value:.2f} %"


def _interval(pair):
    return f"{100 * pair[0]:.2f}–{100 * pair[1]:.2f} %"


def _is_share(name):
    return name.endswith(("accuracy", "calibration_error")) or ":" in name


def _value(name, value):
    return _percent(value) if _is_share(name) else f"{value:.4f}"


def _delta(name, change):
    return f"{100 * change:+.2f} pt" if _is_share(name) else f"{change:+.4f}"


def markdown(evaluation, metrics, *, comparison=None, gates=(), baseline_path=None, files=(), link_prefix=""):
    """The summary's text. ``files`` are the output files to link, ``link_prefix`` is put before each
    link (the output folder, for a summary read from elsewhere)."""
    a, dataset = evaluation.analysis, metrics["dataset"]
    lines = [f"## mnist-ova: {dataset['n_test']} test images of {dataset['name']} "
             f"(sha256 `{dataset['sha256'][:12]}`)", ""]
    headline = {"multiclass_accuracy": (evaluation.multiclass_accuracy, a.multiclass_interval),
                "one_vs_all_accuracy": (evaluation.one_vs_all_accuracy, a.one_vs_all_interval),
                "expected_calibration_error": (a.expected_calibration_error, None),
                "brier_score": (a.brier, None), "log_loss": (a.log_loss, None)}
    changes = {c.name: c for c in comparison.changes} if comparison is not None else {}
    if comparison is not None:
        lines += ["| metric | this run | 95 % interval | baseline | change | |", "|---|---|---|---|---|---|"]
    else:
        lines += ["| metric | this run | 95 % interval |", "|---|---|---|"]
    for name, label, _ in HEADLINE:
        value, interval = headline[name]
        label = f"{label} ({a.confidence.n_bins} bins)" if name == "expected_calibration_error" else label
        row = f"| {label} | {_value(name, value)} | {_interval(interval) if interval else '–'} |"
        if comparison is not None:
            change = changes.get(name)
            row += (f" {_value(name, change.before)} | {_delta(name, change.change)} | "
                    f"{VERDICTS[verdict(change)] if change.overlap is not None else ''} |" if change else " – | – | |")
        lines.append(row)
    lines.append("")
    if comparison is not None:
        lines += _comparison(comparison, baseline_path)
    if gates:
        lines += ["### Gates", "", "| gate | value | passes from | status |", "|---|---|---|---|"]
        for gate in gates:
            lines.append(f"| `--{gate.kind} {gate.metric}={gate.bound:g}` | {gate.value:.4f} | {gate.limit:.4f} | "
                         f"{'passed' if gate.passed else '**failed**'} |")
        lines.append("")
    if files:
        lines.append("Files: " + " · ".join(f"[{name}]({link_prefix}{name})" for name in files))
        lines.append("")
    return "\n".join(lines) + "\n"


def _comparison(comparison, baseline_path):
    c = comparison
    main = c.change("multiclass_accuracy")
    lines = [f"Compared with the baseline `{baseline_path}`"
             + (": " + ", ".join(f"{key} {before} → {after}" for key, before, after in c.config_differences
                                 if key != "preprocessing") if c.config_differences else " (same configuration)")
             + ".", ""]
    if c.pairing is not None:
        p = c.pairing
        lines.append(f"Paired test rows: {p.right_to_wrong.size} went right → wrong, {p.wrong_to_right.size} "
                     f"wrong → right; McNemar's exact test p = {p.p_value:.3g}.")
        said = verdict(main, p.p_value)
    else:
        lines.append(f"McNemar's test cannot be computed: {c.pairing_problem}.")
        said = verdict(main)
    lines.append({"none": "The multiclass accuracy did not change.",
                  "within-noise": f"The change in multiclass accuracy ({100 * main.change:+.2f} pt) is not shown to "
                                  "be real: the two runs' 95 % intervals overlap"
                                  + ("" if main.overlap else ", or the paired test does not reject equal accuracy")
                                  + ".",
                  "real": f"The change in multiclass accuracy ({100 * main.change:+.2f} pt) is real: the 95 % "
                          "intervals do not overlap" + (" and McNemar's test rejects equal accuracy"
                                                        if c.pairing is not None else "") + "."}[said])
    return lines + [""]


def files_to_link(formats):
    """The files ``summary.md`` links: the report's that ``formats`` make, then the data every run writes."""
    linked = [(name, artifact) for name, artifact in outputs.ARTIFACTS.items() if artifact.in_summary
              and (artifact.format is None or artifact.format in formats)]
    return [name for name, artifact in sorted(linked, key=lambda item: item[1].format is None)]


def append_to_step_summary(text, environ=os.environ):
    """Append ``text`` to the file ``$GITHUB_STEP_SUMMARY`` names; returns whether it did."""
    target = step_summary_path(environ)
    if target is None:
        return False
    with open(target, "a", encoding="utf-8") as f:
        f.write(text if text.endswith("\n") else text + "\n")
    return True

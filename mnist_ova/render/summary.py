"""``summary.md``: the headline metrics with their intervals, the changes against the baseline and
the gates, in Markdown, from the Jinja2 template ``templates/summary.md.j2``. This module only
gathers the numbers; the words and the layout are the template's."""
from mnist_ova.trainer.statistics import HEADLINE, verdict

TEMPLATE = "summary.md.j2"


def context(views, metrics, *, comparison=None, gates=(), baseline_path=None, files=(), link_prefix="",
            across_builds=None):
    """What the summary says, from one evaluation's views (``render.views``). ``metrics`` is the run's
    metrics.json document, ``comparison`` its ``trainer.statistics.Comparison`` with the baseline at
    ``baseline_path``, ``gates`` the ``GateResult`` of every gate; ``files`` are the output files to
    link, each with ``link_prefix`` before it (the output folder, for a summary read from elsewhere);
    ``across_builds`` is the trend over the earlier runs of ``--history`` (``pipeline.trends.across_builds``)."""
    changes = {c.name: c for c in comparison.changes} if comparison is not None else {}
    rows = []
    for name, label, _ in HEADLINE:
        change = changes.get(name)
        rows.append({"label": label, **views.headline[name], "change": change,
                     "share": name.endswith(("accuracy", "calibration_error")),
                     "bins": views.evaluation.analysis.confidence.n_bins if name == "expected_calibration_error" else None,
                     "verdict": verdict(change) if change is not None and change.overlap is not None else None})
    return {"dataset": metrics["dataset"], "rows": rows, "gates": gates, "files": files, "link_prefix": link_prefix,
            "across_builds": across_builds,
            "comparison": _comparison(comparison, baseline_path) if comparison is not None else None}


def _comparison(comparison, baseline_path):
    c, main = comparison, comparison.change("multiclass_accuracy")
    return {"baseline_path": baseline_path, "pairing": c.pairing, "pairing_problem": c.pairing_problem,
            "config_differences": [d for d in c.config_differences if d[0] != "preprocessing"],
            "same_config": not c.config_differences, "main": main, "verdict": verdict(main),
            "recall_changes": c.recall_changes,
            "real_recalls": [ch for ch in c.recall_changes if verdict(ch) == "real"]}


def markdown(context, template_dir=None):
    """The summary's text: ``templates/summary.md.j2`` (or its twin in ``template_dir``) filled with ``context``."""
    from mnist_ova.render import report

    env = report.environment(template_dir)
    with report.template_errors(env, template_dir):
        return env.get_template(TEMPLATE).render(**context)

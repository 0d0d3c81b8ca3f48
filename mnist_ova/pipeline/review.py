"""The run judged: its comparison with ``--baseline``, its gates, ``predictions.csv`` and
``summary.md``. ``run.py`` calls ``judge`` before the deliverables, ``write`` into the staged
folder, and ``finish`` once every output is in place (a violated gate then exits 4)."""
import dataclasses

from mnist_ova.errors import InputError
from mnist_ova.pipeline import baseline as baseline_io
from mnist_ova.pipeline import gates, jobs, outputs, summary, trends
from mnist_ova.pipeline import history as run_history
from mnist_ova.render import summary as summary_md


@dataclasses.dataclass(frozen=True)
class Review:
    metrics: dict  # this run's metrics.json document
    comparison: object | None  # trainer.statistics.Comparison, with --baseline
    gates: tuple  # trainer.statistics.GateResult of every gate
    baseline_path: str | None
    run: dict | None = None  # this run as --history records it (history.run_record), with --history
    across_builds: dict | None = None  # trends.across_builds: this run beside the earlier builds


def load_baseline(settings, history=None):
    """The baseline, read before any work (None without --baseline): an output folder's files, or for
    ``history:SELECTOR`` the selector, resolved by ``judge`` once the data are known (a run id is
    checked now)."""
    if not settings.baseline:
        return None
    selector = settings.history_baseline
    if selector is None:
        return baseline_io.load(settings.baseline)
    if selector.isdigit() and int(selector) not in {run["id"] for run in history.runs}:
        raise InputError(f"baseline {settings.baseline!r}: the history {str(history.path)!r} has no run "
                         f"{selector}; `mnist-ova history {history.path}` lists its runs")
    return selector


def _from_history(selector, history, data_name, warn):
    """The history's run that ``selector`` names, as a ``Baseline``; None (said) when there is none yet."""
    found = run_history.baseline_run(history.path, selector, data_name) if history.runs else None
    if found is None:
        warn(f"note: the history {str(history.path)!r} holds no run of {data_name!r} yet: this run is compared with "
             "nothing and its --max-drop gates are not checked")
        return None
    run_id, metrics, (rows, true_index, predicted_index) = found
    return baseline_io.Baseline(f"history:{selector} (run {run_id} in {history.path})", metrics,
                                (rows, true_index == predicted_index))


def judge(run):
    """Compare with the baseline (resolving a ``history:`` one with this run's data) and the earlier
    builds, and evaluate the gates; an unknown class in a gate is an input error here, before
    anything is written."""
    trained, settings, baseline, history = run.trained, run.settings, run.baseline, run.history
    metrics = jobs.metrics_document(trained)
    gates.check_names(settings.fail_under, settings.max_drop, metrics)
    max_drop = settings.max_drop
    if isinstance(baseline, str):
        baseline = _from_history(baseline, history, metrics["dataset"]["name"], run.warn)
        max_drop = max_drop if baseline is not None else ()
    comparison = baseline_io.compare(trained, metrics, baseline) if baseline is not None else None
    results = gates.evaluate(settings.fail_under, max_drop, metrics, baseline.metrics if baseline is not None else None)
    record, across = None, None
    if history is not None:
        e = trained.evaluation
        record = run_history.run_record(metrics=metrics, evaluation=e, test_rows=trained.test_rows,
                                        command=run.command_line, out=settings.out, git=run_history.git_state())
        across = trends.across_builds(history, record, (trained.test_rows, e.true_index, e.predicted_index))
    return Review(metrics, comparison, tuple(results), str(baseline.path) if baseline is not None else None, record,
                  across)


def markdown(run, link_prefix=""):
    """``summary.md``'s text; ``link_prefix`` goes before each link (the output folder, for a copy read
    elsewhere). It links only the files this run's output folder holds (``train`` makes no report)."""
    review, trained, settings = run.review, run.trained, run.settings
    made = {*run.staging.artifacts(), outputs.PREDICTIONS}
    files = [name for name in summary.files_to_link(settings.formats) if name in made]
    context = summary_md.context(trained.views, review.metrics, comparison=review.comparison, gates=review.gates,
                                 baseline_path=review.baseline_path, files=files, link_prefix=link_prefix,
                                 across_builds=review.across_builds)
    return summary_md.markdown(context, settings.template_dir)


def write(run):
    """``predictions.csv`` and ``summary.md`` into the staged output folder."""
    staging, trained = run.staging, run.trained
    with staging.writing(outputs.PREDICTIONS):
        staging.path(outputs.PREDICTIONS).write_text(
            baseline_io.predictions_csv(trained.evaluation, trained.test_rows), encoding="utf-8")
    with staging.writing(outputs.SUMMARY):
        staging.path(outputs.SUMMARY).write_text(markdown(run), encoding="utf-8")


def finish(review, step_summary, *, log, warn):
    """After the outputs are in place: append ``step_summary`` (the summary with links relative to the
    job's folder; None where ``$GITHUB_STEP_SUMMARY`` is not set) to ``$GITHUB_STEP_SUMMARY`` (a failure
    there is a note, the outputs are in place), then exit 4 through ``GateFailure`` if a gate was violated."""
    try:
        if step_summary is not None and summary.append_to_step_summary(step_summary):
            log("appended summary.md to $GITHUB_STEP_SUMMARY")
    except OSError as exc:
        warn(f"note: could not append to $GITHUB_STEP_SUMMARY ({exc.strerror or exc}); the outputs are in place")
    for result in review.gates:
        log(("gate passed: " if result.passed else "gate FAILED: ") + f"{result.describe()} (--{result.kind})")
    gates.enforce(review.gates)

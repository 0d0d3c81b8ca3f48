"""The run judged: its comparison with ``--baseline``, its gates, ``predictions.csv`` and
``summary.md``. ``run.py`` calls ``judge`` before the deliverables, ``write`` into the staged
folder, and ``finish`` once every output is in place (a violated gate then exits 4)."""
import dataclasses

from mnist_ova.pipeline import baseline as baseline_io
from mnist_ova.pipeline import gates, jobs, outputs, summary
from mnist_ova.render import summary as summary_md


@dataclasses.dataclass(frozen=True)
class Review:
    metrics: dict  # this run's metrics.json document
    comparison: object | None  # trainer.statistics.Comparison, with --baseline
    gates: tuple  # trainer.statistics.GateResult of every gate
    baseline_path: str | None


def load_baseline(settings):
    """The baseline folder, read before any work (None without --baseline)."""
    return baseline_io.load(settings.baseline) if settings.baseline else None


def judge(trained, settings, baseline):
    """Compare with the baseline and evaluate the gates; an unknown class in a gate is an input error
    here, before anything is written."""
    metrics = jobs.metrics_document(trained)
    gates.check_names(settings.fail_under, settings.max_drop, metrics)
    comparison = baseline_io.compare(trained, metrics, baseline) if baseline is not None else None
    results = gates.evaluate(settings.fail_under, settings.max_drop, metrics,
                             baseline.metrics if baseline is not None else None)
    return Review(metrics, comparison, tuple(results), str(baseline.path) if baseline is not None else None)


def markdown(review, trained, settings, staging, link_prefix=""):
    """``summary.md``'s text; ``link_prefix`` goes before each link (the output folder, for a copy read
    elsewhere). It links only the files this run's output folder holds (``train`` makes no report)."""
    made = {*staging.artifacts(), outputs.PREDICTIONS}
    files = [name for name in summary.files_to_link(settings.formats) if name in made]
    context = summary_md.context(trained.views, review.metrics, comparison=review.comparison, gates=review.gates,
                                 baseline_path=review.baseline_path, files=files, link_prefix=link_prefix)
    return summary_md.markdown(context, settings.template_dir)


def write(review, trained, settings, staging):
    """``predictions.csv`` and ``summary.md`` into the staged output folder."""
    with staging.writing(outputs.PREDICTIONS):
        staging.path(outputs.PREDICTIONS).write_text(
            baseline_io.predictions_csv(trained.evaluation, trained.test_rows), encoding="utf-8")
    with staging.writing(outputs.SUMMARY):
        staging.path(outputs.SUMMARY).write_text(markdown(review, trained, settings, staging), encoding="utf-8")


def finish(review, step_summary, *, log, warn):
    """After the outputs are in place: append ``step_summary`` (the summary with links relative to the
    job's folder) to ``$GITHUB_STEP_SUMMARY`` (a failure there is a note, the outputs are in place),
    then exit 4 through ``GateFailure`` if a gate was violated."""
    try:
        if summary.append_to_step_summary(step_summary):
            log("appended summary.md to $GITHUB_STEP_SUMMARY")
    except OSError as exc:
        warn(f"note: could not append to $GITHUB_STEP_SUMMARY ({exc.strerror or exc}); the outputs are in place")
    for result in review.gates:
        log(("gate passed: " if result.passed else "gate FAILED: ") + f"{result.describe()} (--{result.kind})")
    gates.enforce(review.gates)

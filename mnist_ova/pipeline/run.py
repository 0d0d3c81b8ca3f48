"""What each command does, in order; the one place that decides output paths."""
import dataclasses
import sys
from pathlib import Path

from mnist_ova.environment import step_summary_path
from mnist_ova.errors import ToolError
from mnist_ova.pipeline import bundle, deliverables, jobs, outputs, review, tracking
from mnist_ova.pipeline import history as run_history
from mnist_ova.pipeline.staging import StagedOutput, check_out
from mnist_ova.pipeline.state import Run
from mnist_ova.render import report
from mnist_ova.render import summary as summary_md
from mnist_ova.render import system

HISTORY_TEMPLATE = "history.html.j2"


@dataclasses.dataclass(frozen=True)
class Command:
    help: str
    trains: bool  # fits (or reuses) a model and writes model.npz + metrics.json
    renders: bool  # makes the deliverables
    bundles: bool = False  # packs submission.zip


COMMANDS = {
    "all": Command("train, then make every deliverable (the default)", trains=True, renders=True),
    "train": Command("train and write model.npz, metrics.json, predictions.csv and summary.md only", trains=True, renders=False),
    "render": Command("make the deliverables from a saved model, without retraining", trains=False, renders=True),
    "bundle": Command("as all, then pack submission.zip for handing in", trains=True, renders=True, bundles=True),
}


def execute(command_name, settings, *, model_path=None, force=False, force_out=False, quiet=False, command_line=""):
    """Run the command named ``command_name`` and return its summary; every output appears in
    ``settings.out`` together at the end, or none does. ``command_line`` is what ``--history``
    records as the command."""
    command = COMMANDS[command_name]
    run = Run(command_name, command, settings, command_line=command_line or f"mnist-ova {command_name}",
              quiet=quiet, progress=not quiet and sys.stderr.isatty())
    preflight(run, force_out=force_out)
    # Staged first, so that an output folder that cannot be written fails before any work. `render`
    # reads the training outputs and leaves them as they are; every other artifact of an earlier run
    # that this run does not make is removed at the commit.
    with StagedOutput(Path(settings.out), keep=() if command.trains else outputs.TRAINING,
                      last=(outputs.MANIFEST,)) as run.staging:
        if command.trains:
            train(run, force=force)
        else:
            run.trained = jobs.from_saved_model(Path(model_path) if model_path else run.staging.out / outputs.MODEL,
                                                settings, log=run.log, warn=run.warn)
        run.review = review.judge(run)
        if command.renders:
            run.trained.timings.update(deliverables.render_all(run))
        review.write(run)
        artifacts = deliverables.write_manifest(run.staging)
        left_out, dropped = pack(run) if command.bundles else ([], [])
        jobs.write_timings(run.trained.timings, run.staging, reused=run.trained.reused)
        # Every line printed after the commit is made now: from the commit on, only renames and
        # printing happen, and printing cannot change the exit code.
        closing = closing_lines(run, artifacts, dropped)
        step_summary = (review.markdown(run, link_prefix=f"{run.staging.out.as_posix()}/")
                        if step_summary_path() is not None else None)
        result = result_document(run, artifacts, left_out)
    for line in closing:
        run.log(line)
    record(run, artifacts, result)
    review.finish(run.review, step_summary, log=run.log, warn=run.warn)  # a violated gate exits 4, every output in place
    return result


def preflight(run, *, force_out):
    """Everything that can be checked before any work: the output folder, the notes (their labels,
    formulas and images), MLflow, the templates, the system libraries the deliverables need, the history
    and the baseline."""
    settings, command = run.settings, run.command
    check_out(settings.out, force=force_out)
    run.notes = deliverables.load_notes(settings.notes) if settings.notes else None
    if settings.mlflow_uri:
        tracking.check_available()
    report_made = command.renders and {"html", "pdf"} & set(settings.formats)
    # The chapter across builds is included only when the history has runs: its template is checked now too.
    chapter = (HISTORY_TEMPLATE,) if report_made and settings.history else ()
    report.check_templates(settings.template_dir, ((report.ENTRY,) if report_made else ()) + chapter
                           + (summary_md.TEMPLATE,))
    if command.renders:  # a missing Pango or ffmpeg is said now, not after training
        system.check(settings.formats)
    run.history = run_history.open_history(settings.history, warn=run.warn) if settings.history else None
    run.baseline = review.load_baseline(settings, run.history)


def train(run, *, force):
    """Fit (or reuse) the model and stage model.npz and metrics.json."""
    # Only our own model file is a cache: a link of that name is the user's, never read.
    staging = run.staging
    cached = None if force or not staging.holds(outputs.MODEL) else staging.out / outputs.MODEL
    run.trained = jobs.train(run.settings, log=run.log, warn=run.warn, progress=run.progress, cached_model=cached)
    jobs.write_training(run.trained, staging)


def pack(run):
    """``submission.zip``; returns (left_out, dropped) as ``bundle.build`` does."""
    pages = {}

    def html(names):
        videos = tuple(name for name in deliverables.VIDEO_FILES if name in names)
        if videos not in pages:
            pages[videos] = deliverables.bundle_html(run, videos)
        return pages[videos]

    with run.staging.writing(outputs.BUNDLE):
        return bundle.build(run.staging.artifacts(), run.staging.path(outputs.BUNDLE),
                            max_mb=run.settings.max_bundle_mb, html=html)


def closing_lines(run, artifacts, dropped):
    """What the run says once its outputs are in place."""
    out, trained = run.staging.out, run.trained
    closing = [jobs.summary_table(trained)] if run.command.trains else []
    closing.append(f"wrote to {out}/: " + ", ".join(f"{a['path']} ({a['bytes'] / 1024:.0f} KiB)"
                                                   for a in artifacts if "/" not in a["path"]))
    if run.command.bundles:
        size = run.staging.path(outputs.BUNDLE).stat().st_size
        closing.append(f"bundle: {out / outputs.BUNDLE} ({size / 2**20:.2f} MB)"
                       + (f"; left out to fit {run.settings.max_bundle_mb} MB: {', '.join(dropped)}" if dropped
                          else ""))
    closing.append("timings: " + ", ".join(f"{k[:-2]} {v:.2f} s" for k, v in trained.timings.items()))
    return closing


def result_document(run, artifacts, left_out):
    """The run's summary, as ``--json`` prints it."""
    trained, out = run.trained, run.staging.out
    dataset = trained.metadata["dataset"]
    return {
        "status": "ok", "command": run.command_name, "out": str(out), "reused_model": trained.reused,
        "dataset": {"name": dataset["name"], "profile": dataset.get("profile"), "source": dataset["source"],
                    "sha256": dataset["sha256"], "rows": dataset["n_train"] + dataset["n_test"],
                    "n_train": dataset["n_train"], "n_test": dataset["n_test"], "fallback": dataset.get("fallback")},
        "multiclass_accuracy": trained.evaluation.multiclass_accuracy,
        "one_vs_all_accuracy": trained.evaluation.one_vs_all_accuracy,
        "artifacts": artifacts, "timings": trained.timings,
        **({"bundle": str(out / outputs.BUNDLE), "bundle_left_out": left_out}
           if run.command.bundles else {}),
    }


def record(run, artifacts, result):
    """The run in --history and MLflow, once the outputs are in place and before a gate's exit 4 (a failed
    gate is a run too). A history or MLflow that fails now is a note, never a new exit code."""
    history, settings = run.history, run.settings
    run_id = None
    if history is not None and history.writable:
        try:
            run_id = run_history.record(history.path, run.review.run, timings=run.trained.timings,
                                        artifacts=artifacts)
            run.log(f"recorded as run {run_id} in the history {history.path}")
        except ToolError as error:
            run.warn(f"note: this run was not recorded: {error}")
    if settings.mlflow_uri:
        try:
            _log_to_mlflow(run, artifacts)
        except ToolError as error:
            run.warn(f"note: this run was not logged to MLflow: {error}")
    if history is not None:
        result["history"] = {"file": str(history.path), "run": run_id}


def _log_to_mlflow(run, artifacts):
    settings, judged, trained, out = run.settings, run.review, run.trained, run.staging.out
    files = {a["path"]: out / a["path"] for a in artifacts}  # what the manifest lists
    commit = (judged.run or {}).get("git_commit") if judged.run else run_history.git_state()[0]
    run_id = tracking.log_run(settings.mlflow_uri, run_name=f"{run.command_name} {trained.metadata['dataset']['name']}",
                              metrics_document=judged.metrics, evaluation=trained.evaluation, files=files,
                              tags={"mnist_ova.command": run.command_name, "mnist_ova.out": str(out.absolute()),
                                    "mlflow.source.git.commit": commit})
    run.log(f"logged to MLflow at {settings.mlflow_uri} as run {run_id}")

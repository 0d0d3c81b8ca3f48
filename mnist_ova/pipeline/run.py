"""What each command does, in order; the one place that decides output paths."""
import contextlib
import dataclasses
import sys
from pathlib import Path

from mnist_ova.environment import step_summary_path
from mnist_ova.errors import ToolError
from mnist_ova.pipeline import bundle, deliverables, jobs, outputs, review
from mnist_ova.pipeline import history as run_history
from mnist_ova.pipeline.staging import StagedOutput, check_out
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

    def warn(message):  # what a scheduled job must see even with --quiet; a reader gone is no error
        with contextlib.suppress(OSError, ValueError):
            print(message, file=sys.stderr, flush=True)

    def log(message):
        if not quiet:
            warn(message)

    progress = not quiet and sys.stderr.isatty()
    check_out(settings.out, force=force_out)
    out = Path(settings.out)
    report_made = command.renders and {"html", "pdf"} & set(settings.formats)
    # The chapter across builds is included only when the history has runs: its template is checked now too.
    chapter = (HISTORY_TEMPLATE,) if report_made and settings.history else ()
    report.check_templates(settings.template_dir, ((report.ENTRY,) if report_made else ()) + chapter
                           + (summary_md.TEMPLATE,))
    if command.renders:  # a missing Pango or ffmpeg is said now, not after training
        system.check(settings.formats)
    history = run_history.open_history(settings.history, warn=warn) if settings.history else None
    baseline = review.load_baseline(settings, history)
    # Staged first, so that an output folder that cannot be written fails before any work. `render`
    # reads the training outputs and leaves them as they are; every other artifact of an earlier run
    # that this run does not make is removed at the commit.
    keep = () if command.trains else outputs.TRAINING
    with StagedOutput(out, keep=keep, last=(outputs.MANIFEST,)) as staging:
        if command.trains:
            # Only our own model file is a cache: a link of that name is the user's, never read.
            cached = None if force or not staging.holds(outputs.MODEL) else out / outputs.MODEL
            trained = jobs.train(settings, log=log, warn=warn, progress=progress, cached_model=cached)
            jobs.write_training(trained, staging)
        else:
            trained = jobs.from_saved_model(Path(model_path) if model_path else out / outputs.MODEL, settings,
                                            log=log, warn=warn)
        judged = review.judge(trained, settings, baseline, history=history, warn=warn,
                              command=command_line or f"mnist-ova {command_name}")
        if command.renders:
            trained.timings.update(deliverables.render_all(trained, settings, staging, progress=progress, review=judged))
        review.write(judged, trained, settings, staging)
        artifacts = deliverables.write_manifest(staging)
        left_out, dropped = [], []
        if command.bundles:
            pages = {}

            def html(names):
                videos = tuple(name for name in deliverables.VIDEO_FILES if name in names)
                if videos not in pages:
                    pages[videos] = deliverables.bundle_html(trained, settings, staging, videos, review=judged)
                return pages[videos]

            with staging.writing(outputs.BUNDLE):
                left_out, dropped = bundle.build(staging.artifacts(), staging.path(outputs.BUNDLE),
                                           max_mb=settings.max_bundle_mb, html=html)
        jobs.write_timings(trained.timings, staging, reused=trained.reused)
        # Every line printed after the commit is made now: from the commit on, only renames and
        # printing happen, and printing cannot change the exit code.
        closing = [jobs.summary_table(trained)] if command.trains else []
        closing.append(f"wrote to {out}/: " + ", ".join(f"{a['path']} ({a['bytes'] / 1024:.0f} KiB)"
                                                       for a in artifacts if "/" not in a["path"]))
        if command.bundles:
            size = staging.path(outputs.BUNDLE).stat().st_size
            closing.append(f"bundle: {out / outputs.BUNDLE} ({size / 2**20:.2f} MB)"
                           + (f"; left out to fit {settings.max_bundle_mb} MB: {', '.join(dropped)}" if dropped
                              else ""))
        closing.append("timings: " + ", ".join(f"{k[:-2]} {v:.2f} s" for k, v in trained.timings.items()))
        # The summary again with links from the job's folder, made only for a job that shows it.
        step_summary = (review.markdown(judged, trained, settings, staging, link_prefix=f"{out.as_posix()}/")
                        if step_summary_path() is not None else None)
        dataset = trained.metadata["dataset"]
        result = {
            "status": "ok", "command": command_name, "out": str(out), "reused_model": trained.reused,
            "dataset": {"name": dataset["name"], "profile": dataset.get("profile"), "source": dataset["source"], "sha256": dataset["sha256"],
                        "rows": dataset["n_train"] + dataset["n_test"], "n_train": dataset["n_train"],
                        "n_test": dataset["n_test"], "fallback": dataset.get("fallback")},
            "multiclass_accuracy": trained.evaluation.multiclass_accuracy,
            "one_vs_all_accuracy": trained.evaluation.one_vs_all_accuracy,
            "artifacts": artifacts, "timings": trained.timings,
            **({"bundle": str(out / outputs.BUNDLE), "bundle_left_out": left_out} if command.bundles else {}),
        }
    for line in closing:
        log(line)
    # Recorded once the outputs are in place, and before a gate's exit 4: a failed gate is a run too.
    run_id = None
    # The outputs are committed: a history or MLflow that fails now is a note, never a new exit code.
    if history is not None and history.writable:
        try:
            run_id = run_history.record(history.path, judged.run, timings=trained.timings, artifacts=artifacts)
            log(f"recorded as run {run_id} in the history {history.path}")
        except ToolError as error:
            warn(f"note: this run was not recorded: {error}")
    if settings.mlflow_uri:
        try:
            _log_to_mlflow(settings, judged, trained, out, artifacts, command_name, log)
        except ToolError as error:
            warn(f"note: this run was not logged to MLflow: {error}")
    if history is not None:
        result["history"] = {"file": str(history.path), "run": run_id}
    review.finish(judged, step_summary, log=log, warn=warn)  # a violated gate exits 4, every output in place
    return result


def _log_to_mlflow(settings, judged, trained, out, artifacts, command_name, log):
    from mnist_ova.pipeline import tracking

    files = {a["path"]: out / a["path"] for a in artifacts
             if a["path"] in tracking.LOGGED_FILES or a["path"].startswith(f"{outputs.FIGURES_DIR}/")}
    commit = (judged.run or {}).get("git_commit") if judged.run else run_history.git_state()[0]
    run_id = tracking.log_run(settings.mlflow_uri, run_name=f"{command_name} {trained.metadata['dataset']['name']}",
                              metrics_document=judged.metrics, evaluation=trained.evaluation, files=files,
                              tags={"mnist_ova.command": command_name, "mnist_ova.out": str(out.absolute()),
                                    "mlflow.source.git.commit": commit})
    log(f"logged to MLflow at {settings.mlflow_uri} as run {run_id}")

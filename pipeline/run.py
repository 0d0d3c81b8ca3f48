"""What each command does, in order; the one place that decides output paths."""
import sys
from pathlib import Path

from mnist_ova.pipeline import bundle, deliverables, jobs
from mnist_ova.render import report
from mnist_ova.pipeline.staging import StagedOutput

# Outputs that are not in manifest.json: the run's timings differ on every run, and the
# bundle holds the manifest, so neither can be listed in it.
UNLISTED = ("timings.json", bundle.NAME)


def execute(command, settings, *, model_path=None, force=False, quiet=False):
    """Run ``command`` and return its summary; every output appears in ``settings.out`` together at
    the end, or none does."""
    def log(message):
        if not quiet:
            print(message, file=sys.stderr)

    progress = not quiet and sys.stderr.isatty()
    out = Path(settings.out)
    if command != "train" and {"html", "pdf"} & set(settings.formats):
        report.check_templates(settings.template_dir)
    # Staged first, so that an output folder that cannot be written fails before any work.
    with StagedOutput(out, last=("manifest.json",)) as staging:
        if command == "render":
            trained = jobs.from_saved_model(Path(model_path) if model_path else out / "model.npz", settings,
                                            log=log)
        else:
            trained = jobs.train(settings, log=log, progress=progress,
                                 cached_model=None if force else out / "model.npz")
        if command != "render":
            jobs.write_training(trained, staging)
        if command != "train":
            trained.timings.update(deliverables.render(trained, settings, staging, progress=progress))
        artifacts = deliverables.write_manifest(staging, exclude=UNLISTED)
        left_out = []
        if command == "bundle":
            view = staging.final_view()
            included, left_out = bundle.plan({n: p.stat().st_size for n, p in view.items() if n not in UNLISTED},
                                             settings.max_bundle_mb)
            bundle.write(view, included, staging.path(bundle.NAME))
        jobs.write_timings(trained.timings, staging, reused=trained.reused)
    if command != "render":
        log(jobs.summary_table(trained))
    log(f"wrote to {out}/: " + ", ".join(f"{a['path']} ({a['bytes'] / 1024:.0f} KiB)" for a in artifacts
                                         if "/" not in a["path"]))
    if command == "bundle":
        size = (out / bundle.NAME).stat().st_size
        log(f"bundle: {out / bundle.NAME} ({size / 2**20:.2f} MB)"
            + (f"; left out to fit {settings.max_bundle_mb} MB: {', '.join(left_out)}" if left_out else ""))
    log("timings: " + ", ".join(f"{k[:-2]} {v:.2f} s" for k, v in trained.timings.items()))
    return {
        "status": "ok", "command": command, "out": str(out), "reused_model": trained.reused,
        "multiclass_accuracy": trained.scores["multiclass_accuracy"],
        "one_vs_all_accuracy": trained.scores["one_vs_all_accuracy"],
        "artifacts": artifacts, "timings": trained.timings,
        **({"bundle": str(out / bundle.NAME), "bundle_left_out": left_out} if command == "bundle" else {}),
    }

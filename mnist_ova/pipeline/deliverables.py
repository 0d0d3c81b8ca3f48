"""The render stage: every deliverable declared in one table (``DELIVERABLES``): the function that makes it,
when it is wanted, the lane it runs in and the lanes it waits for. ``render_all`` runs the table on the
scheduler (``children.Scheduler``). What each one contains is decided in ``render/`` and ``templates/``; this
module only says where and when."""
import contextlib
import dataclasses
import hashlib
import os
import time
from collections.abc import Callable
from typing import Any

from mnist_ova import children
from mnist_ova.errors import ToolError
from mnist_ova.pipeline import jobs, outputs
from mnist_ova.render import diagnostics, figures, frames, gif, learning, notes, report, training_film, trends, video
from mnist_ova.trainer import profiles
from mnist_ova.fileio import json_text

FIGURE_SCRATCH = "figures"  # in the staging scratch folder when the figures are not an output
GALLERY_SCRATCH = "gallery"  # the drill-down digits, always inside the report
VIDEOS = ("mp4", "gif", "training")  # the formats of the videos the report plays
ROOM_PROBE = 1 << 16  # bytes written where a deliverable failed, to learn whether the disk was the reason


@dataclasses.dataclass
class Render:
    """What the deliverables are made from: picklable, so that a lane's process has it under spawn too. Its
    ``trained``, ``settings``, ``staging`` and ``review`` are the run's, so it stands for the run where the
    report's context is made."""

    trained: Any  # pipeline.jobs.Trained
    settings: Any
    staging: Any
    review: Any
    paths: dict  # {asset name: path} of every figure, equation and gallery digit
    digits: dict  # the gallery's part of ``paths``
    images_test: Any  # the test images, shaped
    rows: Any  # the test positions the prediction videos show
    examples: Any  # those positions' images and scores (frames.examples_of)
    shots: Any  # the training snapshots, or None
    notes: Any = None  # the --notes file as the pre-flight read it (render.notes.Notes), or None

    @property
    def formats(self):
        return set(self.settings.formats)


def _report_wanted(r):
    return bool(r.formats & {"html", "pdf"})


def _drawn(r):
    """The figures are drawn: the report shows them, or they are an output of their own."""
    return _report_wanted(r) or "figures" in r.formats


def _film_wanted(r):
    return "training" in r.formats and r.shots is not None


@dataclasses.dataclass(frozen=True)
class Deliverable:
    name: str  # its step ("<name>_s" in timings.json)
    output: str  # what it writes: a name of outputs.ARTIFACTS
    make: Callable[[Render], object]  # a top-level function, which a spawned lane imports
    wanted: Callable[[Render], bool]  # asked for by the formats, and possible with what the model holds
    lane: str = "main"  # "main": this process, in table order; any other: a child process running its steps in order
    after: tuple[str, ...] = ()  # the lanes it waits for


# Three lanes beside this process, each started at once (in a thread they would wait for the interpreter lock
# that matplotlib and WeasyPrint hold), so both cores work: the figures this process does not draw (the PDF
# waits for them), the predictions MP4, and the training film with the GIFs. This process draws the charts and
# equations (about half the figures' time), then the PDF, then the HTML, which embeds everything: the longest
# chain. Where jobs run inline, each lane runs when it is first waited for, in the same order.
DELIVERABLES = (
    Deliverable("figures", outputs.FIGURES_DIR, lambda r: figures.chart_figures(r.trained.views, r.paths), _drawn),
    Deliverable("captions", outputs.CAPTIONS, lambda r: r.staging.path(outputs.CAPTIONS).write_text(
        frames.captions(r.examples, _names(r), r.settings.seconds_per_example, r.settings.fps), encoding="utf-8"),
        lambda r: "mp4" in r.formats),
    Deliverable("images", outputs.FIGURES_DIR, lambda r: _image_figures(r), _drawn, lane="drawings"),
    Deliverable("analysis", outputs.FIGURES_DIR, lambda r: _analysis_figures(r), _drawn, lane="drawings"),
    Deliverable("learning", outputs.FIGURES_DIR, lambda r: learning.learning_figure(
        r.shots, _names(r), r.trained.dataset.image_shape, r.paths["fig_learning"]),
        lambda r: _drawn(r) and r.shots is not None, lane="drawings"),
    Deliverable("history", outputs.FIGURES_DIR, lambda r: _history_figure(r),
                lambda r: _drawn(r) and bool(r.review and r.review.across_builds), lane="drawings"),
    Deliverable("posters", outputs.FIGURES_DIR, lambda r: (
        frames.poster_strip(r.examples, _names(r), r.paths["fig_posters"]),
        frames.poster(r.examples, _names(r), r.paths["video_poster"], r.settings.video_size)),
        _report_wanted, lane="drawings"),
    # The PDF shows it: drawn where the PDF waits, not with the film.
    Deliverable("film_poster", outputs.FIGURES_DIR, lambda r: training_film.poster(
        r.shots, _names(r), r.trained.dataset.image_shape, r.paths["film_poster"],
        size=video.even_size(r.settings.video_size), solver_note=solver_note(r.trained.metadata["config"])),
        lambda r: _drawn(r) and _film_wanted(r), lane="drawings"),
    Deliverable("mp4", outputs.MP4, lambda r: video.write_mp4(
        frames.frames(r.examples, _names(r), r.settings.video_size, r.settings.fps, r.settings.seconds_per_example),
        r.staging.path(outputs.MP4), size=r.settings.video_size, fps=r.settings.fps,
        counts=frames.frame_counts(len(r.examples), r.settings.fps, r.settings.seconds_per_example)),
        lambda r: "mp4" in r.formats, lane="video"),
    Deliverable("training", outputs.TRAINING_MP4, lambda r: _film(r), _film_wanted, lane="film"),
    Deliverable("gif", outputs.GIF, lambda r: gif.write_gif(r.examples, _names(r), r.staging.path(outputs.GIF),
                                                            seconds=r.settings.seconds_per_example),
                lambda r: "gif" in r.formats, lane="film"),
    Deliverable("pdf", outputs.PDF, lambda r: _pdf(r), lambda r: "pdf" in r.formats, after=("drawings",)),
    # Last: it embeds the videos.
    Deliverable("html", outputs.HTML, lambda r: _html(r), lambda r: "html" in r.formats,
                after=("drawings", "video", "film")),
)
BY_NAME = {deliverable.name: deliverable for deliverable in DELIVERABLES}
YIELDING = ("video", "film")  # the lanes only the HTML waits for: they leave a core to the chain before it


def render_all(run):
    """Write every deliverable named by ``run.settings.formats``; returns their timings. ``run.review``
    (``pipeline.review.Review``) adds the comparison with a baseline and the gates to the report."""
    r = prepare(run)
    wanted = [d for d in DELIVERABLES if d.wanted(r)]
    lanes = {d.lane: [e for e in wanted if e.lane == d.lane] for d in wanted if d.lane != "main"}
    timings = {}
    with children.progress_bar(total=len(wanted), desc="rendering", unit="step", disable=not run.progress,
                               leave=False) as bar, children.Scheduler() as scheduler:
        started = {lane: scheduler.start(run_lane, [d.name for d in steps], r, unwinds=True,  # it stops its ffmpeg
                                         yields=lane in YIELDING, stderr=r.staging.scratch / f"{lane}.log")
                   for lane, steps in lanes.items()}

        def wait(lane):
            if lane in started:
                timings.update(_lane_result(started.pop(lane), lanes[lane], r.staging))
                bar.update(len(lanes[lane]))

        for step in [d for d in wanted if d.lane == "main"]:
            for lane in step.after:
                wait(lane)
            bar.set_postfix_str(step.name)
            timings[f"{step.name}_s"] = make(step, r)
            bar.update()
        for lane in lanes:  # those no step waited for (figures or videos alone)
            wait(lane)
    return timings


def prepare(run):
    """The run's ``Render``: the figures' folder made, and what more than one deliverable shows chosen once."""
    trained, settings, staging = run.trained, run.settings, run.staging
    formats = set(settings.formats)
    keep_figures = "figures" in formats or ("html" in formats and settings.html_assets == "external")
    figure_dir = staging.path(outputs.FIGURES_DIR) if keep_figures else staging.scratch / FIGURE_SCRATCH
    figure_dir.mkdir(parents=True, exist_ok=True)
    images_test = trained.dataset.images[trained.test_rows].reshape(-1, *trained.dataset.image_shape)
    rows = video_rows(trained, settings)
    digits = gallery_paths(run)
    return Render(trained, settings, staging, run.review, {**figure_paths(figure_dir), **digits}, digits,
                  images_test, rows, frames.examples_of(trained.evaluation, images_test, rows), snapshots_of(trained),
                  run.notes)


def run_lane(names, r):
    """A lane's steps, by name, in order (in the lane's process); their seconds by name."""
    return {f"{name}_s": make(BY_NAME[name], r) for name in names}


def make(deliverable, r):
    """Make one deliverable; its seconds. A failure there that the disk explains (a full disk, a quota, a
    file-size limit: ffmpeg says so only in words) is reported as the staging area reports a write's."""
    with r.staging.writing(deliverable.output):
        start = time.perf_counter()
        try:
            deliverable.make(r)
        except Exception:
            try:
                with r.staging.writing(deliverable.output):
                    _write_probe(r.staging.path(deliverable.output))
            except OSError:
                pass  # not the disk: the failure stands as it is
            raise
        return round(time.perf_counter() - start, 3)


def _write_probe(path):
    """Write where ``path`` is (at its end, or in it when a folder), so that the OSError a full disk, a quota or a
    file-size limit gives there now is raised for ``StagedOutput.writing`` to classify. The run fails either way."""
    with open(path / ".probe" if path.is_dir() else path, "ab") as file:
        file.write(bytes(ROOM_PROBE))
        file.flush()
        os.fsync(file.fileno())


def _lane_result(job, steps, staging):
    """A lane's timings; its failure as one line naming the first file it makes, with ffmpeg's last word."""
    output = steps[0].output
    with staging.writing(output):
        try:
            return job.result()
        except children.ChildFailed as exc:
            value = str(exc)
    target = staging.out / output
    log = _last_line(staging.scratch / f"{steps[0].lane}.log")
    what = "figures" if output == outputs.FIGURES_DIR else "video"
    raise ToolError(f"the {what} {str(target)!r} could not be made: {value.replace(str(staging.root), str(staging.out))}"
                    + (f" (ffmpeg: {log})" if log else ""))


def _names(r):
    return list(r.trained.evaluation.class_names)


def figure_paths(figure_dir):
    """{asset name: path} of every figure and equation in ``figure_dir``."""
    return {asset: figure_dir / name.removeprefix(f"{outputs.FIGURES_DIR}/")
            for asset, name in outputs.assets({"figures"}).items()}


def load_notes(path):
    """The notes file (--notes), read and checked against the labels of the report's figures and tables:
    once, by the run's pre-flight, which keeps it for the PDF, the HTML and the bundle's page."""
    return notes.load(path, notes.labels(outputs.FIGURES))


def gallery_paths(run):
    """{asset name: path} of the digits the drill-down galleries show. They are drawn in the scratch
    folder and always carried inside the report (a few hundred bytes each): their names depend on
    the data, so they are no outputs of their own."""
    trained = run.trained
    comparison = run.review.comparison if run.review is not None else None
    folder = run.staging.scratch / GALLERY_SCRATCH
    return {diagnostics.digit_asset(i): folder / f"test-{int(trained.test_rows[i])}.png"
            for i in diagnostics.shown_positions(trained.evaluation, comparison)}


def _last_line(path):
    with contextlib.suppress(OSError):
        with open(path, errors="replace") as log:
            lines = [line.strip() for line in log.read().splitlines() if line.strip()]
        return lines[-1][:300] if lines else ""
    return ""


def snapshots_of(trained):
    """The model's training snapshots, or None for a model saved before they were kept."""
    return getattr(trained.model, "snapshots_", None)


def solver_note(config):
    """How the models were trained, in a few words for the film's heading."""
    return "L-BFGS" if config["solver"] == "lbfgs" else f"gradient descent, α {config['learning_rate']:g}"


def _film(r):
    """``training.mp4`` with its captions, and ``training.gif``."""
    names, shape, staging = _names(r), r.trained.dataset.image_shape, r.staging
    note = solver_note(r.trained.metadata["config"])
    staging.path(outputs.TRAINING_CAPTIONS).write_text(training_film.captions(r.shots, training_film.FPS),
                                                       encoding="utf-8")
    training_film.write_mp4(r.shots, names, shape, staging.path(outputs.TRAINING_MP4),
                            size=video.even_size(r.settings.video_size), fps=training_film.FPS, solver_note=note)
    training_film.write_gif(r.shots, names, shape, staging.path(outputs.TRAINING_GIF), solver_note=note)


def _image_figures(r):
    dataset = r.trained.dataset
    figures.image_figures(
        r.trained.evaluation, weights=r.trained.model.coef_, images=dataset.images.reshape(-1, *dataset.image_shape),
        class_index=r.trained.evaluation.classes.searchsorted(dataset.labels), train_rows=r.trained.train_rows,
        test_images=r.images_test, example_rows=r.rows, paths=r.paths)


def _analysis_figures(r):
    views = r.trained.views
    diagnostics.reliability(views.evaluation.analysis, views.names, r.paths["fig_reliability"])
    diagnostics.roc_and_precision_recall(views, r.paths["fig_roc_pr"])
    if r.digits:
        next(iter(r.digits.values())).parent.mkdir(parents=True, exist_ok=True)
    for name, path in r.digits.items():
        diagnostics.digit(r.images_test[int(name.rsplit("_", 1)[1])], path)


def _history_figure(r):
    chart = r.review.across_builds["chart"]
    trends.accuracy_over_builds(chart["labels"], chart["multiclass"], chart["multiclass_interval"],
                                chart["one_vs_all"], r.paths["fig_across_builds"], urls=chart["urls"])


def _pdf(r):
    """``report.pdf``, from the figures."""
    assets = {name: path for name, path in r.paths.items() if path.is_file()}
    # data: URLs here too: WeasyPrint names each image after its URL, and a file URL would carry
    # the staging folder's random name into the PDF's bytes.
    html = report.render_html(_report_context(r), target="pdf", assets=report.inline_assets(assets),
                              template_dir=r.settings.template_dir)
    with children.stops_through_log("weasyprint"):  # it catches a stop while it draws an SVG
        report.write_pdf(html, r.staging.path(outputs.PDF), base_url=r.staging.root)


def _html(r):
    """``report.html``, from the figures and the videos, which it embeds or links."""
    staging, settings = r.staging, r.settings
    assets = {name: path for name, path in r.paths.items() if path.is_file()}
    for name, file in outputs.assets(VIDEOS).items():
        if (staging.root / file).is_file():
            assets[name] = staging.root / file
    scratch = {name: path for name, path in assets.items() if staging.scratch in path.parents}
    urls = (report.inline_assets(assets) if settings.html_assets == "inline"
            else {**report.linked_assets({n: p for n, p in assets.items() if n not in scratch}, staging.root),
                  **report.inline_assets(scratch)})
    html = report.render_html(_report_context(r), target="html", assets=urls, template_dir=settings.template_dir)
    staging.path(outputs.HTML).write_text(html, encoding="utf-8")


def bundle_html(run, videos):
    """The report as a web page for ``submission.zip``: the figures inline, the videos named in
    ``videos`` linked to the files beside it in the zip (not carried a second time)."""
    figure_dir = run.staging.root / outputs.FIGURES_DIR
    if not figure_dir.is_dir():
        figure_dir = run.staging.scratch / FIGURE_SCRATCH
    paths = {**figure_paths(figure_dir), **gallery_paths(run)}
    assets = report.inline_assets({name: path for name, path in paths.items() if path.is_file()})
    # The captions come with the MP4: every file of a video's format that the zip carries.
    assets.update(outputs.assets({outputs.ARTIFACTS[name].format for name in videos}))
    context = _report_context(run, videos=videos)
    return report.render_html(context, target="html", assets=assets, template_dir=run.settings.template_dir)


def video_rows(trained, settings):
    """The test positions the prediction videos show (the report quotes their highest score)."""
    return frames.choose_examples(trained.evaluation, settings.examples, source=settings.examples_from,
                                  seed=settings.seed)


# The videos a bundle may leave out: its page then shows only those it holds.
VIDEO_FILES = (outputs.MP4, outputs.GIF, outputs.TRAINING_MP4, outputs.TRAINING_GIF)


def _report_context(run, *, videos=None):
    """The report's context (``render.report.context``) of this run; ``videos`` (file names) overrides
    which videos it shows."""
    trained, settings, staging, review = run.trained, run.settings, run.staging, run.review
    shown = {outputs.ARTIFACTS[name].format for name in videos} if videos is not None else set(settings.formats)
    films = (videos if videos is not None else (outputs.TRAINING_MP4, outputs.TRAINING_GIF) if "training" in shown
             else ())
    gif_path = staging.root / outputs.GIF
    video = report.video_context(
        trained.views, examples=settings.examples, seconds_per_example=settings.seconds_per_example,
        shown={kind: file for kind, file in (("mp4", outputs.MP4), ("gif", outputs.GIF)) if kind in shown},
        gif_bytes=gif_path.stat().st_size if gif_path.is_file() else 0, rows=video_rows(trained, settings))
    context = report.context(
        trained.views, title_page=jobs.title_page_of(settings, recorded=trained.metadata.get("title_page", {})),
        dataset=trained.metadata["dataset"], config=trained.metadata["config"], video=video, timings=trained.timings,
        training={"reused": trained.reused, "train_seconds": trained.metadata.get("train_seconds")},
        profile=profiles.from_record(trained.metadata["profile"]), test_rows=trained.test_rows,
        comparison=review.comparison if review else None,
        gates=review.gates if review else (), baseline_label=review.baseline_path if review else None,
        data=trained.dataset)
    context["notes"] = run.notes
    context["across_builds"] = review.across_builds if review else None
    context["learning"] = learning.context(snapshots_of(trained), film_mp4=outputs.TRAINING_MP4 in films,
                                           film_gif=outputs.TRAINING_GIF in films, film_seconds=training_film.SECONDS,
                                           image_shape=trained.dataset.image_shape, names=_names(run))
    return context


def write_manifest(staging):
    """``manifest.json``: this run's artifacts (names from the table of outputs, never a walk of the
    folder) with their size and sha256, so a job can diff two runs."""
    artifacts = [describe_file(name, path) for name, path in staging.artifacts().items()
                 if name != outputs.MANIFEST and outputs.ARTIFACTS[name].in_manifest]
    with staging.writing(outputs.MANIFEST):
        staging.path(outputs.MANIFEST).write_text(json_text({"artifacts": artifacts}))
    return artifacts


def describe_file(name, path):
    """{path, bytes, sha256} of one artifact, read without following a link."""
    digest, size = hashlib.sha256(), 0
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    with open(fd, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
            size += len(chunk)
    return {"path": name, "bytes": size, "sha256": digest.hexdigest()}

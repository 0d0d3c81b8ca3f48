"""The render stage: schedules every deliverable into the staged output folder. What each one
contains is decided in ``render/`` and ``templates/``; this module only says where and when."""
import contextlib
import errno
import functools
import hashlib
import os
import time

from mnist_ova import children
from mnist_ova.errors import ToolError
from mnist_ova.pipeline import jobs, outputs
from mnist_ova.pipeline.staging import DISK_ERRORS, disk_error
from mnist_ova.render import diagnostics, figures, frames, gif, learning, notes, report, training_film, trends, video
from mnist_ova.trainer import profiles
from mnist_ova.fileio import json_text

FIGURE_SCRATCH = "figures"  # in the staging scratch folder when the figures are not an output
GALLERY_SCRATCH = "gallery"  # the drill-down digits, always inside the report
VIDEOS = ("mp4", "gif", "training")  # the formats of the videos the report plays


def render_all(run):
    """Write every deliverable named by ``run.settings.formats``; returns their timings. ``run.review``
    (``pipeline.review.Review``) adds the comparison with a baseline and the gates to the report."""
    trained, settings, staging, review = run.trained, run.settings, run.staging, run.review
    formats = set(settings.formats)
    want_report = bool(formats & {"html", "pdf"})
    keep_figures = "figures" in formats or ("html" in formats and settings.html_assets == "external")
    figure_dir = staging.path(outputs.FIGURES_DIR) if keep_figures else staging.scratch / FIGURE_SCRATCH
    figure_dir.mkdir(parents=True, exist_ok=True)
    paths = figure_paths(figure_dir)

    evaluation, names = trained.evaluation, list(trained.evaluation.class_names)
    images_test = trained.dataset.images[trained.test_rows].reshape(-1, *trained.dataset.image_shape)
    rows = video_rows(trained, settings)
    examples = frames.examples_of(evaluation, images_test, rows)

    digits = gallery_paths(run)
    paths.update(digits)

    shots = snapshots_of(trained)
    film = "training" in formats and shots is not None
    shape = trained.dataset.image_shape
    # Three lanes beside this process, each forked at once (in a thread they would wait for the interpreter
    # lock that matplotlib and WeasyPrint hold), so both cores work: the figures this process does not draw
    # (the PDF waits for them), the predictions MP4, and the training film with the GIFs. This process draws
    # the charts and equations (about half the figures' time; the lane draws the rest), then the PDF, then
    # the HTML, which embeds everything: the longest chain, so the video lanes run at a lower priority and
    # fill the other core without slowing it down. Where children.fork does not fork (not Linux, or another
    # thread alive), each lane runs in this process when its result is waited for, in the same order.
    drawings, videos, films = [], [], []
    steps = []
    if want_report or "figures" in formats:
        steps.append(("figures", outputs.FIGURES_DIR, lambda: figures.chart_figures(trained.views, paths)))
        drawings.append(("images", outputs.FIGURES_DIR, lambda: _image_figures(trained, paths, images_test, rows)))
        drawings.append(("analysis", outputs.FIGURES_DIR,
                         lambda: _analysis_figures(trained.views, paths, images_test, digits)))
        if shots is not None:
            drawings.append(("learning", outputs.FIGURES_DIR,
                             lambda: learning.learning_figure(shots, names, shape, paths["fig_learning"])))
        if review is not None and review.across_builds:
            chart = review.across_builds["chart"]
            drawings.append(("history", outputs.FIGURES_DIR, lambda: trends.accuracy_over_builds(
                chart["labels"], chart["multiclass"], chart["multiclass_interval"], chart["one_vs_all"],
                paths["fig_across_builds"], urls=chart["urls"])))
    if want_report:
        drawings.append(("posters", outputs.FIGURES_DIR, lambda: (
            frames.poster_strip(examples, names, paths["fig_posters"]),
            frames.poster(examples, names, paths["video_poster"], settings.video_size))))
    if film and (want_report or "figures" in formats):  # the PDF shows it: drawn where the PDF waits, not with the film
        drawings.append(("film_poster", outputs.FIGURES_DIR, lambda: training_film.poster(
            shots, names, shape, paths["film_poster"], size=video.even_size(settings.video_size),
            solver_note=solver_note(trained.metadata["config"]))))
    if "mp4" in formats:
        steps.append(("captions", outputs.CAPTIONS, lambda: staging.path(outputs.CAPTIONS).write_text(
            frames.captions(examples, names, settings.seconds_per_example, settings.fps), encoding="utf-8")))
        videos.append(("mp4", outputs.MP4, lambda: video.write_mp4(
            frames.frames(examples, names, settings.video_size, settings.fps, settings.seconds_per_example),
            staging.path(outputs.MP4), size=settings.video_size, fps=settings.fps,
            counts=frames.frame_counts(len(examples), settings.fps, settings.seconds_per_example))))
    if film:
        films.append(("training", outputs.TRAINING_MP4, lambda: _film(trained, shots, settings, staging)))
    if "gif" in formats:
        films.append(("gif", outputs.GIF, lambda: gif.write_gif(examples, names, staging.path(outputs.GIF),
                                                                seconds=settings.seconds_per_example)))
    timings = {}
    lanes = [(lane, what, nice) for lane, what, nice in ((drawings, "figures", 0), (videos, "video", VIDEO_NICENESS),
                                                         (films, "video", VIDEO_NICENESS)) if lane]
    with children.progress_bar(total=len(steps) + sum(len(lane) for lane, _, _ in lanes) + ("pdf" in formats)
                           + ("html" in formats), desc="rendering", unit="step", disable=not run.progress,
                           leave=False) as bar:
        forked: list[_Encoder] = []
        try:
            for lane, what, nice in lanes:
                output = lane[0][1]
                forked.append(_Encoder(lambda lane=lane, nice=nice: _run_lane(lane, staging, nice),
                                       log=staging.scratch / f"lane-{len(forked)}.log", staged=staging.path(output),
                                       target=staging.out / output, what=what))
            for name, output, step in steps:
                bar.set_postfix_str(name)
                with staging.writing(output):
                    timings[f"{name}_s"] = _timed(step)
                bar.update()
            if drawings:
                with staging.writing(outputs.FIGURES_DIR):
                    timings.update(forked[0].result())
                bar.update(len(drawings))
            if "pdf" in formats:
                bar.set_postfix_str("pdf")
                with staging.writing(outputs.PDF):
                    timings["pdf_s"] = _timed(lambda: _report("pdf", run, paths))
                bar.update()
            for encoder, (lane, _, _) in zip(forked[1 if drawings else 0:], lanes[1 if drawings else 0:]):
                with staging.writing(lane[0][1]):
                    timings.update(encoder.result())
                bar.update(len(lane))
        finally:
            for encoder in forked:
                encoder.stop()  # at once, on an error or a signal; a no-op once it has ended
        if "html" in formats:  # last: it embeds the videos
            bar.set_postfix_str("html")
            with staging.writing(outputs.HTML):
                timings["html_s"] = _timed(lambda: _report("html", run, paths))
            bar.update()
    return timings


def figure_paths(figure_dir):
    """{asset name: path} of every figure and equation in ``figure_dir``."""
    return {asset: figure_dir / name.removeprefix(f"{outputs.FIGURES_DIR}/")
            for asset, name in outputs.assets({"figures"}).items()}


def load_notes(path):
    """The notes file (--notes), checked against the labels of the report's figures and tables. Read and
    typeset once per version of the file: the run checks it before training, and the PDF, the HTML and
    the bundle's page show it."""
    try:
        stat = os.stat(path)
    except OSError:  # notes.load says what is wrong with it
        return notes.load(path, notes.labels(outputs.FIGURES))
    return _parsed_notes(os.fspath(path), stat.st_mtime_ns, stat.st_size)


@functools.lru_cache(maxsize=4)
def _parsed_notes(path, mtime_ns, size):
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


# The video lanes yield to the chain of figures, PDF and HTML that the run waits for: a little (niceness 5)
# and off its core (``_leave_the_first_cpu``). Measured on the 2-core Zen 4, `run.py render`: 8.7-8.9 s
# quiet and 15.8 s beside two busy processes; niceness 5 unpinned 9.4-10.2 s and 16-17 s; niceness 19
# 8.1-8.9 s quiet but 131 s beside the busy processes, which left the lanes almost nothing.
VIDEO_NICENESS = 5


def _leave_the_first_cpu():
    """Run (with every child, ffmpeg too) on the CPUs this process may use but the first, when there are
    several: one core is left to the chain the run waits for, whatever else runs on the machine."""
    with contextlib.suppress(AttributeError, OSError):
        cpus = sorted(os.sched_getaffinity(0))
        if len(cpus) > 1:
            os.sched_setaffinity(0, cpus[1:])


def _run_lane(lane, staging, niceness):
    """Run a lane's (name, output, step) steps in order; their seconds by name."""
    if niceness and children.in_child():  # never the run's own process, where a lane that did not fork runs
        os.nice(niceness)
        _leave_the_first_cpu()
    timings = {}
    for name, output, step in lane:
        with staging.writing(output):
            timings[f"{name}_s"] = _timed(step)
    return timings


class _Encoder:
    """``job()`` run in a child process (``children.fork``; in this one where it does not fork), its seconds
    returned by ``result``. ``stop`` ends the process (and with it its ffmpeg) at once, so an interrupted run
    does not wait for the video.

    The process's stderr goes to ``log``: ffmpeg's own messages stay out of the run's one line,
    and a failure (ffmpeg's exit status says) is reported with their last line, naming the final file
    ``target``; a warning of a library there is no failure.
    """

    def __init__(self, job, *, log, staged, target, what="video"):
        self._log, self._staged, self._target, self._what = log, staged, target, what
        self._child = children.fork(job, stderr=log, unwinds=True)  # unwinds: it stops its ffmpeg

    def result(self):
        try:
            return self._child.result()
        except children.ChildFailed as exc:
            value = str(exc)
        log = _last_line(self._log)
        for code, reason in DISK_ERRORS.items():
            if os.strerror(code).lower() in f"{value} {log}".lower():
                raise disk_error(self._target, reason)
        if _at_file_size_limit(self._staged):  # ffmpeg is killed by SIGXFSZ there, without a word
            raise disk_error(self._target, DISK_ERRORS[errno.EFBIG])
        value = value.replace(str(self._staged), str(self._target))
        raise ToolError(f"the {self._what} {str(self._target)!r} could not be made: {value}"
                        + (f" (ffmpeg: {log})" if log else ""))

    def stop(self):
        self._child.stop()


def _at_file_size_limit(path):
    try:
        import resource

        limit = resource.getrlimit(resource.RLIMIT_FSIZE)[0]
        return limit != resource.RLIM_INFINITY and os.path.getsize(path) >= limit
    except (ImportError, OSError, ValueError):
        return False


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


def _film(trained, shots, settings, staging):
    """``training.mp4`` with its captions, and ``training.gif``: run in a process of its own."""
    names, shape = list(trained.evaluation.class_names), trained.dataset.image_shape
    note = solver_note(trained.metadata["config"])
    size = video.even_size(settings.video_size)
    staging.path(outputs.TRAINING_CAPTIONS).write_text(training_film.captions(shots, training_film.FPS),
                                                       encoding="utf-8")
    training_film.write_mp4(shots, names, shape, staging.path(outputs.TRAINING_MP4), size=size,
                            fps=training_film.FPS, solver_note=note)
    training_film.write_gif(shots, names, shape, staging.path(outputs.TRAINING_GIF), solver_note=note)


def _timed(step):
    """Seconds that ``step()`` took."""
    start = time.perf_counter()
    step()
    return round(time.perf_counter() - start, 3)


def _image_figures(trained, paths, test_images, example_rows):
    dataset = trained.dataset
    figures.image_figures(
        trained.evaluation, weights=trained.model.coef_, images=dataset.images.reshape(-1, *dataset.image_shape),
        class_index=trained.evaluation.classes.searchsorted(dataset.labels), train_rows=trained.train_rows,
        test_images=test_images, example_rows=example_rows, paths=paths)


def _analysis_figures(views, paths, test_images, digits):
    diagnostics.reliability(views.evaluation.analysis, views.names, paths["fig_reliability"])
    diagnostics.roc_and_precision_recall(views, paths["fig_roc_pr"])
    if digits:
        next(iter(digits.values())).parent.mkdir(parents=True, exist_ok=True)
    for name, path in digits.items():
        diagnostics.digit(test_images[int(name.rsplit("_", 1)[1])], path)


def _report(target, run, paths):
    """``report.pdf`` (needs the figures) or ``report.html`` (needs the videos too, which it embeds)."""
    settings, staging = run.settings, run.staging
    context = _report_context(run)
    assets = {name: path for name, path in paths.items() if path.is_file()}
    if target == "pdf":
        # data: URLs here too: WeasyPrint names each image after its URL, and a file URL would carry
        # the staging folder's random name into the PDF's bytes.
        html = report.render_html(context, target="pdf", assets=report.inline_assets(assets),
                                  template_dir=settings.template_dir)
        with children.stops_through_log("weasyprint"):  # it catches a stop while it draws an SVG
            report.write_pdf(html, staging.path(outputs.PDF), base_url=staging.root)
        return
    for name, file in outputs.assets(VIDEOS).items():
        if (staging.root / file).is_file():
            assets[name] = staging.root / file
    scratch = {name: path for name, path in assets.items() if staging.scratch in path.parents}
    urls = (report.inline_assets(assets) if settings.html_assets == "inline"
            else {**report.linked_assets({n: p for n, p in assets.items() if n not in scratch}, staging.root),
                  **report.inline_assets(scratch)})
    html = report.render_html(context, target="html", assets=urls, template_dir=settings.template_dir)
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
        gates=review.gates if review else (), baseline_label=review.baseline_path if review else None)
    context["notes"] = load_notes(settings.notes) if settings.notes else None
    context["across_builds"] = review.across_builds if review else None
    context["learning"] = learning.context(snapshots_of(trained), film_mp4=outputs.TRAINING_MP4 in films,
                                           film_gif=outputs.TRAINING_GIF in films, film_seconds=training_film.SECONDS)
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

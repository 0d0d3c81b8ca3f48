"""The render stage: schedules every deliverable into the staged output folder. What each one
contains is decided in ``render/`` and ``templates/``; this module only says where and when."""
import dataclasses
import hashlib
import json
import multiprocessing
import time
from concurrent.futures import ProcessPoolExecutor

from mnist_ova.pipeline import jobs, outputs
from mnist_ova.render import figures, frames, gif, report, video

GIF_SIZE, GIF_FPS = (640, 360), 10


def render(trained, settings, staging, *, progress):
    """Write every deliverable named by ``settings.formats``; returns their timings."""
    from tqdm import tqdm

    formats = set(settings.formats)
    want_report = bool(formats & {"html", "pdf"})
    keep_figures = "figures" in formats or ("html" in formats and settings.html_assets == "external")
    figure_dir = staging.path("figures") if keep_figures else staging.scratch / "figures"
    figure_dir.mkdir(parents=True, exist_ok=True)
    paths = {name: figure_dir / file for name, file in outputs.FIGURES.items()}
    paths.update({name: figure_dir / f"{name}.svg" for name in figures.EQUATIONS})

    evaluation, names = trained.evaluation, list(trained.evaluation.class_names)
    images_test = trained.dataset.images[trained.test_rows].reshape(-1, *trained.dataset.image_shape)
    rows = frames.choose_examples(evaluation, settings.examples, source=settings.examples_from, seed=settings.seed)
    examples = frames.examples_of(evaluation, images_test, rows)

    steps = []
    if want_report or "figures" in formats:
        steps.append(("figures", lambda: _figures(trained, paths, images_test, rows)))
    if "gif" in formats:
        steps.append(("gif", lambda: gif.write_gif(examples, names, staging.path(outputs.GIF), size=GIF_SIZE,
                                                   fps=GIF_FPS, seconds=settings.seconds_per_example)))
    if want_report:
        steps.append(("posters", lambda: (frames.poster_strip(examples, names, paths["fig_posters"]),
                                          frames.poster(examples, names, paths["video_poster"], settings.video_size))))
    if "mp4" in formats:
        steps.append(("captions", lambda: staging.path(outputs.CAPTIONS).write_text(
            frames.captions(examples, names, settings.seconds_per_example, settings.fps), encoding="utf-8")))
    if "pdf" in formats:
        steps.append(("pdf", lambda: _report("pdf", trained, settings, staging, paths)))
    timings = {}
    with tqdm(total=len(steps) + ("mp4" in formats) + ("html" in formats), desc="rendering", unit="step",
              disable=not progress, leave=False) as bar:
        # The MP4 is composed and encoded in another process while the rest is drawn: in a thread it
        # would wait for the interpreter lock that matplotlib and WeasyPrint hold.
        with ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("fork"),
                                 initializer=_die_with_parent) as pool:
            mp4 = pool.submit(_encode_mp4, examples, names, settings.video_size, settings.fps,
                              settings.seconds_per_example, staging.path(outputs.MP4)) \
                if "mp4" in formats else None
            for name, step in steps:
                bar.set_postfix_str(name)
                timings[f"{name}_s"] = _timed(step)
                bar.update()
            if mp4 is not None:
                timings["mp4_s"] = mp4.result()
                bar.update()
        if "html" in formats:  # last: it embeds the videos
            bar.set_postfix_str("html")
            timings["html_s"] = _timed(lambda: _report("html", trained, settings, staging, paths))
            bar.update()
    return timings


def _die_with_parent():
    """Linux: end the encoder process (and so its ffmpeg) when a killed run's main process dies."""
    import ctypes
    import signal

    try:
        ctypes.CDLL("libc.so.6").prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass  # elsewhere the encoder ends when it next writes to the closed pipe


def _encode_mp4(examples, names, size, fps, seconds, path):
    return _timed(lambda: video.write_mp4(frames.frames(examples, names, size, fps, seconds), path, size=size,
                                          fps=fps))


def _timed(step):
    """Seconds that ``step()`` took."""
    start = time.perf_counter()
    step()
    return round(time.perf_counter() - start, 3)


def _figures(trained, paths, test_images, example_rows):
    shape, sample = trained.dataset.image_shape, trained.train_rows[:12]
    figures.report_figures(
        trained.evaluation, weights=trained.model.coef_, image_shape=shape,
        sample_images=trained.dataset.images[sample].reshape(-1, *shape),
        sample_index=trained.evaluation.classes.searchsorted(trained.dataset.labels[sample]),
        test_images=test_images, example_rows=example_rows, paths=paths)


def _report(target, trained, settings, staging, paths):
    """``report.pdf`` (needs the figures) or ``report.html`` (needs the videos too, which it embeds)."""
    context = report_context(trained, settings, staging)
    assets = {name: path for name, path in paths.items() if path.is_file()}
    if target == "pdf":
        # data: URLs here too: WeasyPrint names each image after its URL, and a file URL would carry
        # the staging folder's random name into the PDF's bytes.
        html = report.render_html(context, target="pdf", assets=report.inline_assets(assets),
                                  template_dir=settings.template_dir)
        report.write_pdf(html, staging.path(outputs.PDF), base_url=staging.root)
        return
    for name, file in (("video_mp4", outputs.MP4), ("video_gif", outputs.GIF), ("video_captions", outputs.CAPTIONS)):
        if (staging.root / file).is_file():
            assets[name] = staging.root / file
    urls = (report.inline_assets(assets) if settings.html_assets == "inline"
            else report.linked_assets(assets, staging.root))
    html = report.render_html(context, target="html", assets=urls, template_dir=settings.template_dir)
    staging.path(outputs.HTML).write_text(html, encoding="utf-8")


def report_context(trained, settings, staging):
    formats = set(settings.formats)
    gif_path = staging.root / outputs.GIF
    video = {"examples": min(settings.examples, len(trained.test_rows)),
             "seconds_per_example": settings.seconds_per_example,
             "mp4": "mp4" in formats, "gif": "gif" in formats, "captions": "mp4" in formats,
             "gif_kib": gif_path.stat().st_size // 1024 if gif_path.is_file() else 0,
             "files": [file for kind, file in (("mp4", outputs.MP4), ("gif", outputs.GIF)) if kind in formats]}
    # A field left at its default keeps what the run that trained the model had (a re-render).
    defaults = {f.name: f.default for f in dataclasses.fields(settings)}
    recorded = trained.metadata.get("title_page", {})
    title_page = {field: value if value != defaults[field] else recorded.get(field, value)
                  for field, value in jobs.title_page_of(settings).items()}
    training = {"reused": trained.reused, "train_seconds": trained.metadata.get("train_seconds")}
    return report.context(trained.evaluation, title_page=title_page, dataset=trained.metadata["dataset"],
                          config=trained.metadata["config"], video=video, timings=trained.timings,
                          training=training)


def write_manifest(staging, *, exclude=()):
    """``manifest.json``: every artifact in the output folder with its size and sha256, so a job can
    diff two runs."""
    artifacts = []
    for name, path in staging.final_view().items():
        if name == outputs.MANIFEST or name in exclude:
            continue
        data = path.read_bytes()
        artifacts.append({"path": name, "bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()})
    staging.path(outputs.MANIFEST).write_text(json.dumps({"artifacts": artifacts}, indent=2) + "\n")
    return artifacts

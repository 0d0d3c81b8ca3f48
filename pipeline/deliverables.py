"""The render stage: from a trained model to every deliverable in the staged output folder."""
import datetime
import hashlib
import json
import os
import time
import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from importlib import metadata as package_metadata

import numpy as np

from mnist_ova.render import figures, frames, gif, report, video
from mnist_ova.trainer import metrics

EQUATIONS = {
    "eq_standardise": r"x' = \dfrac{x - \mu_x}{\sigma_x}",
    "eq_forward": r"z = w^{\top} x + b, \qquad \hat{y} = \sigma(z) = \dfrac{1}{1 + e^{-z}}",
    "eq_loss": r"\mathcal{L}(\hat{y}, y) = -\left(y \log \hat{y} + (1 - y) \log (1 - \hat{y})\right)",
    "eq_cost": r"J(w, b) = \dfrac{1}{m} \sum_{i=1}^{m} \mathcal{L}(\hat{y}^{(i)}, y^{(i)})",
    "eq_gradients": r"\dfrac{\partial J}{\partial w} = \dfrac{1}{m} X^{\top} (\hat{Y} - Y), \qquad "
                    r"\dfrac{\partial J}{\partial b} = \dfrac{1}{m} \sum_{i=1}^{m} (\hat{y}^{(i)} - y^{(i)})",
    "eq_update": r"w \leftarrow w - \alpha \dfrac{\partial J}{\partial w}, \qquad "
                 r"b \leftarrow b - \alpha \dfrac{\partial J}{\partial b}",
    "eq_stop": r"\mathrm{RMSE} = \sqrt{\dfrac{1}{m} \sum_{i=1}^{m} (\mathrm{round}(\hat{y}^{(i)}) - y^{(i)})^2}"
               r" \leq \epsilon",
    "eq_predict": r"\hat{k} = \arg\max_k \, \hat{y}_k, \qquad p_k = \dfrac{\hat{y}_k}{\sum_j \hat{y}_j}",
}
PACKAGES = ("numpy", "scipy", "matplotlib", "opencv-python-headless", "pillow", "imageio", "imageio-ffmpeg",
            "jinja2", "weasyprint", "tqdm", "mlxtend")
FIGURES = {
    "fig_samples": "samples.png", "fig_cost": "cost_curves.png", "fig_accuracy": "accuracy.png",
    "fig_confusion": "confusion_matrix.png", "fig_per_class": "per_class.png", "fig_roc": "roc_curves.png",
    "fig_weights": "weights.png", "fig_examples": "examples.png", "fig_misclassified": "misclassified.png",
    "fig_posters": "video_posters.png",
}
GIF_SIZE, GIF_FPS = (640, 360), 10
POSTER_COUNT = 4


def choose_examples(predicted, y_true, n, *, source, seed):
    """Rows of the test set to show: random (seeded), misclassified first, or the first n."""
    n = min(n, len(y_true))
    if source == "first":
        return np.arange(n)
    order = np.random.RandomState(seed).permutation(len(y_true))
    if source == "misclassified":
        wrong = predicted[order] != y_true[order]
        order = np.concatenate([order[wrong], order[~wrong]])  # fill up with right ones if too few are wrong
    return order[:n]


def render(trained, settings, staging, *, progress):
    """Write every deliverable named by ``settings.formats``; returns their timings."""
    from tqdm import tqdm

    formats = set(settings.formats)
    want_report = bool(formats & {"html", "pdf"})
    keep_figures = "figures" in formats or ("html" in formats and settings.html_assets == "external")
    figure_dir = staging.path("figures") if keep_figures else staging.scratch / "figures"
    figure_dir.mkdir(parents=True, exist_ok=True)
    paths = {name: figure_dir / file for name, file in FIGURES.items()}
    paths.update({name: figure_dir / f"{name}.svg" for name in EQUATIONS})

    model, names = trained.model, trained.class_names
    X_test = trained.X[trained.test_rows]
    y_test = trained.dataset.labels[trained.test_rows]
    images_test = trained.dataset.images[trained.test_rows].reshape(-1, *trained.dataset.image_shape)
    proba = model.predict_proba(X_test)
    predicted_index = np.argmax(proba, axis=1)
    true_index = np.searchsorted(model.classes_, y_test)
    rows = choose_examples(predicted_index, true_index, settings.examples, source=settings.examples_from,
                           seed=settings.seed)
    examples = [frames.Example(images_test[i], int(true_index[i]), int(predicted_index[i]), proba[i]) for i in rows]

    steps = []
    if want_report or "figures" in formats:
        steps.append(("figures", lambda: _figures(trained, paths, images_test, true_index, predicted_index,
                                                  proba, rows)))
    if "gif" in formats:
        steps.append(("gif", lambda: gif.write_gif(examples, names, staging.path("predictions.gif"), size=GIF_SIZE,
                                                   fps=GIF_FPS, seconds=settings.seconds_per_example)))
    n_wrong = int(np.sum(predicted_index != true_index))
    if want_report:
        steps.append(("posters", lambda: _posters(examples, names, paths["fig_posters"])))
    if "pdf" in formats:
        steps.append(("pdf", lambda: _report("pdf", trained, settings, staging, paths, n_wrong)))
    timings = {}
    with tqdm(total=len(steps) + ("mp4" in formats) + ("html" in formats), desc="rendering", unit="step",
              disable=not progress, leave=False) as bar:
        # The MP4 is composed and encoded in another process while the rest is drawn: in a thread it
        # would wait for the interpreter lock that matplotlib and WeasyPrint hold.
        with ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("fork"),
                                 initializer=_die_with_parent) as pool:
            mp4 = pool.submit(_encode_mp4, examples, names, settings.video_size, settings.fps,
                              settings.seconds_per_example, staging.path("predictions.mp4")) \
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
            timings["html_s"] = _timed(lambda: _report("html", trained, settings, staging, paths, n_wrong))
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


def _figures(trained, paths, images_test, true_index, predicted_index, proba, rows):
    model, names, scores = trained.model, trained.class_names, trained.scores
    per_model = scores["per_model"]
    figures.accuracy([m["train_accuracy"] for m in per_model], [m["test_accuracy"] for m in per_model], names,
                     paths["fig_accuracy"])
    figures.cost_curves(model.cost_history_, names, paths["fig_cost"])
    figures.confusion(scores["confusion_matrix"], scores["confusion_matrix_normalised"], names,
                      paths["fig_confusion"])
    per_class = scores["per_class"]
    figures.per_class([c["precision"] for c in per_class], [c["recall"] for c in per_class],
                      [c["f1"] for c in per_class], names, paths["fig_per_class"])
    y_test = trained.dataset.labels[trained.test_rows]
    binary = model.predict_binary_proba(trained.X[trained.test_rows])
    figures.roc([metrics.roc_curve(binary[:, k], y_test == label) for k, label in enumerate(model.classes_)],
                names, paths["fig_roc"])
    figures.weights(model.coef_, trained.dataset.image_shape, names, paths["fig_weights"])
    train_images = trained.dataset.images[trained.train_rows[:12]].reshape(-1, *trained.dataset.image_shape)
    train_labels = np.searchsorted(model.classes_, trained.dataset.labels[trained.train_rows[:12]])
    figures.image_grid(train_images, [f"label {names[k]}" for k in train_labels], paths["fig_samples"])
    shown = rows[:6]
    figures.image_grid(images_test[shown], [f"true {names[true_index[i]]}, predicted {names[predicted_index[i]]}"
                                            for i in shown], paths["fig_examples"], columns=3,
                       colors=[figures.RIGHT if true_index[i] == predicted_index[i] else figures.WRONG for i in shown])
    wrong = np.flatnonzero(predicted_index != true_index)[:18]
    if wrong.size:
        figures.image_grid(images_test[wrong], [f"{names[true_index[i]]} read as {names[predicted_index[i]]}\n"
                                                f"{100 * proba[i, predicted_index[i]]:.0f}% sure" for i in wrong],
                           paths["fig_misclassified"], colors=[figures.WRONG] * wrong.size)
    for name, tex in EQUATIONS.items():
        figures.equation(tex, paths[name])


def _posters(examples, names, path):
    """A strip of the video's final frames, for the PDF, which cannot play video."""
    import cv2

    picks = np.linspace(0, len(examples) - 1, min(POSTER_COUNT, len(examples))).round().astype(int)
    stills = [list(frames.example_frames(examples[i], names, (640, 360), 1, 1.0))[-1][0] for i in picks]
    rows = [np.concatenate(stills[i:i + 2], axis=1) for i in range(0, len(stills), 2)]
    width = max(r.shape[1] for r in rows)
    rows = [np.pad(r, ((0, 0), (0, width - r.shape[1]), (0, 0)), constant_values=255) for r in rows]
    cv2.imwrite(str(path), cv2.cvtColor(np.concatenate(rows, axis=0), cv2.COLOR_RGB2BGR))


def _report(target, trained, settings, staging, paths, n_misclassified):
    """``report.pdf`` (needs the figures) or ``report.html`` (needs the videos too, which it embeds)."""
    context = report_context(trained, settings, staging, n_misclassified)
    assets = {name: path for name, path in paths.items() if path.is_file()}
    if target == "pdf":
        # data: URLs here too: WeasyPrint names each image after its URL, and a file URL would carry
        # the staging folder's random name into the PDF's bytes.
        html = report.render_html(context, target="pdf", assets=report.inline_assets(assets),
                                  template_dir=settings.template_dir)
        report.write_pdf(html, staging.path("report.pdf"), base_url=staging.root)
        return
    for name, file in (("video_mp4", "predictions.mp4"), ("video_gif", "predictions.gif")):
        if (staging.root / file).is_file():
            assets[name] = staging.root / file
    urls = (report.inline_assets(assets) if settings.html_assets == "inline"
            else report.linked_assets(assets, staging.root))
    html = report.render_html(context, target="html", assets=urls, template_dir=settings.template_dir)
    staging.path("report.html").write_text(html, encoding="utf-8")


def report_date():
    """SOURCE_DATE_EPOCH when set (reproducible builds), else today."""
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    when = (datetime.datetime.fromtimestamp(int(epoch), datetime.timezone.utc) if epoch
            else datetime.datetime.now(datetime.timezone.utc))
    return when.strftime("%d %B %Y").lstrip("0")


def report_context(trained, settings, staging, n_misclassified):
    scores, names = trained.scores, trained.class_names
    models = [dict(row, name=name) for row, name in zip(scores["per_model"], names)]
    per_class = [dict(row, name=name) for row, name in zip(scores["per_class"], names)]
    label_names = dict(zip(trained.model.classes_.tolist(), names))
    support = {row["label"]: row["support"] for row in scores["per_class"]}
    confused = [{"true_name": label_names[c["true"]], "predicted_name": label_names[c["predicted"]],
                 "count": c["count"], "share": c["count"] / max(support[c["true"]], 1)}
                for c in scores["most_confused"]]
    y_test = trained.dataset.labels[trained.test_rows]
    frequencies = np.array([np.mean(y_test == label) for label in trained.model.classes_])
    histories = trained.model.cost_history_
    formats = set(settings.formats)
    gif_path = staging.root / "predictions.gif"
    return {
        "meta": {"title": settings.title, "author": settings.author, "course": settings.course,
                 "institution": settings.institution, "seat": settings.seat, "date": report_date()},
        "dataset": trained.metadata["dataset"],
        "config": trained.metadata["config"],
        "models": models,
        "per_class": per_class,
        "one_vs_all_accuracy": scores["one_vs_all_accuracy"],
        "multiclass_accuracy": scores["multiclass_accuracy"],
        "chance_accuracy": 1 / len(names),
        "always_no_accuracy": float(np.mean(1 - frequencies)),
        "best": max(models, key=lambda m: (m["test_accuracy"], m["auc"])),
        "worst": min(models, key=lambda m: (m["test_accuracy"], m["auc"])),
        "hardest": min(per_class, key=lambda c: c["recall"]),
        "easiest": max(per_class, key=lambda c: c["recall"]),
        "confused": confused,
        "n_misclassified": n_misclassified,
        "stopped_early": [m["name"] for m in models if m["iterations"] < trained.metadata["config"]["iterations"]],
        "still_falling": any(len(h) > 10 and h[-1] < h[-11] * 0.999 for h in histories),
        "video": {"examples": min(settings.examples, len(trained.test_rows)),
                  "seconds_per_example": settings.seconds_per_example,
                  "mp4": "mp4" in formats, "gif": "gif" in formats,
                  "gif_kib": gif_path.stat().st_size // 1024 if gif_path.is_file() else 0,
                  "files": [f"predictions.{kind}" for kind in ("mp4", "gif") if kind in formats]},
        # Timings differ from run to run: a reproducible build (SOURCE_DATE_EPOCH set) leaves them out.
        "timings": None if os.environ.get("SOURCE_DATE_EPOCH") else trained.timings,
        "versions": package_versions(),
    }


def package_versions():
    import platform

    versions = [("python", platform.python_version())]
    for name in PACKAGES:
        try:
            versions.append((name, package_metadata.version(name)))
        except package_metadata.PackageNotFoundError:
            versions.append((name, "not installed"))
    return versions


def write_manifest(staging, *, exclude=()):
    """``manifest.json``: every artifact in the output folder with its size and sha256, so a job can
    diff two runs."""
    artifacts = []
    for name, path in staging.final_view().items():
        if name == "manifest.json" or name in exclude:
            continue
        data = path.read_bytes()
        artifacts.append({"path": name, "bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()})
    staging.path("manifest.json").write_text(json.dumps({"artifacts": artifacts}, indent=2) + "\n")
    return artifacts

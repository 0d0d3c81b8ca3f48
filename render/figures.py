"""The report's plots, drawn with matplotlib's Agg backend: arrays in, one PNG file out each.

PNGs are drawn at 150 dpi, sharp enough for the PDF and small enough to inline in the HTML,
and saved without time stamps so the same numbers give the same bytes.
"""
import contextlib

import numpy as np

DPI = 150
from mnist_ova.render.palette import ACCENT, NEUTRAL, RIGHT, WRONG, hex_colour

RIGHT, WRONG, NEUTRAL, ACCENT = (hex_colour(c) for c in (RIGHT, WRONG, NEUTRAL, ACCENT))
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


@contextlib.contextmanager
def _figure(path, figsize, *, format="png", **subplots):
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    # A fixed hash salt makes SVG element ids, and so the bytes, the same on every run.
    with matplotlib.rc_context({"font.family": "DejaVu Sans", "font.size": 10, "axes.spines.top": False,
                                "axes.spines.right": False, "figure.dpi": DPI, "svg.hashsalt": "mnist-ova"}):
        fig, axes = plt.subplots(figsize=figsize, **subplots)
        try:
            yield fig, axes
            metadata = {"Software": None} if format == "png" else {"Date": None, "Creator": None}
            fig.savefig(path, dpi=DPI, bbox_inches="tight", format=format, metadata=metadata)
        finally:
            plt.close(fig)


def _gray(ax, image, title=None, color="black"):
    ax.imshow(image, cmap="gray", interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])
    for spine in ax.spines.values():
        spine.set_visible(False)
    if title:
        ax.set_title(title, color=color, fontsize=9)


def accuracy(train_accuracy, test_accuracy, names, path):
    """Per-model accuracy: bars for the test set with the line over them, as the notebook draws it."""
    with _figure(path, (8, 4)) as (fig, ax):
        x = np.arange(len(names))
        ax.bar(x, test_accuracy, color=NEUTRAL, label="test accuracy (bars)")
        ax.plot(x, test_accuracy, color=ACCENT, marker="o", label="test accuracy (line)")
        ax.plot(x, train_accuracy, color=RIGHT, marker=".", linestyle="--", label="train accuracy")
        for xi, value in zip(x, test_accuracy):
            ax.annotate(f"{value:.3f}", (xi, value), textcoords="offset points", xytext=(0, 7), ha="center",
                        fontsize=8)
        low = min(np.min(test_accuracy), np.min(train_accuracy))
        ax.set_ylim(max(0.0, low - 0.05), 1.005)
        ax.set_xticks(x, names)
        ax.set_xlabel("one-vs-all model (class)")
        ax.set_ylabel("binary accuracy")
        ax.legend(loc="lower right", fontsize=8)


def cost_curves(histories, names, path):
    """The cost of every model at every iteration, in one figure."""
    import matplotlib

    colors = matplotlib.colormaps["tab10"]
    with _figure(path, (8, 4.2)) as (fig, ax):
        for k, (history, name) in enumerate(zip(histories, names)):
            ax.plot(np.arange(1, len(history) + 1), history, color=colors(k % 10), label=name, linewidth=1.4)
        ax.set_xlabel("iteration")
        ax.set_ylabel("cross-entropy cost J")
        ax.set_yscale("log")
        ax.legend(title="model", ncol=2, fontsize=8)
        ax.grid(alpha=0.3)


def confusion(counts, normalised, names, path):
    """Confusion matrix heatmaps, counts and row-normalised, rows = true class."""
    counts = np.asarray(counts)
    normalised = np.asarray(normalised)
    K = len(names)
    with _figure(path, (11, 5), ncols=2) as (fig, axes):
        for ax, values, title, text in ((axes[0], counts, "counts", lambda v: f"{v:d}"),
                                        (axes[1], normalised, "row-normalised (recall per true class)",
                                         lambda v: f"{v:.2f}")):
            image = ax.imshow(values, cmap="Blues")
            threshold = values.max() / 2
            if K <= 20:
                for (i, j), v in np.ndenumerate(values):
                    ax.text(j, i, text(v), ha="center", va="center", fontsize=7 if K > 10 else 8,
                            color="white" if v > threshold else "black")
            ax.set_xticks(range(K), names, rotation=45 if max(map(len, names)) > 3 else 0)
            ax.set_yticks(range(K), names)
            ax.set_xlabel("predicted class")
            ax.set_ylabel("true class")
            ax.set_title(title)
            fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04)


def image_grid(images, titles, path, *, columns=6, colors=None):
    """A grid of digits with a title each, e.g. example predictions or training samples."""
    n = len(images)
    rows = max(1, -(-n // columns))
    with _figure(path, (1.6 * columns, 1.8 * rows), nrows=rows, ncols=columns, squeeze=False) as (fig, axes):
        for ax in axes.flat:
            ax.axis("off")
        for i, (ax, image, title) in enumerate(zip(axes.flat, images, titles)):
            ax.axis("on")
            _gray(ax, image, title, colors[i] if colors else "black")


def weights_grid(coef, image_shape, names, path):
    """Each model's learned weights (``coef`` (K, pixels), one row per model) as an image; diverging
    colours with zero at the centre."""
    W = np.asarray(coef, dtype=np.float64)
    K = W.shape[0]
    columns = min(K, 5)
    rows = -(-K // columns)
    limit = float(np.abs(W).max()) or 1.0
    with _figure(path, (2.2 * columns, 2.4 * rows), nrows=rows, ncols=columns, squeeze=False) as (fig, axes):
        for ax in axes.flat:
            ax.axis("off")
        for k, ax in enumerate(axes.flat[:K]):
            image = ax.imshow(W[k].reshape(image_shape), cmap="RdBu_r", vmin=-limit, vmax=limit)
            ax.set_title(f"model {names[k]}", fontsize=9)
        fig.colorbar(image, ax=axes.ravel().tolist(), shrink=0.8, label="weight (red: evidence for the class)")


def per_class(precision, recall, f1, names, path):
    """Precision, recall and F1 per class, side by side."""
    with _figure(path, (8, 3.8)) as (fig, ax):
        x = np.arange(len(names))
        for offset, values, label, color in ((-0.27, precision, "precision", ACCENT),
                                             (0, recall, "recall", RIGHT), (0.27, f1, "F1", "#ef6c00")):
            ax.bar(x + offset, values, width=0.27, label=label, color=color)
        ax.set_xticks(x, names)
        ax.set_ylim(0, 1.08)
        ax.set_xlabel("class")
        ax.legend(ncol=3, loc="upper center", fontsize=8, bbox_to_anchor=(0.5, 1.12), frameon=False)


def roc(curves, names, path):
    """One ROC curve per one-vs-all model, with its AUC; ``curves`` holds (fpr, tpr, auc)."""
    import matplotlib

    colors = matplotlib.colormaps["tab10"]
    with _figure(path, (6, 5.2)) as (fig, ax):
        for k, ((fpr, tpr, auc), name) in enumerate(zip(curves, names)):
            ax.plot(fpr, tpr, color=colors(k % 10), linewidth=1.3, label=f"{name}: AUC {auc:.4f}")
        ax.plot([0, 1], [0, 1], color="#bdbdbd", linestyle=":", linewidth=1)
        ax.set_xlabel("false-positive rate")
        ax.set_ylabel("true-positive rate")
        ax.set_aspect("equal")
        ax.legend(fontsize=7.5, loc="lower right", title="model")


def equation(tex, path, *, fontsize=15):
    """One typeset equation (matplotlib mathtext) as a tight SVG: WeasyPrint runs no JavaScript."""
    with _figure(path, (0.01, 0.01), format="svg") as (fig, ax):
        ax.axis("off")
        fig.text(0, 0, f"${tex}$", fontsize=fontsize)


def report_figures(evaluation, *, weights, image_shape, sample_images, sample_index, test_images, example_rows,
                   paths):
    """Every figure of the report, from one evaluation: ``paths`` maps figure names (those of
    ``EQUATIONS`` and the report's ``fig_*``) to files. ``sample_images``/``sample_index`` are a few
    training digits with their class indices; ``example_rows`` are the test rows the video shows."""
    names, e = evaluation.class_names, evaluation
    accuracy(e.train_accuracy, e.test_accuracy, names, paths["fig_accuracy"])
    cost_curves(e.cost_history, names, paths["fig_cost"])
    confusion(e.confusion, e.confusion_normalised, names, paths["fig_confusion"])
    per_class(e.precision, e.recall, e.f1, names, paths["fig_per_class"])
    roc([(c.false_positive_rate, c.true_positive_rate, c.auc) for c in e.roc], names, paths["fig_roc"])
    weights_grid(weights, image_shape, names, paths["fig_weights"])
    image_grid(sample_images, [f"label {names[k]}" for k in sample_index], paths["fig_samples"])
    shown = example_rows[:6]
    image_grid(test_images[shown], [f"true {names[e.true_index[i]]}, predicted {names[e.predicted_index[i]]}"
                                    for i in shown], paths["fig_examples"], columns=3,
               colors=[RIGHT if e.true_index[i] == e.predicted_index[i] else WRONG for i in shown])
    wrong = e.misclassified[:18]
    if wrong.size:
        image_grid(test_images[wrong], [f"{names[e.true_index[i]]} read as {names[e.predicted_index[i]]}\n"
                                        f"{100 * e.scores[i, e.predicted_index[i]]:.0f}% sure" for i in wrong],
                   paths["fig_misclassified"], colors=[WRONG] * wrong.size)
    for name, tex in EQUATIONS.items():
        equation(tex, paths[name])

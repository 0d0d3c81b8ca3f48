"""Every name the tool writes in the output folder, in one table: nothing else there is ours.

``ARTIFACTS`` maps each name (a path relative to ``--out``) to what it is. The manifest, the
bundle and the clean-up of a previous run's leftovers are all derived from it: a file whose
name is not in the table is never read, listed, bundled, replaced or deleted. To add an output,
add its name here (``staging.path`` refuses a name that is not in the table).
"""
import dataclasses

from mnist_ova.render.figures import EQUATIONS

MODEL = "model.npz"
METRICS = "metrics.json"
TIMINGS = "timings.json"
MANIFEST = "manifest.json"
MP4 = "predictions.mp4"
GIF = "predictions.gif"
CAPTIONS = "predictions.vtt"  # WebVTT captions of the MP4, one cue per example
HTML = "report.html"
PDF = "report.pdf"
BUNDLE = "submission.zip"
PREDICTIONS = "predictions.csv"
SUMMARY = "summary.md"
FIGURES_DIR = "figures"
# The tool's private folder in --out: the staging area of a run and its lock, nothing else.
PRIVATE_DIR = ".mnist-ova"

# The report's figures, kept in FIGURES_DIR when asked for: name -> file. Charts and image grids are SVG,
# drawn at their printed size with their words as text; the video stills are pixel-exact PNGs.
FIGURES = {
    "fig_samples": "samples.svg", "fig_cost": "cost_curves.svg", "fig_accuracy": "accuracy.svg",
    "fig_confusion": "confusion_matrix.svg", "fig_per_class": "per_class.svg", "fig_roc": "roc_curves.svg",
    "fig_weights": "weights.svg", "fig_examples": "examples.svg", "fig_misclassified": "misclassified.svg",
    "fig_posters": "video_posters.png", "video_poster": "video_poster.png",
}

# The error analysis's figures (SVG) in FIGURES_DIR.
ANALYSIS_FIGURES = {"fig_reliability": "reliability.svg", "fig_roc_pr": "roc_precision_recall.svg"}


@dataclasses.dataclass(frozen=True)
class Artifact:
    description: str
    listed: bool = True  # in manifest.json
    bundle: str | None = None  # in submission.zip: "required", "optional" or None (never)
    training: bool = False  # written by training; `render` reads these and leaves them as they are


ARTIFACTS = {
    MODEL: Artifact("the fitted models", training=True),
    METRICS: Artifact("the scores of the models", bundle="required", training=True),
    # Timings differ on every run, and the bundle holds the manifest: neither is listed in it.
    TIMINGS: Artifact("seconds per stage", listed=False),
    MANIFEST: Artifact("every artifact with its size and sha256", bundle="required"),
    PDF: Artifact("the report, typeset", bundle="required"),
    HTML: Artifact("the report as a web page", bundle="optional"),
    MP4: Artifact("the prediction video", bundle="optional"),
    CAPTIONS: Artifact("the prediction video's captions (WebVTT)", bundle="optional"),
    GIF: Artifact("the prediction video as an animated GIF", bundle="optional"),
    BUNDLE: Artifact("what a student hands in", listed=False),
    PREDICTIONS: Artifact("every test example's true class, prediction and scores", bundle="optional"),
    SUMMARY: Artifact("the headline metrics, the comparison and the gates, in Markdown", bundle="optional"),
    **{f"{FIGURES_DIR}/{file}": Artifact("a figure of the report", bundle="optional")
       for file in (*FIGURES.values(), *ANALYSIS_FIGURES.values())},
    **{f"{FIGURES_DIR}/{name}.svg": Artifact("an equation of the report", bundle="optional") for name in EQUATIONS},
}

TRAINING = tuple(name for name, artifact in ARTIFACTS.items() if artifact.training)

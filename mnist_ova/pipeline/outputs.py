"""Every name the tool writes in the output folder, in one table: nothing else there is ours.

``ARTIFACTS`` maps each name (a path relative to ``--out``) to every fact about it: the
``--formats`` flag that makes it, the name the report's templates know it by, whether the manifest
lists it, whether and in which order the bundle carries it, and whether ``summary.md`` links it.
The manifest, the bundle, the summary, the choices of ``--formats`` and the clean-up of a previous
run's leftovers are all derived from it: a file whose name is not in the table is never read,
listed, bundled, replaced or deleted. To add an output, add its name here (``staging.path``
refuses a name that is not in the table).
"""
import dataclasses

MODEL = "model.npz"
METRICS = "metrics.json"
TIMINGS = "timings.json"
MANIFEST = "manifest.json"
MP4 = "predictions.mp4"
GIF = "predictions.gif"
CAPTIONS = "predictions.vtt"  # WebVTT captions of the MP4, one cue per example
TRAINING_MP4 = "training.mp4"  # the film of the models learning, from the training snapshots
TRAINING_GIF = "training.gif"
TRAINING_CAPTIONS = "training.vtt"
HTML = "report.html"
PDF = "report.pdf"
BUNDLE = "submission.zip"
PREDICTIONS = "predictions.csv"
SUMMARY = "summary.md"
FIGURES_DIR = "figures"
# The tool's private folder in --out: the staging area of a run and its lock, nothing else.
PRIVATE_DIR = ".mnist-ova"

# The report's equations, each drawn as an SVG (render.figures.EQUATIONS holds how; a test keeps the two in step).
EQUATIONS = ("eq_standardise", "eq_forward", "eq_loss", "eq_cost", "eq_gradients", "eq_update", "eq_stop", "eq_predict")

# The report's figures, kept in FIGURES_DIR when asked for: template asset name -> file. Charts and image
# grids are SVG, drawn at their printed size with their words as text; the video stills are pixel-exact PNGs.
FIGURES = {
    "fig_samples": "samples.svg", "fig_cost": "cost_curves.svg", "fig_accuracy": "accuracy.svg",
    "fig_confusion": "confusion_matrix.svg", "fig_per_class": "per_class.svg", "fig_roc": "roc_curves.svg",
    "fig_weights": "weights.svg", "fig_examples": "examples.svg", "fig_misclassified": "misclassified.svg",
    "fig_posters": "video_posters.png", "video_poster": "video_poster.png",
    # the error analysis's
    "fig_reliability": "reliability.svg", "fig_roc_pr": "roc_precision_recall.svg",
    # the "Across builds" chart, drawn when --history holds two earlier runs of the data
    "fig_across_builds": "across_builds.svg",
    # the equations, drawn as SVG
    **{name: f"{name}.svg" for name in EQUATIONS},
    # the training film's poster and the report's figure of the snapshots
    "fig_learning": "learning.svg", "film_poster": "training_poster.png",
}


@dataclasses.dataclass(frozen=True)
class Artifact:
    description: str
    format: str | None = None  # the --formats flag that makes it; None: every run that renders (or trains) does
    asset: str | None = None  # the name the report's templates know it by (``asset("fig_cost")``)
    in_manifest: bool = True  # listed in manifest.json
    bundle: str | None = None  # in submission.zip: "required", "optional" or None (never)
    # Left out of a bundle over --max-bundle-mb in this order, heaviest and least needed first (equal
    # ranks together); any other optional file goes after these, one at a time.
    drop_rank: int | None = None
    in_summary: bool = False  # linked from summary.md
    training: bool = False  # written by training; `render` reads these and leaves them as they are


# In this order the --formats choices are listed, and summary.md links the report's files.
ARTIFACTS = {
    HTML: Artifact("the report as a web page", format="html", bundle="optional", drop_rank=2, in_summary=True),
    PDF: Artifact("the report, typeset", format="pdf", bundle="required", in_summary=True),
    MP4: Artifact("the prediction video", format="mp4", asset="video_mp4", bundle="optional", drop_rank=1),
    CAPTIONS: Artifact("the prediction video's captions (WebVTT)", format="mp4", asset="video_captions",
                       bundle="optional"),
    GIF: Artifact("the prediction video as an animated GIF", format="gif", asset="video_gif", bundle="optional",
                  drop_rank=3),
    MODEL: Artifact("the fitted models", training=True),
    METRICS: Artifact("the scores of the models", bundle="required", in_summary=True, training=True),
    # Timings differ on every run, and the bundle holds the manifest: neither is listed in it.
    TIMINGS: Artifact("seconds per stage", in_manifest=False),
    MANIFEST: Artifact("every artifact with its size and sha256", bundle="required"),
    BUNDLE: Artifact("what a student hands in", in_manifest=False),
    PREDICTIONS: Artifact("every test example's true class, prediction and scores", bundle="optional",
                          in_summary=True),
    SUMMARY: Artifact("the headline metrics, the comparison and the gates, in Markdown", bundle="optional"),
    **{f"{FIGURES_DIR}/{file}": Artifact("an equation of the report" if asset in EQUATIONS else "a figure of the report",
                                         format="figures", asset=asset, bundle="optional", drop_rank=4)
       for asset, file in FIGURES.items()},
    # The film of the models learning (from the training snapshots): dropped from a bundle before anything else.
    TRAINING_MP4: Artifact("the film of the models learning", format="training", asset="film_mp4", bundle="optional",
                           drop_rank=0),
    TRAINING_CAPTIONS: Artifact("the training film's captions (WebVTT)", format="training", asset="film_captions",
                                bundle="optional", drop_rank=0),
    TRAINING_GIF: Artifact("the film of the models learning as an animated GIF", format="training",
                           asset="film_gif", bundle="optional", drop_rank=3),
}

TRAINING = tuple(name for name, artifact in ARTIFACTS.items() if artifact.training)
FORMATS = tuple(dict.fromkeys(artifact.format for artifact in ARTIFACTS.values() if artifact.format))


def assets(formats):
    """{template asset name: artifact name} of the artifacts that ``formats`` make."""
    return {artifact.asset: name for name, artifact in ARTIFACTS.items()
            if artifact.asset and artifact.format in formats}

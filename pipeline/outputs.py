"""Every name the tool writes in the output folder, in one table: nothing else there is ours."""
MODEL = "model.npz"
METRICS = "metrics.json"
TIMINGS = "timings.json"
MANIFEST = "manifest.json"
MP4 = "predictions.mp4"
GIF = "predictions.gif"
HTML = "report.html"
PDF = "report.pdf"
BUNDLE = "submission.zip"
PREDICTIONS = "predictions.csv"
SUMMARY = "summary.md"
FIGURES_DIR = "figures"

# The report's figures, kept in FIGURES_DIR when asked for: name -> file.
FIGURES = {
    "fig_samples": "samples.png", "fig_cost": "cost_curves.png", "fig_accuracy": "accuracy.png",
    "fig_confusion": "confusion_matrix.png", "fig_per_class": "per_class.png", "fig_roc": "roc_curves.png",
    "fig_weights": "weights.png", "fig_examples": "examples.png", "fig_misclassified": "misclassified.png",
    "fig_posters": "video_posters.png",
}

# The error analysis's figures (SVG) in FIGURES_DIR, and its digit images in FIGURES_DIR/GALLERY_DIR.
ANALYSIS_FIGURES = {"fig_reliability": "reliability.svg", "fig_roc_pr": "roc_precision_recall.svg"}
GALLERY_DIR = "gallery"


def gallery_file(row):
    """The image of the test digit at data row ``row``."""
    return f"test-{int(row)}.png"

"""Every name the tool writes in the output folder, in one table: nothing else there is ours."""
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
FIGURES_DIR = "figures"

# The report's figures, kept in FIGURES_DIR when asked for: name -> file. Charts and image grids are SVG,
# drawn at their printed size with their words as text; the video stills are pixel-exact PNGs.
FIGURES = {
    "fig_samples": "samples.svg", "fig_cost": "cost_curves.svg", "fig_accuracy": "accuracy.svg",
    "fig_confusion": "confusion_matrix.svg", "fig_per_class": "per_class.svg", "fig_roc": "roc_curves.svg",
    "fig_weights": "weights.svg", "fig_examples": "examples.svg", "fig_misclassified": "misclassified.svg",
    "fig_posters": "video_posters.png", "video_poster": "video_poster.png",
}

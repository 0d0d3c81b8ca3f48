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
FIGURES_DIR = "figures"

# The report's figures, kept in FIGURES_DIR when asked for: name -> file.
FIGURES = {
    "fig_samples": "samples.png", "fig_cost": "cost_curves.png", "fig_accuracy": "accuracy.png",
    "fig_confusion": "confusion_matrix.png", "fig_per_class": "per_class.png", "fig_roc": "roc_curves.png",
    "fig_weights": "weights.png", "fig_examples": "examples.png", "fig_misclassified": "misclassified.png",
    "fig_posters": "video_posters.png",
}

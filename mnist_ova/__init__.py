"""mnist-ova: one-vs-all logistic regression on handwritten digits, trained the course notebook's
way, with its report, plots and prediction videos built as one batch job.

The layers, bottom to top (each imports only those below it)::

    errors    one-line errors and exit codes, importable from every layer
    trainer   data, preprocessing, the estimator, its metrics: numbers only
    render    arrays in, one file out: video, GIF, figures, report
    pipeline  settings, stages, staged outputs, the command line
"""
__version__ = "0.2.0"

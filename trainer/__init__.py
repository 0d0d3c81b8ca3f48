"""Data loading, preprocessing, the one-vs-all model and its metrics.

Nothing in this package draws, encodes or typesets: it produces arrays and numbers
that ``render`` turns into files.
"""
from mnist_ova.trainer.model import OneVsAllLogisticRegression, NotFittedError

__all__ = ["OneVsAllLogisticRegression", "NotFittedError"]

"""Data loading, preprocessing, the one-vs-all model and its metrics.

Nothing in this package draws, encodes or typesets: it produces arrays and numbers
that ``render`` turns into files. The estimator (and scikit-learn, which it needs) loads when it
is first asked for, so a module such as ``trainer.kernels`` imports without it.
"""
__all__ = ["OneVsAllLogisticRegression", "NotFittedError"]


def __getattr__(name):
    if name in __all__:
        from mnist_ova.trainer import model

        return getattr(model, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

"""mnist-ova: one-vs-all logistic regression on handwritten digits, trained the course notebook's
way, with its report, plots and prediction videos built as one batch job.

The layers, bottom to top (each imports only those below it)::

    errors    one-line errors and exit codes, importable from every layer
    trainer   data, preprocessing, the estimator, its metrics: numbers only
    render    arrays in, one file out: video, GIF, figures, report
    pipeline  settings, stages, staged outputs, the command line
"""
from pathlib import Path

__version__ = "0.2.0"

# Installed, the layers sit inside this folder (setuptools' package-dir mapping puts them there).
# In a source checkout they sit beside it, at the repository's top level, where the project's
# layout keeps them; adding that folder to the package's path lets ``python run.py`` and the tests
# import ``mnist_ova.trainer`` without an install.
_checkout = Path(__file__).resolve().parent.parent
if not (Path(__file__).parent / "trainer").is_dir() and (_checkout / "trainer" / "__init__.py").is_file():
    __path__.append(str(_checkout))

"""The estimator's choices, importable without scikit-learn: the command line reads them to parse
its flags without loading the estimator's module and its imports."""

SOLVERS = ("gd", "lbfgs")
DEFAULT_L2 = {"gd": 0.0, "lbfgs": 1e-3}
DTYPES = ("float64", "float32")

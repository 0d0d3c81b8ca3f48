"""``--fail-under METRIC=VALUE`` and ``--max-drop METRIC=VALUE``: the gates a CI job acts on.

A gate's metric is a top-level number of ``metrics.json`` (``multiclass_accuracy``,
``one_vs_all_accuracy``) or a class's ``recall:<class>`` / ``precision:<class>``, the class named as
the report shows it. The spelling is checked with the other options, before any work; the class part
once the data's classes are known, still before anything is written. A violated gate fails the run
only after every output is in place (exit 4).
"""
from mnist_ova.errors import GateFailure, InputError
from mnist_ova.trainer.analysis import CLASS_METRICS, SCALAR_METRICS, check_gates, metric_values



def _valid_forms():
    return ", ".join([*SCALAR_METRICS, *(f"{m}:<class>" for m in CLASS_METRICS)])


def parse(option, specs):
    """(metric, value) pairs from the repeatable ``option``'s METRIC=VALUE texts (a TOML file may give
    one text, a list of texts, or a table of metric = value)."""
    if specs is None:
        return ()
    if isinstance(specs, dict):
        specs = [f"{metric}={value}" for metric, value in specs.items()]
    elif isinstance(specs, str):
        specs = [specs]
    gates = []
    for spec in specs:
        if isinstance(spec, (list, tuple)) and len(spec) == 2:  # already parsed
            metric, text = spec
        else:
            metric, sep, text = str(spec).partition("=")
            if not sep:
                raise InputError(f"{option} takes METRIC=VALUE, e.g. multiclass_accuracy=0.9; got {spec!r}")
        metric = str(metric).strip()
        try:
            value = float(text)
        except (TypeError, ValueError):
            raise InputError(f"{option} {metric}=...: the value must be a number; got {text!r}") from None
        if not 0 <= value <= 1:
            raise InputError(f"{option} {metric}={text}: every gated metric is a share from 0 to 1; got {value}")
        kind, _, class_name = metric.partition(":")
        if not ((metric in SCALAR_METRICS) or (kind in CLASS_METRICS and class_name)):
            raise InputError(f"{option}: unknown metric {metric!r}; valid names: {_valid_forms()}")
        gates.append((metric, value))
    return tuple(gates)


def check_names(fail_under, max_drop, metrics):
    """Every gated metric exists in this run's ``metrics.json`` document; else an input error that
    lists the valid names."""
    valid = metric_values(metrics)
    for option, gates in (("fail-under", fail_under), ("max-drop", max_drop)):
        for metric, _ in gates:
            if metric not in valid:
                raise InputError(f"{option}: unknown metric {metric!r}; valid names: {', '.join(valid)}")


def evaluate(fail_under, max_drop, metrics, baseline_metrics=None):
    """Each gate's result; a max-drop metric the baseline lacks is an input error."""
    current = metric_values(metrics)
    before = metric_values(baseline_metrics) if baseline_metrics is not None else {}
    for metric, _ in max_drop:
        if metric not in before:
            raise InputError(f"max-drop: the baseline's metrics.json has no {metric!r} to compare with; "
                             f"it has: {', '.join(before)}")
    return check_gates(fail_under, max_drop, current, before)


def enforce(results):
    """Raise ``GateFailure`` (exit 4) naming every violated gate, in one line."""
    failed = [r for r in results if not r.passed]
    if failed:
        raise GateFailure("gate failed: " + "; ".join(f"{r.describe()} (--{r.kind})" for r in failed))

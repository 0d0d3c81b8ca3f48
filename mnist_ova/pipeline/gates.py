"""``--fail-under METRIC=VALUE`` and ``--max-drop METRIC=VALUE``: the gates a CI job acts on.

A gate's metric is a top-level number of ``metrics.json`` (``multiclass_accuracy``,
``one_vs_all_accuracy``) or a class's ``recall:<class>`` / ``precision:<class>``, the class named as
the report shows it. The spelling is checked with the other options, before any work; the class part
once the data's classes are known, still before anything is written. A violated gate fails the run
only after every output is in place (exit 4).
"""
import dataclasses

from mnist_ova.errors import GateFailure, InputError



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
    elif not isinstance(specs, (list, tuple)):
        raise InputError(f"{option} takes METRIC=VALUE, e.g. multiclass_accuracy=0.9; got {specs!r}")
    gates = []
    for spec in specs:
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


SCALAR_METRICS = ("multiclass_accuracy", "one_vs_all_accuracy")  # the top-level numbers of metrics.json
CLASS_METRICS = ("recall", "precision")  # per class, as "recall:<class>"


def metric_values(metrics):
    """Every metric a gate may name, from a ``metrics.json`` document: its top-level numbers, and
    ``recall:<class>`` / ``precision:<class>`` (class names as the report shows them)."""
    numbers = {key: float(value) for key, value in metrics.items()
               if isinstance(value, (int, float)) and not isinstance(value, bool)}
    values = {key: numbers.pop(key) for key in SCALAR_METRICS if key in numbers}
    values.update(numbers)
    names = metrics.get("dataset", {}).get("class_names") or [str(c["label"]) for c in metrics.get("per_class", [])]
    for kind in CLASS_METRICS:
        values.update({f"{kind}:{name}": float(row[kind]) for name, row in zip(names, metrics.get("per_class", []))})
    return values


@dataclasses.dataclass(frozen=True)
class GateResult:
    kind: str  # "fail-under" or "max-drop"
    metric: str
    bound: float  # the VALUE given
    value: float  # this run's value
    baseline: float | None = None  # max-drop: the baseline's value

    @property
    def limit(self):
        """The lowest value that passes."""
        if self.kind == "fail-under":
            return self.bound
        assert self.baseline is not None  # a max-drop gate always has its baseline
        return self.baseline - self.bound

    @property
    def passed(self):
        # A hair of tolerance, so that a bound written from a printed value does not fail on rounding.
        return self.value >= self.limit - 1e-12

    @property
    def decimals(self):
        """Decimals to print the value and its limit with: four, or as many more as it takes for the
        two to read differently (never "0.4023 is under the bound 0.4023"). The bound is printed as given."""
        return distinct_decimals(self.value, self.limit)

    def describe(self):
        d = self.decimals
        if self.kind == "fail-under":
            relation = "is at least" if self.passed else "is under"
            return f"{self.metric} = {self.value:.{d}f} {relation} the bound {self.bound!r}"
        assert self.baseline is not None
        drop = self.baseline - self.value
        d = max(d, distinct_decimals(drop, self.bound))
        relation = "within" if self.passed else "more than"
        return (f"{self.metric} = {self.value:.{d}f} dropped by {drop:.{d}f} from the baseline's "
                f"{self.baseline:.{d}f}, {relation} the allowed drop {self.bound!r}")


def distinct_decimals(a, b, least=4):
    """The fewest decimals, at least ``least``, at which ``a`` and ``b`` print differently (``least``
    when they are equal)."""
    for decimals in range(least, 18):
        if f"{a:.{decimals}f}" != f"{b:.{decimals}f}":
            return decimals
    return least


def check_gates(fail_under, max_drop, current, baseline=None):
    """``GateResult`` of every gate. ``fail_under``/``max_drop`` are (metric, value) pairs;
    ``current``/``baseline`` map metric names to values (``metric_values``)."""
    results = [GateResult("fail-under", metric, bound, current[metric]) for metric, bound in fail_under]
    results += [GateResult("max-drop", metric, bound, current[metric], baseline[metric]) for metric, bound in max_drop]
    return results

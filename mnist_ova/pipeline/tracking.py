"""``--mlflow-uri URI``: the run also logged to MLflow (an optional extra, ``pip install
"mnist-ova[mlflow]"``): the training options as parameters, the headline and per-class figures and
every model's cost at each iteration (step = iteration) as metrics, and the files the run's manifest
lists (the table of outputs says which) as artifacts. Logged once the outputs are committed, through an
``MlflowClient`` of its own (no global active run is left behind).

A server that does not answer costs at most ``DEADLINE_S``, then a note: MLflow's own retries and timeouts
are shortened (unless the user set them), and the logging runs in a helper thread that the run waits for
in slices, acting on its signals. MLflow's log lines are kept to errors: the note says what went wrong."""
import logging
import os
import re
import threading
import time

from mnist_ova import children
from mnist_ova.errors import InputError

EXPERIMENT = "mnist-ova"
INSTALL = 'pip install "mnist-ova[mlflow]"'
BATCH = 1000  # MLflow's limit of metrics per log_batch call
DEADLINE_S = 15.0  # the longest the run waits for MLflow
# MLflow's defaults (7 retries with a backoff factor of 2, 120 s a request) held an unreachable server ~250 s.
HTTP_SETTINGS = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "1", "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
                 "MLFLOW_HTTP_REQUEST_TIMEOUT": "5"}


def check_available():
    """Before any work: an ``InputError`` saying how to install MLflow when it is missing."""
    import importlib.util

    if importlib.util.find_spec("mlflow") is None:
        raise InputError(f"mlflow-uri needs MLflow, which is not installed: {INSTALL} (or pip install mlflow-skinny)")


def metric_name(text):
    """``text`` with the characters MLflow refuses in a metric name replaced by '_'."""
    return re.sub(r"[^\w\-. /]", "_", str(text))


def metrics_of(evaluation, metrics_document):
    """{name: value} of the headline figures, their intervals and each class's recall and precision."""
    a = evaluation.analysis
    values = {"multiclass_accuracy": evaluation.multiclass_accuracy, "one_vs_all_accuracy": evaluation.one_vs_all_accuracy,
              "multiclass_accuracy_low": a.multiclass_interval[0], "multiclass_accuracy_high": a.multiclass_interval[1],
              "one_vs_all_accuracy_low": a.one_vs_all_interval[0], "one_vs_all_accuracy_high": a.one_vs_all_interval[1],
              **{key: value for key, value in metrics_document["calibration"].items() if key != "bins"
                 and isinstance(value, (int, float))}}
    for k, name in enumerate(evaluation.class_names):
        values[metric_name(f"recall_{name}")] = evaluation.recall[k]
        values[metric_name(f"precision_{name}")] = evaluation.precision[k]
    return {key: float(value) for key, value in values.items()}


def log_run(uri, **run):
    """One MLflow run in the experiment "mnist-ova" at ``uri`` (``run``: ``_log``'s keywords), waited for at most
    ``DEADLINE_S``. Returns the run's id; an ``InputError`` when MLflow failed or did not finish in time."""
    for name, value in HTTP_SETTINGS.items():
        os.environ.setdefault(name, value)  # read by MLflow at each request
    done: dict = {}

    def work():
        children.block_signals_in_thread()  # the run's signals stay the main thread's
        try:
            done["id"] = _log(uri, **run)
        except BaseException as exc:  # noqa: BLE001 (handed to the main thread, which reports it)
            done["error"] = exc

    import mlflow.tracking  # noqa: F401 (here: its import sets up its loggers, which are quietened below)

    quiet = logging.getLogger("mlflow")
    level = quiet.level
    quiet.setLevel(logging.ERROR)  # its warnings (the databricks URI's) would be a second line beside the note
    helper = threading.Thread(target=work, name="mlflow", daemon=True)  # one stuck in a request dies with the run
    try:
        helper.start()
        deadline = time.monotonic() + DEADLINE_S
        while helper.is_alive() and time.monotonic() < deadline:
            children.raise_if_stopped()
            helper.join(children.POLL_S)
    finally:
        quiet.setLevel(level)
    if helper.is_alive():
        raise InputError(f"could not log the run to MLflow at {uri!r} (no answer within {DEADLINE_S:.0f} s); the "
                         "outputs are written")
    if "error" in done:
        exc = done["error"]
        reason = (str(exc).splitlines() or [""])[0][:300]
        raise InputError(f"could not log the run to MLflow at {uri!r} ({type(exc).__name__}: {reason}); the "
                         "outputs are written")
    return done["id"]


def _log(uri, *, run_name, metrics_document, evaluation, files, tags):
    """The logging itself; ``files`` maps artifact names to their paths in the output folder."""
    import math

    from mlflow.entities import Metric, Param, RunTag
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=uri)
    experiment = client.get_experiment_by_name(EXPERIMENT)
    experiment_id = experiment.experiment_id if experiment else client.create_experiment(EXPERIMENT)
    run_id = client.create_run(experiment_id, run_name=run_name,
                               tags={key: str(value) for key, value in tags.items() if value is not None}).info.run_id
    now = int(time.time() * 1000)
    dataset = metrics_document["dataset"]
    params = {**metrics_document["config"], "data": dataset["name"], "data_sha256": dataset["sha256"],
              "n_train": dataset["n_train"], "n_test": dataset["n_test"]}
    entries = [Metric(key, value, now, 0) for key, value in metrics_of(evaluation, metrics_document).items()
               if math.isfinite(value)]
    for k, history in enumerate(evaluation.cost_history):
        key = metric_name(f"cost_{evaluation.class_names[k]}")
        entries += [Metric(key, float(cost), now, step) for step, cost in enumerate(history, start=1)
                    if math.isfinite(cost)]
    client.log_batch(run_id, params=[Param(key, str(value)[:6000]) for key, value in params.items()],
                     tags=[RunTag("mlflow.source.name", "mnist-ova")])
    for start in range(0, len(entries), BATCH):
        client.log_batch(run_id, metrics=entries[start:start + BATCH])
    for name, path in files.items():
        folder = name.rsplit("/", 1)[0] if "/" in name else None
        client.log_artifact(run_id, str(path), folder)
    client.set_terminated(run_id)
    return run_id

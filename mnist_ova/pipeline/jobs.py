"""The stages of the batch job. Each takes checked settings and returns what it made;
only ``write_training`` and the render stage touch the output folder."""
import contextlib
import dataclasses
import functools
import hashlib
import json
import time
from typing import TYPE_CHECKING

import numpy as np

from mnist_ova import children
from mnist_ova.pipeline import config, outputs
from mnist_ova.render import views as render_views
from mnist_ova.environment import reproducible
from mnist_ova.trainer import data, metrics, preprocess, profiles, validation
from mnist_ova.errors import InputError, ToolError
from mnist_ova.fileio import json_text
from mnist_ova.trainer.choices import DEFAULT_L2

if TYPE_CHECKING:
    from mnist_ova.trainer.model import OneVsAllLogisticRegression

# The estimator (trainer.model, trainer.persist) loads scikit-learn and scipy, slow imports: they are
# imported where they are used.


@dataclasses.dataclass
class Trained:
    """A fitted model with the data, split and figures it was evaluated on."""

    model: "OneVsAllLogisticRegression"
    dataset: data.Dataset
    X: np.ndarray
    train_rows: np.ndarray
    test_rows: np.ndarray
    evaluation: metrics.Evaluation
    timings: dict
    metadata: dict
    reused: bool = False

    @functools.cached_property
    def views(self) -> render_views.EvaluationViews:
        """The evaluation's views that the report, its figures and summary.md show, built once."""
        return render_views.of(self.evaluation)


class Stopwatch:
    """Seconds per named stage, in the order the stages first ran (a stage entered again adds to its time)."""

    def __init__(self):
        self.seconds = {}

    @contextlib.contextmanager
    def __call__(self, name):
        children.raise_if_stopped()
        start = time.perf_counter()
        try:
            yield
        finally:
            key = f"{name}_s"
            self.seconds[key] = round(self.seconds.get(key, 0) + time.perf_counter() - start, 3)


def class_names_for(classes, names, profile=profiles.NEUTRAL):
    """The given names (one per class, in label order), else the profile's, else the labels themselves."""
    if names is None:
        return profile.names_for(classes) or [str(label) for label in classes]
    if len(names) != classes.size or not np.array_equal(classes, np.arange(len(names))):
        raise InputError(f"class-names gives {len(names)} names, so the labels must be 0..{len(names) - 1}; "
                         f"the data's labels are {classes.tolist()}: give one name per label")
    return validation.check_class_names("class-names", names, classes.size)


def features_and_split(settings, dataset):
    """Standardised features and the (train, test) rows, as the notebook makes them.

    The features are a ``preprocess.StandardisedImages``: the raw pixels with each image's mean
    and std, standardised where they are used (inside the training kernel; a block of rows at a
    time for scoring), so no float copy of the whole data set is made.
    """
    X = preprocess.StandardisedImages(dataset.images, settings.dtype)
    train_rows, test_rows = preprocess.split_indices(
        len(X), test_size=settings.test_size, seed=settings.seed, method=settings.split,
        official_n_train=dataset.official_n_train)
    return X, train_rows, test_rows


def train(settings, *, log, progress, warn=None, cached_model=None):
    """Load the data, fit the ten models (or reuse ``cached_model``, a path, when it was trained on
    the same data with the same config) and score them. ``warn`` says what must be seen even when
    ``log`` is quiet (the bundled sample used in place of MNIST)."""
    watch = Stopwatch()
    with watch("load"):
        dataset = data.load(settings.data, cache_dir=settings.cache_dir, progress=progress, log=log)
    announce_fallback(dataset, warn or log)
    with watch("preprocess"):
        X, train_rows, test_rows = features_and_split(settings, dataset)
        classes = np.unique(dataset.labels)
        profile = profile_for(settings, dataset, log)
        class_names = class_names_for(classes, settings.class_names, profile)
        validation.check_split_trains_every_class(dataset.labels, train_rows, class_names)
    metadata = {"data": str(settings.data),
                "dataset": dataset_summary(dataset, train_rows, test_rows, class_names, profile),
                "config": config_summary(settings), "title_page": title_page_of(settings),
                "profile": profile.record()}
    metadata["key"] = training_key(metadata)
    model = None
    if cached_model is not None and cached_model.is_file():
        model, cached = load_saved_model(cached_model, hint="--force trains a new one in its place")
        if cached.get("key") != metadata["key"]:
            model = None
        else:
            log(f"reused the model in {cached_model} (same data and config); --force retrains")
            if "train_seconds" in cached:
                metadata["train_seconds"] = cached["train_seconds"]
    with watch("preprocess"):
        X_train, y_train, X_test, y_test = split_rows(X, dataset.labels, train_rows, test_rows)
    if model is None:
        with watch("train"):
            model = fit(settings, X_train, y_train, progress=progress)
        check_finite(model, class_names, learning_rate=settings.learning_rate)
        # How long training took, for a report rendered later from the saved model; a reproducible
        # build (SOURCE_DATE_EPOCH set) keeps model.npz free of times.
        if not reproducible():
            metadata["train_seconds"] = watch.seconds["train_s"]
    with watch("snapshots"):
        score_snapshots(model, X_train, y_train, X_test, y_test)
    with watch("evaluate"):
        evaluation = metrics.evaluate(model, X_train, y_train, X_test, y_test, class_names)
    return Trained(model, dataset, X, train_rows, test_rows, evaluation, watch.seconds, metadata,
                   reused="train_s" not in watch.seconds)


def split_rows(X, labels, train_rows, test_rows):
    """(X_train, y_train, X_test, y_test): the rows copied once for fitting, scoring and evaluating (a copy of
    56,000 rows takes 20-30 ms)."""
    return X[train_rows], labels[train_rows], X[test_rows], labels[test_rows]


def score_snapshots(model, X_train, y_train, X_test, y_test):
    """Give the model's training snapshots their accuracies on these rows, unless they have them (a saved
    model keeps those it was trained with) or the model has none (a file of an earlier format)."""
    from mnist_ova.trainer import snapshots

    if getattr(model, "snapshots_", None) is None or model.snapshots_.scored:
        return
    model.snapshots_ = snapshots.score(model.snapshots_, X_train, np.searchsorted(model.classes_, y_train), X_test,
                                       np.searchsorted(model.classes_, y_test))


def profile_for(settings, dataset, log):
    """The profile named by ``--dataset`` or the config's [dataset] table, else the one the data's
    files are recognised as (``profiles.NEUTRAL`` when none)."""
    found = profiles.recognise(dataset.name, dataset.files, len(dataset.labels), np.unique(dataset.labels))
    if settings.dataset is None:
        return found
    if found.name not in (None, settings.dataset.name):
        log(f"note: the data's files are {found.title}'s, but the report describes them as "
            f"{settings.dataset.title} (--dataset)")
    return settings.dataset


def load_saved_model(path, *, hint):
    """``persist.load_model`` with the metadata checked, its errors ending with what to do on the command line."""
    from mnist_ova.trainer import persist

    try:
        model, metadata = persist.load_model(path)
        try:
            check_metadata(metadata, len(model.classes_))
        except InputError as exc:
            raise InputError(f"model {str(path)!r} is damaged: its metadata's {exc}") from None
        return model, metadata
    except InputError as exc:
        raise InputError(f"{exc}; {hint}") from None


TRAINING_CONFIG = ("iterations", "learning_rate", "tol", "dtype", "solver", "l2", "split", "test_size", "seed")


def check_metadata(metadata, n_classes):
    """Every field of a saved model's metadata that the tool reads back, checked as the settings are: a
    crafted or damaged file is one line naming the field, never a crash further on."""

    def table(key, value):
        if not isinstance(value, dict):
            raise InputError(f"{key} must be a JSON object; got {value!r:.80}")
        return value

    validation.check_text("data", metadata.get("data"))
    recorded = table("config", metadata.get("config"))
    missing = [key for key in TRAINING_CONFIG if key not in recorded]
    if missing:
        raise InputError(f"config lacks {', '.join(missing)}")
    try:  # the settings' own checks, so a recorded value is held to what a flag would be
        config.settings_of({key: recorded[key] for key in TRAINING_CONFIG})
    except InputError as exc:
        raise InputError(f"config: {exc}") from None
    dataset = table("dataset", metadata.get("dataset"))
    validation.check_text("dataset.sha256", dataset.get("sha256"))
    validation.check_class_names("dataset.class_names", dataset.get("class_names"), n_classes)
    check_profile_record(metadata.get("profile"))
    for field, value in table("title_page", metadata.get("title_page", {})).items():
        validation.check_text(f"title_page.{field}", value)
    if "train_seconds" in metadata:
        validation.check_number("train_seconds", metadata["train_seconds"], minimum=0)


def check_profile_record(record):
    """A profile as ``Profile.record`` writes it: None, a built-in's name, or its fields, each of its type."""
    if record is None:
        return
    if isinstance(record, str):
        if record not in profiles.BUILT_IN:
            raise InputError(f"profile must be one of {', '.join(profiles.BUILT_IN)}; got {record!r:.80}")
        return
    if not isinstance(record, dict):
        raise InputError(f"profile must be a built-in profile's name or a JSON object; got {record!r:.80}")
    for field in dataclasses.fields(profiles.Profile):
        if field.name not in record or (field.name == "name" and record["name"] is None):
            continue
        value, default = record[field.name], field.default
        if field.name == "class_names" and value:
            validation.check_class_names("profile.class_names", value, len(value))
        elif field.name in ("name", "title", "item"):  # the names the config file's [dataset] checks too
            validation.check_text(f"profile.{field.name}", value)
        elif isinstance(default, int):
            validation.check_number(f"profile.{field.name}", value, minimum=0, integer=True)
        elif isinstance(default, tuple) and not (isinstance(value, list) and all(isinstance(v, str) for v in value)):
            raise InputError(f"profile.{field.name} must be a list of texts; got {value!r:.80}")
        elif isinstance(default, str) and not isinstance(value, str):
            raise InputError(f"profile.{field.name} must be text; got {value!r:.80}")


def fit(settings, X, y, *, progress):
    from mnist_ova.trainer.model import OneVsAllLogisticRegression

    model = OneVsAllLogisticRegression(learning_rate=settings.learning_rate, max_iter=settings.iterations,
                                       tol=settings.tol, dtype=settings.dtype, solver=settings.solver,
                                       l2=settings.l2)
    with children.progress_bar(total=settings.iterations, desc=f"training {np.unique(y).size} models", unit="step",
                      disable=not progress, leave=False) as bar:
        def advance(step, n_active):
            children.raise_if_stopped()
            bar.set_postfix(active=n_active, refresh=False)
            bar.update(1)

        # A diverging run overflows on the way; check_finite reports it as one line afterwards.
        with np.errstate(over="ignore", invalid="ignore"):
            return model.fit(X, y, callback=advance)


def announce_fallback(dataset, warn):
    if dataset.fallback:
        warn(f"note: {dataset.fallback} (--data mnist downloads the full set)")


def check_finite(model, class_names, *, learning_rate=None, path=None):
    """A model whose cost or weights stopped being finite numbers has diverged: the run stops (exit 1)
    with which models and from which iteration, rather than writing scores of NaN weights."""
    diverged = []
    for k, history in enumerate(model.cost_history_):
        bad = np.flatnonzero(~np.isfinite(np.asarray(history, dtype=np.float64)))
        weights_ok = np.all(np.isfinite(model.coef_[k])) and np.isfinite(model.intercept_[k])
        if bad.size or not weights_ok:
            diverged.append((class_names[k], int(bad[0]) + 1 if bad.size else len(history)))
    if not diverged:
        return
    if path is not None:
        raise InputError(f"the model {str(path)!r} holds weights that are not finite numbers (its training "
                         "diverged): train again with --force and a smaller --learning-rate")
    first = min(iteration for _, iteration in diverged)
    names = ", ".join(str(name) for name, _ in diverged[:10]) + (", ..." if len(diverged) > 10 else "")
    raise TrainingDiverged(f"training diverged: {len(diverged)} of {len(class_names)} models ({names}) reached a "
                           f"cost or weights that are not finite numbers, the first at iteration {first}; "
                           f"learning-rate {learning_rate:g} is too large: lower --learning-rate "
                           "(the notebook uses 0.01); nothing was written")


class TrainingDiverged(ToolError):
    """Exit 1: the run stops rather than write scores of a model that is not a model any more."""


def training_key(metadata):
    """What decides the weights: the data's content and its pixel type and shape (the same bytes read as
    another type are other pixels), the split and names, and every hyper-parameter, preprocessing
    included."""
    dataset = metadata["dataset"]
    decisive = {"dataset": dataset["sha256"], "pixel_dtype": dataset["pixel_dtype"],
                "image_shape": dataset["image_shape"], "rows": [dataset["n_train"], dataset["n_test"]],
                "class_names": dataset["class_names"], "config": metadata["config"]}
    return hashlib.sha256(json.dumps(decisive, sort_keys=True).encode()).hexdigest()


def from_saved_model(path, settings, *, log, warn=None):
    """A saved model with its data, split and scores rebuilt, for rendering without training.

    The data defaults to the source recorded in the model; the split and precision are the
    model's own, so the test rows are the ones it was scored on.
    """
    watch = Stopwatch()
    model, metadata = load_saved_model(path, hint="train one with 'run.py train' (--force replaces a damaged one)")
    recorded = metadata["config"]
    source = settings.data if settings.data != "auto" else metadata["data"]
    with watch("load"):
        dataset = data.load(source, cache_dir=settings.cache_dir, progress=False, log=log)
    announce_fallback(dataset, warn or log)
    if dataset.sha256 != metadata["dataset"]["sha256"]:
        log(f"note: the data {source!r} is not the data the model was trained on; the figures describe this data")
    trained_settings = dataclasses.replace(settings, dtype=recorded["dtype"], split=recorded["split"],
                                           test_size=recorded["test_size"], seed=recorded["seed"])
    with watch("preprocess"):
        X, train_rows, test_rows = features_and_split(trained_settings, dataset)
    if X.shape[1] != model.n_features_in_:
        raise InputError(f"the model expects images of {model.n_features_in_} pixels but the data {source!r} has "
                         f"{X.shape[1]}: give the data it was trained on", option="data")
    validation.check_known_classes(dataset.labels, model.classes_)
    # A profile or names given now win over the ones recorded at training time.
    profile = (profile_for(settings, dataset, log) if settings.dataset is not None or "profile" not in metadata
               else profiles.from_record(metadata["profile"]))
    class_names = (class_names_for(model.classes_, settings.class_names, profile)
                   if settings.class_names is not None or settings.dataset is not None
                   else metadata["dataset"]["class_names"])
    check_finite(model, class_names, path=path)
    X_train, y_train, X_test, y_test = split_rows(X, dataset.labels, train_rows, test_rows)
    with watch("snapshots"):
        score_snapshots(model, X_train, y_train, X_test, y_test)
    with watch("evaluate"):
        evaluation = metrics.evaluate(model, X_train, y_train, X_test, y_test, class_names)
    metadata = dict(metadata, dataset=dataset_summary(dataset, train_rows, test_rows, class_names, profile),
                    profile=profile.record())
    return Trained(model, dataset, X, train_rows, test_rows, evaluation, watch.seconds, metadata)


def dataset_summary(dataset, train_rows, test_rows, class_names, profile):
    return {"name": dataset.name, "profile": profile.name, "source": dataset.source, "sha256": dataset.sha256,
            "files": dataset.files,
            "n_train": int(len(train_rows)), "n_test": int(len(test_rows)),
            "image_shape": list(dataset.image_shape), "pixel_dtype": dataset.images.dtype.str,
            "class_names": list(class_names), "fallback": dataset.fallback}


def title_page_of(settings, recorded=None):
    """The title-page fields of ``settings``; with ``recorded`` (those of the run that trained the
    model, for a re-render), a field left at its default keeps the recorded value."""
    given = {field: getattr(settings, field) for field in config.TITLE_PAGE}
    if recorded is None:
        return given
    defaults = {f.name: f.default for f in dataclasses.fields(settings)}
    return {field: value if value != defaults[field] else recorded.get(field, value) for field, value in given.items()}


def config_summary(settings):
    """Every hyper-parameter that decides the model and its figures."""
    from mnist_ova.trainer import persist

    return {"iterations": settings.iterations, "learning_rate": settings.learning_rate, "tol": settings.tol,
            "dtype": settings.dtype, "solver": settings.solver,
            "l2": DEFAULT_L2[settings.solver] if settings.l2 is None else settings.l2,
            "initialisation": "zeros", "split": settings.split,
            "test_size": settings.test_size, "seed": settings.seed,
            "preprocessing": persist.PREPROCESSING}


def metrics_document(trained):
    return {"dataset": trained.metadata["dataset"], "config": trained.metadata["config"],
            **trained.evaluation.to_dict()}


def write_training(trained, staging):
    """``model.npz`` and ``metrics.json`` into the staged output folder; nothing in them depends on
    the time or the machine's speed, so the same inputs give the same bytes."""
    from mnist_ova.trainer import persist

    with staging.writing(outputs.MODEL), open(staging.path(outputs.MODEL), "wb") as f:
        persist.save_model(trained.model, f, metadata=trained.metadata)
    with staging.writing(outputs.METRICS):
        staging.path(outputs.METRICS).write_text(json_text(metrics_document(trained)))


def write_timings(timings, staging, *, reused):
    """``timings.json``: seconds per stage, the one output that differs from run to run."""
    with staging.writing(outputs.TIMINGS):
        staging.path(outputs.TIMINGS).write_text(json_text({**timings, "reused_model": reused}))


def summary_table(trained):
    """The notebook's per-model printout, as one table."""
    e = trained.evaluation
    names = e.class_names
    width = max(5, *(len(n) for n in names))
    lines = [f"{'model':<{width}}  {'train acc':>9}  {'test acc':>8}  {'iters':>5}  {'final cost':>10}"]
    for k, name in enumerate(names):
        cost = "–" if e.final_cost(k) is None else f"{e.final_cost(k):.5f}"  # None: no step was needed
        lines.append(f"{name:<{width}}  {e.train_accuracy[k]:9.4f}  {e.test_accuracy[k]:8.4f}  "
                     f"{e.n_iter[k]:5d}  {cost:>10}")
    lines.append(f"one-vs-all accuracy (mean of the binary test accuracies): {e.one_vs_all_accuracy:.4f}")
    lines.append(f"multiclass accuracy (argmax of the {len(names)} models):  {e.multiclass_accuracy:.4f}")
    return "\n".join(lines)

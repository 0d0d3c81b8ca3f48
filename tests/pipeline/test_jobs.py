"""The stages: class names, the training key, and rendering a saved model under new names."""
import dataclasses
import io
import json
import zipfile

import numpy as np
import pytest

from mnist_ova.errors import InputError
from mnist_ova.pipeline import config, jobs, outputs
from mnist_ova.pipeline.staging import StagedOutput


def test_a_dataset_named_against_its_files_is_believed_with_a_note(shared_mnist):
    from mnist_ova.trainer import data, profiles

    dataset = data.load_path(shared_mnist)
    notes = []
    assert jobs.profile_for(config.settings_from({}), dataset, notes.append) is profiles.MNIST
    assert notes == []
    chosen = jobs.profile_for(config.settings_from({"dataset": "fashion-mnist"}), dataset, notes.append)
    assert chosen is profiles.FASHION_MNIST
    assert notes == ["note: the data's files are MNIST's, but the report describes them as Fashion-MNIST (--dataset)"]
    assert jobs.class_names_for(np.arange(10), None, chosen)[9] == "Ankle boot"


def test_class_names_default_to_the_labels_and_must_fit_them():
    assert jobs.class_names_for(np.array([0, 1, 2]), None) == ["0", "1", "2"]
    assert jobs.class_names_for(np.array([0, 1]), ("cat", "dog")) == ["cat", "dog"]
    with pytest.raises(InputError, match="class-names gives 2 names, so the labels must be 0..1"):
        jobs.class_names_for(np.array([0, 1, 2]), ("cat", "dog"))
    with pytest.raises(InputError, match="must be distinct"):
        jobs.class_names_for(np.array([0, 1]), ("cat", "cat"))


def test_the_training_key_changes_with_every_training_option():
    base = jobs.config_summary(config.Settings())
    dataset = {"sha256": "a", "pixel_dtype": "uint8", "image_shape": [28, 28], "n_train": 8, "n_test": 2,
               "class_names": ["0", "1"]}
    metadata = {"dataset": dataset, "config": base}
    key = jobs.training_key(metadata)
    for change in ({"iterations": 5}, {"learning_rate": 0.1}, {"dtype": "float32"}, {"seed": 1}, {"tol": 0.1}):
        changed = dict(metadata, config=jobs.config_summary(dataclasses.replace(config.Settings(), **change)))
        assert jobs.training_key(changed) != key, change
    for change in ({"sha256": "b"}, {"pixel_dtype": "float32"}, {"image_shape": [14, 14]}, {"n_train": 9},
                   {"class_names": ["a", "b"]}):
        assert jobs.training_key(dict(metadata, dataset=dict(dataset, **change))) != key, change


def test_render_of_a_saved_model_takes_the_class_names_given_now(tmp_path, small_digits):
    images, labels = small_digits
    np.savez(tmp_path / "d.npz", X=images, y=labels)
    settings = config.settings_from({"data": str(tmp_path / "d.npz"), "out": str(tmp_path / "o"), "iterations": 3})
    with StagedOutput(tmp_path / "o") as staging:
        jobs.write_training(jobs.train(settings, log=lambda m: None, progress=False), staging)
    names = tuple(f"digit {k}" for k in range(10))
    renamed = jobs.from_saved_model(tmp_path / "o" / outputs.MODEL,
                                    dataclasses.replace(settings, class_names=names), log=lambda m: None)
    assert renamed.evaluation.class_names == names
    kept = jobs.from_saved_model(tmp_path / "o" / outputs.MODEL, settings, log=lambda m: None)
    assert kept.evaluation.class_names == tuple(str(k) for k in range(10))


class Fitted:
    """What check_finite reads of a fitted model: K models' weights (K, d), biases and costs."""

    def __init__(self, K, d):
        self.coef_, self.intercept_ = np.zeros((K, d)), np.zeros(K)
        self.cost_history_ = [np.ones(3)] * K


@pytest.mark.parametrize("K, d", [(3, 6), (5, 4), (2, 1), (62, 49)])
def test_check_finite_reads_each_models_own_weights(K, d):
    """Model k's weights are row k (K > d once raised IndexError; K < d checked pixel columns instead)."""
    names = [f"c{k}" for k in range(K)]
    jobs.check_finite(Fitted(K, d), names, learning_rate=0.01)
    model = Fitted(K, d)
    model.coef_[K - 1, d - 1] = np.nan  # the last model's last weight: outside every column k < min(K, d)
    with pytest.raises(jobs.TrainingDiverged, match=rf"1 of {K} models \(c{K - 1}\)"):
        jobs.check_finite(model, names, learning_rate=0.01)


@pytest.fixture(scope="module")
def saved_model(tmp_path_factory):
    """A model the tool trained on 40 images of 2x2 pixels and 3 classes, and its data."""
    folder = tmp_path_factory.mktemp("saved")
    rng = np.random.RandomState(0)
    np.savez(folder / "d.npz", X=rng.randint(0, 256, (40, 4)), y=np.arange(40) % 3)
    settings = config.settings_from({"data": str(folder / "d.npz"), "out": str(folder / "o"), "iterations": 3})
    with StagedOutput(folder / "o") as staging:
        jobs.write_training(jobs.train(settings, log=lambda m: None, progress=False), staging)
    return folder / "o" / outputs.MODEL, settings


def with_metadata(path, target, change):
    """The model at ``path`` copied to ``target`` with ``change`` applied to its metadata."""
    with zipfile.ZipFile(path) as archive:
        entries = {info.filename: archive.read(info) for info in archive.infolist()}
    with np.load(path) as npz:
        metadata = json.loads(str(npz["metadata"]))
    change(metadata)
    buffer = io.BytesIO()
    np.lib.format.write_array(buffer, np.asarray(json.dumps(metadata)))
    entries["metadata.npy"] = buffer.getvalue()
    with zipfile.ZipFile(target, "w") as archive:
        for name, content in entries.items():
            archive.writestr(name, content)
    return target


CRAFTED_METADATA = {
    "no config": (lambda m: m.pop("config"), r"its metadata's config must be a JSON object; got None"),
    "config a list": (lambda m: m.update(config=[1]), r"config must be a JSON object; got \[1\]"),
    "config without seed": (lambda m: m["config"].pop("seed"), r"config lacks seed"),
    "config of another type": (lambda m: m["config"].update(test_size="x"), r"config: test-size must be a number"),
    "no dataset": (lambda m: m.pop("dataset"), r"dataset must be a JSON object"),
    "no sha256": (lambda m: m["dataset"].pop("sha256"), r"dataset.sha256 must be text; got None"),
    "too few names": (lambda m: m["dataset"].update(class_names=["a"]), r"must give 3 non-empty names"),
    "repeated names": (lambda m: m["dataset"].update(class_names=["a", "b", "a"]),
                       r"dataset.class_names must be distinct; got \['a'\] more than once"),
    "a control character in a name": (lambda m: m["dataset"].update(class_names=["a", "n\x1bb", "c"]),
                                      r"without control characters; got 'n\\x1bb'"),
    "profile a number": (lambda m: m.update(profile=3), r"profile must be a built-in profile's name or a JSON"),
    "profile of another type": (lambda m: m.update(profile={"name": 3}), r"profile.name must be text; got 3"),
    "unknown profile": (lambda m: m.update(profile="zzz"), r"profile must be one of mnist, .*; got 'zzz'"),
    "title page a list": (lambda m: m.update(title_page=[1]), r"title_page must be a JSON object"),
    "title a number": (lambda m: m["title_page"].update(title=5), r"title_page.title must be text; got 5"),
    "train seconds text": (lambda m: m.update(train_seconds="x"), r"train_seconds must be a number >= 0"),
    "data a number": (lambda m: m.update(data=3), r"its metadata's data must be text; got 3"),
}


@pytest.mark.parametrize("case", CRAFTED_METADATA)
def test_crafted_metadata_of_a_saved_model_is_one_line_naming_the_file_and_field(tmp_path, saved_model, case):
    """Each was a KeyError, TypeError, IndexError or AttributeError (exit 1), or silently accepted."""
    change, message = CRAFTED_METADATA[case]
    path, settings = saved_model
    crafted = with_metadata(path, tmp_path / "model.npz", change)
    with pytest.raises(InputError, match=rf"model '.*model.npz' is damaged: .*{message}") as info:
        jobs.from_saved_model(crafted, settings, log=lambda m: None)
    assert info.value.exit_code == 2 and str(info.value).isprintable()


def test_the_tools_own_metadata_passes_its_checks(saved_model):
    path, settings = saved_model
    assert jobs.from_saved_model(path, settings, log=lambda m: None).evaluation.class_names == ("0", "1", "2")

"""The stages: class names, the training key, and rendering a saved model under new names."""
import dataclasses
import os
import sys

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


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the loader forks only on Linux")
def test_data_in_a_file_load_in_a_child_beside_the_imports_as_they_load_here(tmp_path, monkeypatch):
    """The same dataset and split as loading in this process; the child's input errors raised here as they were."""
    import threading

    from mnist_ova.trainer import data

    assert threading.active_count() == 1, f"threads left running: {threading.enumerate()}"  # as in a fresh run
    rng = np.random.RandomState(0)
    np.savez(tmp_path / "d.npz", X=rng.randint(0, 256, (300, 64)).astype(np.uint8), y=np.arange(300) % 10)
    settings = config.Settings(data=str(tmp_path / "d.npz"))
    dataset, (X, train_rows, test_rows) = jobs.load_beside_the_imports(settings).result()
    here = data.load(settings.data)
    np.testing.assert_array_equal(dataset.images, here.images)
    assert dataset.sha256 == here.sha256
    expected = jobs.features_and_split(settings, here)
    np.testing.assert_array_equal(train_rows, expected[1])
    np.testing.assert_array_equal(np.asarray(X[:5]), np.asarray(expected[0][:5]))
    (tmp_path / "empty.npz").write_bytes(b"")
    with pytest.raises(InputError, match="is empty"):
        jobs.load_beside_the_imports(dataclasses.replace(settings, data=str(tmp_path / "empty.npz"))).result()
    assert jobs.load_beside_the_imports(dataclasses.replace(settings, data="sample")) is None  # speaks to the user


def test_without_fork_the_data_load_in_this_process(tmp_path, monkeypatch):
    monkeypatch.delattr(os, "fork")
    np.savez(tmp_path / "d.npz", X=np.zeros((20, 4), np.uint8), y=np.arange(20) % 2)
    assert jobs.load_beside_the_imports(config.Settings(data=str(tmp_path / "d.npz"))) is None

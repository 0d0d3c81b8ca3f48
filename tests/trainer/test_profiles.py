"""Data-set profiles: recognised from the official files, chosen by name, or given in the config file."""
from pathlib import Path

import numpy as np
import pytest

from mnist_ova.errors import InputError
from mnist_ova.trainer import data, download, profiles

FASHION = Path("/usr/share/datasets/fashion-mnist")


def files_of(folder):
    return [{"name": p.name, "sha256": download.sha256_of(p)} for p in sorted(folder.glob("*-ubyte.gz"))]


def test_the_mnist_test_set_is_recognised_by_its_files_checksums(shared_mnist):
    dataset = data.load_path(shared_mnist)
    found = profiles.recognise(dataset.name, dataset.files, len(dataset.labels), np.unique(dataset.labels))
    assert found is profiles.MNIST


def test_fashion_mnist_is_recognised_by_its_files_checksums():
    if not (FASHION / "train-images-idx3-ubyte.gz").is_file():
        pytest.skip("the Fashion-MNIST files are not installed")
    files = files_of(FASHION)
    assert len(files) == 4
    assert profiles.recognise("fashion-mnist", files, 70_000, range(10)) is profiles.FASHION_MNIST
    # a folder of the same name with one file changed is not Fashion-MNIST any more
    changed = [*files[:3], {"name": files[3]["name"], "sha256": "0" * 64}]
    assert profiles.recognise("fashion-mnist", changed, 70_000, range(10)) is profiles.NEUTRAL


def test_the_bundled_sample_is_mnist(sample):
    assert profiles.recognise(sample.name, sample.files, len(sample.labels), np.unique(sample.labels)) is profiles.MNIST


def test_data_of_ones_own_gets_the_neutral_profile(tiny_npz):
    dataset = data.load_path(tiny_npz)
    found = profiles.recognise(dataset.name, dataset.files, len(dataset.labels), np.unique(dataset.labels))
    assert found is profiles.NEUTRAL and found.name is None
    assert (found.item, found.description, found.citation) == ("image", "", ())
    assert found.default_title == "Image Recognition with a Neural-Network Mindset"
    assert profiles.recognise("sample", [{"name": "sample.npz", "sha256": "1" * 64}], 5000, range(10)) is profiles.NEUTRAL


def test_files_of_two_data_sets_are_neither():
    mnist = next(h for h, name in profiles.CHECKSUMS.items() if name == "mnist")
    kmnist = next(h for h, name in profiles.CHECKSUMS.items() if name == "kmnist")
    files = [{"name": "a", "sha256": mnist}, {"name": "b", "sha256": kmnist}]
    assert profiles.recognise("x", files, 10, range(10)) is profiles.NEUTRAL


def emnist_files(split, part="test"):
    return [{"name": f"emnist-{split}-{part}-{kind}-ubyte.gz", "sha256": "2" * 64}
            for kind in ("images-idx3", "labels-idx1")]


@pytest.mark.parametrize("split, rows, labels", [
    ("balanced", 18_800, range(47)), ("byclass", 697_932 + 116_323, range(62)), ("bymerge", 116_323, range(47)),
    ("digits", 40_000, range(10)), ("letters", 20_800, range(1, 27)), ("mnist", 60_000, range(10)),
])
def test_emnist_splits_are_recognised_by_their_official_names_and_row_counts(split, rows, labels):
    assert profiles.recognise("gzip", emnist_files(split), rows, labels).name == f"emnist-{split}"
    assert profiles.recognise("gzip", emnist_files(split), rows - 1, labels) is profiles.NEUTRAL
    assert profiles.recognise("gzip", emnist_files(split), rows, [*labels, 99]) is profiles.NEUTRAL


def test_every_built_in_profile_names_its_classes_and_cites_its_source():
    expected = {"mnist": 10, "fashion-mnist": 10, "kmnist": 10, "emnist-balanced": 47, "emnist-byclass": 62,
                "emnist-bymerge": 47, "emnist-digits": 10, "emnist-letters": 26, "emnist-mnist": 10}
    assert {name: len(p.class_names) for name, p in profiles.BUILT_IN.items()} == expected
    for profile in profiles.BUILT_IN.values():
        assert len(set(profile.class_names)) == len(profile.class_names)
        assert profile.description and profile.citation and profile.url.startswith("http")
        assert profile.title in " ".join(profile.keywords)
    assert profiles.FASHION_MNIST.class_names[0] == "T-shirt/top" and profiles.FASHION_MNIST.class_names[9] == "Ankle boot"
    assert profiles.FASHION_MNIST.default_title == "Fashion-Product Image Recognition with a Neural-Network Mindset"


def test_emnist_letters_names_labels_1_to_26_and_refuses_others():
    letters = profiles.builtin("emnist-letters")
    assert letters.names_for([1, 2, 26]) == ["Aa", "Bb", "Zz"]
    with pytest.raises(InputError, match=r"names the labels 1..26, but the data hold label\(s\) \[0\]"):
        letters.names_for([0, 1])
    assert profiles.NEUTRAL.names_for([0, 1]) is None


def test_an_unknown_name_lists_the_valid_ones():
    with pytest.raises(InputError) as error:
        profiles.builtin("Fashion")
    assert str(error.value) == ("dataset must be one of mnist, fashion-mnist, kmnist, emnist-balanced, emnist-byclass, "
                                "emnist-bymerge, emnist-digits, emnist-letters, emnist-mnist; got 'Fashion'")


def test_a_profile_is_recorded_by_name_or_in_full_and_read_back():
    assert profiles.FASHION_MNIST.record() == "fashion-mnist"
    assert profiles.from_record("fashion-mnist") is profiles.FASHION_MNIST
    assert profiles.NEUTRAL.record() is None and profiles.from_record(None) == profiles.NEUTRAL
    mine = profiles.from_table({"name": "cats", "class-names": ["tabby", "black"], "citation": "Me. My cats. 2026."})
    record = mine.record()
    assert record["class_names"] == ["tabby", "black"] and profiles.from_record(record) == mine


def test_a_dataset_table_gives_a_profile_with_neutral_words_for_what_it_leaves_out():
    mine = profiles.from_table({"name": "Cats", "description": "Photographs of my two cats, taken at home.",
                                "citation": ["Me. My cats. 2026.", "You. Your cats. 2025."],
                                "url": "https://example.org/cats", "class-names": "tabby, black",
                                "limitations": "Only two cats, both indoors."})
    assert mine.name == mine.title == "Cats"
    assert mine.class_names == ("tabby", "black") and mine.citation == ("Me. My cats. 2026.", "You. Your cats. 2025.")
    assert mine.item == "image" and mine.not_for == profiles.NEUTRAL_NOT_FOR
    with pytest.raises(InputError, match=r"\[dataset\] has the unknown key\(s\) colour; known keys: name, "):
        profiles.from_table({"name": "x", "colour": "red"})
    with pytest.raises(InputError, match=r"\[dataset\] needs a name"):
        profiles.from_table({"description": "x"})
    with pytest.raises(InputError, match=r"\[dataset\] class-names must be text or a list of texts; got 3"):
        profiles.from_table({"name": "x", "class-names": 3})
    with pytest.raises(InputError, match=r"\[dataset\] url must be text"):
        profiles.from_table({"name": "x", "url": ["a"]})


def test_the_words_are_data_in_the_catalogue_beside_the_templates_not_code_of_the_trainer():
    import ast
    import tomllib

    catalogue = (Path(profiles.__file__).parent.parent / "templates" / profiles.CATALOGUE).read_text()
    for profile in profiles.BUILT_IN.values():
        assert profile.description.split(" ")[-1] in catalogue and profile.url in catalogue
        assert profile.class_names and profile.files_train > profile.files_test > 0
    tree = ast.parse(Path(profiles.__file__).read_text())
    docstrings = {id(node.body[0].value) for node in ast.walk(tree)
                  if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef)) and ast.get_docstring(node)}
    texts = [node.value for node in ast.walk(tree) if isinstance(node, ast.Constant)
             and isinstance(node.value, str) and id(node) not in docstrings]
    assert max(map(len, texts)) < 200  # the trainer keeps no prose about the data, only what finds and names them
    assert tomllib.loads(catalogue)["neutral"]["limitations"] == profiles.NEUTRAL_LIMITATIONS
    # Shared words filled in per data set: EMNIST Letters' writers wrote letters.
    assert "letters were written by" in profiles.builtin("emnist-letters").limitations


def test_a_published_result_is_cited_from_the_profiles_own_references():
    for profile in profiles.BUILT_IN.values():
        if profile.published_result:
            assert 0 < profile.published_accuracy < 1
            assert 1 <= profile.published_citation <= len(profile.citation)
    assert profiles.MNIST.published_accuracy == 0.88 and "12.0 % test error" in profiles.MNIST.published_result
    assert "LeCun, L. Bottou" in profiles.MNIST.citation[profiles.MNIST.published_citation - 1]
    assert profiles.FASHION_MNIST.citation[profiles.FASHION_MNIST.published_citation - 1].startswith("H. Xiao")
    assert profiles.NEUTRAL.published_result == "" and profiles.NEUTRAL.files_train == 0

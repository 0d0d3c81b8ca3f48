"""The report's words about the data come from the data set's profile: each built-in profile's words,
and no other data set's; neutral words for data without a profile; a user's [dataset] table."""
import collections
import html
import re

import pytest

from mnist_ova.pipeline import config, jobs
from mnist_ova.render import report
from mnist_ova.trainer import profiles

MNIST_FAMILY = {"mnist"} | {name for name in profiles.BUILT_IN if name.startswith("emnist-")}


@pytest.fixture(scope="module")
def trained(tiny_npz, tmp_path_factory):
    settings = config.settings_from({"data": str(tiny_npz), "iterations": 5,
                                     "out": str(tmp_path_factory.mktemp("out"))})
    return jobs.train(settings, log=lambda message: None, progress=False)


def page_of(trained, profile):
    """The report's HTML (for the PDF), rendered for ``profile``, each image's URL its asset's name."""
    video = report.video_context(trained.views, examples=4, seconds_per_example=1.0, shown={})
    context = report.context(trained.views, title_page=jobs.title_page_of(config.settings_from({})),
                             dataset=trained.metadata["dataset"], config=trained.metadata["config"], video=video,
                             timings={}, profile=profile, test_rows=trained.test_rows)
    return report.render_html(context, target="pdf", assets=_Names())


class _Names(collections.UserDict):
    def __missing__(self, name):
        return name


def words_of(trained, profile):
    """The report's text and its head's metadata, rendered for ``profile``."""
    page = page_of(trained, profile)
    head = " ".join(re.findall(r'<meta name="(?:description|keywords)" content="([^"]*)"', page))
    body = re.sub(r"<style>.*?</style>|<wbr>", lambda m: "" if m[0] == "<wbr>" else " ", page, flags=re.S)
    text = " ".join(html.unescape(re.sub(r"<[^>]+>", " ", body)).split())
    return text, html.unescape(head)


def named(title, text):
    """Whether ``title`` stands in ``text`` on its own (not as a part of a longer name)."""
    return re.search(rf"(?<![\w-]){re.escape(title)}(?![\w-])", text) is not None


@pytest.mark.parametrize("name", list(profiles.BUILT_IN))
def test_each_built_in_profile_speaks_of_its_own_data_and_no_other(trained, name):
    profile = profiles.BUILT_IN[name]
    text, head = words_of(trained, profile)
    assert text.startswith(profile.default_title), "the title, from the profile"
    # The description's full stop comes after its citations ("image [1] [2].").
    assert profile.description.removesuffix(".") in text and profile.limitations in text and profile.not_for in text
    references = text[text.rindex("References"):]
    assert references.startswith("References " + profile.citation[0])  # the first, numbered [1]
    assert profile.items in text and profile.title in head and profile.items in head
    for keyword in profile.keywords:
        assert keyword in head
    for other in profiles.BUILT_IN.values():
        if other.title not in profile.title:
            assert not named(other.title, text + head), other.title
    if name not in MNIST_FAMILY:
        for foreign in ("Census", "handwrit", "crossed seven", "LeCun"):
            assert foreign not in text, foreign
    if "digit" not in profile.item and name not in ("emnist-balanced", "emnist-byclass", "emnist-bymerge"):
        assert not re.search(r"\bdigit", text + head, re.I)


def test_data_without_a_profile_get_neutral_words_and_no_claim_about_their_makers(trained):
    text, head = words_of(trained, profiles.NEUTRAL)
    assert text.startswith("Image Recognition with a Neural-Network Mindset")
    for foreign in ("digit", "Census", "handwrit", "garment", "Zalando", "writer", "LeCun", "Licence"):
        assert not re.search(rf"\b{foreign}", text + head, re.I), foreign
    for other in profiles.BUILT_IN.values():
        assert not named(other.title, text + head), other.title
    assert "Nothing is recorded here about who or what made these images" in text
    assert profiles.NEUTRAL_LIMITATIONS in text
    assert text[text.rindex("References"):].startswith("References A. Ng.")  # no data set to cite


def test_a_dataset_table_in_the_config_file_gives_the_words(trained, tmp_path):
    (tmp_path / "run.toml").write_text('''
[dataset]
name = "Backyard birds"
item = "bird photograph"
description = "Photographs of garden birds taken by the author's feeder camera in 2025."
citation = "A. Author. Backyard birds. 2026."
url = "https://example.org/birds"
class-names = ["robin", "blackbird"]
limitations = "One feeder, one garden, daylight only."
''')
    settings = config.settings_from({}, tmp_path / "run.toml")
    profile = settings.dataset
    assert profile.name == "Backyard birds" and profile.class_names == ("robin", "blackbird")
    text, head = words_of(trained, profile)
    assert text.startswith("Bird Photograph Recognition with a Neural-Network Mindset")
    assert "Photographs of garden birds taken by the author's feeder camera in 2025" in text  # its citation before the stop
    assert "One feeder, one garden, daylight only." in text and "https://example.org/birds" in text
    assert text[text.rindex("References"):].startswith("References A. Author. Backyard birds. 2026.")
    assert "bird photographs" in head and "Backyard birds" in head


def test_the_profile_is_recorded_in_metrics_and_the_model_and_kept_by_a_later_render(tiny_npz, tmp_path):
    from mnist_ova.pipeline.cli import main
    from mnist_ova.trainer.persist import load_model
    import json

    args = ["--out", str(tmp_path), "--iterations", "3", "--formats", "html", "--examples", "2", "--quiet"]
    assert main(["train", "--data", str(tiny_npz), "--dataset", "kmnist", *args]) == 0
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["dataset"]["profile"] == "kmnist"
    assert metrics["dataset"]["class_names"] == list(profiles.KMNIST.class_names)  # its own names by default
    assert load_model(tmp_path / "model.npz")[1]["profile"] == "kmnist"
    assert main(["render", "--model", str(tmp_path / "model.npz"), *args]) == 0
    page = (tmp_path / "report.html").read_text()
    assert "Cursive Japanese Character Recognition" in page and "Kuzushiji-MNIST was made by" in page


def test_each_chart_appears_once(trained):
    """No image is placed twice, and one figure draws the ROC curves (issue 19: they were drawn twice)."""
    page = page_of(trained, profiles.NEUTRAL)
    figures = re.findall(r"<figure[^>]*>(.*?)</figure>", page, flags=re.S)
    sources = [src for figure in figures for src in re.findall(r'<img src="([^"]+)"', figure)]
    assert len(sources) == len(figures) == len(set(sources)) > 10
    assert [source for source, figure in zip(sources, figures) if "ROC curve" in figure] == ["fig_roc_pr"]

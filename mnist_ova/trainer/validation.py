"""Every check of a user-supplied value lives here, so messages read alike.

Each message names the parameter, what is allowed and the value that was given; a setting is named as the
setting, never as a flag: the command line adds the flag, once (``errors.ToolError.option``).
"""
import math
import unicodedata

import numpy as np

from mnist_ova.errors import InputError


def check_choice(name, value, allowed):
    if value not in allowed:
        choices = ", ".join(repr(a) for a in allowed)
        raise InputError(f"{name} must be one of {choices}; got {value!r}")
    return value


def as_number(name, value, *, minimum=None, maximum=None, integer=False, include_minimum=True,
              include_maximum=True):
    """``value`` as an int (``integer``) or a float, when it is a finite number of that kind; the range is not
    checked here, but the message of a value that is no such number states it, so it says all that is allowed."""
    whole = isinstance(value, (int, np.integer)) and not isinstance(value, bool)
    # A whole number too large for a float (a TOML file may hold one) is no number of a float option either.
    number = value if whole and integer else _finite_float(value)
    if number is None or (integer and not whole and not number.is_integer()):
        raise InputError(f"{name} must be {_kind(integer)}{_range_text(minimum, maximum, include_minimum, include_maximum)}"
                         f"; got {value!r}")
    return int(number) if integer else number


def _finite_float(value):
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        return None
    try:
        number = float(value)
    except OverflowError:
        return None
    return number if math.isfinite(number) else None


def check_number(name, value, *, minimum=None, maximum=None, integer=False,
                 include_minimum=True, include_maximum=True):
    """Check a finite number in [minimum, maximum] (open ends when ``include_*`` is False)."""
    bounds = {"minimum": minimum, "maximum": maximum, "include_minimum": include_minimum,
              "include_maximum": include_maximum}
    number = as_number(name, value, integer=integer, **bounds)
    too_low = minimum is not None and (number < minimum or (number == minimum and not include_minimum))
    too_high = maximum is not None and (number > maximum or (number == maximum and not include_maximum))
    if too_low or too_high:
        raise InputError(f"{name} must be {_kind(integer)}{_range_text(**bounds)}; got {value!r}")
    return number


def _kind(integer):
    return "an integer" if integer else "a number"


def _range_text(minimum, maximum, include_minimum, include_maximum):
    parts = []
    if minimum is not None:
        parts.append(f"{'>=' if include_minimum else '>'} {minimum}")
    if maximum is not None:
        parts.append(f"{'<=' if include_maximum else '<'} {maximum}")
    return " " + " and ".join(parts) if parts else ""


def check_features(name, X, *, n_features=None):
    """A 2-D array of finite numbers with at least one row, as floats."""
    X = np.asarray(X)
    if X.ndim != 2:
        raise InputError(f"{name} must be a 2-D array (samples x features); got shape {X.shape}")
    if X.shape[0] == 0:
        raise InputError(f"{name} must hold at least one sample; got shape {X.shape}")
    if n_features is not None and X.shape[1] != n_features:
        raise InputError(f"{name} must have {n_features} features, as the model was trained with; "
                         f"got {X.shape[1]}")
    if not np.issubdtype(X.dtype, np.number) or np.issubdtype(X.dtype, np.complexfloating):
        raise InputError(f"{name} must hold real numbers; got dtype {X.dtype}")
    # A finite sum proves every entry finite (NaN and inf propagate), without a mask as big as X.
    if np.issubdtype(X.dtype, np.floating) and not np.isfinite(X.sum()) and not np.isfinite(X).all():
        raise InputError(f"{name} must hold finite values; got NaN or inf in {np.count_nonzero(~np.isfinite(X))} entries")
    return X


def check_labels(name, y, n_samples):
    """Integer class labels, one per sample, at least two distinct classes."""
    y = np.asarray(y)
    if y.ndim != 1 or y.shape[0] != n_samples:
        raise InputError(f"{name} must be a 1-D array of {n_samples} labels (one per sample); got shape {y.shape}")
    if not np.issubdtype(y.dtype, np.integer):
        if not np.issubdtype(y.dtype, np.number) or not np.all(np.isfinite(y)) or not np.all(y == np.round(y)):
            raise InputError(f"{name} must hold whole-number class labels; got dtype {y.dtype}")
        y = y.astype(np.int64)
    n_classes = np.unique(y).size
    if n_classes < 2:
        raise InputError(f"{name} must hold at least 2 classes to train one-vs-all models; got {n_classes}")
    return y


def check_image_shape(n_features):
    """The square side of a flattened image of ``n_features`` pixels."""
    side = math.isqrt(n_features)
    if side * side != n_features:
        raise InputError(f"images must be square (side x side pixels); got {n_features} pixels per image, "
                         "which is no square number")
    return side


# Control characters, line breaks and unpaired surrogates (undecodable bytes of a command line): each would
# break an SVG, a CSV row, a PDF page or a terminal, so a name holding one is refused where it enters.
_NOT_TEXT = {"Cc", "Cs", "Zl", "Zp"}


def check_text(name, value, *, option=None):
    """Text a person reads (a name, a title): no control characters."""
    if not isinstance(value, str):
        raise InputError(f"{name} must be text; got {value!r}", option=option)
    bad = next((i for i, c in enumerate(value) if unicodedata.category(c) in _NOT_TEXT), None)
    if bad is not None:
        raise InputError(f"{name} must be text without control characters; got {value[:60]!r} "
                         f"(U+{ord(value[bad]):04X} at position {bad})", option=option)
    return value


def check_class_names(name, names, n_classes, *, option=None):
    """One distinct, non-empty name of text per class; a repeated name would give two columns, two rows
    or two gates the same name."""
    if not isinstance(names, (list, tuple)):
        raise InputError(f"{name} must be a list of {n_classes} names; got {names!r}", option=option)
    names = [check_text(name, n, option=option).strip() for n in names]
    if len(names) != n_classes or any(not n for n in names):
        raise InputError(f"{name} must give {n_classes} non-empty names, one per class; got {len(names)}: "
                         f"{names[:20]!r}", option=option)
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise InputError(f"{name} must be distinct; got {repeated[:5]!r} more than once", option=option)
    return names


def check_split_trains_every_class(labels, train_rows, class_names=None):
    """Every class of the data must have training rows: a one-vs-all model with no positive example is
    no model, and the argmax would never predict that class. Checked after the split, before any work,
    so a data set with one image per class, or a class that only the test rows hold, is refused with
    the classes named."""
    labels = np.asarray(labels)
    classes = np.unique(labels)
    missing = np.setdiff1d(classes, np.unique(labels[train_rows]))
    if missing.size:
        names = [str(class_names[i]) if class_names is not None else str(label)
                 for i, label in enumerate(classes) if label in missing]
        shown = ", ".join(repr(n) for n in names[:10]) + (", ..." if len(names) > 10 else "")
        counts = sorted({int(np.count_nonzero(labels == label)) for label in missing})
        raise InputError(f"{missing.size} of {classes.size} classes have no training rows after the split ({shown}; "
                         f"{'/'.join(map(str, counts))} row(s) each in the data): every class needs rows in the "
                         "training part; add rows of those classes to the data, or lower the test size",
                         option="test_size")


def check_known_classes(labels, known, name="data"):
    """Labels the saved model was not trained on cannot be scored by it."""
    unknown = np.setdiff1d(np.unique(labels), np.asarray(known))
    if unknown.size:
        raise InputError(f"{name} holds classes the model was not trained on ({', '.join(map(str, unknown[:10].tolist()))}"
                         f"; it knows {', '.join(map(str, np.asarray(known)[:10].tolist()))}): give the data it was "
                         "trained on", option="data")

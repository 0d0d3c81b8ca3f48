"""``submission.zip``: what a student hands in, in one file, optionally under a size limit."""
import zipfile

from mnist_ova.errors import InputError
from mnist_ova.pipeline import outputs
from mnist_ova.trainer.writing import add_to_zip

REQUIRED = (outputs.PDF, outputs.METRICS, outputs.MANIFEST)
# Left out in this order, heaviest and least needed first, until the bundle fits.
OPTIONAL = (outputs.MP4, outputs.HTML, outputs.GIF, outputs.FIGURES_DIR + "/")


def plan(files, max_mb=None):
    """(included, left_out) names from ``files`` {name: size in bytes}, fitting ``max_mb`` if given."""
    missing = [name for name in REQUIRED if name not in files]
    if missing:
        raise InputError(f"the bundle needs {', '.join(missing)}: run with --formats including pdf")
    included = [name for name in files if name in REQUIRED or name.startswith(OPTIONAL)]
    left_out = []
    limit = None if max_mb is None else max_mb * 1024 * 1024
    for prefix in OPTIONAL:
        if limit is None or sum(files[name] for name in included) <= limit:
            break
        dropped = [name for name in included if name.startswith(prefix)]
        included = [name for name in included if name not in dropped]
        left_out += dropped
    if limit is not None and sum(files[name] for name in included) > limit:
        raise InputError(f"the required files alone ({', '.join(REQUIRED)}) take "
                         f"{sum(files[n] for n in included) / 2**20:.2f} MB, more than max-bundle-mb {max_mb}")
    return sorted(included), sorted(left_out)


def write(paths, included, target):
    """Zip ``included`` (names in ``paths`` {name: path}) into ``target`` with fixed dates."""
    with zipfile.ZipFile(target, "w") as archive:
        for name in included:
            add_to_zip(archive, name, paths[name].read_bytes(), compress=not name.endswith((".mp4", ".png", ".gif")))

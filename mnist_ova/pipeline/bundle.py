"""``submission.zip``: what a student hands in, in one file, optionally under a size limit.

What goes in comes from the table of outputs (``bundle`` = "required" or "optional") and from this
run's artifacts only. The size limit is checked against the zip itself (compressed), and the zip
carries its own ``manifest.json``: exactly the files it holds, and in a separate list the run's
artifacts it leaves out, each with the reason.
"""
import hashlib
import zipfile

from mnist_ova.errors import InputError
from mnist_ova.pipeline import outputs
from mnist_ova.fileio import add_to_zip, json_text

STORED = (".mp4", ".png", ".gif", ".zip", ".npz")  # compressed already


def build(artifacts, target, *, max_mb=None, html=None):
    """Write ``target`` from ``artifacts`` {name: path} (this run's files); ``html(names)`` gives the
    bundle's own ``report.html`` for a zip holding ``names``. Returns (left_out, dropped): every file not
    in the zip as {"path", "reason"}, and the names of those left out to fit ``max_mb``."""
    wanted = {name: outputs.ARTIFACTS[name].bundle for name in artifacts if name != outputs.BUNDLE}
    required = [name for name, kind in outputs.ARTIFACTS.items() if kind.bundle == "required"]
    missing = [name for name in required if name not in artifacts]
    if missing:
        raise InputError(f"the bundle needs {', '.join(missing)}: run with --formats including pdf")
    unbundled = [name for name, kind in wanted.items() if not kind]
    if outputs.TIMINGS not in unbundled:
        unbundled.append(outputs.TIMINGS)  # written after the bundle, never in it
    never = [{"path": name, "reason": f"not part of a submission ({outputs.ARTIFACTS[name].description})"}
             for name in unbundled]
    included = sorted(name for name, kind in wanted.items() if kind)
    dropped = []
    for leaving in ([], *_drop_steps(included)):
        if leaving:
            included = [name for name in included if name not in leaving]
            dropped += leaving
        reason = f"left out to fit max-bundle-mb {max_mb:g}" if max_mb is not None else ""
        left_out = sorted(never + [{"path": name, "reason": reason} for name in dropped], key=lambda e: e["path"])
        size = _write(artifacts, included, left_out, target, html)
        if max_mb is None or size <= max_mb * 2**20:
            return left_out, dropped
    raise InputError(f"the required files alone ({', '.join(required)}) make a zip of {size / 2**20:.2f} MB, more "
                     f"than max-bundle-mb {max_mb:g}: raise the limit")


def _drop_steps(included):
    """The names to leave out together, step by step, until the bundle fits: by the table's drop rank
    (heaviest and least needed first), then every other optional file, one at a time."""
    rank = {name: outputs.ARTIFACTS[name].drop_rank for name in included}
    ranks = sorted({r for r in rank.values() if r is not None})
    ranked = [[name for name in included if rank[name] == r] for r in ranks]
    rest = [[name] for name in included if outputs.ARTIFACTS[name].bundle == "optional" and rank[name] is None]
    return [*ranked, *rest]


def _write(artifacts, included, left_out, target, html):
    """The zip with fixed dates; its size in bytes."""
    contents = {}
    for name in included:
        if name == outputs.MANIFEST:
            continue
        if name == outputs.HTML and html is not None:
            contents[name] = html(included).encode("utf-8")
        else:
            contents[name] = artifacts[name].read_bytes()
    listed = [{"path": name, "bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}
              for name, data in sorted(contents.items())]
    contents[outputs.MANIFEST] = json_text({"artifacts": listed, "left_out": left_out}).encode("utf-8")
    with zipfile.ZipFile(target, "w") as archive:
        for name in sorted(contents):
            add_to_zip(archive, name, contents[name], compress=not name.endswith(STORED))
    return target.stat().st_size

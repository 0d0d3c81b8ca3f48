"""Issue 32, items 2, 3 and 10: a --history file is data someone else may have written. Its commit URLs
are linked only when they are the tool's own (https, a known host, the row's hex commit); a schema with
anything the tool did not make (a trigger, a view) is refused before any work and left as it is; a
decompression bomb in a row is refused without being inflated; a row value of the wrong type is one line
(exit 2) naming the run and the field; a symbolic link given as --history is refused."""
import os
import re
import sqlite3
import struct
import tracemalloc
import zlib

import numpy as np
import pytest

from mnist_ova.errors import InputError
from mnist_ova.pipeline import history
from mnist_ova.pipeline.cli import main

COMMIT = "0123456789abcdef0123456789abcdef01234567"
OTHER = "fedcba9876543210fedcba9876543210fedcba98"
GOOD_URL = f"https://github.com/ada/ova/commit/{COMMIT}"
HOSTILE_URLS = [
    "javascript:alert(document.domain)",
    "JavaScript:alert(1)//https://github.com/a/b/commit/" + COMMIT,
    "data:text/html,<script>alert(1)</script>",
    f"http://github.com/ada/ova/commit/{COMMIT}",  # not https
    f"https://evil.example/ada/ova/commit/{COMMIT}",  # not a known host
    f"https://github.com.evil.example/ada/ova/commit/{COMMIT}",
    f"https://user@github.com/ada/ova/commit/{COMMIT}",
    f'https://github.com/ada/ova/commit/{COMMIT}" onmouseover="alert(1)',
    f"https://github.com/ada/ova/commit/{OTHER}",  # another commit than the row's
    f"https://github.com/ada/ova/commit/{COMMIT}?x=<b>",
]


def a_run(**changes):
    """A run as ``history.record`` takes it, of the data ``tiny.npz``."""
    run = {"time": "2026-01-01T00:00:00Z", "command": "c", "tool_version": "0", "data_name": "tiny.npz",
           "data_sha256": "0" * 64, "config": {"iterations": 3}, "config_digest": "x", "multiclass_accuracy": 0.5,
           "multiclass_low": 0.4, "multiclass_high": 0.6, "one_vs_all_accuracy": 0.9, "one_vs_all_low": 0.8,
           "one_vs_all_high": 0.95, "per_class": [], "metrics": {}, "git_commit": COMMIT, "git_dirty": False,
           "commit_url": None, "out": "/o", "predictions": history.pack_predictions([0, 1], [1, 0], [1, 1])}
    return {**run, **changes}


def a_history(path, n=3, **changes):
    for _ in range(n):
        history.record(path, a_run(**changes), timings={}, artifacts=[])
    return path


def one_error_line(capsys):
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: "), err
    return err[0]


# --- item 2: URLs the tool writes are its own -------------------------------------------------------

def test_hostile_commit_urls_are_text_in_the_html_and_the_svg(tmp_path, tiny_npz):
    store = tmp_path / "runs.sqlite"
    for url in [*HOSTILE_URLS, GOOD_URL]:
        history.record(store, a_run(commit_url=url), timings={}, artifacts=[])
    out = tmp_path / "out"
    assert main(["--data", str(tiny_npz), "--out", str(out), "--iterations", "3", "--formats", "html,figures",
                 "--history", str(store), "--quiet"]) == 0
    for name in ("report.html", "figures/across_builds.svg"):
        text = (out / name).read_text()
        links = re.findall(r'(?:xlink:)?href="([^"#][^"]*)"', text)
        commit_links = [link for link in links if "commit" in link or ":" in link.split("/")[0]]
        assert commit_links and set(commit_links) == {GOOD_URL}, (name, sorted(set(links)))
        assert "javascript:" not in text.lower() and "data:text/html" not in text and "onmouseover" not in text
    assert COMMIT[:10] in (out / "report.html").read_text()  # each commit still shown, as text


def test_only_the_tools_own_commit_pages_pass():
    assert history.safe_commit_url(GOOD_URL, COMMIT) == GOOD_URL
    assert history.commit_url("git@gitlab.com:ada/ova.git", COMMIT) == f"https://gitlab.com/ada/ova/commit/{COMMIT}"
    for url in HOSTILE_URLS:
        assert history.safe_commit_url(url, COMMIT) is None, url
    assert history.safe_commit_url(GOOD_URL, "not hex") is None
    assert history.commit_url("https://github.com/ada/ova\"><x>.git", COMMIT) is None


# --- item 3: a history is data, not code ---------------------------------------------------------------

SCHEMA_ADDITIONS = {
    "trigger": "CREATE TRIGGER wipe AFTER INSERT ON runs BEGIN DELETE FROM runs WHERE id < 5; END",
    "view": "CREATE VIEW everything AS SELECT * FROM runs",
    "table": "CREATE TABLE extra (x)",
    "index": "CREATE INDEX by_time ON runs (time)",
}


@pytest.mark.parametrize("kind", SCHEMA_ADDITIONS)
def test_a_schema_with_anything_else_is_refused_and_kept(kind, tmp_path, tiny_npz, capsys):
    store = a_history(tmp_path / "runs.sqlite", n=4)
    with sqlite3.connect(store) as db:
        db.execute(SCHEMA_ADDITIONS[kind])
    before = store.read_bytes()
    out = tmp_path / "out"
    assert main(["train", "--data", str(tiny_npz), "--out", str(out), "--iterations", "3",
                 "--history", str(store)]) == 2
    line = one_error_line(capsys)
    assert f"{kind} '" in line and "left as it is" in line, line
    assert store.read_bytes() == before and not out.exists()


def test_a_trigger_added_after_the_check_is_found_before_the_insert(tmp_path):
    store = a_history(tmp_path / "runs.sqlite", n=4)
    opened = history.open_history(store, warn=print)
    with sqlite3.connect(store) as db:
        db.execute(SCHEMA_ADDITIONS["trigger"])
    with pytest.raises(InputError, match="trigger 'wipe'"):
        history.record(opened.path, a_run(), timings={}, artifacts=[])
    with sqlite3.connect(store) as db:
        assert db.execute("SELECT count(*) FROM runs").fetchone()[0] == 4


def zeros_stream(n_bytes):
    """zlib of ``bytes(n_bytes)`` (a whole MiB count) in a few MB, made without compressing it all: after a full
    flush each MiB of zeros compresses to the same bytes, and the checksum of zeros is known."""
    mib = 1 << 20
    deflate = zlib.compressobj(9)
    head = deflate.compress(bytes(mib)) + deflate.flush(zlib.Z_FULL_FLUSH)
    segment = deflate.compress(bytes(mib)) + deflate.flush(zlib.Z_FULL_FLUSH)
    final_empty_block = b"\x03\x00"
    return head + segment * (n_bytes // mib - 1) + final_empty_block + struct.pack(">I", (n_bytes % 65521) << 16 | 1)


def test_the_stream_is_what_it_says():
    assert zlib.decompress(zeros_stream(3 << 20)) == bytes(3 << 20)


def bombed_history(path):
    a_history(path, n=2)
    with sqlite3.connect(path) as db:
        db.execute("UPDATE runs SET predictions = ? WHERE id = 2", (zeros_stream(3 << 30),))
    return path


def test_a_decompression_bomb_is_refused_without_inflating_it(tmp_path):
    store = bombed_history(tmp_path / "runs.sqlite")
    tracemalloc.start()
    try:
        with pytest.raises(InputError, match=r"run 2's predictions must be zlib of a 3 x n table"):
            history.baseline_run(store, "last", "tiny.npz")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 256 << 20, peak  # the bound (48 MiB) and its buffer's growth, not the 3 GiB


def test_a_decompression_bomb_is_one_line_exit_2(tmp_path, tiny_npz, capsys):
    store = bombed_history(tmp_path / "runs.sqlite")
    assert main(["train", "--data", str(tiny_npz), "--out", str(tmp_path / "out"), "--iterations", "3",
                 "--history", str(store), "--baseline", "history:last"]) == 2
    assert "run 2's predictions" in one_error_line(capsys)


BAD_VALUES = {  # column: (stored value, words of the message)
    "config": ("{not json", "config must be JSON text"),
    "multiclass_accuracy": ("high", "multiclass_accuracy must be a number from 0 to 1"),
    "one_vs_all_low": (0.99, "one_vs_all interval must be around its accuracy"),  # inverted: low above the value
    "per_class": ('{"a": 1}', "per_class must be a JSON list of objects"),
    "timings": ('{"train_s": "slow"}', "timings must be a JSON object of seconds"),
    "git_dirty": (7, "git_dirty must be empty, 0 or 1"),
    "data_name": (b"\x00\x01", "data_name must be text"),
    "artifacts": ("[" * 100_000 + "]" * 100_000, "artifacts must be JSON text"),
}


@pytest.mark.parametrize("column", BAD_VALUES)
def test_a_row_of_the_wrong_type_is_one_line_naming_the_run_and_the_field(column, tmp_path, capsys):
    store = a_history(tmp_path / "runs.sqlite", n=3)
    value, words = BAD_VALUES[column]
    with sqlite3.connect(store) as db:
        db.execute(f"UPDATE runs SET {column} = ? WHERE id = 2", (value,))
    assert main(["history", str(store)]) == 2
    line = one_error_line(capsys)
    assert f"run 2's {words}" in line, line


def test_predictions_of_another_shape_are_refused(tmp_path):
    store = a_history(tmp_path / "runs.sqlite", n=1)
    for blob in (b"not zlib", zlib.compress(bytes(25)), "text"):
        with sqlite3.connect(store) as db:
            db.execute("UPDATE runs SET predictions = ?", (blob,))
        with pytest.raises(InputError, match="run 1's predictions"):
            history.predictions_of(store, [1])


# --- item 10: --history refuses a symbolic link ---------------------------------------------------------

@pytest.mark.skipif(not hasattr(os, "symlink") or os.name == "nt", reason="symbolic links")
@pytest.mark.parametrize("target", ["missing", "a history"])
def test_a_symbolic_link_as_history_is_refused(target, tmp_path, tiny_npz, capsys):
    pointed = tmp_path / "elsewhere.sqlite"
    if target == "a history":
        a_history(pointed, n=1)
    before = pointed.read_bytes() if pointed.exists() else None
    link = tmp_path / "runs.sqlite"
    link.symlink_to(pointed)
    assert main(["train", "--data", str(tiny_npz), "--out", str(tmp_path / "out"), "--iterations", "3",
                 "--history", str(link)]) == 2
    line = one_error_line(capsys)
    assert "is a symbolic link" in line and "(--history)" in line, line
    assert (pointed.read_bytes() if pointed.exists() else None) == before
    assert not (tmp_path / "out").exists()


def test_rows_read_back_as_written(tmp_path):
    store = a_history(tmp_path / "runs.sqlite", n=2, commit_url=GOOD_URL, git_dirty=True)
    runs = history.open_history(store, warn=print).runs
    assert [run["id"] for run in runs] == [1, 2] and runs[0]["git_dirty"] is True
    rows, true_index, predicted = history.predictions_of(store, [2])[2]
    assert rows.tolist() == [0, 1] and np.array_equal(predicted, [1, 1])

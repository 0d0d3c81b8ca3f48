"""Issue 32, item 7: hostile history rows and notes files either work or are one line of InputError (exit 2),
never another exception. Each example calls the library as the run does (reading a history, its table, the
trends chapter's numbers and a history baseline; loading notes and rendering their chapters), not a whole run."""
import json
import sqlite3
import tempfile
import zlib
from pathlib import Path

import numpy as np
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from mnist_ova.errors import ExitCode, InputError
from mnist_ova.pipeline import history, trends
from mnist_ova.render import notes
from tests.red_team.test_history_hostile import a_run

# No example database (see tests/trainer/test_readers_fuzz.py); a failure prints its example.
FUZZ = settings(max_examples=120, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])


def one_line_or(action):
    """``action()``'s value, or None when it is refused with one printable line of InputError (exit 2)."""
    try:
        return action()
    except InputError as exc:
        assert exc.exit_code == ExitCode.BAD_INPUT
        assert str(exc).strip() and str(exc).isprintable(), repr(str(exc))
        return None


# --- history rows ---------------------------------------------------------------------------------

json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
                           lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner,
                                                                                        max_size=3), max_leaves=8)
json_text = st.builds(json.dumps, json_values)
# Any SQLite value, and those a column of the tool's own rows holds, so that the checks after the first pass.
sqlite_values = st.none() | st.integers(-2**63, 2**63 - 1) | st.floats() | st.text(max_size=20) | st.binary(max_size=20)
tables = st.integers(0, 6).flatmap(lambda n: st.lists(st.integers(-3, 8), min_size=3 * n, max_size=3 * n))
predictions = st.one_of(
    st.binary(max_size=40), st.builds(lambda b: zlib.compress(b), st.binary(max_size=60)),
    st.builds(lambda t: zlib.compress(np.asarray(t, dtype="<i8").tobytes()), tables))
COLUMN_VALUES = {
    **{name: st.sampled_from([0.0, 0.3, 0.5, 0.7, 1.0]) | sqlite_values for name in (
        "multiclass_accuracy", "multiclass_low", "multiclass_high", "one_vs_all_accuracy", "one_vs_all_low",
        "one_vs_all_high")},
    **{name: json_text | st.sampled_from(["{}", "[]"]) | sqlite_values for name in (
        "config", "per_class", "timings", "artifacts", "metrics")},
    "git_dirty": st.sampled_from([0, 1, None]) | sqlite_values,
    "data_name": st.just("tiny.npz") | sqlite_values,
    "data_sha256": st.just("0" * 64) | sqlite_values,
    "predictions": predictions | sqlite_values,
    **{name: sqlite_values for name in ("time", "command", "tool_version", "config_digest", "git_commit",
                                        "commit_url", "out")},
}
rows = st.lists(st.fixed_dictionaries({}, optional=COLUMN_VALUES), min_size=1, max_size=3)


def history_with(folder, hostile_rows):
    """A history of the tool with one good run of tiny.npz, then ``hostile_rows`` (good values where a row
    names none); None when SQLite itself refuses a row (a NOT NULL column given NULL)."""
    path = Path(folder) / "runs.sqlite"
    history.record(path, a_run(), timings={}, artifacts=[])
    good = {key: json.dumps(value) if isinstance(value, (dict, list)) else value
            for key, value in a_run(timings={}, artifacts={}).items()}
    good["git_dirty"] = 0
    db = sqlite3.connect(path, isolation_level=None)
    try:
        for row in hostile_rows:
            values = {**good, **row}
            db.execute(f"INSERT INTO runs ({', '.join(values)}) VALUES ({', '.join('?' * len(values))})",
                       tuple(values.values()))
    except sqlite3.IntegrityError:
        return None
    finally:
        db.close()
    return path


@FUZZ
@given(hostile_rows=rows)
def test_history_rows_are_read_or_refused_in_one_line(hostile_rows):
    with tempfile.TemporaryDirectory() as folder:
        path = history_with(folder, hostile_rows)
        assume(path is not None)
        found = one_line_or(lambda: history.open_history(path, warn=lambda message: None))
        if found is None:
            return
        assert all(line.isprintable() for line in trends.runs_table(found.runs).splitlines())
        current = {**found.runs[0], "id": None}
        one_line_or(lambda: trends.across_builds(found, current, ([0], [1], [1])))
        for selector in ("last", "best", str(found.runs[-1]["id"])):
            one_line_or(lambda: history.baseline_run(path, selector, "tiny.npz"))


# --- notes files ----------------------------------------------------------------------------------

FIGURES = {"fig_confusion": "confusion_matrix.svg", "fig_posters": "video_posters.png"}
LABELS = notes.labels(FIGURES)
tex = st.text(alphabet="\\{}^_$ab1+-()[]|", max_size=12) | st.sampled_from(
    [r"\frac{a}{b}", r"\sqrt{x}", r"\alpha_1", r"x^{2}", r"\left(", r"\mathcal{L}", "{" * 30 + "}" * 30, r"\unknown"])
sources = st.sampled_from(["mine.png", "../mine.png", "/etc/passwd", "http://127.0.0.1:9/x.png", "data:image/png,x",
                           "mine.svg", "missing.png", "mine%2epng", "%2e%2e/x.png", "", "mine.txt"]) | st.text(max_size=8)
labels = st.sampled_from(["fig-confusion_matrix", "tbl-per_class", "fig-mine", "fig-", "tbl-x", "fig-a-b"])
fragments = st.one_of(
    st.text(max_size=20),
    st.builds(lambda level, title: "#" * level + " " + title, st.integers(1, 4), st.text(max_size=10)),
    st.builds(lambda t: f"${t}$", tex), st.builds(lambda t: f"$${t}$$", tex),
    st.builds(lambda cap, src, label: f"![{cap}]({src})" + (f"{{#{label}}}" if label else ""),
              st.text(max_size=6), sources, st.none() | labels),
    st.builds(lambda label: f"@{label}", labels),
    st.sampled_from(["[^a]", "[^a]: a note", "| a | b |\n|--|--|\n| 1 | 2 |", "<script>x</script>", "```\n$x$\n```",
                     "> quote", "- item", "\n", "\n\n", "{#fig-x}", "\ufeff", "\x00", "\x1b[31m"]))


@FUZZ
@given(parts=st.lists(fragments, max_size=8), separators=st.lists(st.sampled_from([" ", "\n", "\n\n"]), max_size=8))
def test_notes_files_are_read_or_refused_in_one_line(parts, separators):
    from PIL import Image

    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        Image.fromarray(np.zeros((4, 4), dtype=np.uint8)).save(folder / "mine.png")
        (folder / "mine.svg").write_text('<svg xmlns="http://www.w3.org/2000/svg"><rect width="1" height="1"/></svg>')
        text = "".join(part + (separators[i] if i < len(separators) else "\n") for i, part in enumerate(parts))
        (folder / "notes.md").write_text(text, encoding="utf-8", errors="surrogatepass")
        document = one_line_or(lambda: notes.load(folder / "notes.md", LABELS))
        if document is None:
            return
        for id, _ in document.sections():
            document.body(id, lambda id: f"REF {id}", lambda id: True, lambda kind, id: f"NUMBER {kind} {id}")

"""``--history FILE``: the run history, an SQLite database (the standard library's ``sqlite3``) that
every run appends one row to once its outputs are committed, so that scheduled builds remember the
builds before them.

The file is checked with a read before anything is written to it: a file that is not an SQLite
database, a database of another program, a damaged one, a symbolic link, or one whose schema holds
anything this tool did not make (a trigger, a view: code SQLite would run on our insert) is one line
(exit 2) and keeps its bytes. Its contents are data: every value is type-checked as it is read, and the
predictions' blob is inflated with a bound.
Rows are only ever added (no statement here deletes or updates one). Two runs that record at the same
moment both land: each write is one ``BEGIN IMMEDIATE`` transaction, and a writer waits for the
other's lock (up to ``BUSY_TIMEOUT_S``, in slices that act on the run's signals) instead of failing. A history the user may not write
is read (for the trends and ``--baseline history:...``) and the run says it was not recorded.

``PRAGMA user_version`` is the schema's version and ``PRAGMA application_id`` marks the file as this
tool's; ``MIGRATIONS[v]`` brings a version-``v`` file to ``v + 1``, inside the recording transaction.
"""
import contextlib
import dataclasses
import hashlib
import json
import math
import os
import re
import sqlite3
import time
import zlib
from pathlib import Path

import numpy as np

from mnist_ova import children
from mnist_ova.environment import run_time
from mnist_ova.errors import InputError

APPLICATION_ID = 0x6D6F7661  # "mova": this file is an mnist-ova run history
SQLITE_HEADER = b"SQLite format 3\x00"
BUSY_TIMEOUT_S = 60.0  # a writer waits this long for another run's transaction
BUSY_SLICE_S = 0.1  # SQLite's own busy wait, between which the run's signals are acted on
GIT_TIMEOUT_S = 5.0  # each git command (a slow hook or a network file system: the commit is left unknown)
MAX_PREDICTION_ROWS = 1 << 21  # test rows a history row may hold: inflated to 48 MiB at most, never more

# MIGRATIONS[v]: the statements that bring a version-v database to version v + 1 (0: a new file).
# Append to it for a new version; never edit an entry that has shipped.
MIGRATIONS = (
    ("""
    CREATE TABLE runs (
        id INTEGER PRIMARY KEY AUTOINCREMENT,  -- the build number
        time TEXT NOT NULL,                    -- UTC, ISO 8601; SOURCE_DATE_EPOCH when set
        command TEXT NOT NULL,                 -- the command line
        tool_version TEXT NOT NULL,
        data_name TEXT NOT NULL,
        data_sha256 TEXT NOT NULL,
        config TEXT NOT NULL,                  -- JSON: every training option
        config_digest TEXT NOT NULL,           -- sha256 of that JSON
        multiclass_accuracy REAL NOT NULL,
        multiclass_low REAL NOT NULL,          -- 95 % Wilson interval
        multiclass_high REAL NOT NULL,
        one_vs_all_accuracy REAL NOT NULL,
        one_vs_all_low REAL NOT NULL,
        one_vs_all_high REAL NOT NULL,
        per_class TEXT NOT NULL,               -- JSON: [{class, recall, precision, with their intervals}]
        metrics TEXT NOT NULL,                 -- JSON: the run's metrics.json, the baseline of a later run
        timings TEXT NOT NULL,                 -- JSON: seconds per stage
        git_commit TEXT,                       -- of the working folder, when it is a git checkout
        git_dirty INTEGER,                     -- 1: it had uncommitted changes
        commit_url TEXT,                       -- the commit's page, when the remote is a known host
        out TEXT NOT NULL,                     -- the output folder, absolute
        artifacts TEXT NOT NULL,               -- JSON: {path: sha256}, from the manifest
        predictions BLOB NOT NULL              -- zlib of int64 (3, n): test rows, true and predicted class
    )""",
     "CREATE INDEX runs_by_data ON runs (data_name, id)"),
)
SCHEMA_VERSION = len(MIGRATIONS)
# The columns a reader gets (everything but the predictions, which only a baseline unpacks).
COLUMNS = ("id", "time", "command", "tool_version", "data_name", "data_sha256", "config", "config_digest",
           "multiclass_accuracy", "multiclass_low", "multiclass_high", "one_vs_all_accuracy", "one_vs_all_low",
           "one_vs_all_high", "per_class", "timings", "git_commit", "git_dirty", "commit_url", "out", "artifacts")
JSON_COLUMNS = ("config", "per_class", "timings", "artifacts")
# What each column read must be: (rule in words, check).
_TEXT = ("text", lambda v: isinstance(v, str))
_RATE = ("a number from 0 to 1", lambda v: isinstance(v, (int, float)) and not isinstance(v, bool) and 0 <= v <= 1)
COLUMN_RULES = {
    "id": ("a positive integer", lambda v: isinstance(v, int) and v > 0),
    **{name: _TEXT for name in ("time", "command", "tool_version", "data_name", "data_sha256", "config_digest",
                                "out")},
    **{name: _RATE for name in ("multiclass_accuracy", "multiclass_low", "multiclass_high", "one_vs_all_accuracy",
                                "one_vs_all_low", "one_vs_all_high")},
    "config": ("a JSON object", lambda v: isinstance(v, dict)),
    "per_class": ("a JSON list of objects", lambda v: isinstance(v, list) and all(isinstance(c, dict) for c in v)),
    "timings": ("a JSON object of seconds", lambda v: isinstance(v, dict) and all(
        isinstance(t, (int, float)) and not isinstance(t, bool) and math.isfinite(t) for t in v.values())),
    "artifacts": ("a JSON object of file: sha256", lambda v: isinstance(v, dict) and all(
        isinstance(h, str) for h in v.values())),
    "git_commit": ("empty or text", lambda v: v is None or isinstance(v, str)),
    "git_dirty": ("empty, 0 or 1", lambda v: v is None or (isinstance(v, int) and v in (0, 1))),
    "commit_url": ("empty or text", lambda v: v is None or isinstance(v, str)),
}


@dataclasses.dataclass(frozen=True)
class History:
    """A run history as found before the run: where it is, its runs (oldest first, predictions
    left in the file) and whether this run may append to it."""

    path: Path
    runs: tuple  # dicts of COLUMNS, JSON columns decoded
    writable: bool

    def of_data(self, name):
        """The runs of the data named ``name``, oldest first."""
        return tuple(run for run in self.runs if run["data_name"] == name)


def _problem(path, what):
    return InputError(f"history {str(path)!r} {what}; it was left as it is: give --history another file")


def _bad_value(path, run_id, field, rule, value):
    shown = repr(value) if len(repr(value)) <= 80 else repr(value)[:80] + "..."
    return InputError(f"history {str(path)!r}: run {run_id}'s {field} must be {rule}; got {shown}: give --history "
                      "another file, or mend that row")


def _expected_schema(version):
    """sqlite_master's rows (type, name, table, sql) of a version-``version`` history: what MIGRATIONS makes."""
    db = sqlite3.connect(":memory:")
    try:
        for step in MIGRATIONS[:version]:
            for statement in step:
                db.execute(statement)
        return set(db.execute("SELECT type, name, tbl_name, sql FROM sqlite_master"))
    finally:
        db.close()


def _check_schema(db, path, version):
    """The file's schema must be exactly the one this tool makes: anything else (a trigger, a view, a table of
    its own) could run code or hide rows when this run reads or writes."""
    found = set(db.execute("SELECT type, name, tbl_name, sql FROM sqlite_master"))
    expected = _expected_schema(version)
    strange = sorted(f"{kind} {name!r}" for kind, name, _, _ in found - expected)
    if strange:
        raise _problem(path, f"holds what mnist-ova's schema {version} does not: {', '.join(strange)}")
    missing = sorted(f"{kind} {name!r}" for kind, name, _, _ in expected - found)
    if missing:
        raise _problem(path, f"lacks part of mnist-ova's schema {version}: {', '.join(missing)}")


def _inspect(path):
    """Check ``path`` by reading it: None when there is nothing yet (no file, or an empty one), else
    its schema version. Anything but a history of this tool (or a new, empty SQLite file) is an
    ``InputError``."""
    path = Path(path)
    if path.is_symlink():  # SQLite would create or convert the file it points to, wherever that is
        raise InputError(f"history {str(path)!r} is a symbolic link (to {os.readlink(path)!r}); give the file "
                         "itself", option="history")
    if not path.exists():
        if not path.parent.is_dir():
            raise InputError(f"history {str(path)!r}: its folder {str(path.parent)!r} does not exist; make it, or "
                             "give --history a file in an existing folder")
        return None
    if not path.is_file():
        raise _problem(path, "is not a file")
    with open(path, "rb") as f:
        header = f.read(len(SQLITE_HEADER))
    if not header:
        return None
    if header != SQLITE_HEADER:
        raise _problem(path, "is not an SQLite database (so not a run history of mnist-ova)")
    try:
        with _connect(path, read_only=True) as db:
            if db.execute("PRAGMA quick_check").fetchone()[0] != "ok":
                raise sqlite3.DatabaseError("quick_check failed")
            application_id, version = (db.execute(f"PRAGMA {name}").fetchone()[0]
                                       for name in ("application_id", "user_version"))
            objects = db.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
            if application_id == 0 and not objects:
                return None  # an empty database: ours to set up
            if application_id != APPLICATION_ID:
                raise _problem(path, "is an SQLite database of another program, not a run history of mnist-ova")
            if version > SCHEMA_VERSION:
                raise _problem(path, f"was written by a newer mnist-ova (schema {version}; this one knows up to "
                                     f"{SCHEMA_VERSION}): upgrade mnist-ova to use it")
            _check_schema(db, path, version)
    except sqlite3.DatabaseError as exc:
        raise _problem(path, f"is a damaged SQLite database ({exc})") from None
    return version


@contextlib.contextmanager
def _connect(path, *, read_only=False):
    """A connection in autocommit mode (transactions are begun explicitly), closed on leaving; a
    writing one creates the file when it is missing (two runs may both: SQLite lets one set it up).
    ``trusted_schema`` off: nothing in the file's schema may call a function with side effects."""
    uri = f"{Path(path).absolute().as_uri()}?mode={'ro' if read_only else 'rwc'}"
    db = sqlite3.connect(uri, uri=True, timeout=BUSY_SLICE_S, isolation_level=None)
    try:
        _patiently(lambda: db.execute("PRAGMA trusted_schema = OFF"))
        yield db
    finally:
        db.close()


def _patiently(action):
    """``action()``, tried again while another connection holds the lock, for up to ``BUSY_TIMEOUT_S``; between
    tries (SQLite's own wait of ``BUSY_SLICE_S``) the run acts on its signals."""
    deadline = time.monotonic() + BUSY_TIMEOUT_S
    while True:
        try:
            return action()
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) and "busy" not in str(exc) or time.monotonic() >= deadline:
                raise
        children.raise_if_stopped()


def _may_write(path):
    path = Path(path)
    folder_ok = os.access(path.parent, os.W_OK | os.X_OK)  # SQLite writes its journal beside the file
    return folder_ok and (not path.exists() or os.access(path, os.W_OK))


def open_history(path, *, warn):
    """The history at ``path``, read and checked before any work (see ``_inspect``); ``warn`` says
    when it cannot be written, so this run will only read it."""
    path = Path(path)
    version = _inspect(path)
    writable = _may_write(path)
    if not writable:
        warn(f"note: history {str(path)!r} is read-only: it is read for the trends and baselines, and this run "
             "is not recorded in it")
    if version is None:
        return History(path, (), writable)
    try:
        with _connect(path, read_only=True) as db:
            rows = _patiently(lambda: db.execute(f"SELECT {', '.join(COLUMNS)} FROM runs ORDER BY id").fetchall())
    except sqlite3.DatabaseError as exc:
        raise _problem(path, f"could not be read ({exc})") from None
    return History(path, tuple(_decode(row, path) for row in rows), writable)


def _json(text, path, run_id, field):
    try:
        return json.loads(text)
    except (TypeError, ValueError, RecursionError):
        raise _bad_value(path, run_id, field, "JSON text", text) from None


def _decode(row, path):
    """A row as a run, each value checked against ``COLUMN_RULES`` (a bad one: an ``InputError`` naming it)."""
    run = dict(zip(COLUMNS, row))
    run_id = run["id"]
    for key in JSON_COLUMNS:
        run[key] = _json(run[key], path, run_id, key)
    for key, (rule, holds) in COLUMN_RULES.items():
        if not holds(run[key]):
            raise _bad_value(path, run_id, key, rule, run[key])
    for kind in ("multiclass", "one_vs_all"):
        low, value, high = (run[f"{kind}_{part}"] for part in ("low", "accuracy", "high"))
        if not low <= value <= high:
            raise _bad_value(path, run_id, f"{kind} interval", f"around its accuracy {value!r}", [low, high])
    run["git_dirty"] = None if run["git_dirty"] is None else bool(run["git_dirty"])
    return run


# -- one run as a row -------------------------------------------------------------------------------


def pack_predictions(test_rows, true_index, predicted_index):
    """The test predictions as a compressed blob: enough to pair a later run with this one."""
    table = np.stack([np.asarray(a, dtype="<i8") for a in (test_rows, true_index, predicted_index)])
    return zlib.compress(table.tobytes(), 9)


def unpack_predictions(blob, *, path="", run_id=None):
    """(test rows, true index, predicted index) from ``pack_predictions``, inflated to at most
    ``MAX_PREDICTION_ROWS`` rows (a blob that would grow past that is refused, not inflated); a blob that is
    no such table is an ``InputError`` naming the run ``run_id`` of the history ``path``."""
    limit = 3 * 8 * MAX_PREDICTION_ROWS
    rule = f"zlib of a 3 x n table of int64 (n up to {MAX_PREDICTION_ROWS})"
    if not isinstance(blob, bytes):
        raise _bad_value(path, run_id, "predictions", rule, type(blob).__name__)
    inflate = zlib.decompressobj()
    try:
        raw = inflate.decompress(blob, limit + 1)
    except zlib.error as exc:
        raise _bad_value(path, run_id, "predictions", rule, f"no zlib stream ({exc})") from None
    if len(raw) > limit:
        raise _bad_value(path, run_id, "predictions", rule, f"more than {limit} bytes once inflated")
    if not inflate.eof or len(raw) % 24:
        raise _bad_value(path, run_id, "predictions", rule, f"{len(raw)} bytes, cut short or of another shape")
    table = np.frombuffer(raw, dtype="<i8").reshape(3, -1)
    return table[0], table[1], table[2]


def now_text(environ=os.environ):
    """The run's time as UTC ISO 8601 (``environment.run_time``: SOURCE_DATE_EPOCH when set)."""
    return run_time(environ).strftime("%Y-%m-%dT%H:%M:%SZ")


def tool_version():
    from importlib import metadata

    try:
        return metadata.version("mnist-ova")
    except metadata.PackageNotFoundError:
        return "unknown"


def config_digest(config):
    return hashlib.sha256(json.dumps(config, sort_keys=True).encode()).hexdigest()


def run_record(*, metrics, evaluation, test_rows, command, out, git):
    """This run as the history holds it, but for its timings and artifacts (``record`` adds those once
    they are known): ``metrics`` is its metrics.json document, ``evaluation`` its Evaluation, ``git``
    what ``git_state`` found."""
    a, dataset, names = evaluation.analysis, metrics["dataset"], list(evaluation.class_names)
    per_class = [{"class": name, "recall": float(evaluation.recall[k]), "recall_interval": list(a.recall_intervals[k]),
                  "precision": float(evaluation.precision[k]), "precision_interval": list(a.precision_intervals[k])}
                 for k, name in enumerate(names)]
    return {
        "time": now_text(), "command": command, "tool_version": tool_version(),
        "data_name": dataset["name"], "data_sha256": dataset["sha256"],
        "config": metrics["config"], "config_digest": config_digest(metrics["config"]),
        "multiclass_accuracy": float(evaluation.multiclass_accuracy),
        "multiclass_low": float(a.multiclass_interval[0]), "multiclass_high": float(a.multiclass_interval[1]),
        "one_vs_all_accuracy": float(evaluation.one_vs_all_accuracy),
        "one_vs_all_low": float(a.one_vs_all_interval[0]), "one_vs_all_high": float(a.one_vs_all_interval[1]),
        "per_class": per_class, "metrics": metrics,
        "git_commit": git[0], "git_dirty": git[1], "commit_url": git[2], "out": str(Path(out).absolute()),
        "predictions": pack_predictions(test_rows, evaluation.true_index, evaluation.predicted_index),
    }


def record(path, run, *, timings, artifacts):
    """Append ``run`` (a ``run_record``) with its ``timings`` and ``artifacts`` (the manifest's entries)
    to the history at ``path``, creating or migrating the schema first; returns its id. The file is checked by reading it again first, so a file that changed
    into something else since the run began is still never written."""
    from mnist_ova.fileio import json_text

    _inspect(path)
    run = dict(run, timings=timings, artifacts={entry["path"]: entry["sha256"] for entry in artifacts})
    values = {key: (json_text(value) if isinstance(value, (dict, list)) else value) for key, value in run.items()}
    values["git_dirty"] = None if run["git_dirty"] is None else int(run["git_dirty"])
    try:
        with _connect(path) as db:
            _patiently(lambda: db.execute("BEGIN IMMEDIATE"))  # the write lock now: the checks below hold
            try:
                _migrate(db, path)
                cursor = db.execute(f"INSERT INTO runs ({', '.join(values)}) VALUES ({', '.join('?' * len(values))})",
                                    tuple(values.values()))
                db.execute("COMMIT")
            except BaseException:
                with contextlib.suppress(sqlite3.Error):
                    db.execute("ROLLBACK")
                raise
            return cursor.lastrowid
    except sqlite3.DatabaseError as exc:
        raise InputError(f"could not record this run in the history {str(path)!r} ({exc}); its outputs are "
                         "written") from None



def _migrate(db, path):
    """Within the caller's write transaction: bring the schema to ``SCHEMA_VERSION``, once the file is still
    a history with exactly its version's schema (it may have changed since ``_inspect``; another run may have
    set it up meanwhile)."""
    application_id = db.execute("PRAGMA application_id").fetchone()[0]
    version = db.execute("PRAGMA user_version").fetchone()[0]
    if application_id not in (0, APPLICATION_ID) or version > SCHEMA_VERSION:
        raise _problem(path, "changed into another database while this run worked")
    _check_schema(db, path, version)
    for step in MIGRATIONS[version:]:
        for statement in step:
            db.execute(statement)
    db.execute(f"PRAGMA application_id = {APPLICATION_ID}")
    db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")


def predictions_of(path, ids):
    """{id: (test rows, true index, predicted index)} of the runs ``ids``."""
    if not ids:
        return {}
    with _connect(path, read_only=True) as db:
        rows = _patiently(lambda: db.execute(f"SELECT id, predictions FROM runs WHERE id IN ({', '.join('?' * len(ids))})",
                                             tuple(int(i) for i in ids)).fetchall())
    return {run_id: unpack_predictions(blob, path=path, run_id=run_id) for run_id, blob in rows}


def baseline_run(path, selector, data_name):
    """The run a ``--baseline history:SELECTOR`` names, with its metrics.json document and its
    predictions: ``last`` or ``best`` (highest multiclass accuracy, the later one on a tie) among the
    runs of the data ``data_name``, or a run id. None when no run of that data is recorded yet."""
    if not selector.isdigit():  # last or best (config.parse_selector allows nothing else)
        order = "id DESC" if selector == "last" else "multiclass_accuracy DESC, id DESC"
        query, parameters = f"WHERE data_name = ? ORDER BY {order}", (data_name,)
    else:
        query, parameters = "WHERE id = ?", (int(selector),)
    with _connect(path, read_only=True) as db:
        row = _patiently(lambda: db.execute(f"SELECT id, metrics, predictions FROM runs {query} LIMIT 1",
                                            parameters).fetchone())
    if row is None:
        return None
    run_id, metrics, blob = row
    metrics = _json(metrics, path, run_id, "metrics")
    if not isinstance(metrics, dict):
        raise _bad_value(path, run_id, "metrics", "a JSON object", metrics)
    return run_id, metrics, unpack_predictions(blob, path=path, run_id=run_id)


def git_state(folder="."):
    """(commit, dirty, commit URL) of the git checkout at ``folder``; Nones when it is none, or git is
    missing. Quiet either way: a run outside a checkout is normal."""
    # No fsmonitor hook (a program of the checkout's, which may stall or linger), no lock taken by a status,
    # no prompt for a password; started as every child is, so that it ends with the run.
    environ = dict(os.environ, GIT_OPTIONAL_LOCKS="0", GIT_TERMINAL_PROMPT="0")

    def git(*args):
        found = children.output(["git", "-c", "core.fsmonitor=false", "-C", str(folder), *args],
                                timeout=GIT_TIMEOUT_S, env=environ)
        return None if found is None else found.strip()

    commit = git("rev-parse", "--verify", "-q", "HEAD")
    if not commit:
        return None, None, None
    status = git("status", "--porcelain", "--untracked-files=no")
    return commit, (None if status is None else bool(status)), commit_url(git("remote", "get-url", "origin"), commit)


KNOWN_HOSTS = ("github.com", "gitlab.com", "codeberg.org", "bitbucket.org")
# The only commit pages the report links: https, a known host, a plain repository path, a hex commit.
COMMIT_PAGE = re.compile(rf"https://(?:{'|'.join(map(re.escape, KNOWN_HOSTS))})(?:/[A-Za-z0-9_.~-]+)+"
                         r"/commits?/([0-9a-f]{7,64})")


def commit_url(remote, commit):
    """The web page of ``commit`` for a remote on a known forge (https or ssh address), else None."""
    match = re.fullmatch(r"(?:https://(?:[^@/]+@)?|ssh://git@|git@)([^/:]+)[/:](.+?)(?:\.git)?/?", remote or "")
    if not match or match.group(1) not in KNOWN_HOSTS:
        return None
    host, repository = match.groups()
    return safe_commit_url(f"https://{host}/{repository}/{'commits' if host == 'bitbucket.org' else 'commit'}/"
                           f"{commit}", commit)


def safe_commit_url(url, commit):
    """``url`` when it is a page ``commit_url`` could have made for ``commit``, else None: a history's
    ``commit_url`` is data anyone may have written (``javascript:...``), and the report links only this."""
    if not isinstance(url, str) or not isinstance(commit, str):
        return None
    match = COMMIT_PAGE.fullmatch(url)
    return url if match and match.group(1) == commit else None

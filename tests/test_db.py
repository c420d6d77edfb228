"""The shared SQLite layer: WAL, migrations, per-row versions, audit log, durable commits."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest

from ps3_eval.db import VERSIONED_COLUMNS, Database, Migration, NotFound, Schema, StaleWrite
from ps3_eval.errors import UsageError

NOTES = Schema(
    "notes",
    (
        Migration(
            1, f"CREATE TABLE notes (id INTEGER PRIMARY KEY, text TEXT, {VERSIONED_COLUMNS});"
        ),
        Migration(2, "ALTER TABLE notes ADD COLUMN deleted INTEGER NOT NULL DEFAULT 0;"),
    ),
)
LABELS = Schema(
    "labels",
    (
        Migration(
            1, f"CREATE TABLE labels (id INTEGER PRIMARY KEY, mrr TEXT, {VERSIONED_COLUMNS});"
        ),
    ),
)


def test_wal_and_migrations_per_component(tmp_path: Path) -> None:
    path = tmp_path / "x.sqlite"
    with Database(path, [Schema("notes", NOTES.migrations[:1])]) as db:
        assert db.one("PRAGMA journal_mode")["journal_mode"] == "wal"  # type: ignore[index]
        assert db.schema_version("notes") == 1
        with db.write("a") as tx:
            tx.insert("notes", {"text": "kept"})
    # A later version migrates the file in place and keeps the data; a second component (an MRR
    # study beside a curation project) shares the file with versions of its own.
    with Database(path, [NOTES, LABELS]) as db:
        assert db.schema_version("notes") == 2 and db.schema_version("labels") == 1
        assert db.get("notes", 1)["text"] == "kept" and db.get("notes", 1)["deleted"] == 0
    with pytest.raises(UsageError, match=r"newer ps3-eval \(notes schema version 2; this one"):
        Database(path, [Schema("notes", NOTES.migrations[:1])])


def test_a_failed_migration_changes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "x.sqlite"
    Database(path, [Schema("notes", NOTES.migrations[:1])]).close()
    broken = Schema("notes", (*NOTES.migrations, Migration(3, "CREATE TABLE notes (x);")))
    with pytest.raises(sqlite3.OperationalError):
        Database(path, [broken])
    with Database(path, []) as db:
        assert db.schema_version("notes") == 1
        assert "deleted" not in db.columns("notes")


def test_versions_audit_and_stale_writes(tmp_path: Path) -> None:
    with Database(tmp_path / "x.sqlite", [NOTES]) as db:
        with db.write("ann") as tx:
            row = tx.insert("notes", {"text": "a"})
        assert row["version"] == 1 and row["updated_by"] == "ann"
        with db.write("bob") as tx:
            row = tx.update("notes", row["id"], {"text": "b"}, expected=1)
        assert row["version"] == 2 and row["text"] == "b"
        # Ann saves on top of version 1: refused, with the row as Bob left it.
        with pytest.raises(StaleWrite) as stale, db.write("ann") as tx:
            tx.update("notes", row["id"], {"text": "c"}, expected=1)
        assert stale.value.current["text"] == "b" and stale.value.current["version"] == 2
        assert "by bob" in str(stale.value)
        with pytest.raises(StaleWrite), db.write("ann") as tx:
            tx.delete("notes", row["id"], expected=1)
        with db.write("ann") as tx:
            gone = tx.delete("notes", row["id"], expected=2)
        assert gone["deleted"] == 1 and gone["version"] == 3
        with pytest.raises(StaleWrite), db.write("bob") as tx:  # no edits of a deleted row
            tx.update("notes", row["id"], {"text": "d"}, expected=3)
        history = db.history("notes", row["id"])
        assert [(h["action"], h["actor"], h["version"]) for h in history] == [
            ("insert", "ann", 1),
            ("update", "bob", 2),
            ("update", "ann", 3),
        ]
        assert history[1]["before"]["text"] == "a" and history[1]["after"]["text"] == "b"
        with pytest.raises(NotFound):
            db.get("notes", 99)


def test_names_are_checked_not_interpolated(tmp_path: Path) -> None:
    with Database(tmp_path / "x.sqlite", [NOTES]) as db, db.write("x") as tx:
        row = tx.insert("notes", {"text": "a"})
        for bad in ({"text = 'x', version": 1}, {"version": 9}, {"nope": 1}):
            with pytest.raises(UsageError):
                tx.update("notes", row["id"], bad, expected=1)
        with pytest.raises(UsageError):
            tx.insert("notes; DROP TABLE notes", {"text": "x"})
        with pytest.raises(UsageError):
            tx.insert("audit_log", {"actor": "x"})  # not a versioned table


def test_threads_editing_rows_lose_nothing_and_one_row_conflicts(tmp_path: Path) -> None:
    db = Database(tmp_path / "x.sqlite", [NOTES])
    with db.write("setup") as tx:
        ids = [tx.insert("notes", {"text": ""})["id"] for _ in range(8)]
    errors: list[BaseException] = []

    def editor(row_id: int) -> None:
        try:
            for i in range(25):
                version = db.get("notes", row_id)["version"]
                with db.write(f"t{row_id}") as tx:
                    tx.update("notes", row_id, {"text": f"{row_id}:{i}"}, version)
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=editor, args=(i,)) for i in ids]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    for i in ids:
        row = db.get("notes", i)
        assert (row["text"], row["version"]) == (f"{i}:24", 26)
        assert len(db.history("notes", i)) == 26
    # Two editors who read the same version: exactly one save wins.
    seen = db.get("notes", ids[0])["version"]
    barrier = threading.Barrier(2)
    outcome: list[str] = []

    def racer(name: str) -> None:
        barrier.wait()
        try:
            with db.write(name) as tx:
                tx.update("notes", ids[0], {"text": name}, seen)
            outcome.append("saved")
        except StaleWrite as exc:
            outcome.append(f"stale:{exc.current['text']}")

    racers = [threading.Thread(target=racer, args=(n,)) for n in ("x", "y")]
    for t in racers:
        t.start()
    for t in racers:
        t.join()
    assert sorted(o.split(":")[0] for o in outcome) == ["saved", "stale"]
    winner = db.get("notes", ids[0])["text"]
    assert f"stale:{winner}" in outcome
    db.close()


WRITER = textwrap.dedent(
    """
    import sys
    from ps3_eval.db import Database, Migration, Schema, VERSIONED_COLUMNS
    schema = Schema("notes", (Migration(1, "CREATE TABLE notes (id INTEGER PRIMARY KEY, "
                                           "text TEXT, " + VERSIONED_COLUMNS + ");"),))
    db = Database(sys.argv[1], [schema])
    i = 0
    while True:
        with db.write("w") as tx:
            row = tx.insert("notes", {"text": f"n{i}"})
        print(row["id"], flush=True)  # acknowledged only after the commit returned
        i += 1
    """
)


def test_a_killed_writer_loses_no_acknowledged_commit(tmp_path: Path) -> None:
    path = tmp_path / "x.sqlite"
    proc = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(path)], stdout=subprocess.PIPE, text=True
    )
    acked = []
    assert proc.stdout is not None
    for line in proc.stdout:
        acked.append(int(line))
        if len(acked) == 40:
            break
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    with Database(path, []) as db:
        kept = {r["id"] for r in db.query("SELECT id FROM notes")}
        audited = {r["row_id"] for r in db.query("SELECT row_id FROM audit_log")}
    assert set(acked) <= kept and set(acked) <= audited

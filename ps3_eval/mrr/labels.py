"""Human MRR labels: append-only rows in the study's SQLite file, safe for several writers at once.

Every label is a new row (item, labeller, label, time, source); nothing is updated or deleted, so
a labeller who changes their mind adds a label and the latest one per (item, labeller) counts.
The table is its own history: no label is ever lost to another one, whoever writes at once.

The file is a :class:`ps3_eval.db.Database` (component ``mrr``): WAL mode, a durable commit
before a write returns, one connection per thread, and each write in one immediate transaction,
so threads of a web server, CLI imports and other processes write at the same time without
losing a row. Files written before the store moved onto ``ps3_eval.db`` (tables ``labels`` and
``meta`` only) open as they are: the first migration creates only what is missing, and the
``meta`` row older versions check is kept, so they still read newer files.

The store knows nothing of ladders: :class:`ps3_eval.mrr.study.Study` checks items and labels
before they reach it.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from ps3_eval.db import Database, Migration, Schema
from ps3_eval.errors import UsageError

SCHEMA_VERSION = 1
"""The label table's version in ``meta`` (what stores before ``ps3_eval.db`` checked)."""
BUSY_TIMEOUT_S = 60.0
"""How long a writer waits for another one's transaction before giving up."""

_TABLES = """
CREATE TABLE IF NOT EXISTS labels (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    item TEXT NOT NULL,
    labeller TEXT NOT NULL,
    label TEXT NOT NULL,
    at TEXT NOT NULL,
    source TEXT NOT NULL DEFAULT '',
    UNIQUE (item, labeller, label, at)
);
CREATE INDEX IF NOT EXISTS labels_by_labeller ON labels (labeller, item);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


def _first(conn: sqlite3.Connection) -> None:
    """The label table, or nothing new for a file that already has it (refused if newer)."""
    for statement in _TABLES.split(";"):
        if statement.strip():
            conn.execute(statement)
    conn.execute(
        "INSERT OR IGNORE INTO meta (key, value) VALUES ('schema_version', ?)",
        (str(SCHEMA_VERSION),),
    )
    row = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    if int(row[0]) > SCHEMA_VERSION:
        path = conn.execute("PRAGMA database_list").fetchone()[2]
        raise UsageError(
            f"{path} was written by a newer ps3-eval (label schema {row[0]}); upgrade."
        )


SCHEMA = Schema("mrr", (Migration(1, _first),))
"""The label store's tables as a component of :mod:`ps3_eval.db`."""


@dataclass(frozen=True)
class Label:
    """One stored label."""

    id: int
    """Row number: the order labels were stored in."""
    item: str
    """The study item's id (the benchmark sample's id)."""
    labeller: str
    """Who labelled it."""
    label: str
    """A rung label, ``beyond`` or ``no_image``."""
    at: datetime
    """When it was given (UTC)."""
    source: str
    """How it arrived: ``web``, ``cli``, ``import:<file>``, ``api``."""


def format_time(at: datetime) -> str:
    """UTC with microseconds, so stored times sort as text."""
    if at.tzinfo is None:
        at = at.replace(tzinfo=timezone.utc)
    return at.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_time(text: str) -> datetime:
    """An ISO 8601 time (``Z`` allowed); one without a zone is taken as UTC.

    Raises:
        ValueError: when it is not a time.
    """
    value = text.strip()
    if value.endswith(("Z", "z")):
        value = value[:-1] + "+00:00"
    at = datetime.fromisoformat(value)
    return at.replace(tzinfo=timezone.utc) if at.tzinfo is None else at.astimezone(timezone.utc)


def check_labeller(name: str) -> str:
    """A labeller's name, trimmed.

    Raises:
        UsageError: when it is empty, longer than 64 characters or holds control characters.
    """
    text = name.strip()
    if not text or len(text) > 64 or any(ord(c) < 32 or ord(c) == 127 for c in text):
        raise UsageError(
            f"labeller name {name!r} must be 1 to 64 printable characters (e.g. 'alice')."
        )
    return text


class LabelStore:
    """The ``labels.sqlite`` of a study."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        try:
            self.db = Database(self.path, [SCHEMA], busy_timeout=BUSY_TIMEOUT_S)
        except sqlite3.Error as exc:
            raise UsageError(f"cannot open the label store {self.path}: {exc}.") from None

    def close(self) -> None:
        """Close the file (every thread's connection)."""
        self.db.close()

    def add(
        self,
        item: str,
        labeller: str,
        label: str,
        *,
        at: datetime | None = None,
        source: str = "api",
    ) -> Label:
        """Store one label (``at`` defaults to now) and return it as stored."""
        when = format_time(at or datetime.now(timezone.utc))
        with self.db.write(labeller) as tx:
            cur = tx.execute(
                "INSERT OR IGNORE INTO labels (item, labeller, label, at, source) "
                "VALUES (?, ?, ?, ?, ?)",
                (item, labeller, label, when, source),
            )
            if cur.rowcount:
                row_id = int(cur.lastrowid or 0)
            else:  # the very same label at the very same time is already there
                row_id = int(
                    tx.execute(
                        "SELECT id FROM labels WHERE item=? AND labeller=? AND label=? AND at=?",
                        (item, labeller, label, when),
                    ).fetchone()[0]
                )
        return Label(row_id, item, labeller, label, parse_time(when), source)

    def add_many(
        self, rows: Iterable[tuple[str, str, str, datetime | None]], *, source: str
    ) -> tuple[int, int]:
        """Store many labels in one transaction (all or none).

        Rows are ``(item, labeller, label, at)``; ``at`` defaults to now. A row equal to a stored
        one (same item, labeller, label and time) is skipped, so importing a file with times
        twice adds nothing the second time.

        Returns:
            ``(added, skipped)``.
        """
        now = format_time(datetime.now(timezone.utc))
        added = skipped = 0
        with self.db.write(source) as tx:
            for item, labeller, label, at in rows:
                cur = tx.execute(
                    "INSERT OR IGNORE INTO labels (item, labeller, label, at, source) "
                    "VALUES (?, ?, ?, ?, ?)",
                    (item, labeller, label, format_time(at) if at else now, source),
                )
                if cur.rowcount:
                    added += 1
                else:
                    skipped += 1
        return added, skipped

    def labels(self, *, item: str | None = None, labeller: str | None = None) -> list[Label]:
        """Stored labels in the order they were given (time, then storage order)."""
        sql = "SELECT id, item, labeller, label, at, source FROM labels"
        where, args = [], []
        if item is not None:
            where.append("item = ?")
            args.append(item)
        if labeller is not None:
            where.append("labeller = ?")
            args.append(labeller)
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY at, id"
        return [
            Label(r["id"], r["item"], r["labeller"], r["label"], parse_time(r["at"]), r["source"])
            for r in self.db.query(sql, args)
        ]

    def latest(self, *, labeller: str | None = None) -> dict[tuple[str, str], Label]:
        """The label that counts for each (item, labeller): the latest one."""
        out: dict[tuple[str, str], Label] = {}
        for lab in self.labels(labeller=labeller):  # in time order: later ones replace earlier
            out[(lab.item, lab.labeller)] = lab
        return out

    def labellers(self) -> list[str]:
        """Everyone who has labelled, by name."""
        rows = self.db.query("SELECT DISTINCT labeller FROM labels ORDER BY labeller")
        return [r["labeller"] for r in rows]

    def labelled_by(self, labeller: str) -> set[str]:
        """Items the labeller has labelled."""
        rows = self.db.query("SELECT DISTINCT item FROM labels WHERE labeller = ?", (labeller,))
        return {r["item"] for r in rows}

    def counts(self) -> dict[str, int]:
        """Labeller -> how many items they have labelled."""
        rows = self.db.query(
            "SELECT labeller, COUNT(DISTINCT item) AS n FROM labels GROUP BY labeller "
            "ORDER BY labeller"
        )
        return {r["labeller"]: int(r["n"]) for r in rows}

    def __len__(self) -> int:
        row = self.db.one("SELECT COUNT(*) AS n FROM labels")
        return int(row["n"]) if row else 0

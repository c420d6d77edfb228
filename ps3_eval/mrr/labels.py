"""Human MRR labels: append-only rows in SQLite (WAL), safe for several writers at once.

Every label is a new row (item, labeller, label, time, source); nothing is updated or deleted, so
a labeller who changes their mind adds a label and the latest one per (item, labeller) counts.
Each operation opens its own connection and writes in one immediate transaction, so threads of a
web server, CLI imports and other processes can write at the same time without losing a row.

The store knows nothing of ladders: :class:`ps3_eval.mrr.study.Study` checks items and labels
before they reach it.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from ps3_eval.errors import UsageError

SCHEMA_VERSION = 1
BUSY_TIMEOUT_S = 60.0
"""How long a writer waits for another one's transaction before giving up."""

_SCHEMA = """
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
        with self._connect() as db:
            db.execute("PRAGMA journal_mode=WAL")
            db.executescript(_SCHEMA)
            db.execute(
                "INSERT OR IGNORE INTO meta (key, value) VALUES ('schema_version', ?)",
                (str(SCHEMA_VERSION),),
            )
            row = db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        if int(row[0]) > SCHEMA_VERSION:
            raise UsageError(
                f"{self.path} was written by a newer ps3-eval (label schema {row[0]}); upgrade."
            )

    @contextlib.contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        try:
            db = sqlite3.connect(str(self.path), timeout=BUSY_TIMEOUT_S, isolation_level=None)
        except sqlite3.Error as exc:
            raise UsageError(f"cannot open the label store {self.path}: {exc}.") from None
        try:
            db.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
            yield db
        finally:
            db.close()

    @contextlib.contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One immediate transaction.

        It takes the write lock up front, so it never fails midway on a lock another writer holds
        (it waits for it instead, up to ``BUSY_TIMEOUT_S``).
        """
        with self._connect() as db:
            db.execute("BEGIN IMMEDIATE")
            try:
                yield db
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")

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
        with self._write() as db:
            cur = db.execute(
                "INSERT OR IGNORE INTO labels (item, labeller, label, at, source) "
                "VALUES (?, ?, ?, ?, ?)",
                (item, labeller, label, when, source),
            )
            if cur.rowcount:
                row_id = int(cur.lastrowid or 0)
            else:  # the very same label at the very same time is already there
                row_id = int(
                    db.execute(
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
        with self._write() as db:
            for item, labeller, label, at in rows:
                cur = db.execute(
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
        with self._connect() as db:
            rows = db.execute(sql, args).fetchall()
        return [Label(r[0], r[1], r[2], r[3], parse_time(r[4]), r[5]) for r in rows]

    def latest(self) -> dict[tuple[str, str], Label]:
        """The label that counts for each (item, labeller): the latest one."""
        out: dict[tuple[str, str], Label] = {}
        for lab in self.labels():  # in time order, so later ones replace earlier ones
            out[(lab.item, lab.labeller)] = lab
        return out

    def labellers(self) -> list[str]:
        """Everyone who has labelled, by name."""
        with self._connect() as db:
            rows = db.execute("SELECT DISTINCT labeller FROM labels ORDER BY labeller").fetchall()
        return [r[0] for r in rows]

    def labelled_by(self, labeller: str) -> set[str]:
        """Items the labeller has labelled."""
        with self._connect() as db:
            rows = db.execute(
                "SELECT DISTINCT item FROM labels WHERE labeller = ?", (labeller,)
            ).fetchall()
        return {r[0] for r in rows}

    def __len__(self) -> int:
        with self._connect() as db:
            return int(db.execute("SELECT COUNT(*) FROM labels").fetchone()[0])

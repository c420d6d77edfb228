"""A small SQLite store for work people do together: curation projects, MRR label studies.

What it guarantees, for any schema built on it:

- **WAL mode, durable commits.** Readers never block the writer; ``synchronous=FULL`` makes a
  commit reach the disk before :meth:`Database.write` returns, so a write that was acknowledged
  survives a killed process (and a power cut).
- **Schema versions.** Each component (``curate``, ``mrr``, ...) owns numbered migrations, applied
  in order inside one transaction on open; a file written by a newer version is refused.
- **Per-row versions.** A *versioned* table has ``version``, ``updated_at`` and ``updated_by``
  columns. :meth:`Tx.update` and :meth:`Tx.delete` take the version the editor saw; when the row has
  moved on, they raise :class:`StaleWrite` carrying the row as it is now, so no update is lost.
- **An audit log.** Every insert, update and delete through :class:`Tx` adds a row to
  ``audit_log`` with who, when, the version and the row before and after, in the same transaction.

Tables and columns named by callers are checked against the schema, never interpolated blindly.
"""

from __future__ import annotations

import json
import re
import sqlite3
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ps3_eval.errors import Ps3EvalError, UsageError

__all__ = [
    "VERSIONED_COLUMNS",
    "Database",
    "Migration",
    "NotFound",
    "Schema",
    "StaleWrite",
    "Tx",
]

VERSIONED_COLUMNS = (
    "version INTEGER NOT NULL DEFAULT 1, updated_at TEXT NOT NULL, updated_by TEXT NOT NULL"
)
"""Column definitions every versioned table declares (``id INTEGER PRIMARY KEY`` comes first)."""

_NAME = re.compile(r"^[a-z_][a-z0-9_]*$")
_BOOKKEEPING = frozenset({"id", "version", "updated_at", "updated_by"})

_BASE_SQL = """
CREATE TABLE IF NOT EXISTS schema_versions (
    component TEXT PRIMARY KEY, version INTEGER NOT NULL, applied_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS audit_log (
    id INTEGER PRIMARY KEY, at TEXT NOT NULL, actor TEXT NOT NULL, tbl TEXT NOT NULL,
    row_id INTEGER NOT NULL, action TEXT NOT NULL, version INTEGER NOT NULL,
    before TEXT, after TEXT
);
CREATE INDEX IF NOT EXISTS audit_row ON audit_log (tbl, row_id);
"""


class StaleWrite(Ps3EvalError):
    """A save based on an old version of a row; ``current`` is the row as it is now."""

    def __init__(self, table: str, row_id: int, expected: int, current: dict[str, Any]) -> None:
        super().__init__(
            f"row {row_id} of {table} changed meanwhile (you saw version {expected}, it is at "
            f"version {current.get('version')} by {current.get('updated_by')}); reload and apply "
            f"your change again."
        )
        self.table = table
        self.row_id = row_id
        self.current = current


class NotFound(Ps3EvalError):
    """No row with that id (or it was deleted)."""

    exit_code = 2


@dataclass(frozen=True)
class Migration:
    """One step of a component's schema: ``sql`` statements, or a function of the connection."""

    version: int
    sql: str | Callable[[sqlite3.Connection], None]


@dataclass(frozen=True)
class Schema:
    """A component's tables: its migrations in version order."""

    component: str
    migrations: tuple[Migration, ...]

    @property
    def latest(self) -> int:
        """The version the migrations lead to."""
        return max((m.version for m in self.migrations), default=0)


def now() -> str:
    """UTC time as ISO 8601 with milliseconds (sorts as text)."""
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


def _statements(sql: str) -> Iterator[str]:
    """Split a script into statements (``executescript`` would commit half-way through)."""
    buf = ""
    for line in sql.splitlines(keepends=True):
        buf += line
        if sqlite3.complete_statement(buf):
            if buf.strip():
                yield buf
            buf = ""
    if buf.strip():
        yield buf


def _check_name(name: str, what: str) -> str:
    if not _NAME.match(name):
        raise UsageError(f"{what} name {name!r} is not a plain lower-case identifier.")
    return name


class Tx:
    """One write transaction: versioned inserts, updates and deletes, each audited."""

    def __init__(self, db: Database, conn: sqlite3.Connection, actor: str) -> None:
        self.db = db
        self.conn = conn
        self.actor = actor
        self.at = now()

    def execute(self, sql: str, params: Sequence[Any] | Mapping[str, Any] = ()) -> sqlite3.Cursor:
        """Run a statement with bound parameters (for tables that are not versioned)."""
        return self.conn.execute(sql, params)

    def _audit(
        self,
        table: str,
        row_id: int,
        action: str,
        version: int,
        before: dict[str, Any] | None,
        after: dict[str, Any] | None,
    ) -> None:
        self.conn.execute(
            "INSERT INTO audit_log (at, actor, tbl, row_id, action, version, before, after) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                self.at,
                self.actor,
                table,
                row_id,
                action,
                version,
                None if before is None else json.dumps(before, sort_keys=True),
                None if after is None else json.dumps(after, sort_keys=True),
            ),
        )

    def get(self, table: str, row_id: int) -> dict[str, Any] | None:
        """The row as this transaction sees it, or ``None``."""
        self.db.columns(table)
        cur = self.conn.execute(f"SELECT * FROM {table} WHERE id = ?", (row_id,))
        return _row(cur)

    def insert(self, table: str, values: Mapping[str, Any]) -> dict[str, Any]:
        """Add a row at version 1; returns it with its id."""
        cols = self.db.writable(table, values)
        names = [*cols, "version", "updated_at", "updated_by"]
        params = [values[c] for c in cols] + [1, self.at, self.actor]
        cur = self.conn.execute(
            f"INSERT INTO {table} ({', '.join(names)}) VALUES ({', '.join('?' * len(names))})",
            params,
        )
        row_id = int(cur.lastrowid or 0)
        after = self.get(table, row_id)
        assert after is not None
        self._audit(table, row_id, "insert", 1, None, after)
        return after

    def update(
        self, table: str, row_id: int, changes: Mapping[str, Any], expected: int
    ) -> dict[str, Any]:
        """Change a row if it is still at version ``expected``; returns the new row.

        Raises:
            StaleWrite: the row moved on (or was deleted); it carries the current row.
            NotFound: there is no such row.
        """
        cols = self.db.writable(table, changes)
        before = self.get(table, row_id)
        if before is None:
            raise NotFound(f"{table} {row_id} does not exist.")
        if before["version"] != expected or before.get("deleted"):
            raise StaleWrite(table, row_id, expected, before)
        sets = ", ".join(f"{c} = ?" for c in cols)
        sets = f"{sets}, " if sets else ""
        self.conn.execute(
            f"UPDATE {table} SET {sets}version = version + 1, updated_at = ?, updated_by = ? "
            f"WHERE id = ? AND version = ?",
            [*(changes[c] for c in cols), self.at, self.actor, row_id, expected],
        )
        after = self.get(table, row_id)
        assert after is not None
        self._audit(table, row_id, "update", after["version"], before, after)
        return after

    def delete(self, table: str, row_id: int, expected: int) -> dict[str, Any]:
        """Delete a row seen at version ``expected``.

        Tables with a ``deleted`` column keep the row, marked deleted at a new version (what
        refers to it keeps its provenance); others lose it. Either way the audit log keeps it.

        Raises:
            StaleWrite: the row moved on; it carries the current row.
            NotFound: there is no such row.
        """
        if "deleted" in self.db.columns(table):
            return self.update(table, row_id, {"deleted": 1}, expected)
        before = self.get(table, row_id)
        if before is None:
            raise NotFound(f"{table} {row_id} does not exist.")
        if before["version"] != expected:
            raise StaleWrite(table, row_id, expected, before)
        self.conn.execute(f"DELETE FROM {table} WHERE id = ?", (row_id,))
        self._audit(table, row_id, "delete", expected + 1, before, None)
        return before


def _row(cur: sqlite3.Cursor) -> dict[str, Any] | None:
    got = cur.fetchone()
    if got is None:
        return None
    return dict(zip([d[0] for d in cur.description], got, strict=True))


class Database:
    """An SQLite file in WAL mode with versioned, audited rows; safe to share between threads.

    Each thread gets its own connection. Writes are serialised by SQLite itself (``BEGIN
    IMMEDIATE`` and a busy timeout), so several processes (a server and a CLI command) can
    share the file.
    """

    def __init__(
        self,
        path: str | Path,
        schemas: Sequence[Schema] = (),
        *,
        busy_timeout: float = 30.0,
    ) -> None:
        self.path = Path(path)
        self.schemas = tuple(schemas)
        self.busy_timeout = busy_timeout
        self._local = threading.local()
        self._all: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self._columns: dict[str, tuple[str, ...]] = {}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = self.connection()
        mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
        if str(mode).lower() != "wal":
            raise UsageError(
                f"{self.path} cannot use SQLite's WAL mode (journal mode {mode}); keep the "
                f"project on a local disk."
            )
        self._migrate(conn)

    # ------------------------------------------------------------------ connections

    def connection(self) -> sqlite3.Connection:
        """This thread's connection (opened on first use)."""
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(
                self.path, timeout=self.busy_timeout, isolation_level=None, check_same_thread=False
            )
            conn.execute("PRAGMA synchronous=FULL")
            conn.execute("PRAGMA foreign_keys=ON")
            self._local.conn = conn
            with self._lock:
                self._all.append(conn)
        return conn

    def close(self) -> None:
        """Close every thread's connection (the WAL is checkpointed by the last one)."""
        with self._lock:
            conns, self._all = self._all, []
        for conn in conns:
            conn.close()
        self._local = threading.local()

    def __enter__(self) -> Database:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ schema

    def _migrate(self, conn: sqlite3.Connection) -> None:
        conn.execute("BEGIN IMMEDIATE")
        try:
            for statement in _statements(_BASE_SQL):
                conn.execute(statement)
            for schema in self.schemas:
                got = conn.execute(
                    "SELECT version FROM schema_versions WHERE component = ?", (schema.component,)
                ).fetchone()
                current = int(got[0]) if got else 0
                if current > schema.latest:
                    raise UsageError(
                        f"{self.path} was written by a newer ps3-eval ({schema.component} schema "
                        f"version {current}; this one knows up to {schema.latest}); upgrade "
                        f"ps3-eval to open it."
                    )
                for migration in sorted(schema.migrations, key=lambda m: m.version):
                    if migration.version <= current:
                        continue
                    if callable(migration.sql):
                        migration.sql(conn)
                    else:
                        for statement in _statements(migration.sql):
                            conn.execute(statement)
                    current = migration.version
                conn.execute(
                    "INSERT INTO schema_versions (component, version, applied_at) "
                    "VALUES (?, ?, ?) ON CONFLICT (component) DO UPDATE SET "
                    "version = excluded.version, applied_at = excluded.applied_at "
                    "WHERE schema_versions.version != excluded.version",
                    (schema.component, current, now()),
                )
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    def schema_version(self, component: str) -> int:
        """The version of ``component``'s tables in this file (0 when absent)."""
        got = self.one("SELECT version FROM schema_versions WHERE component = ?", (component,))
        return int(got["version"]) if got else 0

    def columns(self, table: str) -> tuple[str, ...]:
        """Column names of ``table``; an unknown table is refused."""
        _check_name(table, "table")
        cols = self._columns.get(table)
        if cols is None:
            cur = self.connection().execute(f"PRAGMA table_info({table})")
            cols = tuple(str(r[1]) for r in cur.fetchall())
            if not cols:
                raise UsageError(f"no table {table!r} in {self.path}.")
            self._columns[table] = cols
        return cols

    def writable(self, table: str, values: Mapping[str, Any]) -> list[str]:
        """The keys of ``values`` after checking they are ordinary columns of ``table``."""
        cols = self.columns(table)
        if "version" not in cols or "updated_by" not in cols:
            raise UsageError(f"table {table} is not versioned (see VERSIONED_COLUMNS).")
        names = list(values)
        for name in names:
            if name not in cols or name in _BOOKKEEPING:
                raise UsageError(f"{name!r} is not a column of {table} that can be written.")
        return names

    # ------------------------------------------------------------------ reads and writes

    def query(
        self, sql: str, params: Sequence[Any] | Mapping[str, Any] = ()
    ) -> list[dict[str, Any]]:
        """Rows of a read query as dicts."""
        cur = self.connection().execute(sql, params)
        names = [d[0] for d in cur.description]
        return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]

    def one(
        self, sql: str, params: Sequence[Any] | Mapping[str, Any] = ()
    ) -> dict[str, Any] | None:
        """The first row of a read query, or ``None``."""
        return _row(self.connection().execute(sql, params))

    def get(self, table: str, row_id: int) -> dict[str, Any]:
        """A row by id (deleted rows included: they carry ``deleted = 1``).

        Raises:
            NotFound: there is no such row.
        """
        self.columns(table)
        row = self.one(f"SELECT * FROM {table} WHERE id = ?", (row_id,))
        if row is None:
            raise NotFound(f"{table} {row_id} does not exist.")
        return row

    def history(self, table: str, row_id: int) -> list[dict[str, Any]]:
        """The audit log of one row, oldest first (``before``/``after`` decoded)."""
        rows = self.query(
            "SELECT * FROM audit_log WHERE tbl = ? AND row_id = ? ORDER BY id", (table, row_id)
        )
        for r in rows:
            for key in ("before", "after"):
                r[key] = None if r[key] is None else json.loads(r[key])
        return rows

    @contextmanager
    def write(self, actor: str) -> Iterator[Tx]:
        """A write transaction as ``actor``; committed (durably) when the block ends."""
        conn = self.connection()
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield Tx(self, conn, actor)
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

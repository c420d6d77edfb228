"""Opt-in response cache in SQLite, keyed by model fingerprint + request hash."""

from __future__ import annotations

import hashlib
import sqlite3
import time
from pathlib import Path

from ps3_eval.errors import UsageError
from ps3_eval.records import ModelOutput, Request


def _unusable(path: Path, exc: Exception) -> UsageError:
    reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
    return UsageError(
        f"cannot use the cache file {path} ({reason}); pass --cache-file with a file you can "
        f"write, or set PS3_EVAL_CACHE to a writable folder."
    )


class ResponseCache:
    """Successful model outputs by (model fingerprint, request digest).

    The key covers the backend's name, version and arguments and everything in the request (prompt,
    image content hashes, generation settings), so an answer is never replayed for a changed prompt,
    image or model. Errors are never stored.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
        except (OSError, sqlite3.Error) as exc:
            raise _unusable(path, exc) from None
        try:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS responses ("
                " key TEXT PRIMARY KEY, model TEXT NOT NULL, output TEXT NOT NULL, created REAL)"
            )
            # A read-only file opens and reads; write once (rolled back) so it fails here,
            # before the first answer, not at the first store.
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.execute(
                    "INSERT OR REPLACE INTO responses (key, model, output, created) "
                    "VALUES ('', '', '', 0)"
                )
            finally:
                self._db.execute("ROLLBACK")
        except sqlite3.Error as exc:
            self._db.close()
            raise _unusable(path, exc) from None

    @staticmethod
    def key(fingerprint: str, request: Request) -> str:
        """Cache key of a request for a given model."""
        return hashlib.sha256(f"{fingerprint}|{request.digest()}".encode()).hexdigest()

    def get(self, fingerprint: str, request: Request) -> ModelOutput | None:
        """The cached output, marked ``cached=True``, or ``None``."""
        row = self._db.execute(
            "SELECT output FROM responses WHERE key = ?", (self.key(fingerprint, request),)
        ).fetchone()
        if row is None:
            return None
        out = ModelOutput.model_validate_json(row[0])
        out.cached = True
        return out

    def put(self, fingerprint: str, request: Request, output: ModelOutput) -> None:
        """Store a successful output; errors are refused."""
        if output.error is not None:
            return
        self._db.execute(
            "INSERT OR REPLACE INTO responses (key, model, output, created) VALUES (?, ?, ?, ?)",
            (self.key(fingerprint, request), fingerprint, output.model_dump_json(), time.time()),
        )

    def __len__(self) -> int:
        return int(self._db.execute("SELECT COUNT(*) FROM responses").fetchone()[0])

    def close(self) -> None:
        """Close the database."""
        self._db.close()

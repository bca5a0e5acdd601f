"""Durable state of one listener: SQLite in WAL mode with synchronous commits.

A record is written here before the write that made it is acknowledged, so what a
client was told is committed survives a crash (SIGKILL, power loss of the process).
Saves that arrive while a commit is under way share the next one (group commit): a
synchronous commit waits for the disk, and a listener receiving many pushes at once would
otherwise wait for it once per push.
"""
from __future__ import annotations

import sqlite3
import threading

from ansible_collections.multicluster.kube.plugins.module_utils import messages

_SCHEMA = """
CREATE TABLE IF NOT EXISTS records (
    key TEXT PRIMARY KEY,
    physical_ms INTEGER NOT NULL,
    logical INTEGER NOT NULL,
    origin TEXT NOT NULL,
    record BLOB NOT NULL
)
"""


class Store:
    def __init__(self, path: str):
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute(_SCHEMA)
        self._lock = threading.Lock()  # the connection
        self._queue = threading.Condition()
        self._waiting = []  # [(rows, outcome)] not yet in a commit
        self._committing = False

    def load(self) -> list:
        with self._lock:
            rows = self._db.execute("SELECT record FROM records").fetchall()
        return [messages.record_from_bytes(blob) for (blob,) in rows]

    def save(self, records) -> None:
        """Persist records durably; a stored record is replaced only by a newer stamp. Returns
        once they are committed, together with whatever else was waiting."""
        rows = [(r.key, r.stamp.physical_ms, r.stamp.logical, r.stamp.origin, messages.record_bytes(r))
                for r in records]
        if not rows:
            return
        outcome = {}
        with self._queue:
            self._waiting.append((rows, outcome))
            while self._committing and not outcome:
                self._queue.wait()
            if not outcome:  # no commit under way: this thread commits for everyone waiting
                self._committing = True
                batch, self._waiting = self._waiting, []
        if not outcome:
            error = None
            try:
                self._commit([row for rows_, _outcome in batch for row in rows_])
            except BaseException as exc:  # every save in the batch fails with it
                error = exc
            with self._queue:
                for _rows, waiting in batch:
                    waiting["error"] = error
                self._committing = False
                self._queue.notify_all()
        if outcome["error"] is not None:
            raise outcome["error"]

    def _commit(self, rows) -> None:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.executemany(
                    """INSERT INTO records VALUES (?, ?, ?, ?, ?)
                       ON CONFLICT(key) DO UPDATE SET physical_ms=excluded.physical_ms,
                           logical=excluded.logical, origin=excluded.origin, record=excluded.record
                       WHERE (excluded.physical_ms, excluded.logical, excluded.origin)
                             > (records.physical_ms, records.logical, records.origin)""", rows)
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise

    def forget(self, keys) -> None:
        """Drop tombstones that every member has seen (garbage collection)."""
        with self._lock:
            self._db.executemany("DELETE FROM records WHERE key = ?", [(k,) for k in keys])

    def close(self) -> None:
        with self._lock:
            self._db.close()

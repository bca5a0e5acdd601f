"""Durable state of one listener: SQLite in WAL mode with synchronous commits.

A record is written here before the write that made it is acknowledged, so what a
client was told is committed survives a crash (SIGKILL, power loss of the process).
"""
from __future__ import annotations

import sqlite3
import threading

from ansible_collections.multicluster.kube.plugins.module_utils import messages
from ansible_collections.multicluster.kube.plugins.module_utils.proto import fleet_pb2

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
        self._lock = threading.Lock()

    def load(self) -> list:
        with self._lock:
            rows = self._db.execute("SELECT record FROM records").fetchall()
        return [messages.record_from_message(fleet_pb2.Record.FromString(blob)) for (blob,) in rows]

    def save(self, records) -> None:
        """Persist records in one transaction; a stored record is replaced only by a newer stamp."""
        rows = [(r.key, r.stamp.physical_ms, r.stamp.logical, r.stamp.origin,
                 messages.record_to_message(r).SerializeToString()) for r in records]
        if not rows:
            return
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

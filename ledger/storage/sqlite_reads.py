"""The world state's hot read path on SQLite: thread-local raw connections.

Endorsers read a few keys per proposal and validators a few queries per block; through the
SQL toolkit each small read costs a pool checkout and event dispatch (~100 µs), directly
through sqlite3 a few µs. Same tables, same semantics as `statedb.StateSnapshot`: a
snapshot is one read transaction (WAL gives it a stable view of one committed block).
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

from ledger.core.messages import HistoryEntry, Version

KEYS_PER_QUERY_MAX = 500
BUSY_TIMEOUT_S = 30.0
_ROW_QUERIES = {  # same columns and order as the tables in statedb (is_delete last, as a bool)
    "history": "SELECT key, block, tx_num, tx_id, timestamp_ms, value, is_delete FROM history ORDER BY key, block, tx_num",
    "txindex": "SELECT tx_id, block, tx_num, code FROM txindex ORDER BY tx_id",
}


def _chunks(items: list[str]) -> Iterator[list[str]]:
    for i in range(0, len(items), KEYS_PER_QUERY_MAX):
        yield items[i : i + KEYS_PER_QUERY_MAX]


class RawSnapshot:
    """Reads over one raw sqlite3 connection (same methods as statedb.StateSnapshot)."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def get(self, key: str) -> tuple[bytes, Version] | None:
        row = self._conn.execute("SELECT value, block, tx_num FROM state WHERE key = ?", (key,)).fetchone()
        return None if row is None else (row[0], (row[1], row[2]))

    def get_many(self, keys: Iterable[str]) -> dict[str, tuple[bytes, Version]]:
        found: dict[str, tuple[bytes, Version]] = {}
        for chunk in _chunks(list(dict.fromkeys(keys))):
            marks = ",".join("?" * len(chunk))
            for key, value, block, tx_num in self._conn.execute(f"SELECT key, value, block, tx_num FROM state WHERE key IN ({marks})", chunk):
                found[key] = (value, (block, tx_num))
        return found

    def versions(self, keys: Iterable[str]) -> dict[str, Version]:
        found: dict[str, Version] = {}
        for chunk in _chunks(list(dict.fromkeys(keys))):
            marks = ",".join("?" * len(chunk))
            for key, block, tx_num in self._conn.execute(f"SELECT key, block, tx_num FROM state WHERE key IN ({marks})", chunk):
                found[key] = (block, tx_num)
        return found

    def range(self, start: str, end: str, limit: int | None = None) -> list[tuple[str, bytes, Version]]:
        sql, params = "SELECT key, value, block, tx_num FROM state WHERE key >= ?", [start]
        if end:
            sql += " AND key < ?"
            params.append(end)
        sql += " ORDER BY key"
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        return [(key, value, (block, tx_num)) for key, value, block, tx_num in self._conn.execute(sql, params)]

    def history(self, key: str) -> list[HistoryEntry]:
        rows = self._conn.execute(
            "SELECT block, tx_num, tx_id, timestamp_ms, value, is_delete FROM history WHERE key = ? ORDER BY block, tx_num", (key,)
        )
        return [HistoryEntry(b, t, i, ts, v, bool(d)) for b, t, i, ts, v, d in rows]

    def tx_location(self, tx_id: str) -> tuple[int, int, int] | None:
        row = self._conn.execute("SELECT block, tx_num, code FROM txindex WHERE tx_id = ?", (tx_id,)).fetchone()
        return None if row is None else (row[0], row[1], row[2])

    def existing_tx_ids(self, tx_ids: Iterable[str]) -> set[str]:
        found: set[str] = set()
        for chunk in _chunks(list(dict.fromkeys(tx_ids))):
            marks = ",".join("?" * len(chunk))
            found.update(row[0] for row in self._conn.execute(f"SELECT tx_id FROM txindex WHERE tx_id IN ({marks})", chunk))
        return found

    def savepoint(self) -> tuple[int, bytes] | None:
        row = self._conn.execute("SELECT block, commit_hash FROM savepoint WHERE id = 1").fetchone()
        return None if row is None else (row[0], row[1])

    def iter_rows(self, table: str, page_rows: int = 1000) -> Iterator[tuple[Any, ...]]:
        """Every row of `history` or `txindex` in primary-key order (columns as
        `statedb.StateDB.iter_rows` gives them), streamed from this connection's cursor."""
        sql = _ROW_QUERIES[table]
        cursor = self._conn.execute(sql)
        try:
            while rows := cursor.fetchmany(page_rows):
                for row in rows:
                    yield (*row[:6], bool(row[6])) if table == "history" else tuple(row)
        finally:
            cursor.close()

    def iter_state(self, page_rows: int = 1000) -> Iterator[tuple[str, bytes, Version]]:
        """All keys in key order, in pages (memory stays bounded)."""
        rows = self._conn.execute("SELECT key, value, block, tx_num FROM state ORDER BY key LIMIT ?", (page_rows,)).fetchall()
        while rows:
            for key, value, block, tx_num in rows:
                yield key, value, (block, tx_num)
            if len(rows) < page_rows:
                return
            rows = self._conn.execute(
                "SELECT key, value, block, tx_num FROM state WHERE key > ? ORDER BY key LIMIT ?", (rows[-1][0], page_rows)
            ).fetchall()


class SqliteReaders:
    """One read-only connection per reading thread; closed all together."""

    def __init__(self, path: str) -> None:
        self._path = path
        self._local = threading.local()
        self._all: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self._closed = False

    def _connect(self) -> sqlite3.Connection:
        assert not self._closed, "state database is closed"
        conn = sqlite3.connect(f"file:{self._path}?mode=ro", uri=True, timeout=BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False)
        with self._lock:
            self._all.append(conn)
        return conn

    def reader(self) -> RawSnapshot:
        """Single statements, each atomic by itself (autocommit), on this thread's connection."""
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._local.conn = self._connect()
        return RawSnapshot(conn)

    @contextmanager
    def snapshot(self, *, at_first_read: bool = False) -> Iterator[RawSnapshot]:
        """A read transaction on a connection of its own (this thread's idle ones are reused),
        on the state committed when it opens, or (at_first_read) when its first read runs:
        one statement fewer for a caller that reads at once."""
        idle: list[sqlite3.Connection] = self._local.__dict__.setdefault("idle", [])
        conn = idle.pop() if idle else self._connect()
        conn.execute("BEGIN")  # deferred: the first read pins the WAL snapshot
        try:
            snap = RawSnapshot(conn)
            if not at_first_read:
                snap.savepoint()
            yield snap
        finally:
            conn.execute("COMMIT")
            idle.append(conn)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            for conn in self._all:
                conn.close()
            self._all.clear()

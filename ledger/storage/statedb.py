"""Commit step, storage: the versioned world state that endorsers simulate against and validators check.

Holds, in one SQL database (SQLite in WAL mode by default, PostgreSQL by URL):
- `state`: every live key with its value and version (block number, transaction number);
- `history`: every committed write of every key (for `get_history_for_key`), indexed by key;
- `txindex`: every transaction id ever ordered with its block, position and validation code
  (duplicate-txid checks, commit status);
- `savepoint`: the last block applied and its commit hash.
The committer applies one block per SQL transaction (state, history, tx index and savepoint
together), so a reader never sees half a block and a crash leaves the savepoint naming
exactly the blocks applied. Everything here can be rebuilt from the block files.
"""

from __future__ import annotations

import hashlib
import sqlite3
import threading
from collections.abc import Generator, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine, make_url

from ledger.core.encoding import encode
from ledger.core.messages import HistoryEntry, KVWrite, Version
from ledger.core.statekeys import STATE_KEY_CHARS_MAX
from ledger.storage.sqlite_reads import RawSnapshot, SqliteReaders

TX_ID_LENGTH_MAX = 128
KEYS_PER_QUERY_MAX = 500  # IN (...) lists are chunked to stay under every driver's limits
STATE_ROWS_PER_FETCH = 1000  # iter_state reads the table in key-ordered pages of this size
SQLITE_BUSY_TIMEOUT_MS = 30_000
# The committer checkpoints the WAL into the database file once it holds this many pages
# (SQLite's default: 1000). A block dirties ~100 pages; fewer, larger checkpoints copy a page
# rewritten by many blocks once, which cut a block's CPU by ~15%. Below 4096 frames the
# WAL index stays one hash table for readers; the WAL file stays under ~17 MB.
SQLITE_WAL_AUTOCHECKPOINT_PAGES = 4000
POOL_CONNECTIONS = 8  # one committer and a few endorsing readers
STATE_DIGEST_DOMAIN = b"gridledger/state-digest/v1\x00"

_KEY = sa.String(STATE_KEY_CHARS_MAX).with_variant(sa.String(STATE_KEY_CHARS_MAX, collation="C"), "postgresql")
_metadata = sa.MetaData()
state_table = sa.Table(
    "state",
    _metadata,
    sa.Column("key", _KEY, primary_key=True),
    sa.Column("value", sa.LargeBinary, nullable=False),
    sa.Column("block", sa.BigInteger, nullable=False),
    sa.Column("tx_num", sa.Integer, nullable=False),
    sqlite_with_rowid=False,
)
# On SQLite, history is a rowid table: rows are appended in commit order and only the primary
# key's (key, block, tx_num) index takes random inserts. As a WITHOUT ROWID table the whole
# ~300-byte rows went into that B-tree, and a block dirtied a quarter more pages.
history_table = sa.Table(
    "history",
    _metadata,
    sa.Column("key", _KEY, primary_key=True),
    sa.Column("block", sa.BigInteger, primary_key=True),
    sa.Column("tx_num", sa.Integer, primary_key=True),
    sa.Column("tx_id", sa.String(TX_ID_LENGTH_MAX), nullable=False),
    sa.Column("timestamp_ms", sa.BigInteger, nullable=False),
    sa.Column("value", sa.LargeBinary, nullable=False),
    sa.Column("is_delete", sa.Boolean, nullable=False),
)
txindex_table = sa.Table(
    "txindex",
    _metadata,
    sa.Column("tx_id", sa.String(TX_ID_LENGTH_MAX), primary_key=True),
    sa.Column("block", sa.BigInteger, nullable=False),
    sa.Column("tx_num", sa.Integer, nullable=False),
    sa.Column("code", sa.Integer, nullable=False),
    sqlite_with_rowid=False,
)
savepoint_table = sa.Table(
    "savepoint",
    _metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("block", sa.BigInteger, nullable=False),
    sa.Column("commit_hash", sa.LargeBinary, nullable=False),
)

_ROW_TABLES = {"history": history_table, "txindex": txindex_table}  # derived tables verify compares row by row
_S, _H, _T, _P = state_table.c, history_table.c, txindex_table.c, savepoint_table.c
_SELECT_ONE = sa.select(_S.value, _S.block, _S.tx_num).where(_S.key == sa.bindparam("k"))
_SELECT_MANY = sa.select(_S.key, _S.value, _S.block, _S.tx_num).where(_S.key.in_(sa.bindparam("ks", expanding=True)))
_SELECT_VERSIONS = sa.select(_S.key, _S.block, _S.tx_num).where(_S.key.in_(sa.bindparam("ks", expanding=True)))
_SELECT_HISTORY = (
    sa.select(_H.block, _H.tx_num, _H.tx_id, _H.timestamp_ms, _H.value, _H.is_delete)
    .where(_H.key == sa.bindparam("k"))
    .order_by(_H.block, _H.tx_num)
)
_SELECT_TX = sa.select(_T.block, _T.tx_num, _T.code).where(_T.tx_id == sa.bindparam("t"))
_SELECT_TX_IDS = sa.select(_T.tx_id).where(_T.tx_id.in_(sa.bindparam("ts", expanding=True)))
_SELECT_SAVEPOINT = sa.select(_P.block, _P.commit_hash).where(_P.id == 1)
_SELECT_PAGE = (
    sa.select(_S.key, _S.value, _S.block, _S.tx_num)
    .where(_S.key > sa.bindparam("after"))
    .order_by(_S.key)
    .limit(STATE_ROWS_PER_FETCH)
)
_DELETE_STATE = sa.delete(state_table).where(_S.key == sa.bindparam("k"))
_STATE_COLUMNS = ("key", "value", "block", "tx_num")
_HISTORY_COLUMNS = ("key", "block", "tx_num", "tx_id", "timestamp_ms", "value", "is_delete")
_TXINDEX_COLUMNS = ("tx_id", "block", "tx_num", "code")

# The SQLite committer's statements (raw sqlite3, see _SqliteWriter): same tables, same effect
# as the SQLAlchemy statements PostgreSQL runs.
_SQLITE_SELECT_SAVEPOINT = "SELECT block FROM savepoint WHERE id = 1"
_SQLITE_DELETE_STATE = "DELETE FROM state WHERE key = ?"
_SQLITE_UPSERT_STATE = (
    "INSERT INTO state (key, value, block, tx_num) VALUES (?, ?, ?, ?) "
    "ON CONFLICT (key) DO UPDATE SET value = excluded.value, block = excluded.block, tx_num = excluded.tx_num"
)
_SQLITE_INSERT_HISTORY = "INSERT INTO history (key, block, tx_num, tx_id, timestamp_ms, value, is_delete) VALUES (?, ?, ?, ?, ?, ?, ?)"
_SQLITE_INSERT_TX = "INSERT INTO txindex (tx_id, block, tx_num, code) VALUES (?, ?, ?, ?) ON CONFLICT (tx_id) DO NOTHING"
_SQLITE_UPSERT_SAVEPOINT = (
    "INSERT INTO savepoint (id, block, commit_hash) VALUES (1, ?, ?) "
    "ON CONFLICT (id) DO UPDATE SET block = excluded.block, commit_hash = excluded.commit_hash"
)

_BlockRows = tuple[list[tuple[str]], list[tuple[Any, ...]], list[tuple[Any, ...]], list[tuple[Any, ...]]]


def _chunks(items: list[str]) -> Iterator[list[str]]:
    for i in range(0, len(items), KEYS_PER_QUERY_MAX):
        yield items[i : i + KEYS_PER_QUERY_MAX]


class StateSnapshot:
    """Reads over one connection; inside `StateDB.snapshot()` they all see one committed block."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def get(self, key: str) -> tuple[bytes, Version] | None:
        row = self._conn.execute(_SELECT_ONE, {"k": key}).first()
        return None if row is None else (row[0], (row[1], row[2]))

    def get_many(self, keys: Iterable[str]) -> dict[str, tuple[bytes, Version]]:
        found: dict[str, tuple[bytes, Version]] = {}
        for chunk in _chunks(list(dict.fromkeys(keys))):
            for key, value, block, tx_num in self._conn.execute(_SELECT_MANY, {"ks": chunk}):
                found[key] = (value, (block, tx_num))
        return found

    def versions(self, keys: Iterable[str]) -> dict[str, Version]:
        """Current versions of those keys that exist (absent keys are missing from the result)."""
        found: dict[str, Version] = {}
        for chunk in _chunks(list(dict.fromkeys(keys))):
            for key, block, tx_num in self._conn.execute(_SELECT_VERSIONS, {"ks": chunk}):
                found[key] = (block, tx_num)
        return found

    def range(self, start: str, end: str, limit: int | None = None) -> list[tuple[str, bytes, Version]]:
        """Keys in [start, end) in code-point order; end "" means unbounded."""
        assert limit is None or limit >= 0, "limit must be non-negative"
        query = sa.select(_S.key, _S.value, _S.block, _S.tx_num).where(_S.key >= start)
        if end:
            query = query.where(_S.key < end)
        query = query.order_by(_S.key)
        if limit is not None:
            query = query.limit(limit)
        return [(key, value, (block, tx_num)) for key, value, block, tx_num in self._conn.execute(query)]

    def history(self, key: str) -> list[HistoryEntry]:
        """Every committed write of `key`, oldest first (deletes included, with is_delete)."""
        return [HistoryEntry(*row) for row in self._conn.execute(_SELECT_HISTORY, {"k": key})]

    def tx_location(self, tx_id: str) -> tuple[int, int, int] | None:
        """(block, tx_num, validation code) of the first ordering of `tx_id`, or None."""
        row = self._conn.execute(_SELECT_TX, {"t": tx_id}).first()
        return None if row is None else (row[0], row[1], row[2])

    def existing_tx_ids(self, tx_ids: Iterable[str]) -> set[str]:
        found: set[str] = set()
        for chunk in _chunks(list(dict.fromkeys(tx_ids))):
            found.update(row[0] for row in self._conn.execute(_SELECT_TX_IDS, {"ts": chunk}))
        return found

    def savepoint(self) -> tuple[int, bytes] | None:
        """(last applied block number, its commit hash), or None when nothing was applied."""
        row = self._conn.execute(_SELECT_SAVEPOINT).first()
        return None if row is None else (row[0], row[1])

    def iter_rows(self, table: str) -> Generator[tuple[Any, ...], None, None]:
        """Every row of `history` or `txindex` in primary-key order, streamed, as of this
        snapshot (a live verify compares them with a rebuild from the same blocks)."""
        chosen = _ROW_TABLES[table]
        query = sa.select(chosen).order_by(*chosen.primary_key.columns)
        for row in self._conn.execute(query, execution_options={"stream_results": True, "yield_per": STATE_ROWS_PER_FETCH}):
            yield tuple(row)

    def iter_state(self) -> Generator[tuple[str, bytes, Version], None, None]:
        """All keys in key order, read in pages (keyset pagination): memory stays bounded."""
        # "" sorts before every key, so `key > ""` starts at the first one
        after = ""
        first = self._conn.execute(_SELECT_ONE, {"k": ""}).first()
        if first is not None:
            yield "", first[0], (first[1], first[2])
        while True:
            rows = self._conn.execute(_SELECT_PAGE, {"after": after}).all()
            for key, value, block, tx_num in rows:
                yield key, value, (block, tx_num)
            if len(rows) < STATE_ROWS_PER_FETCH:
                return
            after = rows[-1][0]


class StateDB:
    """The world state database of one peer. One committer thread, many reader threads."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._engine = _create_engine(url)
        _metadata.create_all(self._engine)
        postgres = self._engine.dialect.name == "postgresql"
        database = make_url(url).database
        self._writer = None if postgres else _SqliteWriter(str(database))
        self._fast = None if postgres else SqliteReaders(str(database))
        self._autocommit = {"isolation_level": "AUTOCOMMIT"} if postgres else {"gridledger_autocommit": True}
        dialect = postgresql if postgres else sqlite
        upsert = dialect.insert(state_table)
        self._upsert_state = upsert.on_conflict_do_update(
            index_elements=[_S.key],
            set_={"value": upsert.excluded.value, "block": upsert.excluded.block, "tx_num": upsert.excluded.tx_num},
        )
        self._insert_history = sa.insert(history_table)
        self._insert_txs = dialect.insert(txindex_table).on_conflict_do_nothing(index_elements=[_T.tx_id])
        saved = dialect.insert(savepoint_table)
        self._upsert_savepoint = saved.on_conflict_do_update(
            index_elements=[_P.id], set_={"block": saved.excluded.block, "commit_hash": saved.excluded.commit_hash}
        )

    # --- reads: each call is one short read transaction --------------------------------

    @contextmanager
    def _reader(self, statements: int = 1) -> Iterator[StateSnapshot]:
        """A pooled connection; one statement is atomic by itself, so it skips BEGIN/ROLLBACK."""
        with self._engine.connect() as conn:
            if statements == 1:
                conn.execution_options(**self._autocommit)
            yield StateSnapshot(conn)

    def get(self, key: str) -> tuple[bytes, Version] | None:
        if self._fast:
            return self._fast.reader().get(key)
        with self._reader() as r:
            return r.get(key)

    def get_many(self, keys: Iterable[str]) -> dict[str, tuple[bytes, Version]]:
        keys = list(dict.fromkeys(keys))
        with self._reader(statements=-(-len(keys) // KEYS_PER_QUERY_MAX)) as r:
            return r.get_many(keys)

    def versions(self, keys: Iterable[str]) -> dict[str, Version]:
        keys = list(dict.fromkeys(keys))
        if self._fast and len(keys) <= KEYS_PER_QUERY_MAX:
            return self._fast.reader().versions(keys)
        with self._reader(statements=-(-len(keys) // KEYS_PER_QUERY_MAX)) as r:
            return r.versions(keys)

    def range(self, start: str, end: str, limit: int | None = None) -> list[tuple[str, bytes, Version]]:
        if self._fast:
            return self._fast.reader().range(start, end, limit)
        with self._reader() as r:
            return r.range(start, end, limit)

    def history(self, key: str) -> list[HistoryEntry]:
        if self._fast:
            return self._fast.reader().history(key)
        with self._reader() as r:
            return r.history(key)

    def tx_location(self, tx_id: str) -> tuple[int, int, int] | None:
        if self._fast:
            return self._fast.reader().tx_location(tx_id)
        with self._reader() as r:
            return r.tx_location(tx_id)

    def existing_tx_ids(self, tx_ids: Iterable[str]) -> set[str]:
        tx_ids = list(dict.fromkeys(tx_ids))
        if self._fast and len(tx_ids) <= KEYS_PER_QUERY_MAX:
            return self._fast.reader().existing_tx_ids(tx_ids)
        with self._reader(statements=-(-len(tx_ids) // KEYS_PER_QUERY_MAX)) as r:
            return r.existing_tx_ids(tx_ids)

    @contextmanager
    def committer_reads(self) -> Iterator["StateDB | RawSnapshot"]:
        """What the committer validates a block against: the committed state, as every read
        of this StateDB gives it. On SQLite, one read transaction over the committer's own
        connection for the whole block: each autocommit statement takes and drops the WAL
        read lock by itself (~3.5 µs of a ~7 µs range or IN query), and a block asks one
        query per range read plus two. The committer is the only writer and applies the block
        only after this ends, so the rows read are the same."""
        if self._writer is None:
            yield self
            return
        with self._writer.reading() as snapshot:
            yield snapshot

    def savepoint(self) -> tuple[int, bytes] | None:
        if self._fast:
            return self._fast.reader().savepoint()
        with self._reader() as r:
            return r.savepoint()

    def snapshot(self, *, at_first_read: bool = False) -> AbstractContextManager[StateSnapshot]:
        """A repeatable-read view: every read through it sees the same committed block, the
        one committed when it opens (at_first_read: when its first read runs, which saves a
        statement on SQLite for a caller that reads at once). On SQLite the raw readers'
        own snapshot, not wrapped in a second generator (one per endorsement)."""
        if self._fast:
            return self._fast.snapshot(at_first_read=at_first_read)  # type: ignore[return-value]  # same read methods
        return self._engine_snapshot()

    @contextmanager
    def _engine_snapshot(self) -> Iterator[StateSnapshot]:
        conn = self._engine.connect()
        try:
            if conn.dialect.name == "postgresql":
                conn.execution_options(isolation_level="REPEATABLE READ", postgresql_readonly=True)
            conn.begin()
            snap = StateSnapshot(conn)
            snap.savepoint()  # the first read pins the snapshot (SQLite WAL and PostgreSQL alike)
            yield snap
        finally:
            conn.close()  # rolls back the read transaction

    def iter_state(self) -> Generator[tuple[str, bytes, Version], None, None]:
        """All (key, value, version) in key order, streamed from one snapshot."""
        with self.snapshot() as snap:
            yield from snap.iter_state()

    def iter_rows(self, table: str) -> Generator[tuple[Any, ...], None, None]:
        """Every row of `history` or `txindex` in primary-key order, streamed (verify compares
        them with a rebuild from the blocks); the key columns come first in each row."""
        chosen = _ROW_TABLES[table]
        query = sa.select(chosen).order_by(*chosen.primary_key.columns)
        with self._engine.connect() as conn:
            for row in conn.execution_options(stream_results=True, yield_per=STATE_ROWS_PER_FETCH).execute(query):
                yield tuple(row)

    @staticmethod
    def key_width(table: str) -> int:
        """How many leading columns of `iter_rows(table)` form the primary key."""
        return len(_ROW_TABLES[table].primary_key.columns)

    def state_digest(self) -> bytes:
        """sha256 over the domain tag, then encode((key, value, (block, tx_num))) of every key in key order."""
        digest = hashlib.sha256(STATE_DIGEST_DOMAIN)
        for entry in self.iter_state():
            digest.update(encode(entry))
        return digest.digest()

    # --- writes: the committer's thread only -------------------------------------------

    def apply_block(
        self,
        block_number: int,
        commit_hash: bytes,
        writes: Sequence[tuple[int, str, int, KVWrite]],
        txs: Sequence[tuple[str, int, int]],
    ) -> None:
        """Apply one block's valid writes, its tx index rows and the savepoint in one SQL transaction.

        writes: (tx_num, tx_id, timestamp_ms, write) of the VALID transactions, in block order;
        a later write to a key wins (also within one transaction). txs: (tx_id, tx_num, code)
        of EVERY transaction in the block; a tx id already indexed keeps its first location.
        Raises AssertionError unless `block_number` is the next block, and a
        `sqlalchemy.exc.DBAPIError` subclass (IntegrityError, …) when the database refuses a row;
        either way nothing of the block is applied.
        """
        rows = _block_rows(block_number, writes, txs)
        if self._writer is not None:
            self._writer.apply(block_number, commit_hash, rows)
            return
        deletes, upserts, history, tx_rows = rows
        with self._engine.connect() as conn, conn.begin():
            saved = conn.execute(_SELECT_SAVEPOINT).first()
            _check_next(block_number, saved)
            if deletes:
                conn.execute(_DELETE_STATE, [{"k": key} for (key,) in deletes])
            if upserts:
                conn.execute(self._upsert_state, [dict(zip(_STATE_COLUMNS, row)) for row in upserts])
            if history:
                conn.execute(self._insert_history, [dict(zip(_HISTORY_COLUMNS, row)) for row in history])
            if tx_rows:
                conn.execute(self._insert_txs, [dict(zip(_TXINDEX_COLUMNS, row)) for row in tx_rows])
            conn.execute(self._upsert_savepoint, {"id": 1, "block": block_number, "commit_hash": commit_hash})

    def reset(self) -> None:
        """Delete all state, history, tx index and the savepoint (before a rebuild from blocks)."""
        if self._writer is not None:
            self._writer.reset()
            return
        with self._engine.connect() as conn, conn.begin():
            for table in (state_table, history_table, txindex_table, savepoint_table):
                conn.execute(sa.delete(table))

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
        if self._fast:
            self._fast.close()
        self._engine.dispose()


def _block_rows(block_number: int, writes: Sequence[tuple[int, str, int, KVWrite]], txs: Sequence[tuple[str, int, int]]) -> _BlockRows:
    """(state deletes, state upserts, history rows, tx index rows) of one block, as column tuples.

    State rows are in key order; the last write of a key wins, and so does the last write of
    a key within one transaction for its history row.
    """
    latest: dict[str, tuple[int, KVWrite]] = {}
    history: dict[tuple[str, int], tuple[Any, ...]] = {}
    for tx_num, tx_id, timestamp_ms, write in writes:
        key = write.key
        latest[key] = (tx_num, write)
        history[(key, tx_num)] = (key, block_number, tx_num, tx_id, timestamp_ms, write.value, write.is_delete)
    deletes: list[tuple[str]] = []
    upserts: list[tuple[Any, ...]] = []
    for key in sorted(latest):
        tx_num, write = latest[key]
        if write.is_delete:
            deletes.append((key,))
        else:
            upserts.append((key, write.value, block_number, tx_num))
    tx_rows = [(tx_id, block_number, tx_num, code) for tx_id, tx_num, code in txs]
    return deletes, upserts, list(history.values()), tx_rows


def _check_next(block_number: int, saved: Any) -> None:
    expected = 0 if saved is None else saved[0] + 1
    if block_number != expected:
        raise AssertionError(f"apply_block({block_number}) but the next block is {expected}")


class _SqliteWriter:
    """The committer's own raw sqlite3 connection: one `BEGIN IMMEDIATE` … `COMMIT` per block.

    Through the SQL toolkit a block's executemany calls cost ~50 µs of CPU per transaction in
    dict parameters, parameter processing and event dispatch; here the rows go to sqlite3 as
    tuples. The connection stays open, so its page cache stays warm (it is the only writer).
    Errors come out as the toolkit's exceptions (`sqlalchemy.exc.IntegrityError`, …), as on
    PostgreSQL, where the engine does the writing.
    """

    def __init__(self, path: str) -> None:
        self._conn = sqlite3.connect(path, timeout=SQLITE_BUSY_TIMEOUT_MS / 1000, isolation_level=None, check_same_thread=False)
        _sqlite_pragmas(self._conn)
        self._conn.execute(f"PRAGMA wal_autocheckpoint={SQLITE_WAL_AUTOCHECKPOINT_PAGES}")  # only this connection commits
        self._lock = threading.Lock()  # one committer, but reset() may come from another thread
        self._snapshot = RawSnapshot(self._conn)

    @contextmanager
    def reading(self) -> Iterator[RawSnapshot]:
        """One read transaction over this connection, between two block transactions."""
        with self._lock:
            conn = self._conn
            try:
                conn.execute("BEGIN")
                try:
                    yield self._snapshot
                finally:
                    conn.execute("COMMIT")  # a read transaction: ends it, writes nothing
            except sqlite3.Error as error:
                raise sa.exc.DBAPIError.instance(None, None, error, sqlite3.Error) from error

    def apply(self, block_number: int, commit_hash: bytes, rows: _BlockRows) -> None:
        deletes, upserts, history, tx_rows = rows
        with self._lock, self._transaction():
            conn = self._conn
            _check_next(block_number, conn.execute(_SQLITE_SELECT_SAVEPOINT).fetchone())
            if deletes:
                conn.executemany(_SQLITE_DELETE_STATE, deletes)
            if upserts:
                conn.executemany(_SQLITE_UPSERT_STATE, upserts)
            if history:
                conn.executemany(_SQLITE_INSERT_HISTORY, history)
            if tx_rows:
                conn.executemany(_SQLITE_INSERT_TX, tx_rows)
            conn.execute(_SQLITE_UPSERT_SAVEPOINT, (block_number, commit_hash))

    def reset(self) -> None:
        with self._lock, self._transaction():
            for table in ("state", "history", "txindex", "savepoint"):
                self._conn.execute(f"DELETE FROM {table}")

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        conn = self._conn
        try:
            conn.execute("BEGIN IMMEDIATE")  # the write lock up front: no failed read-to-write upgrade
            try:
                yield
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
        except sqlite3.Error as error:
            raise sa.exc.DBAPIError.instance(None, None, error, sqlite3.Error) from error

    def close(self) -> None:
        with self._lock:
            self._conn.close()


def _sqlite_pragmas(dbapi_conn: Any) -> None:
    cursor = dbapi_conn.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")  # state is rebuildable from the fsynced blocks
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.close()


def _create_engine(url: str) -> Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return sa.create_engine(url, pool_size=POOL_CONNECTIONS, max_overflow=POOL_CONNECTIONS)
    if parsed.database in (None, "", ":memory:"):
        raise ValueError("StateDB needs a SQLite file (readers and the committer use separate connections)")
    Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    engine = sa.create_engine(
        url,
        pool_size=POOL_CONNECTIONS,
        max_overflow=POOL_CONNECTIONS,
        connect_args={"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_MS / 1000},
    )

    @sa.event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # we issue BEGIN ourselves (pysqlite's own is deferred too late)
        _sqlite_pragmas(dbapi_conn)

    @sa.event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        if not conn.get_execution_options().get("gridledger_autocommit"):
            conn.exec_driver_sql("BEGIN")  # SQLite writes go through _SqliteWriter, not the engine

    return engine

"""State database: versions, range scans, history, tx index, savepoint atomicity, snapshots, digests.

Every test runs twice: on SQLite (a file in tmp_path) and on a real private PostgreSQL.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from postgres_server import fresh_postgres_url, postgres_server  # noqa: F401  (fixtures)

from ledger.core.codes import ValidationCode
from ledger.core.messages import KVWrite
from ledger.execute.chaincode_api import HistoryEntry
from ledger.storage.statedb import KEYS_PER_QUERY_MAX, STATE_ROWS_PER_FETCH, StateDB

VALID = int(ValidationCode.VALID)
MVCC = int(ValidationCode.MVCC_READ_CONFLICT)
DUPLICATE = int(ValidationCode.DUPLICATE_TXID)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'state.db'}"
    return request.getfixturevalue("fresh_postgres_url")


@pytest.fixture
def db(db_url: str) -> Iterator[StateDB]:
    state = StateDB(db_url)
    yield state
    state.close()


def put(key: str, value: bytes) -> KVWrite:
    return KVWrite(key=key, value=value, is_delete=False)


def delete(key: str) -> KVWrite:
    return KVWrite(key=key, value=b"", is_delete=True)


def apply(db: StateDB, number: int, *txs: list[KVWrite], code: int = VALID) -> None:
    """Apply a block of transactions tx{number}-{i}, each a list of writes, all with `code`."""
    writes = [(i, f"tx{number}-{i}", 1000 * number + i, w) for i, tx in enumerate(txs) for w in tx] if code == VALID else []
    index = [(f"tx{number}-{i}", i, code) for i in range(len(txs))]
    db.apply_block(number, bytes([number]) * 32, writes, index)


def test_writes_get_version_of_their_block_and_transaction(db: StateDB) -> None:
    apply(db, 0, [put("a", b"1"), put("b", b"2")], [put("c", b"3")])
    assert db.get("a") == (b"1", (0, 0))
    assert db.get("c") == (b"3", (0, 1))
    assert db.get("missing") is None
    assert db.get_many(["a", "c", "missing", "a"]) == {"a": (b"1", (0, 0)), "c": (b"3", (0, 1))}
    assert db.versions(["a", "b", "c", "missing"]) == {"a": (0, 0), "b": (0, 0), "c": (0, 1)}
    apply(db, 1, [], [put("a", b"new")])
    assert db.versions(["a", "b"]) == {"a": (1, 1), "b": (0, 0)}


def test_later_write_to_a_key_in_the_same_block_wins(db: StateDB) -> None:
    apply(db, 0, [put("k", b"first")], [put("other", b"x")], [put("k", b"second")])
    assert db.get("k") == (b"second", (0, 2))
    assert [(h.tx_num, h.value) for h in db.history("k")] == [(0, b"first"), (2, b"second")]


def test_two_writes_to_a_key_in_one_transaction_leave_the_last_one_and_one_history_row(db: StateDB) -> None:
    apply(db, 0, [put("k", b"first"), put("k", b"second")], [put("j", b"x"), delete("j")])
    assert db.get("k") == (b"second", (0, 0))
    assert [(h.tx_num, h.value, h.is_delete) for h in db.history("k")] == [(0, b"second", False)]
    assert db.get("j") is None
    assert [(h.tx_num, h.is_delete) for h in db.history("j")] == [(1, True)]


def test_delete_removes_the_key_and_leaves_a_history_row(db: StateDB) -> None:
    apply(db, 0, [put("k", b"v")])
    apply(db, 1, [delete("k")])
    assert db.get("k") is None
    assert db.versions(["k"]) == {}
    assert db.range("", "") == []
    assert db.history("k") == [
        HistoryEntry(block=0, tx_num=0, tx_id="tx0-0", timestamp_ms=0, value=b"v", is_delete=False),
        HistoryEntry(block=1, tx_num=0, tx_id="tx1-0", timestamp_ms=1000, value=b"", is_delete=True),
    ]


def test_write_then_delete_in_one_block_leaves_no_key(db: StateDB) -> None:
    apply(db, 0, [put("k", b"v")], [delete("k")])
    assert db.get("k") is None
    assert [h.is_delete for h in db.history("k")] == [False, True]


def test_invalid_transactions_change_nothing_but_are_indexed(db: StateDB) -> None:
    apply(db, 0, [put("k", b"v")], code=MVCC)
    assert db.get("k") is None
    assert db.tx_location("tx0-0") == (0, 0, MVCC)


KEYS_IN_ORDER = ["A", "B", "a", "a/1", "a/10", "a/2", "ab", "b", "z", "~", "é", "中", "😀"]


def test_range_scan_is_in_code_point_order_with_half_open_bounds(db: StateDB) -> None:
    shuffled = sorted(KEYS_IN_ORDER, key=lambda k: hash(k) % 97)
    apply(db, 0, [put(k, k.encode()) for k in shuffled])
    everything = db.range("", "")
    assert KEYS_IN_ORDER == sorted(KEYS_IN_ORDER)  # Python compares str by code point
    assert [k for k, _, _ in everything] == KEYS_IN_ORDER
    assert everything[0] == ("A", b"A", (0, 0))
    assert [k for k, _, _ in db.range("a/", "a0")] == ["a/1", "a/10", "a/2"]
    assert [k for k, _, _ in db.range("a", "b")] == ["a", "a/1", "a/10", "a/2", "ab"]  # end excluded
    assert [k for k, _, _ in db.range("b", "")] == ["b", "z", "~", "é", "中", "😀"]
    assert [k for k, _, _ in db.range("B", "a")] == ["B"]  # uppercase sorts before lowercase
    assert [k for k, _, _ in db.range("", "", limit=2)] == ["A", "B"]
    assert db.range("c", "c") == []


def test_history_is_oldest_first_across_blocks(db: StateDB) -> None:
    apply(db, 0, [put("k", b"v0")])
    apply(db, 1, [put("other", b"x")])
    apply(db, 2, [put("x", b"y")], [put("k", b"v2")])
    apply(db, 3, [delete("k")])
    apply(db, 4, [put("k", b"v4")])
    history = db.history("k")
    assert [(h.block, h.tx_num, h.tx_id, h.value, h.is_delete) for h in history] == [
        (0, 0, "tx0-0", b"v0", False),
        (2, 1, "tx2-1", b"v2", False),
        (3, 0, "tx3-0", b"", True),
        (4, 0, "tx4-0", b"v4", False),
    ]
    assert db.history("never") == []


def test_tx_index_keeps_the_first_occurrence_of_a_tx_id(db: StateDB) -> None:
    db.apply_block(0, b"h0", [], [("t1", 0, VALID)])
    db.apply_block(1, b"h1", [], [("t1", 0, DUPLICATE), ("t2", 1, VALID), ("t2", 2, DUPLICATE)])
    assert db.tx_location("t1") == (0, 0, VALID)
    assert db.tx_location("t2") == (1, 1, VALID)
    assert db.tx_location("t3") is None
    assert db.existing_tx_ids(["t1", "t2", "t3", "t1"]) == {"t1", "t2"}


def test_savepoint_tracks_the_last_applied_block(db: StateDB) -> None:
    assert db.savepoint() is None
    apply(db, 0, [put("k", b"v")])
    assert db.savepoint() == (0, bytes([0]) * 32)
    apply(db, 1, [])
    assert db.savepoint() == (1, bytes([1]) * 32)
    with pytest.raises(AssertionError, match="next block is 2"):
        apply(db, 3, [])
    with pytest.raises(AssertionError):
        apply(db, 1, [])
    assert db.savepoint() == (1, bytes([1]) * 32)
    apply(db, 2, [put("k", b"w")])  # a refused block leaves no transaction open
    assert db.savepoint() == (2, bytes([2]) * 32)
    assert db.get("k") == (b"w", (2, 0))


@pytest.mark.parametrize("bad_part", ["bad-write-row", "bad-tx-index-row"])
def test_failure_mid_apply_leaves_nothing_of_the_block(db: StateDB, bad_part: str) -> None:
    apply(db, 0, [put("k", b"v0"), put("gone", b"x")])
    digest_before = db.state_digest()
    writes = [
        (0, "t-ok", 5, put("k", b"v1")),
        (0, "t-ok", 5, delete("gone")),
        (1, "t-ok2", 5, put("new", b"n")),
    ]
    txs = [("t-ok", 0, VALID), ("t-ok2", 1, VALID)]
    if bad_part == "bad-write-row":
        writes.append((2, "t-bad", 5, KVWrite(key="zzz", value=None, is_delete=False)))  # NOT NULL value
    else:
        txs.append((None, 2, VALID))  # NOT NULL tx_id: fails after state and history were written
    with pytest.raises(sa.exc.IntegrityError):
        db.apply_block(1, b"h1", writes, txs)
    assert db.savepoint() == (0, bytes([0]) * 32)
    assert db.get("k") == (b"v0", (0, 0))
    assert db.get("gone") == (b"x", (0, 0))
    assert db.get("new") is None
    assert [h.block for h in db.history("k")] == [0]
    assert db.existing_tx_ids(["t-ok", "t-ok2"]) == set()
    assert db.state_digest() == digest_before
    apply(db, 1, [put("k", b"v1")])  # the same block number applies cleanly afterwards
    assert db.get("k") == (b"v1", (1, 0))


def test_snapshot_opened_before_apply_block_does_not_see_it(db: StateDB) -> None:
    apply(db, 0, [put("k", b"old"), put("gone", b"x")])
    with db.snapshot() as snap:
        apply(db, 1, [put("k", b"new"), delete("gone"), put("added", b"a")])
        assert db.get("k") == (b"new", (1, 0))  # outside the snapshot: the new block
        assert snap.get("k") == (b"old", (0, 0))
        assert snap.get("gone") == (b"x", (0, 0))
        assert snap.get("added") is None
        assert snap.versions(["k", "added"]) == {"k": (0, 0)}
        assert [k for k, _, _ in snap.range("", "")] == ["gone", "k"]
        assert snap.savepoint() == (0, bytes([0]) * 32)
        assert [h.block for h in snap.history("k")] == [0]
        assert snap.existing_tx_ids(["tx1-0"]) == set()
    assert db.savepoint() == (1, bytes([1]) * 32)


def test_snapshot_rows_of_history_and_tx_index_are_those_of_its_block(db: StateDB) -> None:
    """A live verify compares history and tx index through the snapshot: same rows and types
    as `iter_rows`, and nothing a later block wrote."""
    apply(db, 0, [put("k", b"old"), delete("gone")], [put("b", b"1")])
    before = {table: list(db.iter_rows(table)) for table in ("history", "txindex")}
    with db.snapshot() as snap:
        apply(db, 1, [put("k", b"new")])
        assert {table: list(snap.iter_rows(table)) for table in ("history", "txindex")} == before
        assert [type(part) for part in next(snap.iter_rows("history"))] == [type(part) for part in before["history"][0]]
    assert len(list(db.iter_rows("history"))) == len(before["history"]) + 1


def test_concurrent_readers_never_see_half_a_block(db: StateDB) -> None:
    keys = [f"k{i}" for i in range(20)]
    apply(db, 0, [put(k, b"0") for k in keys])
    seen_mixed: list[dict[str, bytes]] = []
    stop = threading.Event()

    def reader() -> None:
        while not stop.is_set():
            with db.snapshot() as snap:
                first = snap.get_many(keys[:10])
                second = snap.get_many(keys[10:])
            values = {k: v for k, (v, _) in {**first, **second}.items()}
            if len(set(values.values())) != 1:
                seen_mixed.append(values)
            plain = {v for v, _ in db.get_many(keys).values()}
            if len(plain) != 1:
                seen_mixed.append({"plain": repr(plain).encode()})

    threads = [threading.Thread(target=reader) for _ in range(3)]
    for t in threads:
        t.start()
    for n in range(1, 40):
        apply(db, n, *[[put(k, str(n).encode())] for k in keys])
    stop.set()
    for t in threads:
        t.join()
    assert seen_mixed == []
    assert db.get("k19") == (b"39", (39, 19))


def test_many_keys_are_chunked_and_iter_state_pages_in_key_order(db: StateDB) -> None:
    count = max(KEYS_PER_QUERY_MAX, STATE_ROWS_PER_FETCH) * 2 + 7
    keys = [f"key{i:05d}" for i in range(count)]
    apply(db, 0, [put(k, k.encode()) for k in reversed(keys)], [put("", b"empty key")])
    assert len(db.get_many(keys)) == count
    assert len(db.versions(keys + ["nope"])) == count
    streamed = list(db.iter_state())
    assert [k for k, _, _ in streamed] == [""] + keys
    assert streamed[1] == ("key00000", b"key00000", (0, 0))
    assert db.existing_tx_ids([f"x{i}" for i in range(count)] + ["tx0-1"]) == {"tx0-1"}


def test_state_digest_equal_for_equal_contents_and_differs_on_one_value(db_url: str, tmp_path: Path) -> None:
    reference = StateDB(f"sqlite:///{tmp_path / 'reference.db'}")
    other = StateDB(db_url)
    try:
        for state in (reference, other):
            apply(state, 0, [put("a", b"1"), put("b", b"2")], [put("c", b"3")])
            apply(state, 1, [delete("b")])
        assert other.state_digest() == reference.state_digest()  # also across SQL dialects
        empty = StateDB(f"sqlite:///{tmp_path / 'empty.db'}")
        assert empty.state_digest() != reference.state_digest()
        empty.close()
        apply(other, 2, [put("c", b"3!")])
        assert other.state_digest() != reference.state_digest()
        apply(reference, 2, [put("c", b"3")])  # same value, different version: differs too
        assert other.state_digest() != reference.state_digest()
    finally:
        reference.close()
        other.close()


def test_reset_deletes_everything_and_apply_starts_again_at_block_zero(db: StateDB) -> None:
    apply(db, 0, [put("k", b"v")])
    apply(db, 1, [put("j", b"w")])
    db.reset()
    assert db.savepoint() is None
    assert db.get("k") is None
    assert db.history("k") == []
    assert db.tx_location("tx0-0") is None
    apply(db, 0, [put("k", b"again")])
    assert db.get("k") == (b"again", (0, 0))


def test_reopen_keeps_state_and_savepoint(db_url: str) -> None:
    first = StateDB(db_url)
    apply(first, 0, [put("k", b"v")])
    first.close()
    second = StateDB(db_url)
    try:
        assert second.get("k") == (b"v", (0, 0))
        assert second.savepoint() == (0, bytes([0]) * 32)
    finally:
        second.close()


def test_values_come_back_as_bytes_and_versions_as_int_tuples(db: StateDB) -> None:
    apply(db, 0, [put("k", b"\x00\xffv")])
    value, version = db.get("k")
    assert type(value) is bytes and value == b"\x00\xffv"
    assert type(version) is tuple and all(type(part) is int for part in version)
    assert type(db.get_many(["k"])["k"][0]) is bytes
    assert type(db.range("", "")[0][1]) is bytes
    assert type(db.history("k")[0].value) is bytes
    assert type(db.history("k")[0].is_delete) is bool
    assert type(db.savepoint()[1]) is bytes

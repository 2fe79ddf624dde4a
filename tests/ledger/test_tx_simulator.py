"""The transaction simulator: read-your-writes, recorded versions, range reads and phantoms' raw material."""

from __future__ import annotations

import pytest

from ledger.core.identity import CertificateAuthority
from ledger.core.messages import KVRead, KVWrite, RangeRead, ReadWriteSet, Version
from ledger.execute.chaincode_api import ChaincodeRefusal
from ledger.execute.simulator import TxSimulator

CC = "cc"


class DictState:
    """A committed state: namespaced key -> (value, version)."""

    def __init__(self, rows: dict[str, tuple[bytes, Version]]) -> None:
        self.rows = rows

    def get(self, key: str) -> tuple[bytes, Version] | None:
        return self.rows.get(key)

    def range(self, start: str, end: str, limit: int | None = None) -> list[tuple[str, bytes, Version]]:
        found = [(k, v, ver) for k, (v, ver) in sorted(self.rows.items()) if start <= k < end]
        return found[:limit] if limit is not None else found

    def history(self, key: str) -> list:
        return []


CREATOR = CertificateAuthority.generate("Org1").issue("alice", "client").identity


def simulator(rows: dict[str, tuple[bytes, Version]] | None = None, *, stored: dict[str, tuple[bytes, Version]] | None = None) -> TxSimulator:
    """A simulator of chaincode CC over `rows` (its keys) plus `stored` (full stored keys as they are)."""
    committed = {f"{CC}/{k}": v for k, v in (rows or {}).items()} | (stored or {})
    return TxSimulator(
        DictState(committed), channel="ch", chaincode=CC, tx_id="t1", timestamp_ms=1, function="f", args=(), creator=CREATOR, signoffs=()
    )


def test_reads_record_the_committed_version_and_absent_keys_as_none() -> None:
    sim = simulator({"a": (b"1", (3, 0)), "b": (b"2", (4, 1))})
    assert sim.get_state("a") == b"1" and sim.get_state("zz") is None and sim.get_state("a") == b"1"
    assert sim.read_write_set() == ReadWriteSet((KVRead("cc/a", (3, 0)), KVRead("cc/zz", None)), (), ())
    assert not sim.has_writes()


def test_read_your_writes_sees_pending_values_and_deletes_but_records_no_read() -> None:
    sim = simulator({"a": (b"1", (3, 0))})
    sim.put_state("n", b"new")
    sim.del_state("a")
    assert sim.get_state("n") == b"new" and sim.get_state("a") is None
    rwset = sim.read_write_set()
    assert rwset.reads == ()  # nothing was read from committed state
    assert rwset.writes == (KVWrite("cc/a", b"", True), KVWrite("cc/n", b"new", False))


def test_read_then_write_keeps_the_committed_version_in_the_read_set() -> None:
    sim = simulator({"a": (b"1", (3, 0))})
    assert sim.get_state("a") == b"1"
    sim.put_state("a", b"2")
    assert sim.get_state("a") == b"2"
    assert sim.read_write_set().reads == (KVRead("cc/a", (3, 0)),)
    assert sim.read_write_set().writes == (KVWrite("cc/a", b"2", False),)


def test_writes_and_reads_are_sorted_so_every_endorser_signs_the_same_bytes() -> None:
    one, two = simulator(), simulator()
    for key in ("b", "a", "c"):
        one.put_state(key, key.encode())
        one.get_state("r" + key)
    for key in ("c", "a", "b"):
        two.put_state(key, key.encode())
        two.get_state("r" + key)
    assert one.read_write_set() == two.read_write_set()
    assert [w.key for w in one.read_write_set().writes] == ["cc/a", "cc/b", "cc/c"]


def test_range_read_merges_own_writes_and_deletes_and_records_committed_keys_only() -> None:
    sim = simulator({"k1": (b"1", (1, 0)), "k2": (b"2", (1, 1)), "k4": (b"4", (2, 0)), "z": (b"z", (2, 1))})
    sim.put_state("k3", b"3")
    sim.del_state("k2")
    sim.put_state("k4", b"44")
    assert list(sim.get_state_by_range("k", "l")) == [("k1", b"1"), ("k3", b"3"), ("k4", b"44")]
    rwset = sim.read_write_set()
    assert rwset.range_reads == (RangeRead("cc/k", "cc/l", (KVRead("cc/k1", (1, 0)), KVRead("cc/k2", (1, 1)), KVRead("cc/k4", (2, 0)))),)


def test_open_ended_range_stays_inside_the_chaincode_namespace() -> None:
    # another chaincode's key, and one that sorts after "cc/" but is not in the namespace
    sim = simulator({"a": (b"1", (1, 0))}, stored={"other/x": (b"x", (1, 1)), "cc0": (b"y", (1, 2))})
    assert list(sim.get_state_by_range("", "")) == [("a", b"1")]
    (range_read,) = sim.read_write_set().range_reads
    assert [r.key for r in range_read.reads] == ["cc/a"]


@pytest.mark.parametrize("key", ["", "a\x00b", "k" * 1025])
def test_bad_keys_are_refused(key: str) -> None:
    with pytest.raises(ChaincodeRefusal) as caught:
        simulator().put_state(key, b"v")
    assert caught.value.code == "BAD_KEY"


def test_events_are_capped() -> None:
    sim = simulator()
    for i in range(16):
        sim.set_event(f"e{i}", b"")
    with pytest.raises(ChaincodeRefusal, match="TOO_MANY_EVENTS"):
        sim.set_event("one-too-many", b"")

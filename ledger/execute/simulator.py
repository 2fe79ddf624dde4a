"""Step 1 (execute), inside the endorser: run a chaincode against a state snapshot and record
what it read and what it would write, without writing anything.

Reads record the committed version seen (for MVCC at validation); range scans record the
keys and versions they saw (for phantom detection). A chaincode reads its own pending
writes, but what is recorded as read is always the committed version.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol

from ledger.core.codes import SimulationCode
from ledger.core.identity import Identity
from ledger.core.messages import ChaincodeEvent, KVRead, KVWrite, RangeRead, ReadWriteSet, Version
from ledger.core.statekeys import namespace_end, namespaced, stored_key_problem
from ledger.execute.chaincode_api import ChaincodeRefusal, HistoryEntry, VerifiedSignoff

VALUE_BYTES_MAX = 1 << 20
RANGE_RESULTS_MAX = 10_000
EVENTS_MAX = 16


class StateReader(Protocol):
    def get(self, key: str) -> tuple[bytes, Version] | None: ...

    def range(self, start: str, end: str, limit: int | None = None) -> list[tuple[str, bytes, Version]]: ...

    def history(self, key: str) -> list[HistoryEntry]: ...


def check_key(key: str, prefix: str) -> str:
    """The full stored key of a chaincode's key, or BAD_KEY (the limit is on the full key)."""
    if not isinstance(key, str) or not key:
        raise ChaincodeRefusal(SimulationCode.BAD_KEY, "a state key is a non-empty string")
    full = prefix + key
    problem = stored_key_problem(full)
    if problem:
        raise ChaincodeRefusal(SimulationCode.BAD_KEY, problem)
    return full


class TxSimulator:
    """A chaincode's view of the world state for one proposal (implements ChaincodeContext)."""

    __slots__ = ("_reader", "_chaincode", "_prefix", "channel", "tx_id", "timestamp_ms", "function", "args", "creator", "signoffs",
                 "_reads", "_writes", "_range_reads", "_events")

    def __init__(
        self,
        reader: StateReader,
        *,
        channel: str,
        chaincode: str,
        tx_id: str,
        timestamp_ms: int,
        function: str,
        args: tuple[str, ...],
        creator: Identity,
        signoffs: tuple[VerifiedSignoff, ...],
    ) -> None:
        self._reader = reader
        self._chaincode = chaincode
        self._prefix = namespaced(chaincode, "")  # + key = the key's full name
        self.channel = channel
        self.tx_id = tx_id
        self.timestamp_ms = timestamp_ms
        self.function = function
        self.args = args
        self.creator = creator
        self.signoffs = signoffs
        self._reads: dict[str, tuple[bytes, Version] | None] = {}  # full key -> committed (value, version) or None
        self._writes: dict[str, KVWrite] = {}
        self._range_reads: list[RangeRead] = []
        self._events: list[ChaincodeEvent] = []

    # --- ChaincodeContext ---------------------------------------------------------------

    def get_state(self, key: str) -> bytes | None:
        full = check_key(key, self._prefix)
        pending = self._writes.get(full)
        if pending is not None:
            return None if pending.is_delete else pending.value
        reads = self._reads
        if full in reads:
            found = reads[full]
        else:
            found = reads[full] = self._reader.get(full)
        return None if found is None else found[0]

    def put_state(self, key: str, value: bytes) -> None:
        full = check_key(key, self._prefix)
        if not isinstance(value, (bytes, bytearray)) or len(value) > VALUE_BYTES_MAX:
            raise ChaincodeRefusal(SimulationCode.BAD_VALUE, f"state values are bytes of at most {VALUE_BYTES_MAX}")
        self._writes[full] = KVWrite(full, bytes(value), False)

    def del_state(self, key: str) -> None:
        full = check_key(key, self._prefix)
        self._writes[full] = KVWrite(full, b"", True)

    def get_state_by_range(self, start: str, end: str) -> Iterator[tuple[str, bytes]]:
        low = self._prefix + start
        high = self._prefix + end if end else namespace_end(self._chaincode)
        rows = self._reader.range(low, high, RANGE_RESULTS_MAX + 1)
        if len(rows) > RANGE_RESULTS_MAX:
            raise ChaincodeRefusal(SimulationCode.RANGE_TOO_LARGE, f"a range scan returns at most {RANGE_RESULTS_MAX} keys")
        self._range_reads.append(RangeRead(low, high, tuple([KVRead(key, version) for key, _, version in rows])))
        cut = len(self._prefix)
        if not rows and not self._writes:
            return iter(())
        merged = {key: value for key, value, _ in rows}
        for key, write in self._writes.items():
            if low <= key < high:
                if write.is_delete:
                    merged.pop(key, None)
                else:
                    merged[key] = write.value
        return iter([(key[cut:], merged[key]) for key in sorted(merged)])

    def get_history_for_key(self, key: str) -> list[HistoryEntry]:
        return self._reader.history(check_key(key, self._prefix))

    def set_event(self, name: str, payload: bytes) -> None:
        if len(self._events) >= EVENTS_MAX:
            raise ChaincodeRefusal(SimulationCode.TOO_MANY_EVENTS, f"a transaction sets at most {EVENTS_MAX} events")
        self._events.append(ChaincodeEvent(name, bytes(payload)))

    # --- results ------------------------------------------------------------------------

    def read_write_set(self) -> ReadWriteSet:
        """Deterministic: reads and writes sorted by key, so every endorser signs the same bytes."""
        reads = self._reads
        return ReadWriteSet(
            reads=tuple([KVRead(key, None if found is None else found[1]) for key, found in sorted(reads.items())]),
            range_reads=tuple(self._range_reads),
            writes=tuple([self._writes[key] for key in sorted(self._writes)]),
        )

    def events(self) -> tuple[ChaincodeEvent, ...]:
        return tuple(self._events)

    def has_writes(self) -> bool:
        return bool(self._writes)



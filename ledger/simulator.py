"""Step 1 (execute), inside the endorser: run a chaincode against a state snapshot and record
what it read and what it would write, without writing anything.

Reads record the committed version seen (for MVCC at validation); range scans record the
keys and versions they saw (for phantom detection). A chaincode reads its own pending
writes, but what is recorded as read is always the committed version.
"""

from __future__ import annotations

from typing import Iterator, Protocol

from ledger.chaincode_api import ChaincodeRefusal, HistoryEntry, VerifiedSignoff
from ledger.channel import namespace_end, namespaced
from ledger.identity import Identity
from ledger.messages import ChaincodeEvent, KVRead, KVWrite, RangeRead, ReadWriteSet, Version

KEY_LENGTH_MAX = 1024
VALUE_BYTES_MAX = 1 << 20
RANGE_RESULTS_MAX = 10_000
EVENTS_MAX = 16


class StateReader(Protocol):
    def get(self, key: str) -> tuple[bytes, Version] | None: ...

    def range(self, start: str, end: str, limit: int | None = None) -> list[tuple[str, bytes, Version]]: ...

    def history(self, key: str) -> list[HistoryEntry]: ...


def check_key(key: str) -> None:
    if not isinstance(key, str) or not key or len(key) > KEY_LENGTH_MAX or "\x00" in key:
        raise ChaincodeRefusal("BAD_KEY", f"state keys are 1 to {KEY_LENGTH_MAX} characters without NUL")


class TxSimulator:
    """A chaincode's view of the world state for one proposal (implements ChaincodeContext)."""

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
        self.channel = channel
        self.tx_id = tx_id
        self.timestamp_ms = timestamp_ms
        self.function = function
        self.args = args
        self.creator = creator
        self.signoffs = signoffs
        self._reads: dict[str, Version | None] = {}
        self._values: dict[str, bytes | None] = {}
        self._writes: dict[str, KVWrite] = {}
        self._range_reads: list[RangeRead] = []
        self._events: list[ChaincodeEvent] = []

    # --- ChaincodeContext ---------------------------------------------------------------

    def get_state(self, key: str) -> bytes | None:
        check_key(key)
        full = namespaced(self._chaincode, key)
        pending = self._writes.get(full)
        if pending is not None:
            return None if pending.is_delete else pending.value
        if full not in self._reads:
            found = self._reader.get(full)
            self._reads[full] = found[1] if found else None
            self._values[full] = found[0] if found else None
        return self._values[full]

    def put_state(self, key: str, value: bytes) -> None:
        check_key(key)
        if not isinstance(value, (bytes, bytearray)) or len(value) > VALUE_BYTES_MAX:
            raise ChaincodeRefusal("BAD_VALUE", f"state values are bytes of at most {VALUE_BYTES_MAX}")
        full = namespaced(self._chaincode, key)
        self._writes[full] = KVWrite(full, bytes(value), False)

    def del_state(self, key: str) -> None:
        check_key(key)
        full = namespaced(self._chaincode, key)
        self._writes[full] = KVWrite(full, b"", True)

    def get_state_by_range(self, start: str, end: str) -> Iterator[tuple[str, bytes]]:
        low = namespaced(self._chaincode, start)
        high = namespaced(self._chaincode, end) if end else namespace_end(self._chaincode)
        rows = self._reader.range(low, high, RANGE_RESULTS_MAX + 1)
        if len(rows) > RANGE_RESULTS_MAX:
            raise ChaincodeRefusal("RANGE_TOO_LARGE", f"a range scan returns at most {RANGE_RESULTS_MAX} keys")
        self._range_reads.append(RangeRead(low, high, tuple(KVRead(key, version) for key, _, version in rows)))
        prefix = len(self._chaincode) + 1
        merged = {key: value for key, value, _ in rows}
        for key, write in self._writes.items():
            if low <= key < high:
                if write.is_delete:
                    merged.pop(key, None)
                else:
                    merged[key] = write.value
        return iter([(key[prefix:], merged[key]) for key in sorted(merged)])

    def get_history_for_key(self, key: str) -> list[HistoryEntry]:
        check_key(key)
        return self._reader.history(namespaced(self._chaincode, key))

    def set_event(self, name: str, payload: bytes) -> None:
        if len(self._events) >= EVENTS_MAX:
            raise ChaincodeRefusal("TOO_MANY_EVENTS", f"a transaction sets at most {EVENTS_MAX} events")
        self._events.append(ChaincodeEvent(name, bytes(payload)))

    # --- results ------------------------------------------------------------------------

    def read_write_set(self) -> ReadWriteSet:
        """Deterministic: reads and writes sorted by key, so every endorser signs the same bytes."""
        return ReadWriteSet(
            reads=tuple(KVRead(key, self._reads[key]) for key in sorted(self._reads)),
            range_reads=tuple(self._range_reads),
            writes=tuple(self._writes[key] for key in sorted(self._writes)),
        )

    def events(self) -> tuple[ChaincodeEvent, ...]:
        return tuple(self._events)

    def has_writes(self) -> bool:
        return bool(self._writes)



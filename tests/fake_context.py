"""An in-memory ledger for chaincode tests: a dict world state that commits a call's writes only when it succeeds.

Like Fabric's simulator, reads see committed state only (not the call's own pending writes),
and history records every committed write with its transaction id and timestamp.

`FakeLedger.block(calls)` simulates several calls against the same committed state and then
validates them in order the way the ledger's validator does: a call is MVCC_READ_CONFLICT if a
key it read was written by an earlier valid call of the block, PHANTOM_READ_CONFLICT if such a
write falls inside a range it scanned; only valid calls commit.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from ledger.core.identity import CertificateAuthority, Identity
from ledger.execute.chaincode_api import Chaincode, ChaincodeRefusal, HistoryEntry, VerifiedSignoff

CLOCK_START_MS = 1_700_000_000_000
CLOCK_STEP_MS = 1000


@dataclass
class FakeContext:
    """One simulation of one call: records writes and the event, reads committed state."""

    ledger: "FakeLedger"
    function: str
    args: tuple[str, ...]
    creator: Identity
    signoffs: tuple[VerifiedSignoff, ...]
    tx_id: str
    timestamp_ms: int
    channel: str = "gridchannel"
    writes: dict[str, bytes | None] = field(default_factory=dict)
    event: tuple[str, bytes] | None = None
    reads: set[str] = field(default_factory=set)
    ranges: list[tuple[str, str]] = field(default_factory=list)

    def get_state(self, key: str) -> bytes | None:
        self.reads.add(key)
        return self.ledger.state.get(key)

    def put_state(self, key: str, value: bytes) -> None:
        assert isinstance(value, bytes)
        self.writes[key] = value

    def del_state(self, key: str) -> None:
        self.writes[key] = None

    def get_state_by_range(self, start: str, end: str) -> Iterator[tuple[str, bytes]]:
        self.ranges.append((start, end))
        for key in sorted(self.ledger.state):
            if key >= start and (end == "" or key < end):
                yield key, self.ledger.state[key]

    def get_history_for_key(self, key: str) -> list[HistoryEntry]:
        return list(self.ledger.history.get(key, []))

    def set_event(self, name: str, payload: bytes) -> None:
        self.event = (name, payload)


class FakeLedger:
    """Runs a chaincode call by call against a dict, with a clock that ticks once per call."""

    def __init__(self, chaincode: Chaincode) -> None:
        self.chaincode = chaincode
        self.state: dict[str, bytes] = {}
        self.history: dict[str, list[HistoryEntry]] = {}
        self.events: list[tuple[str, bytes]] = []
        self.block_number = 0  # one per simulated call (the fake's "block" is one call, except in `block`)
        self.clock_ms = CLOCK_START_MS

    def call(self, function: str, args: tuple[str, ...], creator: Identity, signoffs: tuple[VerifiedSignoff, ...]) -> tuple[bool, Any]:
        """(True, decoded JSON result) or (False, refusal code); only a success changes state."""
        ctx, outcome = self._simulate(function, args, creator, signoffs)
        if outcome[0]:
            self._commit(ctx)
        return outcome

    def block(self, calls: list[tuple[str, tuple[str, ...], Identity, tuple[VerifiedSignoff, ...]]]) -> list[tuple[str, Any]]:
        """Simulate every call on the same state, then validate in order; ("VALID", result) or (code, None)."""
        simulated = [self._simulate(*call) for call in calls]
        written: set[str] = set()
        outcomes: list[tuple[str, Any]] = []
        for ctx, (success, result) in simulated:
            if not success:
                outcomes.append((result, None))
            elif ctx.reads & written:
                outcomes.append(("MVCC_READ_CONFLICT", None))
            elif any(start <= key and (end == "" or key < end) for key in written for start, end in ctx.ranges):
                outcomes.append(("PHANTOM_READ_CONFLICT", None))
            else:
                outcomes.append(("VALID", result))
                written |= set(ctx.writes)
        for (ctx, _), (code, _) in zip(simulated, outcomes):
            if code == "VALID":
                self._commit(ctx)
        return outcomes

    def _simulate(self, function: str, args: tuple[str, ...], creator: Identity, signoffs: tuple[VerifiedSignoff, ...]) -> tuple[FakeContext, tuple[bool, Any]]:
        self.block_number += 1
        self.clock_ms += CLOCK_STEP_MS
        ctx = FakeContext(self, function, tuple(args), creator, signoffs, f"tx{self.block_number:06d}", self.clock_ms)
        try:
            result = self.chaincode.invoke(ctx)
        except ChaincodeRefusal as refusal:
            return ctx, (False, refusal.code)
        return ctx, (True, json.loads(result))

    def _commit(self, ctx: FakeContext) -> None:
        for key, value in ctx.writes.items():
            if value is None:
                self.state.pop(key, None)
            else:
                self.state[key] = value
            entry = HistoryEntry(self.block_number, 0, ctx.tx_id, ctx.timestamp_ms, value or b"", value is None)
            self.history.setdefault(key, []).append(entry)
        if ctx.event is not None:
            self.events.append(ctx.event)


class Identities:
    """Test identities: Regulator admins approve, Org1 clients act for users (created on first use)."""

    def __init__(self) -> None:
        self.regulator = CertificateAuthority.generate("Regulator")
        self.org1 = CertificateAuthority.generate("Org1")
        self.org2 = CertificateAuthority.generate("Org2")
        self.admin = self.regulator.issue("admin1", "admin").identity
        self.regulator_client = self.regulator.issue("clerk", "client").identity
        self.org2_admin = self.org2.issue("admin2", "admin").identity
        self._clients: dict[str, Identity] = {}

    def client(self, label: str) -> Identity:
        """The Org1 client identity named `label` (one per label, issued once)."""
        if label not in self._clients:
            self._clients[label] = self.org1.issue(label, "client").identity
        return self._clients[label]

    def signoffs(self, parties: tuple[str, ...] | list[str], approver: Identity | None) -> tuple[VerifiedSignoff, ...]:
        found = [VerifiedSignoff("party", self.client(p)) for p in parties]
        if approver is not None:
            found.append(VerifiedSignoff("approval", approver))
        return tuple(found)


class FakeDriver:
    """The contract on a FakeLedger, behind the `call(function, args, parties)` driver interface."""

    def __init__(self, chaincode: Chaincode, identities: Identities | None = None) -> None:
        self.ids = identities or Identities()
        self.ledger = FakeLedger(chaincode)

    def call(self, function: str, args: tuple[str, ...] | list[str], parties: tuple[str, ...] | list[str] = (), *, approved: bool = True) -> tuple[bool, Any]:
        """Run one call signed by the parties (identity labels) and, if approved, a Regulator admin."""
        approver = self.ids.admin if approved else None
        creator = self.ids.client(parties[0]) if parties else self.ids.admin
        return self.ledger.call(function, tuple(args), creator, self.ids.signoffs(parties, approver))

    def block(self, calls: list[tuple[str, tuple[str, ...], tuple[str, ...]]]) -> list[tuple[str, Any]]:
        """Several approved calls `(function, args, parties)` in one block; see `FakeLedger.block`."""
        return self.ledger.block([
            (function, tuple(args), self.ids.client(parties[0]) if parties else self.ids.admin, self.ids.signoffs(parties, self.ids.admin))
            for function, args, parties in calls
        ])

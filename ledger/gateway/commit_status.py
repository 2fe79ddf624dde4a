"""Commit status: turning a peer's commit events (step 4) into each transaction's outcome."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Collection, Sequence
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from typing import Any, Protocol

from ledger.core.codes import ValidationCode, describe
from ledger.core.encoding import decode
from ledger.core.errors import LedgerError
from ledger.core.messages import CommitEvent, ResponsePayload
from ledger.gateway.errors import CommitError, CommitTimeout
from ledger.transport.protocols import CommitEvents

SUBMIT_TIMEOUT_S_DEFAULT = 30.0
COMMIT_CHECK_S = 0.5  # while waiting, how often a dead commit peer is noticed and replaced
# A commit peer that sends no commit event for this long while a transaction it should commit
# is pending is taken for hung (stopped, not dead): the wait moves to another live peer and
# the outcome is asked of the others by tx id. Blocks are cut within the batch timeout
# (milliseconds), so a healthy peer, even a loaded one, is never silent this long.
COMMIT_STALL_S = 5.0
Committed = tuple[int, ValidationCode]  # (block number, validation code)


@dataclass(frozen=True, slots=True)
class SubmitResult:
    tx_id: str
    block: int
    code: ValidationCode
    result: bytes

    def json(self) -> Any:
        return json.loads(self.result) if self.result else None


class CommitSource(CommitEvents, Protocol):
    """The peer whose commit events a gateway waits for."""

    @property
    def name(self) -> str: ...

    @property
    def height(self) -> int: ...

    @property
    def alive(self) -> bool: ...  # False once its process is gone: the gateway fails over


class TxLocator(Protocol):
    """A peer asked where a transaction was committed (its transaction index)."""

    @property
    def name(self) -> str: ...

    @property
    def alive(self) -> bool: ...

    @property
    def height(self) -> int: ...

    def tx_location(self, tx_id: str) -> tuple[int, int, int] | None: ...  # (block, tx_num, code)


def locate(tx_id: str, peers: Sequence[TxLocator], avoid: Collection[str] = ()) -> Committed | None:
    """Commit status by transaction id from any live peer (the highest first) not named in
    `avoid` (a hung one would hold the caller for a whole call limit): every peer validates
    every block the same way, so the first that has the id knows its outcome. None when no
    such peer has it (not committed yet, or never ordered)."""
    for peer in sorted((p for p in peers if p.alive and p.name not in avoid), key=lambda p: p.height, reverse=True):
        try:
            found = peer.tx_location(tx_id)
        except LedgerError:  # it died meanwhile: ask the next one
            continue
        if found is not None:
            return found[0], ValidationCode(found[2])
    return None


Failover = Callable[[Collection[str]], "CommitWaiter | None"]  # a waiter on a live peer not named (ours died or hung)
Lookup = Callable[[str, Collection[str]], "Committed | None"]  # commit status by tx id, from peers not named
StallReport = Callable[[str], None]  # told the name of a commit peer that went silent


class CommitWaiter:
    """Turns a peer's commit events into per-transaction futures."""

    def __init__(self, peer: CommitSource) -> None:
        self._futures: dict[str, Future[Committed]] = {}
        self._lock = threading.Lock()
        self.peer = peer
        self.last_event = time.monotonic()  # when the peer last sent a commit event (or this waiter began)
        peer.add_commit_listener(self._on_commit)

    def expect(self, tx_id: str) -> "Future[Committed]":
        with self._lock:
            future = self._futures.get(tx_id)
            if future is None:
                future = self._futures[tx_id] = Future()
            return future

    def forget(self, tx_id: str) -> None:
        with self._lock:
            self._futures.pop(tx_id, None)

    def _on_commit(self, event: CommitEvent) -> None:
        self.last_event = time.monotonic()
        with self._lock:
            if not self._futures:
                return
            ready = [
                (self._futures.pop(tx_id), code)
                for tx_id, code in zip(event.tx_ids, event.codes)
                if tx_id and tx_id in self._futures
            ]
        for future, code in ready:
            if not future.done():
                future.set_result((event.number, ValidationCode(code)))


class PendingTransaction:
    """An ordered transaction whose commit (steps 3 and 4, on the peers) is awaited.

    With `failover` and `lookup` (what `Gateway` gives), a commit peer that dies while we
    wait does not cost the outcome: the wait moves to another live peer's commit events and
    the transaction is looked up by id on the live peers (it may have committed meanwhile).
    The same for a commit peer that hangs: after `stall_s` without a commit event from it,
    it is reported (`on_stall`) and avoided, the wait moves and the others are asked."""

    def __init__(
        self,
        tx_id: str,
        future: "Future[Committed]",
        payload_bytes: bytes,
        waiter: CommitWaiter,
        *,
        failover: Failover | None = None,
        lookup: Lookup | None = None,
        stall_s: float = COMMIT_STALL_S,
        on_stall: StallReport | None = None,
    ) -> None:
        self.tx_id = tx_id
        self.future = future
        self._payload_bytes = payload_bytes
        self._waiter = waiter
        self._failover = failover
        self._lookup = lookup
        self._stall_s = stall_s
        self._on_stall = on_stall
        self._since = time.monotonic()  # when the current waiter began waiting for us
        self._silent: set[str] = set()  # commit peers that went silent while we waited

    def result(self, timeout_s: float = SUBMIT_TIMEOUT_S_DEFAULT) -> SubmitResult:
        """The commit's outcome; raises CommitError for an invalid transaction, CommitTimeout
        when no commit was seen in time (the transaction may still commit)."""
        block, code = self._wait(timeout_s)
        if code != ValidationCode.VALID:
            raise CommitError(code.name, describe(code), self.tx_id, block)
        return SubmitResult(self.tx_id, block, code, decode(self._payload_bytes, ResponsePayload).result)

    def _wait(self, timeout_s: float) -> Committed:
        if self._failover is None and self._lookup is None:
            try:
                return self.future.result(timeout=timeout_s)
            except FutureTimeout:
                self._waiter.forget(self.tx_id)
                raise CommitTimeout(self.tx_id, timeout_s) from None
        deadline = time.monotonic() + timeout_s
        while True:
            remaining = deadline - time.monotonic()
            try:
                return self.future.result(timeout=max(0.0, min(COMMIT_CHECK_S, remaining)))
            except FutureTimeout:
                pass
            stalled = self._stalled()
            moved = (stalled or not self._waiter.peer.alive) and self._move_wait()
            asked = moved or stalled or remaining <= 0
            found = self._lookup(self.tx_id, frozenset(self._silent)) if self._lookup is not None and asked else None
            if found is not None:
                self._waiter.forget(self.tx_id)
                return found
            if remaining <= 0:
                self._waiter.forget(self.tx_id)
                raise CommitTimeout(self.tx_id, timeout_s)

    def _stalled(self) -> bool:
        """Our commit peer has sent no commit event for `stall_s` while we waited: hung (or
        cut off). It is noted as silent (and reported once) and from then on avoided."""
        peer = self._waiter.peer.name
        if peer in self._silent:
            return True  # no other peer to move to: keep asking the others by id
        if time.monotonic() - max(self._since, self._waiter.last_event) < self._stall_s:
            return False
        self._silent.add(peer)
        if self._on_stall is not None:
            self._on_stall(peer)
        return True

    def _move_wait(self) -> bool:
        """Wait on a live peer's commit events instead; True if moved (the caller then looks
        the id up: a commit before the move is seen there, one after it by the new waiter)."""
        replacement = self._failover(frozenset(self._silent)) if self._failover is not None else None
        if replacement is None or replacement is self._waiter:
            return False
        self._waiter.forget(self.tx_id)
        self._waiter = replacement
        self.future = replacement.expect(self.tx_id)
        self._since = time.monotonic()
        return True

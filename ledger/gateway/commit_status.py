"""Commit status: turning a peer's commit events (step 4) into each transaction's outcome."""

from __future__ import annotations

import json
import threading
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from typing import Any, Protocol

from ledger.core.codes import ValidationCode, describe
from ledger.core.encoding import decode
from ledger.core.messages import CommitEvent, ResponsePayload
from ledger.gateway.errors import CommitError, CommitTimeout
from ledger.transport.protocols import CommitEvents

SUBMIT_TIMEOUT_S_DEFAULT = 30.0
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
    def height(self) -> int: ...


class CommitWaiter:
    """Turns a peer's commit events into per-transaction futures."""

    def __init__(self, peer: CommitSource) -> None:
        self._futures: dict[str, Future[Committed]] = {}
        self._lock = threading.Lock()
        self.peer = peer
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
    """An ordered transaction whose commit (steps 3 and 4, on the peers) is awaited."""

    def __init__(self, tx_id: str, future: "Future[Committed]", payload_bytes: bytes, waiter: CommitWaiter) -> None:
        self.tx_id = tx_id
        self.future = future
        self._payload_bytes = payload_bytes
        self._waiter = waiter

    def result(self, timeout_s: float = SUBMIT_TIMEOUT_S_DEFAULT) -> SubmitResult:
        """The commit's outcome; raises CommitError for an invalid transaction, CommitTimeout
        when no commit was seen in time (the transaction may still commit)."""
        try:
            block, code = self.future.result(timeout=timeout_s)
        except FutureTimeout:
            self._waiter.forget(self.tx_id)
            raise CommitTimeout(self.tx_id, timeout_s) from None
        if code != ValidationCode.VALID:
            raise CommitError(code.name, describe(code), self.tx_id, block)
        return SubmitResult(self.tx_id, block, code, decode(self._payload_bytes, ResponsePayload).result)

"""The child side of the pipe transport: serve one `Peer` over a pair of file descriptors.

Frames (see `frames`) in: `deliver` (a block's bytes), `catch_up` (deliveries were dropped:
fetch from the orderer), `call` (id, method, args), `stop`; out: `ready`, `reply`, `commit`. One thread reads the pipe and does the work in arrival
order (a block is committed between two endorsements), so the process never hands its
interpreter lock back and forth; only slow calls (verify, state digest, history) run on
threads of their own.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import structlog

from ledger.core.encoding import encode
from ledger.core.errors import LedgerError, NodeFailed
from ledger.core.messages import CommitEvent
from ledger.peer.peer import Peer
from ledger.transport.frames import FrameReader, FrameWriter, LinkClosed
from ledger.transport.protocols import served_queries

log = structlog.get_logger("pipe_server")

CALL_THREADS = 2  # slow calls (verify, state digest, history) run beside the link
SLOW_CALLS = frozenset({"verify", "state_digest", "history"})  # the rest are answered in the read loop


class PipeServer:
    """Serves one started `Peer` over a frame reader and writer until `stop` or end of stream."""

    def __init__(self, peer: Peer, reader: FrameReader, writer: FrameWriter) -> None:
        self.peer = peer
        self.reader = reader
        self.writer = writer
        self._calls = ThreadPoolExecutor(CALL_THREADS, thread_name_prefix="peer-call")
        self._methods: dict[str, Callable[..., Any]] = {"endorse": peer.endorse_now, **served_queries(peer)}

    def _on_commit(self, event: CommitEvent) -> None:
        try:
            self.writer.send(["commit", encode(event)])
        except LinkClosed:
            pass  # the network is gone; the read loop ends too

    def _call(self, call_id: int, method: str, args: list[Any]) -> None:
        try:
            value = self._methods[method](*args)
            reply = ["reply", call_id, True, value]
        except LedgerError as exc:
            reply = ["reply", call_id, False, [exc.code, exc.message]]
        except Exception as exc:  # any other failure goes back to the caller, typed
            log.error("peer_call_failed", peer=self.peer.name, method=method, error=repr(exc))
            reply = ["reply", call_id, False, ["PEER_ERROR", f"{method} failed on {self.peer.name}: {exc!r}"]]
        try:
            self.writer.send(reply)
        except LinkClosed:
            pass

    def _commit(self, block_bytes: bytes | None) -> None:
        """Commit a delivery (or catch up); a failure here is the node's death, never silent:
        logged, the peer marked dead, and NodeFailed ends `serve` (the process exits non-zero)."""
        try:
            if block_bytes is None:
                self.peer.catch_up()
            else:
                self.peer.receive_bytes(block_bytes)
        except Exception as exc:
            self.peer.fail(exc)
            raise NodeFailed(self.peer.name, f"its commit loop failed: {exc!r}") from exc

    def serve(self) -> None:
        self.peer.add_commit_listener(self._on_commit)
        height, commit = self.peer.status
        self.writer.send(["ready", height, commit])
        try:
            while True:
                message = self.reader.receive()
                kind = message[0]
                if kind == "deliver":
                    # committed here, between calls: one thread, so no interpreter-lock handoffs
                    self._commit(message[1])
                elif kind == "catch_up":
                    self._commit(None)
                elif kind == "call":
                    if message[2] in SLOW_CALLS:
                        self._calls.submit(self._call, message[1], message[2], message[3])
                    else:  # a thread handoff costs more than an endorsement's wait
                        self._call(message[1], message[2], message[3])
                elif kind == "stop":
                    return
        except LinkClosed:
            log.warning("network_link_closed", peer=self.peer.name)
        finally:
            self._calls.shutdown(wait=True)

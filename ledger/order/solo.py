"""Step 2 of execute → order → validate → commit: order envelopes into signed blocks.

The solo orderer checks each broadcast envelope (size, channel, creator membership and
signature), batches envelopes with the block cutter (count, bytes, timeout), hash-links
each block to the previous one, puts a Merkle root of its transactions in the header,
signs it, stores it in its own block store and delivers it to every subscribed peer.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import structlog

from ledger.core.blocks import seal_block
from ledger.core.channel import Channel
from ledger.core.codes import OrdererCode
from ledger.core.encoding import decode, encode
from ledger.core.identity import SigningIdentity, now_ms
from ledger.core.messages import Block, BroadcastResult, block_hash
from ledger.order.admission import check_envelope
from ledger.order.blockcutter import BlockCutter
from ledger.order.repair import BlockCopies, open_orderer_store

log = structlog.get_logger("orderer")

BROADCAST_QUEUE_MAX = 20_000
BROADCAST_ENQUEUE_WAIT_S = 5.0
Deliver = Callable[[int, bytes], None]  # a subscriber gets each new block's number and encoding


class SoloOrderer:
    """Solo ordering service: one node, one thread cutting blocks."""

    def __init__(self, identity: SigningIdentity, channel: Channel, directory: Path, genesis: Block, *, copies: Sequence[BlockCopies] = ()) -> None:
        """`copies`: the peers' stored blocks, to repair damaged block files from (see `ledger.order.repair`)."""
        self.identity = identity
        self.channel = channel
        self.store = open_orderer_store(directory / "blocks", genesis, channel, copies)
        if self.store.height == 0:
            self.store.append(0, encode(genesis))
        self.genesis = genesis
        last = decode(self.store.get(self.store.height - 1), Block)
        self._previous_hash = block_hash(last.header)
        self._cutter = BlockCutter(channel.config.batch)
        self._queue: queue.Queue[bytes | None] = queue.Queue(BROADCAST_QUEUE_MAX)
        self._subscribers: list[Deliver] = []
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="orderer", daemon=True)
        self._running = False
        self._failure: str | None = None  # why the ordering loop died (the service is then dead)

    @property
    def height(self) -> int:
        return self.store.height

    def start(self) -> None:
        self._running = True
        self._thread.start()

    def stop(self) -> None:
        if self._running:
            self._running = False
            self._queue.put(None)
            self._thread.join(timeout=10)
        self.store.close()

    @property
    def alive(self) -> bool:
        """The ordering loop runs (health checks report it)."""
        return self._running and self._failure is None and self._thread.is_alive()

    @property
    def thread_id(self) -> int | None:
        """The ordering loop's native thread id (for CPU accounting), None before start."""
        return self._thread.native_id

    @property
    def failure(self) -> str | None:
        """Why the ordering loop died, or None while it runs."""
        return self._failure

    def subscribe(self, deliver: Deliver) -> None:
        with self._lock:
            self._subscribers.append(deliver)

    def blocks_from(self, number: int) -> Iterator[bytes]:
        """Deliver service for catch-up: stored blocks' bytes from `number` on."""
        for _, data in self.store.iter_blocks(number):
            yield data

    def broadcast(self, envelope: bytes) -> BroadcastResult:
        """Accept an envelope for ordering, or say why not."""
        checked = check_envelope(self.channel, envelope)
        if not checked.accepted:
            return checked
        if self._failure is not None:
            return BroadcastResult(False, OrdererCode.SERVICE_UNAVAILABLE, f"the orderer stopped: {self._failure}")
        if not self._running:
            return BroadcastResult(False, OrdererCode.SERVICE_UNAVAILABLE, "the orderer is not running")
        try:
            self._queue.put(envelope, timeout=BROADCAST_ENQUEUE_WAIT_S)
        except queue.Full:
            return BroadcastResult(False, OrdererCode.SERVICE_UNAVAILABLE, "the orderer's queue is full; retry later")
        return BroadcastResult(True)

    def enqueue_unchecked(self, envelope: bytes) -> None:
        """Order an envelope without the broadcast checks: what a faulty or malicious orderer
        would do. Only fault-injection tests call it; the peers' validators are the guard."""
        self._queue.put(envelope, timeout=BROADCAST_ENQUEUE_WAIT_S)

    def _run(self) -> None:
        """The ordering loop. It never dies silently: a failure is logged and marks the
        service dead, so broadcasts are refused (SERVICE_UNAVAILABLE) instead of queued."""
        try:
            self._order()
        except BaseException as exc:
            self._failure = repr(exc)
            log.error("orderer_loop_died", height=self.store.height, error=repr(exc), exc_info=exc)

    def _order(self) -> None:
        timeout_s = self.channel.config.batch.batch_timeout_ms / 1000
        deadline: float | None = None
        while True:
            wait = None if deadline is None else max(0.0, deadline - time.monotonic())
            try:
                envelope = self._queue.get(timeout=wait)
            except queue.Empty:
                envelope = b""
            if envelope is None:
                if self._cutter.pending_count:
                    self._emit(self._cutter.cut())
                return
            if envelope:
                for batch in self._cutter.ordered(envelope):
                    self._emit(batch)
                if self._cutter.pending_count and deadline is None:
                    deadline = time.monotonic() + timeout_s
                elif not self._cutter.pending_count:
                    deadline = None
            if deadline is not None and time.monotonic() >= deadline:
                if self._cutter.pending_count:
                    self._emit(self._cutter.cut())
                deadline = None

    def _emit(self, batch: list[bytes]) -> None:
        number = self.store.height
        block = seal_block(number, self._previous_hash, batch, self.identity, now_ms())  # the time it is cut
        block_bytes = encode(block)
        self.store.append(number, block_bytes)
        self._previous_hash = block_hash(block.header)
        log.debug("block_cut", number=number, transactions=len(batch))
        with self._lock:
            subscribers = list(self._subscribers)
        for deliver in subscribers:
            try:  # subscribers never block (bounded queues); one that fails must not stop ordering
                deliver(number, block_bytes)
            except Exception as exc:
                log.error("deliver_failed", number=number, subscriber=repr(deliver), error=repr(exc))

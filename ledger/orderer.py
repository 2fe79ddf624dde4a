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
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

import msgspec
import structlog

from ledger.blockcutter import BlockCutter
from ledger.blockstore import BlockStore
from ledger.channel import Channel
from ledger.blocks import seal_block
from ledger.encoding import decode, encode
from ledger.identity import MembershipError, SigningIdentity
from ledger.messages import (
    Block,
    BlockMetadata,
    Envelope,
    Payload,
    PayloadType,
    block_hash,
)

log = structlog.get_logger("orderer")

BROADCAST_QUEUE_MAX = 20_000
EMPTY_METADATA = BlockMetadata(b"", b"")
Deliver = Callable[[Block, bytes], None]  # a subscriber gets each new block and its encoding


@dataclass(frozen=True, slots=True)
class BroadcastResult:
    accepted: bool
    code: str = ""
    message: str = ""


class Orderer:
    """Solo ordering service: one node, one thread cutting blocks."""

    def __init__(self, identity: SigningIdentity, channel: Channel, directory: Path, genesis: Block) -> None:
        self.identity = identity
        self.channel = channel
        self.store = BlockStore(directory / "blocks")
        if self.store.height == 0:
            self.store.append(0, encode(genesis))
        last = decode(self.store.get(self.store.height - 1), Block)
        self._previous_hash = block_hash(last.header)
        self._cutter = BlockCutter(channel.config.batch)
        self._queue: queue.Queue[bytes | None] = queue.Queue(BROADCAST_QUEUE_MAX)
        self._subscribers: list[Deliver] = []
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="orderer", daemon=True)
        self._running = False

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

    def subscribe(self, deliver: Deliver) -> None:
        with self._lock:
            self._subscribers.append(deliver)

    def blocks_from(self, number: int) -> Iterator[Block]:
        """Deliver service for catch-up: stored blocks from `number` on."""
        for _, data in self.store.iter_blocks(number):
            yield decode(data, Block)

    def broadcast(self, envelope: bytes) -> BroadcastResult:
        """Accept an envelope for ordering, or say why not."""
        if len(envelope) > self.channel.config.batch.absolute_max_bytes:
            return BroadcastResult(False, "TOO_LARGE", "the envelope is larger than the channel's absolute maximum")
        try:
            outer = decode(envelope, Envelope)
            payload = decode(outer.payload, Payload)
            creator = self.channel.msp.validate(payload.creator)
        except (msgspec.DecodeError, msgspec.ValidationError):
            return BroadcastResult(False, "BAD_PAYLOAD", "the envelope cannot be decoded")
        except MembershipError as exc:
            return BroadcastResult(False, "UNKNOWN_IDENTITY", exc.message)
        if payload.channel != self.channel.name or payload.type != PayloadType.ENDORSER_TRANSACTION:
            return BroadcastResult(False, "BAD_CHANNEL", "the envelope is not an endorser transaction for this channel")
        if not creator.verify(outer.payload, outer.signature):
            return BroadcastResult(False, "BAD_CREATOR_SIGNATURE", "the envelope is not signed by its creator")
        if not self._running:
            return BroadcastResult(False, "SERVICE_UNAVAILABLE", "the orderer is not running")
        try:
            self._queue.put(envelope, timeout=5)
        except queue.Full:
            return BroadcastResult(False, "SERVICE_UNAVAILABLE", "the orderer's queue is full; retry later")
        return BroadcastResult(True)

    def _run(self) -> None:
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
        block = seal_block(number, self._previous_hash, batch, self.identity, EMPTY_METADATA)
        block_bytes = encode(block)
        self.store.append(number, block_bytes)
        self._previous_hash = block_hash(block.header)
        log.debug("block_cut", number=number, transactions=len(batch))
        with self._lock:
            subscribers = list(self._subscribers)
        for deliver in subscribers:
            deliver(block, block_bytes)

"""A peer node: endorser (step 1) + validator and committer (steps 3 and 4) over its own
block files and world state.

Blocks arrive from the ordering service's deliver stream; the peer checks that each one is
signed by an orderer of the channel and links to the previous block, then validates and
commits it and tells its listeners (commit events). On start it rolls its state forward
from its block files and catches up from the ordering service. Every method a transport
calls takes and returns encoded records (see `ledger.transport.protocols`).
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from pathlib import Path

import msgspec
import structlog

from ledger.commit.chain_check import ChainReport, verify_chain
from ledger.commit.committer import Committer
from ledger.commit.listeners import CommitListeners
from ledger.core.blocks import genesis_problem, seal_problem
from ledger.core.channel import Channel
from ledger.core.encoding import decode, encode
from ledger.core.errors import StorageCorruption
from ledger.core.identity import Identity, SigningIdentity
from ledger.core.messages import Block, CommitEvent, CommitListener, HistoryEntry, SignedProposal, block_hash
from ledger.execute.endorser import Endorser
from ledger.storage.blockstore import BlockStore
from ledger.storage.statedb import StateDB
from ledger.validate.validator import Validator

log = structlog.get_logger("peer")

DELIVER_QUEUE_MAX = 10_000  # blocks waiting for the commit thread; past it a delivery is dropped
STOP_WAIT_S = 30.0
BlockSource = Callable[[int], Iterator[bytes]]  # encoded blocks from a height on


class BlockRejected(Exception):
    """A delivered block that does not come from an orderer or does not link."""


class Peer:
    def __init__(self, name: str, identity: SigningIdentity, channel: Channel, directory: Path, state_url: str) -> None:
        self.name = name  # "peer0.Org1"
        self.signing_identity = identity
        self.identity: Identity = identity.identity
        self.org = self.identity.org
        self.channel = channel
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)
        self.store = BlockStore(directory / "blocks")
        self.state = StateDB(state_url)
        self.committer = Committer(name, self.store, self.state, Validator(channel))
        self.endorser = Endorser(identity, channel, self.state)
        self.genesis: Block | None = None
        self._listeners = CommitListeners(name, log)
        self._queue: queue.Queue[tuple[int, bytes] | None] = queue.Queue(DELIVER_QUEUE_MAX)
        self._thread = threading.Thread(target=self._run, name=f"commit-{name}", daemon=True)
        self._source: BlockSource | None = None
        self._previous_hash: bytes | None = None
        self._lock = threading.Lock()
        self.commit_lock = threading.RLock()  # held while a block is committed
        self._applied_height = 0
        self._failure: str | None = None  # why the commit loop died (the node is then dead)
        self._lagging = threading.Event()  # a delivery was dropped: catch up from the orderer

    # --- lifecycle ----------------------------------------------------------------------

    def start(self, genesis: Block, blocks_from: BlockSource, *, commit_thread: bool = True) -> None:
        """Recover, commit genesis if new, catch up from the orderer, then follow deliveries
        (on a commit thread of its own; without it, the owner calls `receive` for each block)."""
        self.genesis = genesis
        self._source = blocks_from
        if self.store.height > 0:
            problem = genesis_problem(decode(self.store.get(0), Block), genesis)
            if problem:
                raise StorageCorruption(f"{self.name}: its block 0 {problem}")
        self.committer.recover()
        if self.store.height == 0:
            self._commit(genesis)
        self._applied_height = self.store.height
        self._previous_hash = block_hash(decode(self.store.get(self.store.height - 1), Block).header)
        self._catch_up()
        if commit_thread:
            self._thread.start()

    def stop(self) -> None:
        if self._thread.is_alive():
            try:
                self._queue.put(None, timeout=STOP_WAIT_S)
            except queue.Full:
                log.error("peer_stop_timeout", peer=self.name, queued=DELIVER_QUEUE_MAX)
            self._thread.join(timeout=STOP_WAIT_S)
        self.store.close()
        self.state.close()

    def deliver(self, number: int, block_bytes: bytes) -> None:
        """Called by the ordering service for every new block; never blocks it. When the
        commit thread is this far behind (or dead) the block is dropped and the peer catches
        up from its own height once its queue drains (the ordering service keeps every block)."""
        if self._failure is not None:
            return
        try:
            self._queue.put_nowait((number, block_bytes))
        except queue.Full:
            if not self._lagging.is_set():
                self._lagging.set()
                log.warning("deliver_dropped", peer=self.name, number=number, queued=DELIVER_QUEUE_MAX, action="catch up from the orderer later")

    def add_commit_listener(self, listener: CommitListener) -> None:
        self._listeners.add(listener)

    # --- endorsement (step 1) -----------------------------------------------------------

    def endorse(self, signed_proposal: bytes) -> "Future[bytes]":
        """In this process endorsing is a call; the future is already resolved."""
        future: Future[bytes] = Future()
        try:
            future.set_result(self.endorse_now(signed_proposal))
        except Exception as exc:
            future.set_exception(exc)
        return future

    def endorse_now(self, signed_proposal: bytes) -> bytes:
        """`endorse` for a caller that answers at once (the NATS node): the encoded response,
        or the refusal raised (no future to make and resolve)."""
        return encode(self.endorser.endorse(decode(signed_proposal, SignedProposal)))

    def evaluate(self, signed_proposal: bytes) -> bytes:
        return encode(self.endorser.evaluate(decode(signed_proposal, SignedProposal)))

    # --- queries ------------------------------------------------------------------------

    @property
    def alive(self) -> bool:
        """False once the commit loop died: gateways skip the peer, health reports it down."""
        return self._failure is None

    @property
    def thread_id(self) -> int | None:
        """The commit thread's native id (for CPU accounting); None without a commit thread."""
        return self._thread.native_id

    @property
    def failure(self) -> str | None:
        """Why the commit loop died, or None while it runs."""
        return self._failure

    @property
    def height(self) -> int:
        """Blocks this peer has committed (appended AND applied to its state), so that height
        and commit hash always describe the same block."""
        return self._applied_height

    @property
    def status(self) -> tuple[int, bytes]:
        """(height, commit hash), read together under the commit lock."""
        with self.commit_lock:
            return self._applied_height, self.commit_hash

    @property
    def commit_hash(self) -> bytes:
        return self.committer.previous_commit_hash()

    def block(self, number: int) -> bytes:
        return self.store.get(number)

    def blocks(self, start: int = 0) -> Iterator[Block]:
        for _, data in self.store.iter_blocks(start):
            yield decode(data, Block)

    def tx_location(self, tx_id: str) -> tuple[int, int, int] | None:
        return self.state.tx_location(tx_id)

    def history(self, key: str) -> list[HistoryEntry]:
        return self.state.history(key)

    def state_digest(self) -> bytes:
        """Hash of the whole world state (equal on peers that applied the same blocks)."""
        return self.state.state_digest()

    def verify_chain(self) -> ChainReport:
        """The chain check of this peer's files while it runs, on a consistent snapshot: the
        state as of one committed block (a read transaction) and the blocks up to it. No lock
        of the peer is held, so endorsements and commits go on meanwhile."""
        assert self.genesis is not None, "verify before start"
        with self.state.snapshot() as snapshot:
            savepoint = snapshot.savepoint()
            height = 0 if savepoint is None else savepoint[0] + 1
            return verify_chain(self.name, self.directory / "blocks", self.genesis, self.state.url, state=snapshot, height=height)

    # --- committing (steps 3 and 4) -----------------------------------------------------

    def _run(self) -> None:
        """The commit loop. It never dies silently: any failure is logged, marks the peer
        dead (alive False) and ends the loop, so nothing commits on a state in doubt."""
        try:
            while True:
                item = self._queue.get()
                if item is None:
                    return
                self.receive_bytes(item[1])
                if self._lagging.is_set() and self._queue.empty():
                    self.catch_up()
        except BaseException as exc:
            self.fail(exc)

    def fail(self, exc: BaseException) -> None:
        """Mark the node dead after its loop failed (logged with the traceback)."""
        self._failure = repr(exc)
        log.error("peer_loop_died", peer=self.name, height=self._applied_height, error=repr(exc), exc_info=exc)

    def receive_bytes(self, block_bytes: bytes) -> None:
        """`receive` for an encoded delivery; one that does not decode is rejected (logged)."""
        try:
            block = decode(block_bytes, Block)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            log.error("block_rejected", peer=self.name, reason=f"delivery does not decode: {exc}")
            return
        self.receive(block)

    def catch_up(self) -> None:
        """Fetch and commit every block the ordering service has past our height (after
        dropped deliveries)."""
        self._lagging.clear()
        self._catch_up()

    def receive(self, block: Block) -> None:
        """Validate and commit a delivered block (skipped if already had, after a catch-up
        from the orderer if blocks are missing before it)."""
        number = block.header.number
        if number < self.store.height:
            return  # already have it (delivered during catch-up)
        if number > self.store.height:
            self._catch_up()
            if number < self.store.height:
                return
        self._accept(block)

    def _catch_up(self) -> None:
        assert self._source is not None
        for data in self._source(self.store.height):
            self._accept(decode(data, Block))

    def _accept(self, block: Block) -> None:
        try:
            self._check_delivered(block)
        except BlockRejected as exc:
            log.error("block_rejected", peer=self.name, number=block.header.number, reason=str(exc))
            return
        self._commit(block)
        self._previous_hash = block_hash(block.header)

    def _check_delivered(self, block: Block) -> None:
        problem = seal_problem(block, self._previous_hash, self.channel)
        if problem:
            raise BlockRejected(problem)

    def _commit(self, block: Block) -> None:
        with self.commit_lock:
            event: CommitEvent = self.committer.commit(block)
            self._applied_height = event.number + 1
        self._listeners.notify(event)

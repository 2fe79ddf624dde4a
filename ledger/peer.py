"""A peer node: endorser + committer over its own block files and world state.

Blocks arrive from the ordering service's deliver stream; the peer checks that each one is
signed by an orderer of the channel and links to the previous block, then validates and
commits it on its own thread and tells its listeners (commit events). On start it rolls its
state forward from its block files and catches up from the orderer.
"""

from __future__ import annotations

import queue
import threading
from concurrent.futures import Future
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterator

import structlog

from ledger.blockstore import BlockStore
from ledger.chaincode_api import HistoryEntry
from ledger.channel import Channel
from ledger.committer import CommitOutcome, Committer
from ledger.blocks import seal_problem
from ledger.encoding import decode
from ledger.endorser import Endorser
from ledger.identity import SigningIdentity
from ledger.messages import Block, ProposalResponse, ResponsePayload, SignedProposal, block_hash
from ledger.statedb import StateDB
from ledger.validator import Validator

if TYPE_CHECKING:
    from ledger.verify import ChainReport

log = structlog.get_logger("peer")

DELIVER_QUEUE_MAX = 10_000
CommitListener = Callable[[CommitOutcome], None]


class BlockRejected(Exception):
    """A delivered block that does not come from the orderer or does not link."""


class Peer:
    def __init__(self, name: str, identity: SigningIdentity, channel: Channel, directory: Path, state_url: str) -> None:
        self.name = name  # "peer0.Org1"
        self.identity = identity
        self.org = identity.identity.org
        self.channel = channel
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)
        self.store = BlockStore(directory / "blocks")
        self.state = StateDB(state_url)
        self.committer = Committer(name, self.store, self.state, Validator(channel))
        self.endorser = Endorser(identity, channel, self.state)
        self._listeners: list[CommitListener] = []
        self._queue: queue.Queue[Block | None] = queue.Queue(DELIVER_QUEUE_MAX)
        self._thread = threading.Thread(target=self._run, name=f"commit-{name}", daemon=True)
        self._source: Callable[[int], Iterator[Block]] | None = None
        self._previous_hash: bytes | None = None
        self._lock = threading.Lock()
        self.commit_lock = threading.RLock()  # held while a block is committed; verify holds it too
        self._applied_height = 0

    # --- lifecycle ----------------------------------------------------------------------

    def start(self, genesis: Block, blocks_from: Callable[[int], Iterator[Block]], *, commit_thread: bool = True) -> None:
        """Recover, commit genesis if new, catch up from the orderer, then follow deliveries
        (on a commit thread of its own; without it, the owner calls `receive` for each block)."""
        self._source = blocks_from
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
            self._queue.put(None)
            self._thread.join(timeout=30)
        self.store.close()
        self.state.close()

    def deliver(self, block: Block, block_bytes: bytes = b"") -> None:
        """Called by the ordering service for every new block (its bytes are not needed here)."""
        self._queue.put(block)

    def add_commit_listener(self, listener: CommitListener) -> None:
        with self._lock:
            self._listeners.append(listener)

    # --- endorsement (step 1) -----------------------------------------------------------

    def endorse(self, signed: SignedProposal) -> ProposalResponse:
        return self.endorser.endorse(signed)

    def endorse_async(self, signed: SignedProposal) -> "Future[ProposalResponse]":
        """In this process endorsing is a call; the future is already resolved."""
        future: Future[ProposalResponse] = Future()
        try:
            future.set_result(self.endorser.endorse(signed))
        except Exception as exc:
            future.set_exception(exc)
        return future

    def evaluate(self, signed: SignedProposal) -> ResponsePayload:
        return self.endorser.evaluate(signed)

    # --- queries ------------------------------------------------------------------------

    @property
    def alive(self) -> bool:
        """A peer in this process lives as long as the network (see RemotePeer.alive)."""
        return True

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

    def block(self, number: int) -> Block:
        return decode(self.store.get(number), Block)

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

    def verify_own_chain(self, genesis: Block) -> "ChainReport":
        """`gridledger verify` of this peer's files while it runs: commits wait meanwhile."""
        from ledger.verify import verify_chain  # verify replays with the validator; imported late

        with self.commit_lock:
            return verify_chain(self.name, self.directory / "blocks", genesis, self.state.url)

    # --- committing (steps 3 and 4) -----------------------------------------------------

    def _run(self) -> None:
        while True:
            block = self._queue.get()
            if block is None:
                return
            self.receive(block)

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
        for block in self._source(self.store.height):
            self._accept(block)

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
            outcome = self.committer.commit(block)
            self._applied_height = outcome.number + 1
        with self._lock:
            listeners = list(self._listeners)
        for listener in listeners:
            try:
                listener(outcome)
            except Exception as exc:  # a listener must never stop the committer
                log.error("commit_listener_failed", peer=self.name, error=repr(exc))


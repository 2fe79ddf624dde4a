"""The protocols between nodes: what a gateway needs of peers and of the ordering service,
and what the ordering service gives peers. Only encoded records cross them.

Three transports implement them: in-process (the nodes themselves: `Peer`, `SoloOrderer`),
pipes (a peer in a child process: `PipePeer`), and NATS (a node on another machine). The
network and the gateway hold nodes only through these protocols.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import Future
from typing import Any, Protocol, runtime_checkable

import msgspec

from ledger.commit.chain_report import ChainReport
from ledger.core.encoding import encode
from ledger.core.identity import Identity
from ledger.core.messages import BroadcastResult, CommitListener, HistoryEntry

BlockListener = Callable[[int, bytes], None]  # (block number, encoded block)


class EndorserService(Protocol):
    """A peer as the gateway asks it (step 1). Refusals arrive as `EndorserRefusal`."""

    @property
    def name(self) -> str: ...  # "peer0.Org1"

    @property
    def org(self) -> str: ...

    @property
    def identity(self) -> Identity: ...  # the peer's certificate (for policy choices)

    @property
    def alive(self) -> bool: ...  # False once the peer is known to be gone: gateways skip it

    @property
    def height(self) -> int: ...  # blocks committed (appended and applied)

    def endorse(self, signed_proposal: bytes) -> Future[bytes]:
        """Simulate and sign; the future gives the encoded ProposalResponse."""
        ...

    def evaluate(self, signed_proposal: bytes) -> bytes:
        """Simulate a query; the encoded ResponsePayload (nothing signed or ordered)."""
        ...


class CommitEvents(Protocol):
    """A peer's commit events (step 4): one per block, in order."""

    def add_commit_listener(self, listener: CommitListener) -> None: ...


class PeerQueries(Protocol):
    """Reads of a peer's ledger for people and tools (explorer, status, verify)."""

    @property
    def status(self) -> tuple[int, bytes]: ...  # (height, commit hash) read together

    def block(self, number: int) -> bytes: ...  # encoded Block; IndexError past the height

    def tx_location(self, tx_id: str) -> tuple[int, int, int] | None: ...  # (block, tx_num, code)

    def history(self, key: str) -> list[HistoryEntry]: ...

    def state_digest(self) -> bytes: ...

    def verify_chain(self) -> ChainReport: ...  # the chain check on a consistent snapshot


class PeerService(EndorserService, CommitEvents, PeerQueries, Protocol):
    """Everything a network holds of one peer, wherever it runs."""

    def deliver(self, number: int, block_bytes: bytes) -> None:
        """A new block from the ordering service; never blocks the caller."""
        ...

    def stop(self) -> None: ...


def served_queries(peer: PeerService) -> dict[str, Callable[..., Any]]:
    """A peer's reads as its servers (pipe, NATS) answer them, by the name a remote caller
    sends: each returns what crosses the wire (bytes, or records encoded)."""
    return {
        "evaluate": peer.evaluate,
        "block": peer.block,
        "tx_location": peer.tx_location,
        "history": lambda key: [encode(e) for e in peer.history(key)],
        "state_digest": peer.state_digest,
        "verify": lambda: msgspec.msgpack.encode(peer.verify_chain()),
    }


class OrdererService(Protocol):
    """The ordering service as a gateway sees it (step 2)."""

    def broadcast(self, envelope: bytes) -> BroadcastResult: ...


@runtime_checkable
class AsyncEndorser(Protocol):
    """A peer whose endorsement can be awaited on the loop that carries its messages (NATS):
    what lets a gateway submit from coroutines (`Gateway.submit_aio`)."""

    async def endorse_aio(self, signed_proposal: bytes) -> bytes: ...  # the encoded ProposalResponse


@runtime_checkable
class AsyncOrderer(Protocol):
    """The ordering service reached from coroutines on `loop` (NATS)."""

    @property
    def loop(self) -> Any: ...  # the asyncio loop endorse_aio and broadcast_aio run on

    async def broadcast_aio(self, envelope: bytes) -> BroadcastResult: ...


class OrderingNode(OrdererService, Protocol):
    """The ordering service as a network holds it: in this process (solo) or over NATS."""

    @property
    def height(self) -> int: ...  # blocks ordered so far

    @property
    def alive(self) -> bool: ...

    def stop(self) -> None: ...


class DeliverService(Protocol):
    """The ordering service as a peer sees it: stored blocks from a height, then new ones."""

    @property
    def height(self) -> int: ...

    def blocks_from(self, number: int) -> Iterator[bytes]: ...

    def subscribe(self, listener: BlockListener) -> None: ...

"""Peers and the ordering service of a networked channel, as a gateway holds them.

`RemotePeer` is a `PeerService` whose peer runs in another process, on any machine that
reaches the NATS cluster: endorse, query and status are requests to the peer's own
subjects; its height, commit hash and liveness come from its heartbeats and commit events.
`RemoteOrderer` is the ordering service: `broadcast` is a request to the orderer nodes'
queue group, retried with the same envelope (same tx id, so JetStream stores it once)
while the stream elects a new leader after a crash (measured ~4.5 s of 503s and timeouts).
`ChannelLink` holds them on one connection and routes events and heartbeats to them.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from concurrent.futures import Future
from typing import Any

import msgspec
import nats.errors
import nats.js.errors
import structlog

from ledger.commit.chain_report import ChainReport
from ledger.commit.listeners import CommitListeners
from ledger.core.codes import EndorserCode, GatewayCode, OrdererCode
from ledger.core.encoding import decode
from ledger.core.errors import LedgerError
from ledger.core.identity import Identity
from ledger.core.messages import BroadcastResult, CommitEvent, CommitListener, HistoryEntry
from ledger.execute.endorser import EndorserRefusal
from ledger.transport.nats_batch import BatchRefused, Coalescer
from ledger.transport.nats_client import NatsClient
from ledger.transport.nats_link import is_transient
from ledger.transport.nats_rpc import BLOCK_NOT_FOUND, HEARTBEAT_STALE_S, parse_heartbeat, parse_reply, query_request
from ledger.transport.subjects import ChannelSubjects

log = structlog.get_logger("nats_remote")

ENDORSE_TIMEOUT_S = 10.0  # a peer that does not answer in this long is skipped for now
CALL_TIMEOUT_S = 30.0
VERIFY_TIMEOUT_S = 3600.0
STATUS_TIMEOUT_S = 2.0
BROADCAST_TIMEOUT_S = 3.0  # one attempt
BROADCAST_RETRY_S = 20.0  # all attempts: well past a stream leader's failover
BROADCAST_PAUSE_S = 0.1
BLOCK_READ_RETRY_S = 20.0  # reading one block of the stream across a leader election
UNREACHABLE = (nats.errors.TimeoutError, nats.errors.NoRespondersError, nats.errors.ConnectionClosedError, TimeoutError)


class PeerUnavailable(EndorserRefusal):
    """The peer did not answer (its process is gone, or it is cut off)."""

    def __init__(self, name: str, why: str) -> None:
        super().__init__(EndorserCode.PEER_UNAVAILABLE, f"peer {name} is not available: {why}")


def _refusal(exc: BaseException) -> LedgerError:
    if isinstance(exc, nats.errors.MaxPayloadError):  # never sent: larger than the servers carry
        return EndorserRefusal(OrdererCode.TOO_LARGE, "the proposal is larger than the NATS servers carry")
    return exc if isinstance(exc, LedgerError) else EndorserRefusal("PEER_ERROR", repr(exc))


class RemotePeer:
    """A peer node reached over NATS (see `ledger.peer.nats_peer`)."""

    def __init__(self, client: NatsClient, subjects: ChannelSubjects, name: str, identity: Identity) -> None:
        self.name = name
        self.identity = identity
        self.org = identity.org
        self._client = client
        self._subjects = subjects
        self._height = 0
        self._commit_hash = b""
        self._heard_at: float | None = None
        self._listeners = CommitListeners(name, log)
        self._lock = threading.Lock()
        self._endorsements = Coalescer(client, subjects.peer(name, "endorse_batch"), ENDORSE_TIMEOUT_S)

    # --- what its heartbeats and events say --------------------------------------------

    @property
    def alive(self) -> bool:
        heard = self._heard_at
        return heard is not None and time.monotonic() - heard < HEARTBEAT_STALE_S

    @property
    def height(self) -> int:
        return self._height

    @property
    def status(self) -> tuple[int, bytes]:
        with self._lock:
            return self._height, self._commit_hash

    def heard(self, height: int, commit_hash: bytes) -> None:
        with self._lock:
            self._height, self._commit_hash = height, commit_hash
            self._heard_at = time.monotonic()

    def unheard(self) -> None:
        """The peer's subjects have no responder (its process is gone): not alive, so gateways
        choose others, until a heartbeat says it is back."""
        with self._lock:
            self._heard_at = None

    def on_event(self, event: CommitEvent) -> None:
        self.heard(event.number + 1, event.commit_hash)
        self._listeners.notify(event)

    def add_commit_listener(self, listener: CommitListener) -> None:
        self._listeners.add(listener)

    def refresh(self) -> "Future[bytes]":
        """Ask the peer's status now (at start, not to wait for a heartbeat)."""
        future = self._client.request(self._subjects.peer(self.name, "status"), b"", STATUS_TIMEOUT_S)

        def done(answer: "Future[bytes]") -> None:
            if answer.exception() is None:
                status = parse_reply(answer.result())
                self.heard(int(status["height"]), bytes(status["commit_hash"]))

        future.add_done_callback(done)
        return future

    # --- requests -------------------------------------------------------------------------

    def endorse(self, signed_proposal: bytes) -> "Future[bytes]":
        """Asked now; the future gives the encoded ProposalResponse or raises a LedgerError."""
        return asyncio.run_coroutine_threadsafe(self.endorse_aio(signed_proposal), self._client.loop)

    async def endorse_aio(self, signed_proposal: bytes) -> bytes:
        """`endorse` from a coroutine on the connection's loop (no thread waits for it)."""
        try:
            answer = await self._endorsements.call(signed_proposal)
        except Exception as error:
            if isinstance(error, nats.errors.NoRespondersError):
                self.unheard()  # nobody serves its subject: gone until its next heartbeat
            raise (PeerUnavailable(self.name, repr(error)) if isinstance(error, UNREACHABLE) else _refusal(error)) from None
        return bytes(parse_reply(answer))

    def _query(self, method: str, *args: Any, timeout_s: float = CALL_TIMEOUT_S) -> Any:
        try:
            data = self._client.request(self._subjects.peer(self.name, "query"), query_request(method, *args), timeout_s).result(timeout_s + 1)
        except UNREACHABLE as exc:
            raise PeerUnavailable(self.name, f"no answer to {method}: {exc!r}") from None
        return parse_reply(data)

    def evaluate(self, signed_proposal: bytes) -> bytes:
        return bytes(self._query("evaluate", signed_proposal))

    def block(self, number: int) -> bytes:
        try:
            return bytes(self._query("block", number))
        except LedgerError as exc:
            if exc.code == BLOCK_NOT_FOUND:
                raise IndexError(number) from None
            raise

    def tx_location(self, tx_id: str) -> tuple[int, int, int] | None:
        found = self._query("tx_location", tx_id)
        return None if found is None else (int(found[0]), int(found[1]), int(found[2]))

    def history(self, key: str) -> list[HistoryEntry]:
        return [decode(row, HistoryEntry) for row in self._query("history", key)]

    def state_digest(self) -> bytes:
        return bytes(self._query("state_digest", timeout_s=VERIFY_TIMEOUT_S))

    def verify_chain(self) -> ChainReport:
        return msgspec.msgpack.decode(self._query("verify", timeout_s=VERIFY_TIMEOUT_S), type=ChainReport)

    def deliver(self, number: int, block_bytes: bytes) -> None:
        """A remote peer reads the blocks stream itself."""

    def stop(self) -> None:
        """The peer's process is not ours to stop; the link's connection is closed by its owner."""


class RemoteOrderer:
    """The orderer nodes of the channel, answering `broadcast` as one queue group."""

    def __init__(self, client: NatsClient, subjects: ChannelSubjects, names: list[str]) -> None:
        self._client = client
        self._subjects = subjects
        self.names = names
        self._heights: dict[str, tuple[int, float]] = {}
        self._broadcasts = Coalescer(client, subjects.broadcast_batch, BROADCAST_TIMEOUT_S)

    def heard(self, name: str, height: int) -> None:
        self._heights[name] = (height, time.monotonic())

    @property
    def height(self) -> int:
        """Blocks in the blocks stream, as the freshest orderer heartbeat says."""
        return max((h for h, _ in self._heights.values()), default=0)

    @property
    def alive(self) -> bool:
        now = time.monotonic()
        return any(now - at < HEARTBEAT_STALE_S for _, at in self._heights.values())

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        """The loop of the connection: `broadcast_aio` (and the peers' `endorse_aio`) run here."""
        return self._client.loop

    def broadcast(self, envelope: bytes) -> BroadcastResult:
        """Order the envelope, retrying the same bytes while no orderer can take it."""
        return self._client.run(self.broadcast_aio(envelope), BROADCAST_RETRY_S + BROADCAST_TIMEOUT_S + BROADCAST_PAUSE_S + 1)

    async def broadcast_aio(self, envelope: bytes) -> BroadcastResult:
        """`broadcast` from a coroutine on the connection's loop."""
        deadline = time.monotonic() + BROADCAST_RETRY_S
        attempts, last = 0, ""
        while True:
            attempts += 1
            try:
                result = decode(await self._broadcasts.call(envelope), BroadcastResult)
                if result.accepted or result.code != OrdererCode.SERVICE_UNAVAILABLE:
                    return result
                last = result.message
            except nats.errors.MaxPayloadError:  # larger than the servers' max_payload: never sent
                return BroadcastResult(False, OrdererCode.TOO_LARGE, "the envelope is larger than the NATS servers carry")
            except UNREACHABLE as exc:
                last = repr(exc)
            except BatchRefused as exc:  # an orderer that answered what we cannot read: ask again
                last = exc.message
            if time.monotonic() + BROADCAST_PAUSE_S > deadline:
                log.warning("broadcast_gave_up", attempts=attempts, last=last)
                return BroadcastResult(False, GatewayCode.ORDERER_UNAVAILABLE, f"no orderer took the transaction in {BROADCAST_RETRY_S} s ({attempts} attempts; last: {last})")
            await asyncio.sleep(BROADCAST_PAUSE_S)

    def blocks_from(self, number: int) -> Iterator[bytes]:
        """The blocks stream's blocks from `number` on (block N is message N + 1), read one by
        one until the end (what `verify` checks as the ordering service's chain)."""
        sequence = number + 1
        js = self._client.nc.jetstream()
        while True:
            deadline = time.monotonic() + BLOCK_READ_RETRY_S
            while True:
                try:
                    message = self._client.run(js.get_msg(self._subjects.blocks_stream, sequence), CALL_TIMEOUT_S)
                    break
                except nats.js.errors.NotFoundError:
                    return
                except Exception as exc:  # 503 while the stream elects a leader (a server rejoined), a reconnect
                    if not is_transient(exc) or time.monotonic() > deadline:
                        raise
                    time.sleep(BROADCAST_PAUSE_S)
            yield bytes(message.data or b"")
            sequence += 1

    def stop(self) -> None:
        """The orderer nodes are not ours to stop."""


class ChannelLink:
    """One connection to the channel: the remote peers and orderers, fed by its subscriptions."""

    def __init__(self, client: NatsClient, subjects: ChannelSubjects, peers: list[RemotePeer], orderer: RemoteOrderer) -> None:
        self.client = client
        self.subjects = subjects
        self.peers = peers
        self.orderer = orderer
        self._by_token = {subjects.heartbeat(p.name).rsplit(".", 1)[1]: p for p in peers}
        client.subscribe(subjects.events_all, self._on_event)
        client.subscribe(subjects.heartbeat_all, self._on_heartbeat)

    def refresh(self, timeout_s: float = STATUS_TIMEOUT_S + 1) -> None:
        """Every peer's status now; those that do not answer count as gone until heard."""
        asked = [p.refresh() for p in self.peers]
        for future in asked:
            try:
                future.result(timeout_s)
            except Exception as exc:  # a peer that is down is just not alive
                log.debug("peer_status_unanswered", error=repr(exc))

    def _on_event(self, subject: str, data: bytes) -> None:
        peer = self._by_token.get(subject.rsplit(".", 1)[1])
        if peer is not None:
            peer.on_event(decode(data, CommitEvent))

    def _on_heartbeat(self, subject: str, data: bytes) -> None:
        beat = parse_heartbeat(data)
        if beat is None:
            return
        height = int(beat.get("height", 0))
        if beat.get("kind") == "orderer":
            self.orderer.heard(str(beat["name"]), height)
            return
        peer = self._by_token.get(subject.rsplit(".", 1)[1])
        if peer is not None:
            raw = beat.get("commit_hash", b"")
            peer.heard(height, raw if isinstance(raw, bytes) else b"")

    def close(self) -> None:
        self.client.close()

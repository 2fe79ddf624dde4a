"""A peer node on NATS: the same `Peer` (endorse, validate, commit), reached over the network.

- Blocks (steps 3 and 4): the peer reads the channel's blocks stream with a durable pull
  consumer of its own, positioned at its height every time it (re)starts, so a restarted
  peer catches up by replaying what it missed. Blocks are committed one at a time on a
  commit thread (the event loop keeps answering meanwhile); the consumer is a read cursor
  (no acks, one replica in memory: `_consumer`).
  A gap (a block after a missing one) is filled by reading the missing blocks by sequence.
- Requests: `endorse`, `query` and `status` on its own subjects (`ChannelSubjects.peer`),
  answered in the wire format of `ledger.transport.nats_rpc`.
- Events: after each block, its commit event on `events(node)`; every HEARTBEAT_S, a
  heartbeat with height and commit hash (what `gridledger status` and gateways read).

Block N is message N + 1 of the blocks stream (`ChannelSubjects.blocks`).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import msgspec
import nats
import nats.errors
import nats.js.errors
import structlog
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from ledger.core.encoding import decode, encode
from ledger.core.errors import LedgerError
from ledger.core.messages import Block, CommitEvent
from ledger.peer.peer import Peer
from ledger.transport.nats_batch import serve_batch_in_turn
from ledger.transport.nats_link import connect_unless_stopped
from ledger.transport.nats_rpc import BLOCK_NOT_FOUND, HEARTBEAT_S, error_reply, heartbeat, ok_reply, parse_query
from ledger.transport.protocols import served_queries
from ledger.transport.subjects import ChannelSubjects

log = structlog.get_logger("nats_peer")

FETCH_MAX = 64  # blocks asked of the consumer at once
FETCH_WAIT_S = 1.0  # a fetch that finds nothing returns after this (then asks again)
INBOX_MAX = 128  # blocks fetched but not yet committed (backpressure on the consumer)
GET_TIMEOUT_S = 10.0  # reading one block by sequence (catch-up)
# One catch-up read's JetStream answer. Right after a cluster starts its JetStream API may
# not answer for seconds (its leaders are being elected): at nats-py's default of 5 s a peer
# started with the cluster waited that long before it endorsed. A read that times out only
# ends the catch-up early; the blocks consumer delivers the rest.
CATCH_UP_READ_TIMEOUT_S = 1.0
CURSOR_REPLICAS = 1  # the blocks consumer's own state (see `_consumer`), not the stream's
CONSUMER_RETRY_S = 0.5  # after the consumer failed (a server died, the stream is not made yet)
DRAIN_TIMEOUT_S = 5.0  # a stop drains the connection this long at most (nats-py's default, 30 s,
# outlasts the supervisor's STOP_TIMEOUT_S, so every peer was SIGKILLed at Ctrl-C)
SLOW_QUERIES = frozenset({"verify", "state_digest", "history"})  # run beside the event loop


def durable_name(node: str) -> str:
    """The peer's durable consumer on the blocks stream ("peer0.Org1" -> "peer0_Org1")."""
    return node.replace(".", "_")


class NatsPeerNode:
    """Serves one `Peer` on NATS until `stop` is set; `run` returns when stopped, or raises
    when the commit path fails (the node is fail-stop: its process exits)."""

    def __init__(self, peer: Peer, genesis: Block, connect: dict[str, Any]) -> None:
        self.peer = peer
        self.genesis = genesis
        self.connect = connect
        self.subjects = ChannelSubjects(peer.channel.name)
        self.stop = asyncio.Event()
        self._nc: Client | None = None
        self._js: JetStreamContext | None = None
        self._js_catch_up: JetStreamContext | None = None  # the same, with CATCH_UP_READ_TIMEOUT_S
        self._loop: asyncio.AbstractEventLoop | None = None
        self._commit_pool = ThreadPoolExecutor(1, thread_name_prefix="commit")
        self._inbox: asyncio.Queue[Msg] = asyncio.Queue(INBOX_MAX)
        self._blocks_sub: JetStreamContext.PullSubscription | None = None  # the consumer's, while it lives
        self._next_number = 0  # the block the consumer should deliver next
        self._consumer_error: str | None = "not started"  # why the blocks consumer last failed (health)
        self._queries: dict[str, Callable[..., Any]] = served_queries(peer)

    # --- lifecycle ----------------------------------------------------------------------

    async def run(self) -> None:
        self._loop = asyncio.get_running_loop()
        nc = await connect_unless_stopped(
            self.stop, **self.connect, drain_timeout=DRAIN_TIMEOUT_S, error_cb=self._nats_error, disconnected_cb=self._disconnected, reconnected_cb=self._reconnected
        )
        if nc is None:  # stopped before any NATS server answered: nothing started yet
            return
        self._nc = nc
        self._js = nc.jetstream()
        self._js_catch_up = nc.jetstream(timeout=CATCH_UP_READ_TIMEOUT_S)
        try:
            self.peer.add_commit_listener(self._on_commit)
            # Recovery and the replay of missed blocks run off the loop, which serves their reads.
            await self._loop.run_in_executor(self._commit_pool, lambda: self.peer.start(self.genesis, self._blocks_from, commit_thread=False))
            self._next_number = self.peer.height
            log.info("peer_started", peer=self.peer.name, height=self.peer.height)
            for call, handler in (("endorse", self._endorse), ("endorse_batch", self._endorse_batch), ("query", self._query), ("status", self._status)):
                await nc.subscribe(self.subjects.peer(self.peer.name, call), cb=self._guarded(handler))
            tasks = [asyncio.create_task(t) for t in (self._follow(), self._commit_loop(), self._heartbeats())]
            stopped = asyncio.create_task(self.stop.wait())
            done, _ = await asyncio.wait([stopped, *tasks], return_when=asyncio.FIRST_COMPLETED)
            for task in [stopped, *tasks]:
                task.cancel()
            # Settled before the connection drains: a blocks consumer being remade when the
            # stop came left a pull subscription nobody read, and the drain waited it out.
            await asyncio.gather(*tasks, return_exceptions=True)
            for task in done:
                if task is not stopped and not task.cancelled() and task.exception() is not None:
                    raise task.exception()  # type: ignore[misc]
        finally:
            await self._close(nc)

    async def _nats_error(self, error: Exception) -> None:
        log.warning("nats_error", peer=self.peer.name, error=repr(error))

    async def _disconnected(self) -> None:
        log.warning("nats_disconnected", peer=self.peer.name)

    async def _reconnected(self) -> None:
        log.info("nats_reconnected", peer=self.peer.name, server=str(self._nc.connected_url.netloc if self._nc and self._nc.connected_url else ""))

    async def _close(self, nc: Client) -> None:
        # The pull subscription goes first, unsubscribed rather than drained: a cancelled fetch
        # leaves status messages in its queue that nobody takes, so draining it waited out the
        # whole drain timeout (30 s: the supervisor SIGKILLed the peer). Its unacknowledged
        # blocks are no loss: the consumer is made anew from the peer's height on every start.
        await self._drop_blocks_subscription()
        try:
            await nc.drain()
        except Exception as exc:  # a connection already gone has nothing to drain
            log.warning("nats_drain_failed", peer=self.peer.name, error=repr(exc))
        self._commit_pool.shutdown(wait=True)
        self.peer.stop()

    # --- blocks in (steps 3 and 4) ------------------------------------------------------

    async def _follow(self) -> None:
        """Fetch blocks from the durable consumer into the inbox; remake it after a failure."""
        assert self._js is not None
        while True:
            try:
                subscription = self._blocks_sub = await self._consumer(self._js)
                while True:
                    try:
                        messages = await subscription.fetch(FETCH_MAX, timeout=FETCH_WAIT_S)
                    except nats.errors.TimeoutError:
                        self._consumer_error = None
                        continue
                    self._consumer_error = None
                    for message in messages:
                        await self._inbox.put(message)
                        self._next_number = message.metadata.sequence.stream  # block seq-1 taken, next is seq
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # server failover, stream not there yet, consumer lost
                self._consumer_error = repr(exc)
                log.info("blocks_consumer_retry", peer=self.peer.name, error=repr(exc), next_block=self._next_number)
                await self._drop_blocks_subscription()  # the next one is made from the peer's height
                await asyncio.sleep(CONSUMER_RETRY_S)

    async def _drop_blocks_subscription(self) -> None:
        """Unsubscribe the failed consumer's pull subscription (left, it would hold its
        undelivered status messages until a drain timed out on them)."""
        subscription, self._blocks_sub = self._blocks_sub, None
        if subscription is not None:
            with contextlib.suppress(Exception):
                await subscription.unsubscribe()

    async def _consumer(self, js: JetStreamContext) -> JetStreamContext.PullSubscription:
        """The peer's durable consumer, made anew from the next block it needs.

        It is only a read cursor: the peer's own height says where to start (it is remade
        from there on every start and after every failure), so the server keeps no state of
        it worth replicating or acknowledging. No acks (AckNone: no ack message per block,
        no ack state), one replica in memory (no Raft group of its own, no fsync of its
        state); a server that dies with it fails the next fetch and the cursor is made again
        on a live one. The blocks themselves stay in the R3 stream on disk."""
        stream, name = self.subjects.blocks_stream, durable_name(self.peer.name)
        try:
            await js.delete_consumer(stream, name)
        except nats.js.errors.NotFoundError:
            pass
        config = ConsumerConfig(
            deliver_policy=DeliverPolicy.BY_START_SEQUENCE,
            opt_start_seq=self._next_number + 1,
            ack_policy=AckPolicy.NONE,
            num_replicas=CURSOR_REPLICAS,
            mem_storage=True,
        )
        return await js.pull_subscribe(self.subjects.blocks, durable=name, stream=stream, config=config)

    async def _commit_loop(self) -> None:
        """Commit the fetched blocks in order on the commit thread: every block already in
        the inbox goes in one hand-off (a thread hand-off and its future cost ~60 µs of CPU,
        once per block before)."""
        assert self._loop is not None
        inbox = self._inbox
        while True:
            blocks = [decode((await inbox.get()).data, Block)]
            while not inbox.empty():
                blocks.append(decode(inbox.get_nowait().data, Block))
            await self._loop.run_in_executor(self._commit_pool, self._receive_all, blocks)

    def _receive_all(self, blocks: list[Block]) -> None:
        for block in blocks:
            self.peer.receive(block)

    def _blocks_from(self, number: int) -> Iterator[bytes]:
        """Blocks from `number` on, read by sequence (called on the commit thread)."""
        assert self._loop is not None
        sequence = number + 1
        while True:
            data = asyncio.run_coroutine_threadsafe(self._block_at(sequence), self._loop).result(GET_TIMEOUT_S)
            if data is None:
                return
            yield data
            sequence += 1

    async def _block_at(self, sequence: int) -> bytes | None:
        assert self._js_catch_up is not None
        try:
            message = await self._js_catch_up.get_msg(self.subjects.blocks_stream, sequence)
        except nats.js.errors.NotFoundError:
            return None  # past the end, or the stream is not made yet
        except nats.errors.TimeoutError:  # no answer yet (a cluster electing its leaders)
            log.info("catch_up_read_unanswered", peer=self.peer.name, sequence=sequence, timeout_s=CATCH_UP_READ_TIMEOUT_S)
            return None  # the blocks consumer delivers the rest
        except Exception as exc:  # catching up resumes with the next delivered block
            log.warning("block_read_failed", peer=self.peer.name, sequence=sequence, error=repr(exc))
            return None
        return message.data

    # --- events out ---------------------------------------------------------------------

    def _on_commit(self, event: CommitEvent) -> None:
        """Called on the commit thread after each block: publish its commit event."""
        loop = self._loop
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(self._publish, self.subjects.events(self.peer.name), encode(event))

    def _publish(self, subject: str, data: bytes) -> None:
        if self._nc is not None and not self._nc.is_closed:
            asyncio.ensure_future(self._nc.publish(subject, data))

    async def _heartbeats(self) -> None:
        subject = self.subjects.heartbeat(self.peer.name)
        while True:
            height, commit = self.peer.status
            self._publish(subject, heartbeat(self.peer.name, "peer", height, commit))
            await asyncio.sleep(HEARTBEAT_S)

    # --- requests -----------------------------------------------------------------------

    def _guarded(self, handler: Callable[[bytes], Awaitable[bytes]]) -> Callable[[Msg], Awaitable[None]]:
        """Every request gets a reply (see `_answer`)."""

        async def serve(message: Msg) -> None:
            reply = await self._answer(handler, message.data, message.subject)
            if message.reply:
                await message.respond(reply)

        return serve

    async def _answer(self, handler: Callable[[bytes], Awaitable[bytes]], data: bytes, subject: str) -> bytes:
        """The handler's reply; a LedgerError as its code, anything else as PEER_ERROR."""
        try:
            return await handler(data)
        except Exception as exc:
            return self._failure_reply(exc, subject)

    def _failure_reply(self, exc: Exception, subject: str) -> bytes:
        if isinstance(exc, LedgerError):
            return error_reply(exc.code, exc.message)
        log.error("peer_request_failed", peer=self.peer.name, subject=subject, error=repr(exc))
        return error_reply("PEER_ERROR", f"{self.peer.name} could not answer: {exc!r}")

    async def _endorse(self, data: bytes) -> bytes:
        return ok_reply(self.peer.endorse_now(data))

    def _endorse_answer(self, data: bytes, subject: str) -> bytes:
        """`_answer(_endorse)` without a coroutine: endorsing never waits."""
        try:
            return ok_reply(self.peer.endorse_now(data))
        except Exception as exc:
            return self._failure_reply(exc, subject)

    async def _endorse_batch(self, data: bytes) -> bytes:
        """Proposals sent together (`ledger.transport.nats_batch`): one `_endorse` reply each,
        in order, in this turn of the loop (`serve_batch_in_turn`: no task per proposal)."""
        subject = self.subjects.peer(self.peer.name, "endorse_batch")
        return serve_batch_in_turn(
            data, lambda item: self._endorse_answer(item, subject), lambda: error_reply("BAD_REQUEST", "the batch cannot be decoded")
        )

    async def _query(self, data: bytes) -> bytes:
        try:
            method, args = parse_query(data)
        except (msgspec.DecodeError, ValueError, TypeError):
            return error_reply("BAD_REQUEST", "the query cannot be decoded")
        call = self._queries[method]
        try:
            if method in SLOW_QUERIES:
                return ok_reply(await asyncio.to_thread(call, *args))
            return ok_reply(call(*args))
        except IndexError:
            return error_reply(BLOCK_NOT_FOUND, f"{self.peer.name} has no block {args[0] if args else '?'} (height {self.peer.height})")

    async def _status(self, data: bytes) -> bytes:
        height, commit = self.peer.status
        return ok_reply({"name": self.peer.name, "org": self.peer.org, "height": height, "commit_hash": commit})

    # --- health -------------------------------------------------------------------------

    def health(self) -> dict[str, Any]:
        """What the node's health endpoint says (`ledger.node.health`; read from its thread):
        degraded while NATS is unreachable, the blocks consumer fails or the commit path died."""
        nc = self._nc
        connected = nc is not None and nc.is_connected
        height, commit = self.peer.status
        problems = []
        if not connected:
            problems.append("not connected to NATS")
        if self._consumer_error is not None:
            problems.append(f"blocks consumer: {self._consumer_error}")
        if not self.peer.alive:
            problems.append(f"commit path failed: {self.peer.failure}")
        server = nc.connected_url.netloc if connected and nc is not None and nc.connected_url else None
        return {
            "name": self.peer.name,
            "org": self.peer.org,
            "role": "peer",
            "height": height,
            "commit_hash": commit.hex(),
            "nats": {"connected": connected, "server": server},
            "blocks": {"next_block": self._next_number, "fetched_not_committed": self._inbox.qsize()},
            "problems": problems,
        }

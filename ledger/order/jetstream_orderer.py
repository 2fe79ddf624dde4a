"""Step 2 (order) in the networked mode: one orderer node of an ordering service built on
NATS JetStream (Raft-replicated streams), the way Fabric's Kafka-based orderer worked.
We write no consensus of our own: JetStream orders, every node cuts identically.

- `broadcast` is request/reply in the queue group ORDERER_QUEUE_GROUP: the receiving node
  runs the admission check and appends the envelope to the envelopes stream with
  `Nats-Msg-Id` = tx id (a retried broadcast is ordered once); it answers an encoded
  `BroadcastResult` (accepted, or the refusal code; SERVICE_UNAVAILABLE when the stream did
  not acknowledge, so the client retries with the same tx id).
- Every node reads the envelopes stream in order from its resume point and feeds the pure
  `Consenter`; blocks are sealed with the stream's timestamp and signed with the node's own
  key. The batch timer writes a "time to cut block N" marker into the same stream (the
  first one for N cuts, on every node alike).
- Block N goes to the blocks stream at sequence N + 1 with `Nats-Expected-Last-Sequence`
  = N, so each number is appended once, whoever is first, and `Nats-Msg-Id` = N and the
  block's header hash (`block_msg_id`). A node whose publish comes back a duplicate has
  thus cut the very header stored (same number, same hash) without reading it back; a
  node that cut another header gets a wrong-last-sequence answer (its id is new), reads
  the stored block and compares: a mismatch is a fault, logged, and the node stops
  (fail-stop). Reading back only on a mismatch or past the duplicate window spares the
  two other orderers and the stream leader a full block read per block.
- The node keeps no files: on start it reads the last block of the blocks stream (its
  `Gl-Resume-Seq` header says where its batch ended in the envelopes stream) and goes on.
- It publishes a heartbeat every HEARTBEAT_S with its height (netstatus reads it).
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any

import msgspec
import structlog
from nats.aio.msg import Msg
from nats.js.api import ConsumerConfig, DeliverPolicy
from nats.js.errors import APIError

from ledger.core.blocks import seal_block
from ledger.core.channel import Channel
from ledger.core.codes import OrdererCode
from ledger.core.encoding import decode, encode
from ledger.core.errors import NodeFailed
from ledger.core.identity import SigningIdentity
from ledger.core.messages import Block, BroadcastResult, block_hash
from ledger.order.admission import admitted_tx_id
from ledger.order.consenter import Consenter, StreamItem
from ledger.transport import nats_link as link
from ledger.transport.nats_batch import serve_batch
from ledger.transport.nats_rpc import HEARTBEAT_S
from ledger.transport.subjects import ORDERER_QUEUE_GROUP, ChannelSubjects

log = structlog.get_logger("orderer")

ENVELOPE_PUBLISH_TIMEOUT_S = 2.0  # one try; the gateway retries the broadcast with the same tx id
ENVELOPE_PUBLISH_TRIES = 3  # "duplicate message id is in process" and short blips, inside one broadcast
BLOCK_PUBLISH_TIMEOUT_S = 5.0
RETRY_PAUSE_S = 0.1
RETRY_PAUSE_MAX_S = 1.0
BROADCASTS_IN_FLIGHT_MAX = 512  # concurrent admissions + appends per node (R3 groups fsyncs)
TIMER_TICK_MIN_S = 0.005
BEHIND_RECHECK_FRACTION = 5  # while behind the stream, the timer looks again every timeout / this
BAD_BATCH = BroadcastResult(False, OrdererCode.BAD_PAYLOAD, "the broadcast batch is not a list of envelopes")
GENESIS_RESUME_SEQ = 1  # block 0 holds no envelope: the first batch starts at sequence 1


@dataclass(frozen=True, slots=True)
class SealedBlock:
    number: int
    data: bytes  # the encoded Block, as every peer receives it
    header_hash: bytes
    resume_seq: int


@dataclass(slots=True)
class OrdererStats:
    """What this node did since it started (heartbeats carry it; tests read it)."""

    appended: int = 0  # blocks this node appended first
    matched: int = 0  # blocks another node appended, checked equal to this node's own
    accepted: int = 0  # broadcasts appended to the envelopes stream (or found there)
    refused: int = 0
    unavailable: int = 0
    markers: int = 0  # time-to-cut markers this node wrote
    read_back: int = 0  # stored blocks read back to compare (not settled by a duplicate id)


class JetStreamOrderer:
    """One orderer node. `run(stop)` until `stop` is set; NodeFailed on a fault."""

    def __init__(self, name: str, identity: SigningIdentity, channel: Channel, genesis: Block, connect_options: dict[str, Any], replicas: int) -> None:
        self.name = name
        self.identity = identity
        self.channel = channel
        self.genesis = genesis
        self.subjects = ChannelSubjects(channel.name)
        self._options = connect_options
        self._replicas = replicas
        self._batch = channel.config.batch
        self._timeout_s = self._batch.batch_timeout_ms / 1000
        self.stats = OrdererStats()
        self.height = 0  # blocks confirmed in the blocks stream (appended or matched)
        self.last_hash = b""
        self._nc: Any = None
        self._js: Any = None
        self._consenter: Consenter | None = None
        self._previous_hash = b""
        self._outbox: asyncio.Queue[SealedBlock] = asyncio.Queue()
        self._pending_block: int | None = None  # the block with envelopes waiting to be cut
        self._pending_since = 0.0
        self._pending_changed = asyncio.Event()  # wakes the batch timer when another block starts waiting
        self._marked: int | None = None  # the last block this node wrote a marker for
        self._stream_pending = 0
        self._failure: NodeFailed | None = None
        self._done = asyncio.Event()
        self._in_flight = asyncio.Semaphore(BROADCASTS_IN_FLIGHT_MAX)
        self._tasks: set[asyncio.Task[None]] = set()

    # --- lifecycle ----------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        nc = await link.connect_unless_stopped(stop, **self._options, error_cb=self._on_nats_error, disconnected_cb=self._on_disconnect, reconnected_cb=self._on_reconnect)
        if nc is None:  # stopped before any NATS server answered
            return
        self._nc = nc
        try:
            self._js = self._nc.jetstream()
            s = self.subjects
            await link.ensure_stream(self._js, link.envelopes_stream_config(s.envelopes_stream, s.envelopes, self._replicas, self._batch))
            await link.ensure_stream(self._js, link.blocks_stream_config(s.blocks_stream, s.blocks, self._replicas, self._batch))
            await self._append_genesis()
            number, previous_hash, resume_seq = await self._resume_point()
            self._consenter = Consenter(self._batch, number + 1, resume_seq)
            self._previous_hash = previous_hash
            self.height = number + 1
            self.last_hash = previous_hash
            log.info("orderer_resumed", node=self.name, height=self.height, envelopes_from=resume_seq)
            config = ConsumerConfig(deliver_policy=DeliverPolicy.BY_START_SEQUENCE, opt_start_seq=resume_seq)
            await self._js.subscribe(s.envelopes, ordered_consumer=True, cb=self._on_stream_message, config=config)
            for work in (self._publisher(), self._timer(), self._heartbeats()):
                self._spawn(work)
            await self._nc.subscribe(s.broadcast, queue=ORDERER_QUEUE_GROUP, cb=self._on_broadcast)
            await self._nc.subscribe(s.broadcast_batch, queue=ORDERER_QUEUE_GROUP, cb=self._on_broadcast)
            log.info("orderer_ready", node=self.name, replicas=self._replicas)
            stopper = asyncio.create_task(stop.wait())
            done = asyncio.create_task(self._done.wait())
            await asyncio.wait({stopper, done}, return_when=asyncio.FIRST_COMPLETED)
            stopper.cancel()
            done.cancel()
        finally:
            for task in list(self._tasks):
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
            try:
                await self._nc.close()
            except Exception:
                pass
        if self._failure is not None:
            raise self._failure

    def _fail(self, why: str) -> None:
        if self._failure is None:
            log.error("orderer_fault", node=self.name, why=why)
            self._failure = NodeFailed(self.name, why)
        self._done.set()

    def _spawn(self, work: Any) -> None:
        task: asyncio.Task[None] = asyncio.create_task(self._guarded(work))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _guarded(self, work: Any) -> None:
        try:
            await work
        except asyncio.CancelledError:
            raise
        except NodeFailed as exc:
            self._fail(exc.message)
        except Exception as exc:
            self._fail(f"{type(exc).__name__}: {exc}")

    async def _on_nats_error(self, exc: Exception) -> None:
        log.warning("nats_error", node=self.name, error=str(exc))

    async def _on_disconnect(self) -> None:
        log.warning("nats_disconnected", node=self.name)

    async def _on_reconnect(self) -> None:
        log.info("nats_reconnected", node=self.name, url=str(self._nc.connected_url.netloc if self._nc.connected_url else ""))

    # --- the blocks stream: genesis and resume point -------------------------------------

    async def _append_genesis(self) -> None:
        """Block 0 at sequence 1: whichever node starts first appends it."""
        data = encode(self.genesis)
        await self._append(SealedBlock(0, data, block_hash(self.genesis.header), GENESIS_RESUME_SEQ))

    async def _resume_point(self) -> tuple[int, bytes, int]:
        """(last block number, its header hash, envelopes sequence after its batch)."""
        info = await self._retrying(lambda: self._js.stream_info(self.subjects.blocks_stream))
        last_seq = int(info.state.last_seq)
        raw = await self._retrying(lambda: self._js.get_msg(self.subjects.blocks_stream, last_seq))
        block = self._decode_block(raw.data, last_seq - 1)
        headers = raw.headers or {}
        try:
            resume = int(headers[link.RESUME_SEQ])
        except (KeyError, ValueError):
            raise NodeFailed(self.name, f"block {last_seq - 1} in the blocks stream has no {link.RESUME_SEQ} header") from None
        return block.header.number, block_hash(block.header), resume

    def _decode_block(self, data: bytes, number: int) -> Block:
        try:
            block = decode(data, Block)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            raise NodeFailed(self.name, f"block {number} in the blocks stream cannot be decoded: {exc}") from None
        if block.header.number != number:
            raise NodeFailed(self.name, f"the blocks stream holds block {block.header.number} at the place of block {number}")
        return block

    async def _retrying(self, call: Any, *, timeout_s: float = link.STREAM_READY_S) -> Any:
        """`call()` again after transient errors (leader election, reconnect) until timeout."""
        deadline = time.monotonic() + timeout_s
        pause = RETRY_PAUSE_S
        while True:
            try:
                return await call()
            except Exception as exc:
                if not link.is_transient(exc) or time.monotonic() > deadline:
                    raise
            await asyncio.sleep(pause)
            pause = min(pause * 2, RETRY_PAUSE_MAX_S)

    # --- broadcast ----------------------------------------------------------------------

    async def _on_broadcast(self, msg: Msg) -> None:
        await self._in_flight.acquire()  # back-pressure: the subscription waits when full
        task = asyncio.create_task(self._answer(msg))
        self._tasks.add(task)
        task.add_done_callback(self._broadcast_done)

    def _broadcast_done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        self._in_flight.release()

    async def _answer(self, msg: Msg) -> None:
        if msg.subject == self.subjects.broadcast_batch:
            reply = await serve_batch(msg.data, self._broadcast_reply, lambda: link.broadcast_reply(BAD_BATCH))
        else:
            reply = await self._broadcast_reply(msg.data)
        if msg.reply:
            try:
                await msg.respond(reply)
            except Exception as exc:
                log.warning("broadcast_reply_failed", node=self.name, error=str(exc))

    async def _broadcast_reply(self, envelope: bytes) -> bytes:
        return link.broadcast_reply(await self.broadcast(envelope))

    async def broadcast(self, envelope: bytes) -> BroadcastResult:
        """Admit one envelope and append it to the envelopes stream, once per tx id."""
        verdict, tx_id = admitted_tx_id(self.channel, envelope)
        if not verdict.accepted:
            self.stats.refused += 1
            return verdict
        headers = {link.MSG_ID: tx_id}
        for attempt in range(ENVELOPE_PUBLISH_TRIES):
            try:
                await self._js.publish(self.subjects.envelopes, envelope, timeout=ENVELOPE_PUBLISH_TIMEOUT_S, headers=headers)
                self.stats.accepted += 1
                return verdict
            except Exception as exc:
                if isinstance(exc, APIError) and exc.err_code == link.JS_MESSAGE_TOO_LARGE:
                    self.stats.refused += 1  # the stream's own max_msg_size (admission let it pass)
                    return BroadcastResult(False, OrdererCode.TOO_LARGE, "the envelopes stream refuses a message this large")
                if not link.is_transient(exc):
                    log.error("envelope_append_failed", node=self.name, tx_id=tx_id, error=repr(exc))
                    break
                if attempt + 1 < ENVELOPE_PUBLISH_TRIES:
                    await asyncio.sleep(RETRY_PAUSE_S)
        self.stats.unavailable += 1
        return BroadcastResult(False, OrdererCode.SERVICE_UNAVAILABLE, "the envelopes stream did not acknowledge; retry with the same transaction")

    # --- the envelopes stream in, blocks out ---------------------------------------------

    async def _on_stream_message(self, msg: Msg) -> None:
        try:
            self._take(msg)
        except NodeFailed as exc:
            self._fail(exc.message)
        except Exception as exc:
            self._fail(f"cutting failed: {type(exc).__name__}: {exc}")

    def _take(self, msg: Msg) -> None:
        consenter = self._consenter
        assert consenter is not None
        pos = link.stream_position(msg)
        if pos.seq < consenter.next_seq:
            return  # delivered again after the ordered consumer reset itself
        if pos.seq > consenter.next_seq:
            raise NodeFailed(self.name, f"envelopes stream skipped from {consenter.next_seq} to {pos.seq}")
        self._stream_pending = pos.pending
        item = self._item(msg, pos)
        for batch in consenter.feed(item):
            block = seal_block(batch.number, self._previous_hash, batch.envelopes, self.identity, batch.timestamp_ms)
            header_hash = block_hash(block.header)
            self._previous_hash = header_hash
            self._outbox.put_nowait(SealedBlock(batch.number, encode(block), header_hash, batch.resume_seq))
        if not consenter.pending_count:
            self._pending_block = None
        elif self._pending_block != consenter.next_number:
            self._pending_block = consenter.next_number
            self._pending_since = time.monotonic()
            self._pending_changed.set()

    def _item(self, msg: Msg, pos: link.StreamPosition) -> StreamItem:
        marker = (msg.headers or {}).get(link.CUT_BLOCK)
        if marker is None:
            return StreamItem(pos.seq, pos.timestamp_ms, envelope=msg.data)
        try:
            number = int(marker)
        except ValueError:
            raise NodeFailed(self.name, f"envelopes stream message {pos.seq} has a malformed cut marker {marker!r}") from None
        return StreamItem(pos.seq, pos.timestamp_ms, cut_block=number)

    async def _publisher(self) -> None:
        """Append the sealed blocks in order (one at a time: each expects the one before)."""
        while True:
            sealed = await self._outbox.get()
            await self._append(sealed)

    async def _append(self, sealed: SealedBlock) -> None:
        """Append block N at sequence N + 1, or check that the stored one equals ours."""
        n = sealed.number
        headers = {link.MSG_ID: link.block_msg_id(n, sealed.header_hash), link.EXPECTED_LAST_SEQ: str(n), link.RESUME_SEQ: str(sealed.resume_seq)}
        pause = RETRY_PAUSE_S
        while True:
            try:
                ack = await self._js.publish(self.subjects.blocks, sealed.data, timeout=BLOCK_PUBLISH_TIMEOUT_S, headers=headers)
            except APIError as exc:
                if exc.err_code == link.JS_WRONG_LAST_SEQUENCE:
                    await self._check_stored(sealed)  # another header stored, or ours past the duplicate window
                    return
                if not link.is_transient(exc):
                    raise NodeFailed(self.name, f"appending block {n} failed: {exc!r}") from None
            except Exception as exc:
                if not link.is_transient(exc):
                    raise
            else:
                if ack.duplicate:  # stored under our id: the same number and header hash
                    self.stats.matched += 1
                    self._confirmed(sealed)
                elif ack.seq != n + 1:
                    raise NodeFailed(self.name, f"block {n} was stored at sequence {ack.seq}, not {n + 1}")
                else:
                    self.stats.appended += 1
                    self._confirmed(sealed)
                return
            log.warning("block_append_retry", node=self.name, number=n)
            await asyncio.sleep(pause)
            pause = min(pause * 2, RETRY_PAUSE_MAX_S)

    async def _check_stored(self, sealed: SealedBlock) -> None:
        n = sealed.number
        self.stats.read_back += 1
        try:
            raw = await self._retrying(lambda: self._js.get_msg(self.subjects.blocks_stream, n + 1))
        except APIError as exc:
            raise NodeFailed(self.name, f"block {n} is neither appendable nor stored: {exc!r}") from None
        stored = self._decode_block(raw.data, n)
        if block_hash(stored.header) != sealed.header_hash:
            raise NodeFailed(
                self.name,
                f"block {n} in the blocks stream has header hash {block_hash(stored.header).hex()}, this node cut {sealed.header_hash.hex()}: the orderers diverged",
            )
        self.stats.matched += 1
        self._confirmed(sealed)

    def _confirmed(self, sealed: SealedBlock) -> None:
        self.height = sealed.number + 1
        self.last_hash = sealed.header_hash

    # --- batch timer ----------------------------------------------------------------------

    async def _timer(self) -> None:
        """Write "time to cut block N" when block N's first envelope waited the batch
        timeout on this node (and this node is caught up with the stream).

        It sleeps until the waiting block's deadline, or until a block starts waiting: no
        periodic tick, so an idle orderer does not wake 100 times a second and a loaded one
        wakes about once per block (the tick cost a quarter of an orderer's CPU under load)."""
        recheck = max(TIMER_TICK_MIN_S, self._timeout_s / BEHIND_RECHECK_FRACTION)
        while True:
            number = self._pending_block
            if number is None or number == self._marked:
                self._pending_changed.clear()
                await self._pending_changed.wait()
                continue
            wait = self._pending_since + self._timeout_s - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
                continue  # the block may have been cut meanwhile: look again
            if self._stream_pending > self._batch.max_message_count:
                await asyncio.sleep(recheck)  # behind the stream: what is ahead may cut it
                continue
            headers = {link.MSG_ID: f"cut-{number}", link.CUT_BLOCK: str(number)}
            try:
                await self._js.publish(self.subjects.envelopes, b"", timeout=ENVELOPE_PUBLISH_TIMEOUT_S, headers=headers)
            except Exception as exc:
                if not link.is_transient(exc):
                    raise
                await asyncio.sleep(recheck)  # tried again shortly
                continue
            self._marked = number
            self.stats.markers += 1

    # --- heartbeats -------------------------------------------------------------------------

    def heartbeat(self) -> dict[str, Any]:
        s = self.stats
        return {
            "name": self.name,
            "kind": "orderer",
            "height": self.height,
            "commit_hash": b"",  # orderers apply no writes; peers' commit hashes are compared
            "block_hash": self.last_hash,
            "appended": s.appended,
            "matched": s.matched,
            "accepted": s.accepted,
            "refused": s.refused,
            "unavailable": s.unavailable,
            "markers": s.markers,
            "read_back": s.read_back,
        }

    async def _heartbeats(self) -> None:
        subject = self.subjects.heartbeat(self.name)
        while True:
            try:
                await self._nc.publish(subject, msgspec.msgpack.encode(self.heartbeat()))
            except Exception as exc:
                log.debug("heartbeat_failed", node=self.name, error=str(exc))
            await asyncio.sleep(HEARTBEAT_S)

    # --- health -----------------------------------------------------------------------------

    def health(self) -> dict[str, Any]:
        """The node's own facts for its health endpoint (`ledger.node.health`), read from the
        endpoint's thread: degraded while NATS is unreachable, before it resumed, or after a fault."""
        nc = self._nc
        connected = nc is not None and nc.is_connected
        problems = []
        if not connected:
            problems.append("not connected to NATS")
        if self._consenter is None:
            problems.append("not resumed from the blocks stream yet")
        if self._failure is not None:
            problems.append(f"fault: {self._failure.message}")
        beat = self.heartbeat()
        return {
            **{k: v for k, v in beat.items() if k not in ("kind", "commit_hash", "block_hash")},
            "role": "orderer",
            "block_hash": self.last_hash.hex(),
            "envelopes_pending": self._stream_pending,
            "nats": {"connected": connected, "server": nc.connected_url.netloc if connected and nc.connected_url else None},
            "problems": problems,
        }

    async def streams_health(self, timeout_s: float) -> dict[str, Any]:
        """Both streams' replication as the cluster reports it (leader, replicas current, lag);
        a stream that cannot answer (no quorum, unreachable) says why."""
        out: dict[str, Any] = {}
        for name in (self.subjects.envelopes_stream, self.subjects.blocks_stream):
            try:
                info = await asyncio.wait_for(self._js.stream_info(name), timeout_s)
            except Exception as exc:
                out[name] = {"error": repr(exc)}
                continue
            cluster = info.cluster
            replicas = [{"name": r.name, "current": r.current, "lag": r.lag} for r in (cluster.replicas or [])] if cluster else []
            out[name] = {"messages": info.state.messages, "last_seq": info.state.last_seq, "leader": cluster.leader if cluster else None, "replicas": replicas}
        return out

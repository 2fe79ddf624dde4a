"""A node's link to the NATS cluster: how it connects, and the JetStream facts every node
reads the same way (stream creation, a message's stream position, header names).

Connect options come from the node's directory (its own nkey seed, TLS client certificate
when the layout made one), with reconnects that never give up: a node rides out a NATS
server crash (measured: ~4.5 s of 503s and timeouts while a stream elects a new leader).
The broadcast wire format lives here too, so orderers and gateways cannot drift:
the request is the encoded Envelope, the reply an encoded `BroadcastResult`.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from typing import Any

import msgspec
import nats
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js.api import DiscardPolicy, RetentionPolicy, StorageType, StreamConfig
from nats.js.errors import APIError, NoStreamResponseError, ServiceUnavailableError

from ledger.core.channel_config import BatchParameters
from ledger.core.codes import OrdererCode
from ledger.core.encoding import decode, encode
from ledger.core.errors import ConfigError
from ledger.core.messages import BroadcastResult

# Headers ---------------------------------------------------------------------------------
MSG_ID = "Nats-Msg-Id"  # JetStream de-duplication key: tx id, "cut-N" or `block_msg_id`
EXPECTED_LAST_SEQ = "Nats-Expected-Last-Sequence"  # block N is appended only after block N-1
CUT_BLOCK = "Gl-Cut-Block"  # an envelopes-stream message that is a "time to cut block N" marker
RESUME_SEQ = "Gl-Resume-Seq"  # on block N: the envelopes-stream sequence after its batch

# JetStream API error codes we act on --------------------------------------------------------
JS_WRONG_LAST_SEQUENCE = 10071
JS_DUPLICATE_IN_PROCESS = 10158  # concurrent publishes of one Msg-Id: retry
JS_NO_MESSAGE_FOUND = 10037
JS_STREAM_NAME_IN_USE = 10058  # exists with a different configuration
JS_MESSAGE_TOO_LARGE = 10054  # "message size exceeds maximum allowed" (a stream's max_msg_size)
JS_TRANSIENT_STATUS = (503, 408)

DUPLICATE_WINDOW_S = 120.0
STREAM_READY_S = 60.0  # a fresh cluster elects its meta leader, then each stream's leader
RETRY_PAUSE_S = 0.1
FULL_REPLICAS = 3

# Stream limits ------------------------------------------------------------------------------
# The blocks stream is the ledger: peers catch up from it and `verify` reads it from block 0,
# so it keeps everything (no byte, age or count limit), refuses deletes and purges, and if a
# limit were ever set by hand it would refuse new blocks (discard NEW), never drop old ones.
# The envelopes stream is only the ordering queue: an envelope is in a block once cut, and an
# orderer resumes from the last block's `Gl-Resume-Seq`, so old envelopes may go (by age, and
# by size, oldest first); both bounds are far beyond any backlog that waits to be cut.
ENVELOPES_MAX_AGE_S = 24 * 3600.0  # well past the duplicate window and any orderer outage
ENVELOPES_MAX_BYTES = 1 << 30  # per replica; ~350,000 uncut 3 KB envelopes
ENVELOPE_HEADERS_HEADROOM = 4096  # Nats-Msg-Id and marker headers beyond the envelope itself
BLOCK_FRAMING_HEADROOM = 512 << 10  # header, signature, metadata (below natsconf's max_payload headroom)
UNLIMITED = -1

TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    nats.errors.TimeoutError,
    NoStreamResponseError,
    ServiceUnavailableError,
    nats.errors.NoRespondersError,
    nats.errors.ConnectionClosedError,
    nats.errors.ConnectionReconnectingError,
    nats.errors.StaleConnectionError,
    asyncio.TimeoutError,
)


async def connect_unless_stopped(stop: asyncio.Event, **options: Any) -> Client | None:
    """`nats.connect(**options)`, or None when `stop` is set first. A node's connect never gives
    up while no server answers (see above), so a SIGTERM that came before any server did was
    never looked at: a peer or orderer started before NATS ran on until SIGKILL."""
    connecting = asyncio.ensure_future(nats.connect(**options))
    stopped = asyncio.ensure_future(stop.wait())
    done, _ = await asyncio.wait({connecting, stopped}, return_when=asyncio.FIRST_COMPLETED)
    stopped.cancel()
    if connecting in done:
        return connecting.result()
    connecting.cancel()
    with contextlib.suppress(BaseException):
        await connecting
    return None


def is_transient(exc: BaseException) -> bool:
    """An error that a retry with the same Msg-Id may cure (leader election, reconnect)."""
    if isinstance(exc, APIError):
        return exc.err_code == JS_DUPLICATE_IN_PROCESS or exc.code in JS_TRANSIENT_STATUS
    return isinstance(exc, TRANSIENT_ERRORS)


def block_msg_id(number: int, header_hash: bytes) -> str:
    """Block N's publish id: its number and header hash, so a duplicate answer to an
    orderer's publish says the stored block is the one it cut (same id, same header), and
    a different header is never mistaken for a retry (it fails Expected-Last-Sequence)."""
    return f"{number}-{header_hash.hex()}"


def stream_replicas(urls: list[str]) -> int:
    """R3 when the cluster has three servers or more (one crash tolerated), else R1."""
    return FULL_REPLICAS if len(urls) >= FULL_REPLICAS else 1


def envelope_max_bytes(batch: BatchParameters) -> int:
    """The largest message the envelopes stream stores: one envelope the channel admits."""
    return batch.absolute_max_bytes + ENVELOPE_HEADERS_HEADROOM


def block_max_bytes(batch: BatchParameters) -> int:
    """The largest block the batch limits allow (a batch up to the preferred size plus one
    envelope up to the absolute maximum), with its framing."""
    return batch.absolute_max_bytes + batch.preferred_max_bytes + BLOCK_FRAMING_HEADROOM


def _file_stream_config(name: str, subject: str, replicas: int, max_msg_size: int, **limits: Any) -> StreamConfig:
    """What both streams share: one subject, file storage, limits retention, the duplicate
    window for publish ids; `limits` are what tells them apart."""
    return StreamConfig(
        name=name,
        subjects=[subject],
        num_replicas=replicas,
        storage=StorageType.FILE,
        retention=RetentionPolicy.LIMITS,
        duplicate_window=DUPLICATE_WINDOW_S,
        max_msg_size=max_msg_size,
        **limits,
    )


def envelopes_stream_config(name: str, subject: str, replicas: int, batch: BatchParameters) -> StreamConfig:
    """The ordering queue: bounded in message size, age and bytes (oldest, long cut, go first)."""
    return _file_stream_config(
        name,
        subject,
        replicas,
        envelope_max_bytes(batch),
        max_bytes=ENVELOPES_MAX_BYTES,
        max_age=ENVELOPES_MAX_AGE_S,
        discard=DiscardPolicy.OLD,
    )


def blocks_stream_config(name: str, subject: str, replicas: int, batch: BatchParameters) -> StreamConfig:
    """The ledger's blocks: every one kept for ever (peers catch up from any height)."""
    return _file_stream_config(
        name,
        subject,
        replicas,
        block_max_bytes(batch),
        max_bytes=UNLIMITED,
        max_msgs=UNLIMITED,
        max_age=0.0,  # no age limit
        discard=DiscardPolicy.NEW,
        deny_delete=True,
        deny_purge=True,
    )


async def ensure_stream(js: Any, config: StreamConfig, *, deadline_s: float = STREAM_READY_S) -> None:
    """Create the stream `config` names or bind to it: idempotent, any orderer may call it first.

    An existing stream with other subjects or storage is refused (ConfigError): a node never
    silently changes a stream others rely on (one made by an older build without the limits
    is used as it is)."""
    name = config.name
    assert name is not None and config.subjects
    subject = config.subjects[0]
    loop = asyncio.get_running_loop()
    deadline = loop.time() + deadline_s
    while True:
        try:
            await js.add_stream(config)
            return
        except APIError as exc:
            if exc.err_code == JS_STREAM_NAME_IN_USE:
                info = await js.stream_info(name)
                if info.config.subjects == [subject] and info.config.storage == StorageType.FILE:
                    return  # made by an older build or by hand with other limits: still ours
                raise ConfigError(f"stream {name} exists with other subjects or storage: {info.config.subjects}") from None
            if not is_transient(exc) or loop.time() > deadline:
                raise
        except Exception as exc:
            if not is_transient(exc) or loop.time() > deadline:
                raise
        await asyncio.sleep(RETRY_PAUSE_S)


@dataclass(frozen=True, slots=True)
class StreamPosition:
    """Where a consumed message sits in its stream, read from its reply subject."""

    seq: int  # stream sequence
    timestamp_ms: int  # the stream's own timestamp: the same on every replica and reader
    pending: int  # messages of the stream not yet delivered to this consumer


def stream_position(msg: Msg) -> StreamPosition:
    """The stream sequence and timestamp of a JetStream message (from `$JS.ACK...`).

    The timestamp is taken as integer nanoseconds from the subject, never through a float,
    so every orderer derives the same millisecond for a block's header."""
    tokens = Msg.Metadata._get_metadata_fields(msg.reply)
    if len(tokens) == 9:  # $JS.ACK.<stream>.<consumer>.<delivered>.<sseq>.<cseq>.<ns>.<pending>
        seq, ns, pending = tokens[5], tokens[7], tokens[8]
    else:
        seq, ns, pending = tokens[Msg.Ack.StreamSeq], tokens[Msg.Ack.Timestamp], tokens[Msg.Ack.NumPending]
    return StreamPosition(int(seq), int(ns) // 1_000_000, int(pending))


# The broadcast wire format -----------------------------------------------------------------


def broadcast_reply(result: BroadcastResult) -> bytes:
    return encode(result)


def parse_broadcast_reply(data: bytes) -> BroadcastResult:
    """An orderer's answer; an undecodable one counts as the service being unavailable."""
    try:
        return decode(data, BroadcastResult)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return BroadcastResult(False, OrdererCode.SERVICE_UNAVAILABLE, "the orderer's reply cannot be decoded")

"""The request/reply wire format between gateways and peer nodes over NATS.

A peer answers three subjects (`ChannelSubjects.peer(node, call)`): `endorse` (a signed
proposal in, an encoded ProposalResponse out), `query` (a `[method, args]` request for the
reads tools need: evaluate, block, tx_location, history, state_digest, verify) and `status`.
Every reply is a msgpack array `[True, value]` or `[False, [code, message]]`, so a refusal
crosses the wire with its stable code. Heartbeats are msgpack maps (`netstatus` reads them).
"""

from __future__ import annotations

from typing import Any

import msgspec

from ledger.core.errors import LedgerError

HEARTBEAT_S = 1.0  # how often a node says it lives, with its height and commit hash
HEARTBEAT_STALE_S = 3.5  # a node unheard this long counts as gone
BLOCK_NOT_FOUND = "BLOCK_NOT_FOUND"  # a `block` query past the peer's height (IndexError at the caller)
QUERY_METHODS = ("evaluate", "block", "tx_location", "history", "state_digest", "verify")

_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder()


class RemoteRefusal(LedgerError):
    """A refusal a remote node answered with (its own code and message)."""


def ok_reply(value: Any) -> bytes:
    return _encoder.encode([True, value])


def error_reply(code: str, message: str) -> bytes:
    return _encoder.encode([False, [code, message]])


def parse_reply(data: bytes) -> Any:
    """The value of a reply; RemoteRefusal with the remote code when it is a refusal."""
    try:
        ok, value = _decoder.decode(data)
    except (msgspec.DecodeError, ValueError, TypeError):
        raise RemoteRefusal("PEER_ERROR", "the node's reply cannot be decoded") from None
    if not ok:
        code, message = value
        raise RemoteRefusal(str(code), str(message))
    return value


def query_request(method: str, *args: Any) -> bytes:
    return _encoder.encode([method, list(args)])


def parse_query(data: bytes) -> tuple[str, list[Any]]:
    method, args = _decoder.decode(data)
    if method not in QUERY_METHODS or not isinstance(args, list):
        raise ValueError(f"unknown query {method!r}")
    return str(method), args


def heartbeat(name: str, kind: str, height: int, commit_hash: bytes) -> bytes:
    return _encoder.encode({"name": name, "kind": kind, "height": height, "commit_hash": commit_hash})


def parse_heartbeat(data: bytes) -> dict[str, Any] | None:
    try:
        beat = _decoder.decode(data)
    except msgspec.DecodeError:
        return None
    return beat if isinstance(beat, dict) and isinstance(beat.get("name"), str) else None

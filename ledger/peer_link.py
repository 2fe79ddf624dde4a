"""The pipe between the embedded network and a peer running in its own OS process.

Frames are a 4-byte big-endian length and a msgpack array whose first item names the
message. Network → peer: `deliver` (a block's bytes), `call` (id, method, args), `stop`.
Peer → network: `ready` (height, commit hash), `reply` (id, ok, value or [code, message]),
`commit` (block number, tx ids, validation codes, commit hash).
"""

from __future__ import annotations

import os
import struct
import threading
from typing import Any

import msgspec

FRAME_HEADER = struct.Struct(">I")
FRAME_BYTES_MAX = 512 * 2**20

_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder()


class LinkClosed(Exception):
    """The other end closed the pipe (or died)."""


class FrameWriter:
    """Writes whole frames to a file descriptor; safe to share between threads."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self._lock = threading.Lock()

    def send(self, message: list[Any]) -> None:
        body = _encoder.encode(message)
        data = FRAME_HEADER.pack(len(body)) + body
        with self._lock:
            view = memoryview(data)
            while view:
                try:
                    written = os.write(self.fd, view)
                except (BrokenPipeError, OSError) as exc:
                    raise LinkClosed(str(exc)) from None
                view = view[written:]


class FrameReader:
    """Reads whole frames from a file descriptor (one reading thread)."""

    def __init__(self, fd: int) -> None:
        self.fd = fd

    def _exactly(self, size: int) -> bytes:
        parts: list[bytes] = []
        remaining = size
        while remaining:
            chunk = os.read(self.fd, min(remaining, 1 << 20))
            if not chunk:
                raise LinkClosed("end of stream")
            parts.append(chunk)
            remaining -= len(chunk)
        return b"".join(parts)

    def receive(self) -> list[Any]:
        (length,) = FRAME_HEADER.unpack(self._exactly(FRAME_HEADER.size))
        if length > FRAME_BYTES_MAX:
            raise LinkClosed(f"frame of {length} bytes is over the limit")
        message = _decoder.decode(self._exactly(length))
        if not isinstance(message, list) or not message or not isinstance(message[0], str):
            raise LinkClosed("malformed frame")
        return message

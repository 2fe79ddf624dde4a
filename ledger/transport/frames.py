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
    """Reads whole frames from a file descriptor (one reading thread), buffered: one read
    system call usually brings several frames."""

    READ_BYTES = 1 << 20

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self._buffer = bytearray()
        self._offset = 0

    def _fill(self, size: int) -> None:
        """Make at least `size` unread bytes available."""
        while len(self._buffer) - self._offset < size:
            if self._offset:
                del self._buffer[: self._offset]
                self._offset = 0
            chunk = os.read(self.fd, max(self.READ_BYTES, size))
            if not chunk:
                raise LinkClosed("end of stream")
            self._buffer += chunk

    def receive(self) -> list[Any]:
        self._fill(FRAME_HEADER.size)
        (length,) = FRAME_HEADER.unpack_from(self._buffer, self._offset)
        if length > FRAME_BYTES_MAX:
            raise LinkClosed(f"frame of {length} bytes is over the limit")
        self._fill(FRAME_HEADER.size + length)
        start = self._offset + FRAME_HEADER.size
        body = memoryview(self._buffer)[start : start + length]
        try:
            message = _decoder.decode(body)
        finally:
            body.release()
        self._offset = start + length
        if not isinstance(message, list) or not message or not isinstance(message[0], str):
            raise LinkClosed("malformed frame")
        return message

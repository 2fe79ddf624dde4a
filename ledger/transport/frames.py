"""The pipe between the embedded network and a peer running in its own OS process.

Frames are a 4-byte big-endian length and a msgpack array whose first item names the
message. Network → peer: `deliver` (a block's bytes), `call` (id, method, args), `stop`.
Peer → network: `ready` (height, commit hash), `reply` (id, ok, value or [code, message]),
`commit` (block number, tx ids, validation codes, commit hash).
"""

from __future__ import annotations

import os
import select
import struct
import threading
import time
from typing import Any

import msgspec

FRAME_HEADER = struct.Struct(">I")
FRAME_BYTES_MAX = 512 * 2**20
FRAME_FINISH_WAIT_S = 10.0  # a frame half written waits this long past its limit, then the link is broken

_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder()


class LinkClosed(Exception):
    """The other end closed the pipe (or died)."""


class LinkTimeout(Exception):
    """The other end took nothing of a frame in time (it is hung or far behind); the link is
    still whole, the frame was not sent."""


class FrameWriter:
    """Writes whole frames to a file descriptor; safe to share between threads.

    With `bounded` the descriptor is made non-blocking, so that `send(..., timeout_s=...)`
    gives up on a reader that stopped reading (a hung process) instead of waiting forever.
    A frame is never abandoned half written: once its first byte is out it is finished, or,
    FRAME_FINISH_WAIT_S past the limit, the link is declared broken (LinkClosed from then on).
    """

    def __init__(self, fd: int, *, bounded: bool = False) -> None:
        self.fd = fd
        self._lock = threading.Lock()
        self._broken: str | None = None
        if bounded:
            os.set_blocking(fd, False)

    @property
    def broken(self) -> bool:
        """A frame was left half written: the stream cannot be resumed."""
        return self._broken is not None

    def send(self, message: list[Any], timeout_s: float | None = None) -> None:
        """Write one frame; with `timeout_s`, LinkTimeout if the link cannot take it in time."""
        body = _encoder.encode(message)
        data = FRAME_HEADER.pack(len(body)) + body
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        if not self._lock.acquire(timeout=-1 if timeout_s is None else timeout_s):
            raise LinkTimeout(f"the link stayed busy for {timeout_s} s")
        try:
            if self._broken is not None:
                raise LinkClosed(self._broken)
            self._write(memoryview(data), deadline)
        finally:
            self._lock.release()

    def _write(self, view: memoryview, deadline: float | None) -> None:
        started = False
        while view:
            try:
                written = os.write(self.fd, view)
            except BlockingIOError:
                wait = None if deadline is None else deadline - time.monotonic()
                if wait is not None and wait <= 0:
                    if not started:
                        raise LinkTimeout("the reader took nothing of the frame in time") from None
                    if wait <= -FRAME_FINISH_WAIT_S:
                        self._broken = "a frame could not be finished: the reader stopped reading"
                        raise LinkClosed(self._broken) from None
                    wait = FRAME_FINISH_WAIT_S + wait
                select.select([], [self.fd], [], wait)
                continue
            except OSError as exc:  # BrokenPipeError and the like: the reader is gone
                raise LinkClosed(str(exc)) from None
            started = True
            view = view[written:]


class FrameReader:
    """Reads whole frames from a file descriptor (one reading thread), buffered: one read
    system call usually brings several frames.

    Reads land in one scratch buffer kept for the reader's life: `os.read` of READ_BYTES
    would allocate a fresh megabyte for every call and shrink it to what came (an mmap,
    mremap and munmap per read: ~17 % of the main process's GIL time under load)."""

    READ_BYTES = 1 << 20

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self._buffer = bytearray()
        self._offset = 0
        self._scratch = memoryview(bytearray(self.READ_BYTES))

    def _fill(self, size: int) -> None:
        """Make at least `size` unread bytes available."""
        while len(self._buffer) - self._offset < size:
            if self._offset:
                del self._buffer[: self._offset]
                self._offset = 0
            if len(self._scratch) < size:  # a frame larger than any before: grow once
                self._scratch = memoryview(bytearray(size))
            count = os.readv(self.fd, [self._scratch])
            if not count:
                raise LinkClosed("end of stream")
            self._buffer += self._scratch[:count]

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

"""Frames over a pipe: whole frames come out as they went in, whatever the read sizes (many
in one read, one split over many, one larger than the reader's scratch buffer)."""

from __future__ import annotations

import os
import threading

import pytest

from ledger.transport.frames import FrameReader, FrameWriter, LinkClosed


def test_frames_of_every_size_arrive_whole_and_in_order() -> None:
    read_fd, write_fd = os.pipe()
    sizes = [0, 1, 5, 1000, FrameReader.READ_BYTES - 7, 3 * FrameReader.READ_BYTES + 11, 2, 64 * 1024, 7]
    frames = [["data", n, bytes([n % 251]) * n] for n in sizes] + [["small", i, b"x" * i] for i in range(200)]

    def write_all() -> None:
        writer = FrameWriter(write_fd)
        for frame in frames:
            writer.send(frame)
        os.close(write_fd)

    sender = threading.Thread(target=write_all)
    sender.start()
    reader = FrameReader(read_fd)
    try:
        received = [reader.receive() for _ in frames]
        assert received == frames
        with pytest.raises(LinkClosed):
            reader.receive()
    finally:
        sender.join(10)
        os.close(read_fd)

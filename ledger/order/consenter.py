"""Step 2 (order), the networked cutting rule: one ordered stream in, identical blocks out.

Every orderer node reads the same envelopes stream (JetStream orders it; we write no
consensus of our own) and feeds it here. The stream holds envelopes and "time-to-cut
block N" markers, which any orderer writes when its batch timer fires. A block is cut by
the block cutter's count and bytes rules, or by the first marker for the block being
built; a marker for a block already cut (or not yet begun) is ignored. A block's timestamp
is the stream timestamp of the message that completed it, so every node seals the same
header. Pure: no I/O, no clock; same stream, same blocks.
"""

from __future__ import annotations

from dataclasses import dataclass

from ledger.core.channel_config import BatchParameters
from ledger.order.blockcutter import BlockCutter


@dataclass(frozen=True, slots=True)
class StreamItem:
    """One message of the envelopes stream: an envelope, or a time-to-cut marker."""

    seq: int  # stream sequence (1-based)
    timestamp_ms: int  # the stream's timestamp of the message
    envelope: bytes = b""
    cut_block: int | None = None  # a marker: "time to cut block N"


@dataclass(frozen=True, slots=True)
class CutBatch:
    """A batch ready to be sealed as block `number`."""

    number: int
    envelopes: list[bytes]
    timestamp_ms: int
    resume_seq: int  # where a node that restarts after this block reads on, with nothing pending


class Consenter:
    """Turns the envelopes stream into numbered batches, identically on every node."""

    def __init__(self, batch: BatchParameters, next_number: int, next_seq: int) -> None:
        self._cutter = BlockCutter(batch)
        self.next_number = next_number  # the block being built
        self.next_seq = next_seq  # the stream sequence expected next
        self.pending_since_seq: int | None = None  # first envelope of the pending batch

    @property
    def pending_count(self) -> int:
        return self._cutter.pending_count

    def feed(self, item: StreamItem) -> list[CutBatch]:
        """Take the next stream message (in order, each once); the batches it completes."""
        assert item.seq == self.next_seq, f"stream message {item.seq} out of order (expected {self.next_seq})"
        self.next_seq = item.seq + 1
        if item.cut_block is not None:
            if item.cut_block != self.next_number or not self._cutter.pending_count:
                return []  # a later marker for a block already cut, or one with nothing to cut
            return [self._sealed(self._cutter.cut(), item, item.seq + 1)]
        out = []
        for batch in self._cutter.ordered(item.envelope):
            # A batch that ends with this envelope resumes after it; one that this envelope
            # overflowed resumes at it (it starts the next batch).
            ends_here = bool(batch) and batch[-1] is item.envelope
            out.append(self._sealed(batch, item, item.seq + 1 if ends_here else item.seq))
        if self._cutter.pending_count and self.pending_since_seq is None:
            self.pending_since_seq = item.seq
        return out

    def _sealed(self, envelopes: list[bytes], item: StreamItem, resume_seq: int) -> CutBatch:
        batch = CutBatch(self.next_number, envelopes, item.timestamp_ms, resume_seq)
        self.next_number += 1
        self.pending_since_seq = None
        return batch

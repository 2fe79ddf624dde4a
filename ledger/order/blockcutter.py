"""Step 2 (order), the batching rule: when does a run of envelopes become a block.

A batch is cut when it reaches the maximum message count, when the next envelope would
take it past the preferred size (that envelope starts the next batch), or, outside this
module, when the batch timeout fires. An envelope larger than the preferred size goes into
a batch of its own. Same inputs, same batches: every orderer node cuts identically.
"""

from __future__ import annotations

from ledger.core.channel_config import BatchParameters


class BlockCutter:
    def __init__(self, batch: BatchParameters) -> None:
        self.batch = batch
        self._pending: list[bytes] = []
        self._pending_bytes = 0

    @property
    def pending_count(self) -> int:
        return len(self._pending)

    def ordered(self, envelope: bytes) -> list[list[bytes]]:
        """Add one envelope; return the batches (zero, one or two) that are now complete."""
        size = len(envelope)
        assert size <= self.batch.absolute_max_bytes, "the orderer refuses oversized envelopes before cutting"
        batches: list[list[bytes]] = []
        if size > self.batch.preferred_max_bytes:
            if self._pending:
                batches.append(self.cut())
            batches.append([envelope])
            return batches
        if self._pending_bytes + size > self.batch.preferred_max_bytes:
            batches.append(self.cut())
        self._pending.append(envelope)
        self._pending_bytes += size
        if len(self._pending) >= self.batch.max_message_count:
            batches.append(self.cut())
        return batches

    def cut(self) -> list[bytes]:
        batch, self._pending, self._pending_bytes = self._pending, [], 0
        return batch

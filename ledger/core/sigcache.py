"""Signatures already verified in this process, so that none is checked twice here.

Ed25519 is the largest single cost of a committed transaction (PERFORMANCE.md: 21
verifications of ~55 µs each). Several of them repeat a check this same process already
made: a peer's validator re-checks the approval its own endorser checked and the
endorsement its endorser made, the orderer re-checks the envelope signature the gateway
made beside it. Verification is deterministic: a (public key, message, signature) triple
that verified once verifies always. So the successes are remembered here, and a triple
found again is accepted without the curve arithmetic. Failures are never remembered: a
triple not found (or found with a different message) is verified for real, so the cache
can only skip work, never change a verdict.

Entries are found by (public key, signature) and hold the message itself, compared byte
for byte on a hit (no hash, so no collision to argue about). The cache is a bounded LRU:
at most `ENTRIES_MAX` triples and `BYTES_MAX` bytes of messages; messages longer than
`MESSAGE_BYTES_MAX` are not kept. It is per process and in memory only: nothing crosses a
process boundary or survives a restart.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

ENTRIES_MAX = 8_192  # ~2 s of a peer's successes at 600 tx/s: endorse-to-validate is ~0.1 s
BYTES_MAX = 16 * 1024 * 1024  # of messages held, whatever their number
MESSAGE_BYTES_MAX = 64 * 1024  # a longer message is verified every time (never seen on the hot path)


class VerifiedSignatures:
    """A bounded LRU of Ed25519 triples known to verify. Thread-safe (one lock, held for
    dictionary operations only)."""

    def __init__(self, entries_max: int = ENTRIES_MAX, bytes_max: int = BYTES_MAX) -> None:
        self.entries_max = entries_max
        self.bytes_max = bytes_max
        self._entries: OrderedDict[tuple[bytes, bytes], bytes] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._entries)

    def holds(self, public_key: bytes, message: bytes, signature: bytes) -> bool:
        """True only if exactly this triple was recorded as verified (and is still kept)."""
        key = (public_key, signature)
        with self._lock:
            kept = self._entries.get(key)
            if kept is None or kept != message:
                return False
            self._entries.move_to_end(key)
            return True

    def record(self, public_key: bytes, message: bytes, signature: bytes) -> None:
        """Remember a triple that verified (the caller's promise); evicts the least recently used."""
        if len(message) > MESSAGE_BYTES_MAX:
            return
        key = (public_key, signature)
        with self._lock:
            old = self._entries.pop(key, None)
            if old is not None:
                self._bytes -= len(old)
            self._entries[key] = message
            self._bytes += len(message)
            while len(self._entries) > self.entries_max or self._bytes > self.bytes_max:
                _, evicted = self._entries.popitem(last=False)
                self._bytes -= len(evicted)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._bytes = 0

"""Signatures already verified in this process, so that none is checked twice here.

Ed25519 is the largest single cost of a committed transaction (PERFORMANCE.md: 21
verifications of ~55 µs each with libsodium, ~38 µs now). Several repeat a check this same process already
made: a peer's validator re-checks the approval its own endorser checked and the
endorsement its endorser made, the orderer re-checks the envelope signature the gateway
made beside it. Verification is deterministic: a (public key, message, signature) triple
that verified once verifies always. So the successes are remembered here, and a triple
found again is accepted without the curve arithmetic. Failures are never remembered: a
triple not found (or found with a different message) is verified for real, so the cache
can only skip work, never change a verdict.

Entries are found by (public key, signature) and hold the message itself, compared byte
for byte on a hit (no hash, so no collision to argue about). Messages longer than
`MESSAGE_BYTES_MAX` are not kept. The cache is per process and in memory only: nothing
crosses a process boundary or survives a restart.

Its bookkeeping is on the hot path: a peer looks up ~5 triples per transaction and records
~4.6, for ~1 hit (counted over an embedded bench round). So it is two plain dictionaries,
generations: records go into the current one; when it holds `GENERATION_ENTRIES` triples
or `GENERATION_BYTES` of messages it becomes the previous one and the one before is
dropped whole. A look-up reads both without a lock (a dictionary read is atomic under the
GIL; one that races a rotation can only miss, and a miss is verified for real). A triple is
kept for at least one generation of later records (~3 s of a peer at 600 tx/s; it is used
within ~0.1 s), and the cache never holds more than two generations. It still pays with
ed25519-zebra: ~1 hit (~38 µs of verification) for ~4 µs of bookkeeping per peer and
transaction (~8 µs with the locked LRU this replaced: OrderedDict, a move per hit, an
eviction per record; per call record 0.85-1.10 -> 0.68-0.71 µs, hit 0.80 -> 0.40-0.44,
miss 0.51-0.55 -> 0.29-0.37, 20,000 records of 1.5 KB messages).
"""

from __future__ import annotations

import threading

GENERATION_ENTRIES = 8_192  # ~3 s of a peer's records at 600 tx/s: endorse-to-validate is ~0.1 s
GENERATION_BYTES = 16 * 1024 * 1024  # of messages held by one generation, whatever their number
MESSAGE_BYTES_MAX = 64 * 1024  # a longer message is verified every time (never seen on the hot path)


class VerifiedSignatures:
    """Ed25519 triples known to verify, in two bounded generations. Thread-safe: `holds`
    reads two dictionaries; `record` and `clear` hold one lock."""

    def __init__(self, generation_entries: int = GENERATION_ENTRIES, generation_bytes: int = GENERATION_BYTES) -> None:
        self.generation_entries = generation_entries
        self.generation_bytes = generation_bytes
        self._current: dict[tuple[bytes, bytes], bytes] = {}
        self._previous: dict[tuple[bytes, bytes], bytes] = {}
        self._bytes = 0  # of the current generation's messages
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._current) + len(self._previous)

    def holds(self, public_key: bytes, message: bytes, signature: bytes) -> bool:
        """True only if exactly this triple was recorded as verified (and is still kept)."""
        key = (public_key, signature)
        kept = self._current.get(key)
        if kept is None:
            kept = self._previous.get(key)
        return kept is not None and kept == message

    def record(self, public_key: bytes, message: bytes, signature: bytes) -> None:
        """Remember a triple that verified (the caller's promise); a full generation is rotated."""
        size = len(message)
        if size > MESSAGE_BYTES_MAX:
            return
        with self._lock:
            if len(self._current) >= self.generation_entries or self._bytes + size > self.generation_bytes:
                self._previous = self._current
                self._current = {}
                self._bytes = 0
            self._current[(public_key, signature)] = message
            self._bytes += size

    def clear(self) -> None:
        with self._lock:
            self._current = {}
            self._previous = {}
            self._bytes = 0

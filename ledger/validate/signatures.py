"""Signature checks in worker processes: Ed25519 verification holds the GIL, so a block's
checks are sent in chunks to a small process pool and the committing thread waits (without
the GIL) while the other core verifies.

Small batches are verified in-thread: below `INLINE_BATCH_MAX` the round trip costs more
than it saves. Off by default (GRIDLEDGER_VERIFY_PROCESSES=N turns it on): measured on the
2-core machine the pickling round trip cost more than the verification it moved (see
README, "Performance").
"""

from __future__ import annotations

import atexit
import multiprocessing
import os
import threading
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor

from ledger.core.identity import verify_signature

INLINE_BATCH_MAX = 24
CHUNKS_PER_WORKER = 2
Check = tuple[bytes, bytes, bytes]  # (public key, message, signature)


def _verify_chunk(checks: Sequence[Check]) -> list[bool]:
    return [verify_signature(pk, msg, sig) for pk, msg, sig in checks]


class SignaturePool:
    def __init__(self, processes: int) -> None:
        self.processes = processes
        self._pool: ProcessPoolExecutor | None = None
        self._lock = threading.Lock()

    def _executor(self) -> ProcessPoolExecutor:
        with self._lock:
            if self._pool is None:
                # forkserver: never fork a process that runs threads
                self._pool = ProcessPoolExecutor(self.processes, mp_context=multiprocessing.get_context("forkserver"))
                atexit.register(self.shutdown)
            return self._pool

    def verify_many(self, checks: Sequence[Check]) -> list[bool]:
        if self.processes <= 0 or len(checks) <= INLINE_BATCH_MAX:
            return _verify_chunk(checks)
        parts = self.processes * CHUNKS_PER_WORKER
        size = -(-len(checks) // parts)
        chunks = [checks[i : i + size] for i in range(0, len(checks), size)]
        results: list[bool] = []
        for part in self._executor().map(_verify_chunk, chunks):
            results.extend(part)
        return results

    def shutdown(self) -> None:
        with self._lock:
            if self._pool is not None:
                self._pool.shutdown(wait=False, cancel_futures=True)
                self._pool = None


def _default_processes() -> int:
    return max(0, int(os.environ.get("GRIDLEDGER_VERIFY_PROCESSES", "0")))


_shared: SignaturePool | None = None


def shared_pool() -> SignaturePool:
    """The process-wide pool (one per process, shared by the peers of an embedded network)."""
    global _shared
    if _shared is None:
        _shared = SignaturePool(_default_processes())
    return _shared

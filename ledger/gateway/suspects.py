"""Peers that just failed to answer an endorsement: left out of the next choices for a while.

A hung peer (its process stopped, not dead) still reports alive and, on an idle network,
the same height as the others; without a memory of its silence every gateway would ask it
again and wait out ENDORSE_TIMEOUT_S each time. One `Suspects` is shared by a network's
gateways, so the first timeout spares the others.
"""

from __future__ import annotations

import threading
import time

SUSPECT_HOLD_S = 30.0  # how long a peer that timed out is asked only when nobody else can answer


class Suspects:
    """Names of peers that failed to answer recently (thread-safe)."""

    def __init__(self, hold_s: float = SUSPECT_HOLD_S) -> None:
        self.hold_s = hold_s
        self._until: dict[str, float] = {}
        self._lock = threading.Lock()

    def mark(self, name: str) -> None:
        with self._lock:
            self._until[name] = time.monotonic() + self.hold_s

    def clear(self, name: str) -> None:
        """The peer answered: trust it again."""
        if name in self._until:
            with self._lock:
                self._until.pop(name, None)

    def __contains__(self, name: object) -> bool:
        until = self._until.get(name) if isinstance(name, str) else None
        return until is not None and until > time.monotonic()

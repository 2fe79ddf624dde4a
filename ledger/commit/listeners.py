"""A peer's commit listeners (step 4), the same wherever the peer runs: in this process (the
committer tells them), in a child process behind a pipe, or on another machine over NATS
(the link tells them). Added from any thread at any time; each is told every event in order;
one that raises is logged, never allowed to stop the thread that delivers the events."""

from __future__ import annotations

import threading
from typing import Any

from ledger.core.messages import CommitEvent, CommitListener


class CommitListeners:
    """The listeners of peer `peer`; failures go to `log` (the delivering module's logger)."""

    def __init__(self, peer: str, log: Any) -> None:
        self._peer = peer
        self._log = log
        self._listeners: list[CommitListener] = []
        self._lock = threading.Lock()

    def add(self, listener: CommitListener) -> None:
        with self._lock:
            self._listeners.append(listener)

    def notify(self, event: CommitEvent) -> None:
        """Tell every listener added so far (a copy is taken: one may add another meanwhile)."""
        with self._lock:
            listeners = list(self._listeners)
        for listener in listeners:
            try:
                listener(event)
            except Exception as exc:  # a listener must never stop the committer or the link
                self._log.error("commit_listener_failed", peer=self._peer, error=repr(exc))

"""Holding back a stop request (SIGINT, SIGTERM) while a child process is started and registered.

Why: `up` takes Ctrl-C and SIGTERM while it starts its peer processes (the handler raises in
the main thread, and the network's start-up stops every peer it has registered). A signal
that landed between a peer's `Popen` and its registration left that one process out of the
clean-up: its pipes were dropped with the `PipePeer`, and it died on a broken pipe with a
traceback (1 of 5 runs of the start-up SIGTERM test). Held back for those few lines, the
signal is raised again as soon as the peer is registered, and the clean-up stops it with
the others.

Python runs signal handlers in the main thread whichever thread the kernel picked, so a
signal mask would not hold them back; a recording handler for the block does.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


@contextmanager
def stop_signals_deferred() -> Iterator[None]:
    """SIGINT and SIGTERM received during the block are raised again, with the handlers that
    were there before, once it ends. Outside the main thread (no handler runs there) it
    changes nothing."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received: list[int] = []

    def record(signum: int, frame: FrameType | None) -> None:
        received.append(signum)

    previous = {signum: signal.signal(signum, record) for signum in STOP_SIGNALS}
    try:
        yield
    finally:
        for stop, handler in previous.items():
            signal.signal(stop, handler)
        for signum in dict.fromkeys(received):
            signal.raise_signal(signum)

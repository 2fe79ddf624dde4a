"""One NATS connection for synchronous callers (gateways, the CLI, the console).

The gateway and the tools are synchronous; nats-py is asyncio. `NatsClient` runs the
connection on an event loop in a thread of its own: a request returns a
`concurrent.futures.Future` at once (so a gateway asks every endorser in parallel and
waits on each with a timeout), and subscription callbacks run on that loop's thread.
"""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Callable, Coroutine
from concurrent.futures import Future
from typing import Any, TypeVar
from urllib.parse import urlsplit

import nats
import nats.errors
import structlog
from nats.aio.client import Client
from nats.aio.msg import Msg

from ledger.core.errors import LedgerError

log = structlog.get_logger("nats_client")

T = TypeVar("T")
CONNECT_WAIT_S = 15.0
CLOSE_WAIT_S = 5.0
RECONNECT_WAIT_S = 0.25
PING_INTERVAL_S = 3  # a server cut off without a close is noticed after PINGS_OUTSTANDING_MAX
PINGS_OUTSTANDING_MAX = 3  # unanswered pings (~9-12 s), then another server is used
NO_RESPONDERS_RETRIES = 3  # a "no responders" answer is asked again this often...
NO_RESPONDERS_PAUSE_S = 0.1  # ...this far apart before the callee counts as gone
SERVER_PROBE_TIMEOUT_S = 1.0  # a TCP connect to a server's client port; slower counts as "may be there"
NATS_DEFAULT_PORT = 4222

MessageHandler = Callable[[str, bytes], None]  # (subject, data), run on the client's loop


class NatsUnavailable(LedgerError):
    """No NATS server of the cluster could be reached."""

    def __init__(self, why: str) -> None:
        super().__init__("NATS_UNAVAILABLE", f"the NATS cluster cannot be reached: {why}")


def refused_everywhere(urls: list[str]) -> bool:
    """True when every server refuses a TCP connection to its client port: nothing listens
    there, so the cluster is down and no wait would change that. Why: a client waited its
    whole CONNECT_WAIT_S (15 s) to report a stopped consortium. A server that accepts, or
    does not answer within SERVER_PROBE_TIMEOUT_S (a host far away or down), may be there:
    False, and the normal connect decides."""
    if not urls:
        return False
    for url in urls:
        parts = urlsplit(url if "://" in url else f"nats://{url}")
        try:
            with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or NATS_DEFAULT_PORT), SERVER_PROBE_TIMEOUT_S):
                return False
        except ConnectionRefusedError:
            continue
        except OSError:  # timeout, no route, unknown name: not known to be down
            return False
    return True


class NatsClient:
    """A NATS connection on a background event loop; `close` ends both."""

    def __init__(self, options: dict[str, Any]) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="nats-client", daemon=True)
        self._thread.start()
        connect = {"allow_reconnect": True, "max_reconnect_attempts": -1, "reconnect_time_wait": RECONNECT_WAIT_S, "ping_interval": PING_INTERVAL_S, "max_outstanding_pings": PINGS_OUTSTANDING_MAX, "error_cb": self._error, **options}
        try:
            # wait_for cancels the connect on its own loop at the limit (no task left pending)
            self.nc: Client = self.run(asyncio.wait_for(nats.connect(**connect), CONNECT_WAIT_S), CONNECT_WAIT_S + 1)
        except Exception as exc:
            self._stop_loop()
            timed_out = isinstance(exc, (TimeoutError, asyncio.TimeoutError))
            servers = ", ".join(str(url) for url in options.get("servers", []))
            raise NatsUnavailable(f"no server answered within {CONNECT_WAIT_S:g} s ({servers})" if timed_out else repr(exc)) from None
        self._closed = False

    def run(self, coroutine: Coroutine[Any, Any, T], timeout_s: float) -> T:
        """Run a coroutine on the client's loop and wait for its result."""
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(timeout_s)

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        """The loop the connection runs on: `request_aio` and callers' coroutines run here."""
        return self._loop

    def request(self, subject: str, data: bytes, timeout_s: float) -> "Future[bytes]":
        """Send a request now; the future gives the reply's data (or the nats error)."""
        return asyncio.run_coroutine_threadsafe(self.request_aio(subject, data, timeout_s), self._loop)

    async def request_aio(self, subject: str, data: bytes, timeout_s: float) -> bytes:
        """A request from a coroutine on `loop`: the reply's data (or the nats error)."""
        for attempt in range(NO_RESPONDERS_RETRIES + 1):
            try:
                reply = await self.nc.request(subject, data, timeout=timeout_s)
                return bytes(reply.data)
            except nats.errors.NoRespondersError:
                # A subscription made on another server reaches this one a moment later
                # (route interest is propagated asynchronously): ask again briefly.
                if attempt == NO_RESPONDERS_RETRIES:
                    raise
                await asyncio.sleep(NO_RESPONDERS_PAUSE_S)
        raise AssertionError("unreachable")

    def subscribe(self, subject: str, handler: MessageHandler) -> None:
        async def on_message(msg: Msg) -> None:
            try:
                handler(msg.subject, msg.data)
            except Exception as exc:  # a handler must never stop the connection's reader
                log.error("nats_handler_failed", subject=msg.subject, error=repr(exc))

        self.run(self.nc.subscribe(subject, cb=on_message), CONNECT_WAIT_S)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            self.run(self.nc.close(), CLOSE_WAIT_S)
        except Exception as exc:  # closing a connection that is already gone
            log.debug("nats_close_failed", error=repr(exc))
        self._stop_loop()

    def _stop_loop(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(CLOSE_WAIT_S)

    async def _error(self, error: Exception) -> None:
        log.debug("nats_client_error", error=repr(error))

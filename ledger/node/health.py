"""A networked node's health endpoint: `GET /healthz` on the node's `health_host:health_port`.

Every node of the networked layout (orderer, peer, console; a NATS server has its own
monitoring port) answers JSON: `status` ("ok", or "degraded" when it runs but cannot do
its job: NATS unreachable, the stream without a quorum, a failed commit path), its `role`,
`name`, `height` and what else it knows (stream state, live peers). HTTP 200 when ok, 503
otherwise, so a load balancer or an operator's probe needs no JSON parsing. Served from a
thread of its own with the standard library, so a busy event loop or commit thread never
makes the probe itself time out; the report function reads the node's state.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol

import structlog

from ledger.core.errors import ConfigError

log = structlog.get_logger("health")

HEALTH_PATHS = frozenset({"/healthz", "/"})
STATUS_OK = "ok"
STATUS_DEGRADED = "degraded"
HTTP_OK = 200
HTTP_NOT_FOUND = 404
HTTP_UNAVAILABLE = 503
STOP_WAIT_S = 5.0

Report = Callable[[], dict[str, Any]]  # must hold "status"; called on the server's threads


class HeardPeer(Protocol):
    """What a gateway node's health report reads of one peer."""

    @property
    def name(self) -> str: ...

    @property
    def org(self) -> str: ...

    @property
    def alive(self) -> bool: ...

    @property
    def height(self) -> int: ...


class HeardOrderer(Protocol):
    """What a gateway node's health report reads of the ordering service."""

    @property
    def alive(self) -> bool: ...


class HeardNetwork(Protocol):
    """The part of a network a gateway node's health report reads (a `Network` is one). A
    protocol, not the class, so the health module (which the node runners import) does not
    import the network, which imports the runners: no import cycle."""

    @property
    def peers(self) -> Sequence[HeardPeer]: ...

    @property
    def orderer(self) -> HeardOrderer: ...


def with_status(facts: dict[str, Any]) -> dict[str, Any]:
    """A node's facts with `status` set from its list of `problems` (none: ok)."""
    return {**facts, "status": STATUS_DEGRADED if facts.get("problems") else STATUS_OK}


class HealthServer:
    """`GET /healthz` answered with `report()` as JSON, on a daemon thread."""

    def __init__(self, host: str, port: int, report: Report) -> None:
        self.host = host
        self.port = port
        self._report = report
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        report = self._report

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                path = self.path.split("?", 1)[0]
                if path not in HEALTH_PATHS:
                    self._answer(HTTP_NOT_FOUND, {"code": "NOT_FOUND", "message": "the health endpoint is /healthz"})
                    return
                try:
                    body = report()
                except Exception as exc:  # a probe always gets an answer, never a traceback
                    log.warning("health_report_failed", error=repr(exc))
                    body = {"status": STATUS_DEGRADED, "problems": [f"the health report failed: {exc!r}"]}
                self._answer(HTTP_OK if body.get("status") == STATUS_OK else HTTP_UNAVAILABLE, body)

            def _answer(self, code: int, body: dict[str, Any]) -> None:
                data = json.dumps(body, sort_keys=True, default=str).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.send_header("Cache-Control", "no-store")
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                """Probes are frequent: not logged."""

        self._server = ThreadingHTTPServer((self.host, self.port), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="health", daemon=True)
        self._thread.start()
        log.info("health_serving", host=self.host, port=self.port)

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(STOP_WAIT_S)
            self._thread = None


def maybe_serve(host: str, port: int, report: Report) -> HealthServer | None:
    """The node's health server when node.json gives it a port (0 = none), started."""
    if not port:
        return None
    server = HealthServer(host, port, report)
    try:
        server.start()
    except OSError as exc:
        raise ConfigError(f"the health endpoint cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    return server


def network_health(name: str, role: str, network: HeardNetwork) -> dict[str, Any]:
    """A gateway node's (the console's) view: the peers and orderers it hears. Degraded when
    no peer or no orderer is heard, so nothing could be endorsed or ordered."""
    live_heights = [p.height for p in network.peers if p.alive]
    peers = [{"name": p.name, "org": p.org, "alive": p.alive, "height": p.height} for p in network.peers]
    orderer_alive = bool(network.orderer.alive)
    problems = []
    if not live_heights:
        problems.append("no peer is heard")
    if not orderer_alive:
        problems.append("no orderer is heard")
    facts = {
        "name": name,
        "role": role,
        "height": max(live_heights, default=0),
        "peers_alive": len(live_heights),
        "peers": peers,
        "orderer_alive": orderer_alive,
        "problems": problems,
    }
    return with_status(facts)

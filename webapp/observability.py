"""Request logs with a request id (structlog), request metrics, /healthz and /metrics."""

from __future__ import annotations

import time
import uuid
from typing import Any

import structlog
from litestar import MediaType, Request, Response, get
from litestar.enums import ScopeType
from litestar.types import ASGIApp, Message, Receive, Scope, Send
from sqlalchemy import text

from webapp.services import Services
from webapp.workflow import Status

log = structlog.get_logger("webapp.http")
REQUEST_ID_HEADER = "x-request-id"


def request_log_middleware(app: ASGIApp) -> ASGIApp:
    """Binds a request id to every log line of the request, logs one line per request, counts it."""

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await app(scope, receive, send)
            return
        method: str = scope["method"]
        headers = dict(scope.get("headers") or [])
        incoming = headers.get(REQUEST_ID_HEADER.encode(), b"").decode("latin-1")
        request_id = incoming if 0 < len(incoming) <= 64 and incoming.isprintable() else uuid.uuid4().hex
        status = {"code": 500}
        started = time.perf_counter()

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
                message.setdefault("headers", [])
                message["headers"] = list(message["headers"]) + [(REQUEST_ID_HEADER.encode(), request_id.encode())]
            await send(message)

        structlog.contextvars.bind_contextvars(request_id=request_id)
        try:
            await app(scope, receive, send_wrapper)
        finally:
            elapsed_s = time.perf_counter() - started
            route = _route_of(scope)
            app_obj = scope.get("litestar_app")
            services: Services | None = getattr(app_obj.state, "services", None) if app_obj is not None else None
            if services is not None:
                services.metrics.http_requests.labels(method, route, str(status["code"])).inc()
                services.metrics.http_latency.labels(method).observe(elapsed_s)
            log.info("http_request", method=method, path=scope["path"], status=status["code"], duration_ms=round(elapsed_s * 1000, 1))
            structlog.contextvars.unbind_contextvars("request_id")

    return middleware


def _route_of(scope: Scope) -> str:
    """The route template (bounded label set), not the raw path."""
    handler = scope.get("route_handler")
    if handler is not None:
        paths: set[str] | None = getattr(handler, "paths", None)
        if paths:
            return sorted(paths)[0]
    return "unmatched"


@get("/healthz", include_in_schema=True, sync_to_thread=True, opt={"api": True})
def healthz(request: Request[Any, Any, Any]) -> Response[dict[str, Any]]:
    """Each component (peers, orderer, database) and whether the ledger can commit: 200 with
    "status": "ok", or 503 with "status": "degraded" (the ledger cannot commit, or the
    console's database does not answer)."""
    services: Services = request.app.state.services
    components: dict[str, Any] = {}
    try:
        components.update(services.chain.components())
        can_commit = services.chain.can_commit()
    except Exception as exc:  # the point of a health check is to say so
        components["ledger"] = {"status": "down", "error": str(exc)}
        can_commit = False
    try:
        with services.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        components["database"] = {"status": "ok"}
    except Exception as exc:
        components["database"] = {"status": "down", "error": str(exc)}
    peers = components.get("peers", [])
    live = [p for p in peers if p["status"] == "ok"]
    ok = can_commit and components["database"]["status"] == "ok"
    body: dict[str, Any] = {
        "status": "ok" if ok else "degraded",
        "canCommit": can_commit,
        "height": max((p["height"] for p in live), default=0),
        "peers": len(live),
        "components": components,
    }
    return Response(body, status_code=200 if ok else 503)


@get("/metrics", include_in_schema=False, sync_to_thread=True, opt={"api": True})
def metrics(request: Request[Any, Any, Any]) -> Response[bytes]:
    services: Services = request.app.state.services
    m = services.metrics
    counts = services.reviews.counts()
    m.queue_depth.set(counts.get(Status.PENDING, 0))
    m.awaiting_acceptance.set(counts.get(Status.AWAITING_ACCEPTANCE, 0))
    try:
        for peer in services.chain.peer_status():
            m.peer_height.labels(peer["name"]).set(peer["height"])
        m.ledger_height.set(services.chain.height())
    except Exception:
        pass
    return Response(m.render(), media_type=MediaType.TEXT, headers={"content-type": "text/plain; version=0.0.4; charset=utf-8"})

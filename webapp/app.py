"""The console's app factory: pages, the JSON API, CSRF, templates, errors, metrics, lifespan."""

from __future__ import annotations

import secrets
import warnings
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC
from pathlib import Path
from typing import Any

import structlog
from litestar import Litestar
from litestar.config.csrf import CSRFConfig
from litestar.di import Provide
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import JsonRenderPlugin
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.static_files import create_static_files_router
from litestar.template.config import TemplateConfig

from ledger.core.identity import write_private_file
from ledger.node.layout import NetworkLayout
from webapp import pages_accounts, pages_assets, pages_bench, pages_customers, pages_explorer, pages_metering, pages_reviews, pages_settle
from webapp.api import api_router
from webapp.deps import provide_services, provide_user
from webapp.error_pages import handle_exception
from webapp.form_pages import form_page_redirects
from webapp.formats import human_size, tokens
from webapp.metering_api import metering_router
from webapp.observability import healthz, metrics, request_log_middleware
from webapp.openapi_page import OfflineSchemaPage
from webapp.outcomes import ReconcileLoop
from webapp.security_headers import add_security_headers
from webapp.services import Services
from webapp.settings import REQUEST_BODY_BYTES_MAX, Settings
from webapp.verify_job import VERIFY_SHUTDOWN_WAIT_S
from webapp.words import kind_words, status_words

ROOT = Path(__file__).resolve().parent.parent
TEMPLATES_DIR = ROOT / "templates"
STATIC_DIR = Path(__file__).resolve().parent / "static"
log = structlog.get_logger("webapp.app")


def _csrf_secret(data_dir: Path) -> str:
    path = NetworkLayout(data_dir).csrf_secret_file
    if not path.exists():
        write_private_file(path, secrets.token_hex(32))
    return path.read_text().strip()


def _jinja_setup(engine: JinjaTemplateEngine) -> None:
    from datetime import datetime

    env = engine.engine
    env.autoescape = True  # never trust a name or a description
    env.filters["when"] = lambda s: datetime.fromtimestamp(s, UTC).strftime("%Y-%m-%d %H:%M:%S UTC") if s else ""
    env.filters["when_ms"] = lambda ms: datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S UTC") if ms else ""
    env.filters["size"] = human_size
    env.filters["tokens"] = tokens
    env.filters["status_words"] = status_words
    env.filters["kind_words"] = kind_words
    env.filters["short"] = lambda h, n=12: (h[:n] + "…") if isinstance(h, str) and len(h) > n else h


def create_app(data_dir: Path, *, network: Any | None = None, settings: Settings | None = None, peer_processes: bool = False) -> Litestar:
    """The console for the network in `data_dir`; opens the network itself unless one is given
    (with `peer_processes`, each peer in its own OS process)."""
    data_dir = Path(data_dir)
    settings = settings or Settings.from_env()
    owned: dict[str, Any] = {}

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        net = network
        if net is None:
            from ledger.node.network import Network

            net = owned["network"] = Network.open(data_dir, peer_processes=peer_processes)
        app.state.services = Services.build(data_dir, net, settings)
        metrics = app.state.services.metrics
        net.peers[0].add_commit_listener(lambda event: metrics.count_commit(event.codes))
        reconcile = ReconcileLoop(app.state.services.outcomes, settings.reconcile_interval_s)
        reconcile.start()  # settles what a crash or a commit timeout left unsettled
        log.info("console_started", data_dir=str(data_dir))
        try:
            yield
        finally:
            reconcile.stop()
            app.state.services.verifier.wait(VERIFY_SHUTDOWN_WAIT_S)  # a verify mid-run must not read a closing network
            if "network" in owned:
                owned.pop("network").close()
            app.state.services.engine.dispose()

    html_routes = [*pages_accounts.ROUTES, *pages_assets.ROUTES, *pages_reviews.ROUTES, *pages_explorer.ROUTES, *pages_bench.ROUTES, *pages_metering.ROUTES, *pages_settle.ROUTES, *pages_customers.ROUTES]
    with warnings.catch_warnings():
        # Litestar 2.25 announces its 3.0 spellings for every handler; we pin <3 (LIBRARIES.md).
        warnings.simplefilter("ignore", DeprecationWarning)
        # the redirects first: Litestar 2 registers every handler of a path again when another
        # handler joins it, and a second registration wraps a sync_to_thread handler twice (its
        # call then answers a coroutine: a 500); async handlers take no harm from it
        return _build(lifespan, [*form_page_redirects(html_routes), *html_routes], data_dir, settings)


def _build(lifespan: Any, html_routes: list[Any], data_dir: Path, settings: Settings) -> Litestar:
    return Litestar(
        route_handlers=[
            *html_routes,
            api_router(),
            metering_router(),
            healthz,
            metrics,
            create_static_files_router(path="/static", directories=[STATIC_DIR], include_in_schema=False),
        ],
        dependencies={"services": Provide(provide_services, sync_to_thread=False), "user": Provide(provide_user, sync_to_thread=False)},
        lifespan=[lifespan],
        middleware=[request_log_middleware],
        before_send=[add_security_headers],
        csrf_config=CSRFConfig(
            secret=_csrf_secret(data_dir),
            cookie_secure=settings.cookie_secure,
            cookie_httponly=False,  # forms carry the token in a hidden field; the cookie only pairs with it
            cookie_samesite="strict",
            exclude=["/metrics", "/healthz"],
        ),
        template_config=TemplateConfig(directory=TEMPLATES_DIR, engine=JinjaTemplateEngine, engine_callback=_jinja_setup),
        openapi_config=OpenAPIConfig(
            title="GridLedger API",
            version="1.0",
            path="/schema",
            render_plugins=[OfflineSchemaPage(), JsonRenderPlugin()],
        ),
        exception_handlers={Exception: handle_exception},
        request_max_body_size=REQUEST_BODY_BYTES_MAX,
    )

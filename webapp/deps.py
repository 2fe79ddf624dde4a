"""Dependencies (`provide_*`) and guards (`requires_*`).

Pages find the session by the `gl_session` cookie; API routes only by `Authorization:
Bearer` (so the API, which is exempt from CSRF, can never be driven by a browser's cookie).
"""

from __future__ import annotations

from typing import Any

from litestar import Request
from litestar.connection import ASGIConnection
from litestar.datastructures import State
from litestar.handlers.base import BaseRouteHandler

from webapp.errors import Forbidden, NotAuthenticated
from webapp.services import Services
from webapp.sessions import SESSION_COOKIE, UserSession


def services_of(connection: ASGIConnection[Any, Any, Any, Any]) -> Services:
    services: Services = connection.app.state.services
    return services


def session_of(connection: ASGIConnection[Any, Any, Any, Any]) -> UserSession | None:
    cached: UserSession | None = connection.scope.get("state", {}).get("user_session")
    if cached is not None:
        return cached
    registry = services_of(connection).sessions
    if connection.route_handler.opt.get("api"):
        header = connection.headers.get("authorization", "")
        token = header[7:].strip() if header.lower().startswith("bearer ") else None
    else:
        token = connection.cookies.get(SESSION_COOKIE)
    found = registry.get(token)
    if found is not None:
        connection.state.user_session = found
    return found


def requires_login(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    if session_of(connection) is None:
        raise NotAuthenticated("NOT_LOGGED_IN", "Log in first (the session is missing or expired).")


def requires_admin(connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler) -> None:
    requires_login(connection, handler)
    user = session_of(connection)
    assert user is not None
    if not user.is_admin:
        raise Forbidden("NOT_ADMIN", "Only administrators of the regulator can do this.")


def provide_services(state: State) -> Services:
    services: Services = state.services
    return services


def provide_user(request: Request[Any, Any, Any]) -> UserSession:
    user = session_of(request)
    if user is None:
        raise NotAuthenticated("NOT_LOGGED_IN", "Log in first (the session is missing or expired).")
    return user


def provide_optional_user(request: Request[Any, Any, Any]) -> UserSession | None:
    return session_of(request)


def client_of(connection: ASGIConnection[Any, Any, Any, Any]) -> str:
    """The client's address for throttles: the socket peer, or X-Forwarded-For from a trusted proxy only."""
    from webapp.throttle import client_address

    peer = connection.client.host if connection.client else None
    return client_address(peer, connection.headers, services_of(connection).settings.trusted_proxies)


def is_https(connection: ASGIConnection[Any, Any, Any, Any]) -> bool:
    """Served over HTTPS: the connection's own scheme, or X-Forwarded-Proto from a trusted proxy."""
    if connection.url.scheme == "https":
        return True
    peer = connection.client.host if connection.client else None
    trusted = services_of(connection).settings.trusted_proxies
    return peer in trusted and connection.headers.get("x-forwarded-proto", "").strip().lower() == "https"

"""Security headers on every response, pages and API alike.

The console serves no inline script and no external resource, so the policy can say
`'self'` everywhere; charts are inline SVG drawn with attributes (allowed), never `style=`.
`frame-ancestors 'none'` keeps the console out of other sites' frames (clickjacking).
`Cache-Control: no-store` on everything but the stylesheet: pages show balances, holdings
and requests, so after logging out the browser's back button must ask the server again
(which sends it to the login) instead of showing the last person's page from its cache.
"""

from __future__ import annotations

from litestar.types import Message, Scope

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; object-src 'none'; "
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
STATIC_PREFIX = "/static/"  # the stylesheet: the same for everyone, cacheable
SECURITY_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
    (b"x-frame-options", b"DENY"),  # for browsers that predate frame-ancestors
)


async def add_security_headers(message: Message, scope: Scope) -> None:
    """A `before_send` hook (so it covers 404s, 405s and errors too): adds each header the response does not set itself."""
    if message["type"] != "http.response.start":
        return
    headers = list(message.get("headers") or [])
    present = {bytes(name).lower() for name, _ in headers}
    headers.extend((name, value) for name, value in SECURITY_HEADERS if name not in present)
    if b"cache-control" not in present and not str(scope.get("path", "")).startswith(STATIC_PREFIX):
        headers.append((b"cache-control", b"no-store"))
    message["headers"] = headers

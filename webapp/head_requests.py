"""HEAD answered as GET without the body, around the console's ASGI app.

Litestar 2 routes HEAD only to handlers declared for it, so every page and /healthz answered
HEAD with 405: an uptime check or load balancer probing with HEAD saw the console as broken,
and HTTP asks that a resource served by GET answers HEAD too. This wrapper, put around the app
where uvicorn serves it, runs the GET and sends its status and headers (Content-Length
included) with an empty body.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


def answer_head(app: Any) -> ASGIApp:
    async def wrapped(scope: Scope, receive: Receive, send: Send) -> None:
        if scope.get("type") != "http" or scope.get("method") != "HEAD":
            await app(scope, receive, send)
            return

        async def headers_only(message: Message) -> None:
            if message.get("type") == "http.response.body":
                if message.get("more_body"):
                    return  # a chunk of the GET's body: dropped
                message = {"type": "http.response.body", "body": b"", "more_body": False}
            await send(message)

        await app({**scope, "method": "GET"}, receive, headers_only)

    return wrapped

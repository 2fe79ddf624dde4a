"""Pages: the explorer (height, peers, blocks, transactions, key history) and verification."""

from __future__ import annotations

import time
from typing import Any

from litestar import Request, get, post
from litestar.response import Redirect, Template

from webapp.deps import requires_login
from webapp.errors import BadInput
from webapp.pages import go, page
from webapp.services import Services

BLOCKS_LISTED = 20
KEY_LENGTH_MAX = 200


def _overview(request: Request[Any, Any, Any], services: Services, **extra: Any) -> Template:
    chain = services.chain
    height = chain.height()
    first = max(0, height - BLOCKS_LISTED)
    blocks = [chain.block(n) for n in range(height - 1, first - 1, -1)]
    return page(request, "explorer.html", height=height, peers=chain.peer_status(), blocks=blocks, **extra)


@get("/explorer", include_in_schema=False, guards=[requires_login], sync_to_thread=True)
def explorer(request: Request[Any, Any, Any], services: Services) -> Template:
    return _overview(request, services)


@post("/explorer/verify", include_in_schema=False, guards=[requires_login], sync_to_thread=True)
def verify(request: Request[Any, Any, Any], services: Services) -> Template:
    started = time.monotonic()
    report = services.chain.verify()
    elapsed_ms = int((time.monotonic() - started) * 1000)
    return _overview(request, services, report=report, verify_ms=elapsed_ms)


@get("/explorer/blocks/{number:int}", include_in_schema=False, guards=[requires_login], sync_to_thread=True)
def block_page(request: Request[Any, Any, Any], number: int, services: Services) -> Template:
    return page(request, "block.html", block=services.chain.block(number))


@get("/explorer/tx/{tx_id:str}", include_in_schema=False, guards=[requires_login], sync_to_thread=True)
def tx_page(request: Request[Any, Any, Any], tx_id: str, services: Services) -> Template:
    return page(request, "tx.html", tx=services.chain.transaction(tx_id.strip().lower()))


@get("/explorer/history", include_in_schema=False, guards=[requires_login], sync_to_thread=True)
def history_page(request: Request[Any, Any, Any], services: Services, key: str = "") -> Template:
    key = key.strip()
    if len(key) > KEY_LENGTH_MAX:
        raise BadInput("BAD_KEY", f"A key has at most {KEY_LENGTH_MAX} characters.")
    entries = services.chain.key_history(key) if key else []
    return page(request, "history.html", key=key, entries=entries)


@get("/explorer/find", include_in_schema=False, guards=[requires_login])
async def find_tx(tx: str = "") -> Redirect:
    tx = tx.strip().lower()
    if not tx or not all(c in "0123456789abcdef" for c in tx):
        raise BadInput("BAD_TX_ID", "A transaction id is 64 hex digits.")
    return go(f"/explorer/tx/{tx}")


ROUTES = [find_tx, explorer, verify, block_page, tx_page, history_page]

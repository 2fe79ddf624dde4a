"""Pages: the explorer (height, peers, blocks, charts, transactions, key history) and verification."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Request, get, post
from litestar.params import Parameter
from litestar.response import Redirect, Template

from webapp import explorer_privacy
from webapp.charts import bars, stacked_bars
from webapp.deps import requires_login, session_of
from webapp.errors import BadInput, Conflict, NotFound
from webapp.explorer_index import TX_PREFIX_MIN
from webapp.pages import go, page
from webapp.services import Services

BLOCKS_LISTED = 20
KEY_LENGTH_MAX = 200
HEX = frozenset("0123456789abcdef")


def _charts(services: Services) -> dict[str, Any]:
    minutes = services.explorer.tx_per_minute()
    codes = sorted({code for m in minutes for code in m.counts}, key=lambda c: (c != "VALID", c))
    labels = [f"{m.minute_ms // 60_000 % 1440 // 60:02d}:{m.minute_ms // 60_000 % 60:02d}" for m in minutes]
    per_minute = stacked_bars("Transactions per minute (UTC) by validation code", labels, {c: [m.counts.get(c, 0) for m in minutes] for c in codes}, "chart-tx-per-minute")
    blocks = services.explorer.block_sizes()
    sizes = bars("Block sizes (KB) of the latest blocks", [str(b.number) for b in blocks], [round(b.size_bytes / 1024, 1) for b in blocks], "chart-block-sizes", " KB", "size")
    return {"chart_tx": per_minute, "chart_blocks": sizes}


def _overview(request: Request[Any, Any, Any], services: Services, page_number: int = 1, **extra: Any) -> Template:
    chain = services.chain
    height = chain.height()
    pages = max(1, -(-height // BLOCKS_LISTED))
    page_number = min(max(1, page_number), pages)
    newest = height - 1 - (page_number - 1) * BLOCKS_LISTED
    blocks = [chain.block(n) for n in range(newest, max(-1, newest - BLOCKS_LISTED), -1)]
    latest = services.market.search(sort="newest", page_size=1, on_sale_only=False).assets
    example = f"{chain.namespace_prefix}asset/{latest[0]['Id'] if latest else 'A1'}"
    return page(
        request, "explorer.html", height=height, peers=chain.peer_status(), blocks=blocks, page_number=page_number, pages=pages,
        example_key=example, verify_job=services.verifier.state(), **_charts(services), **extra,
    )


@get("/explorer", include_in_schema=False, guards=[requires_login], sync_to_thread=True)
def explorer(request: Request[Any, Any, Any], services: Services, page_number: Annotated[str, Parameter(query="page")] = "1") -> Template:
    return _overview(request, services, int(page_number) if page_number.isdigit() else 1)


@post("/explorer/verify", include_in_schema=False, guards=[requires_login], sync_to_thread=True)
def verify(services: Services) -> Redirect:
    """Starts a full verify in the background (one at a time); the explorer shows its progress."""
    services.verifier.start()
    return go("/explorer")


@get("/explorer/blocks/{number:int}", include_in_schema=False, guards=[requires_login], sync_to_thread=True)
def block_page(request: Request[Any, Any, Any], number: int, services: Services) -> Template:
    return page(request, "block.html", block=services.chain.block(number))


def resolve_tx_id(services: Services, text: str) -> str:
    """A full id, or the one transaction a short id (TX_PREFIX_MIN+ hex, `…` allowed) names."""
    tx = text.strip().lower().rstrip("….").strip()
    if not (TX_PREFIX_MIN <= len(tx) <= 64) or not set(tx) <= HEX:
        raise BadInput("BAD_TX_ID", f"A transaction id is 64 hex digits; a short id has at least {TX_PREFIX_MIN}.")
    if len(tx) == 64:
        return tx
    found = services.explorer.find(tx)
    if not found:
        raise NotFound("TX_NOT_FOUND", f"No transaction id on the ledger starts with {tx!r}.")
    if len(found) > 1:
        raise Conflict("AMBIGUOUS_TX_ID", f"More than one transaction id starts with {tx!r}; give more digits.")
    return found[0]


@get("/explorer/tx/{tx_id:str}", include_in_schema=False, guards=[requires_login], sync_to_thread=True)
def tx_page(request: Request[Any, Any, Any], tx_id: str, services: Services) -> Template | Redirect:
    full = resolve_tx_id(services, tx_id)
    if full != tx_id:
        return go(f"/explorer/tx/{full}")
    tx = explorer_privacy.transaction_for(session_of(request), services.chain.transaction(full))
    parties = [s["id"] for s in tx.get("signoffs") or [] if s.get("kind") == "party"]
    people = services.accounts.by_identity(parties + [tx.get("creator", "")])
    acting = [{"identity": p, "user": people.get(p)} for p in parties]
    return page(request, "tx.html", tx=tx, acting=acting, submitter=people.get(tx.get("creator", "")), console_identity=services.chain.service_identity().id)


@get("/explorer/history", include_in_schema=False, guards=[requires_login], sync_to_thread=True)
def history_page(request: Request[Any, Any, Any], services: Services, key: str = "") -> Template:
    key = key.strip()
    if len(key) > KEY_LENGTH_MAX:
        raise BadInput("BAD_KEY", f"A key has at most {KEY_LENGTH_MAX} characters.")
    viewer = session_of(request)
    entries = explorer_privacy.history_for(viewer, key, services.chain.key_history(key)) if key else []
    prefix = services.chain.namespace_prefix
    if key and not entries and not key.startswith(prefix):  # `asset/A1`: the contract's key, stored under its namespace
        stored = explorer_privacy.history_for(viewer, prefix + key, services.chain.key_history(prefix + key))
        if stored:
            return page(request, "history.html", key=prefix + key, entries=stored, asked=key)
    return page(request, "history.html", key=key, entries=entries, asked="")


@get("/explorer/find", include_in_schema=False, guards=[requires_login], sync_to_thread=True)
def find_tx(services: Services, tx: str = "") -> Redirect:
    return go(f"/explorer/tx/{resolve_tx_id(services, tx)}")


ROUTES = [find_tx, explorer, verify, block_page, tx_page, history_page]

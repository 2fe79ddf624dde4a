"""Pages: marketplace, asset page, publish, buy, transfer offer, cancel, report, download."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlencode

from litestar import Request, Response, get, post
from litestar.datastructures import UploadFile
from litestar.enums import RequestEncodingType
from litestar.params import Body, Parameter
from litestar.response import Redirect, Template

from webapp.deps import requires_login
from webapp.errors import AppError, BadInput, error_headers
from webapp.market_index import SORTS
from webapp.pages import field, go, page
from webapp.services import Services
from webapp.sessions import UserSession
from webapp.workflow import check_amount

Form = Annotated[dict[str, Any], Body(media_type=RequestEncodingType.URL_ENCODED)]
Multipart = Annotated[dict[str, Any], Body(media_type=RequestEncodingType.MULTI_PART)]


@get("/market", include_in_schema=False, guards=[requires_login], sync_to_thread=True)
def market(
    request: Request[Any, Any, Any], services: Services, q: str = "", format: str = "", price_max: str = "", show: str = "on_sale", sort: str = "newest", page_number: Annotated[str, Parameter(query="page")] = "1"
) -> Template:
    limit = check_amount(price_max, "maximum price", minimum=0) if price_max.strip() else None
    number = int(page_number) if page_number.strip().isdigit() else 1
    found = services.catalog.search(q, format, limit, on_sale_only=show != "all", sort=sort, page=number)
    filters: dict[str, Any] = {"q": q, "format": format, "price_max": price_max, "show": show, "sort": found.sort}

    def link(to: int) -> str:
        return "/market?" + urlencode({**{k: v for k, v in filters.items() if v}, "page": to})

    return page(request, "market.html", found=found, assets=found.assets, sorts=SORTS, link=link, **filters)


@get("/market/{asset_id:str}", include_in_schema=False, guards=[requires_login], sync_to_thread=True)
def asset_page(request: Request[Any, Any, Any], asset_id: str, user: UserSession, services: Services) -> Template:
    view = services.catalog.view(asset_id)
    me = None if user.is_admin else services.chain.query_user(user.username)
    holds = bool(me and asset_id in (me.get("Assets") or []))
    issuer = view.asset.get("IssuerId") == user.username
    asked = services.workflow.open_purchase(user.username, asset_id) if me else None
    return page(request, "asset.html", view=view, a=view.asset, meta=view.metadata, holds=holds, issuer=issuer, me=me, asked=asked)


@get("/publish", include_in_schema=False, guards=[requires_login])
async def publish_page(request: Request[Any, Any, Any], services: Services) -> Template:
    return page(request, "publish.html", bytes_max=services.settings.dataset_bytes_max)


PUBLISH_FIELDS = ("asset_id", "name", "price", "description", "licence")


@post("/publish", include_in_schema=False, guards=[requires_login], sync_to_thread=True)
def publish_submit(request: Request[Any, Any, Any], data: Multipart, user: UserSession, services: Services) -> Redirect | Template:
    """A refusal (NO_DATA_ROWS, BAD_AMOUNT, ...) is shown on the form with what was typed
    kept, as on the login form, rather than on an error page that loses it all."""
    typed = {name: field(data, name) for name in PUBLISH_FIELDS}
    try:
        upload = data.get("file")
        if not isinstance(upload, UploadFile) or not upload.filename:
            raise BadInput("NO_FILE", "Choose a dataset file to upload.")
        req = services.catalog.publish(
            services.workflow, user, upload.filename, upload.file.read(services.settings.dataset_bytes_max + 1),
            typed["name"], typed["asset_id"], typed["price"], typed["description"], typed["licence"],
        )
    except AppError as error:
        return page(request, "publish.html", status_code=error.status_code, headers=error_headers(error), error=error, typed=typed,
                    bytes_max=services.settings.dataset_bytes_max)
    return go(f"/my/requests/{req.id}")


@post("/market/{asset_id:str}/buy", include_in_schema=False, guards=[requires_login], sync_to_thread=True)
def buy_submit(asset_id: str, data: Form, user: UserSession, services: Services) -> Redirect:
    req = services.workflow.exchange(user, asset_id, field(data, "seller"), user.username)
    return go(f"/my/requests/{req.id}")


@post("/market/{asset_id:str}/offer", include_in_schema=False, guards=[requires_login], sync_to_thread=True)
def offer_submit(asset_id: str, data: Form, user: UserSession, services: Services) -> Redirect:
    """A holder offers its copy to another user, who must accept."""
    req = services.workflow.exchange(user, asset_id, user.username, field(data, "buyer").strip())
    return go(f"/my/requests/{req.id}")


@post("/market/{asset_id:str}/cancel", include_in_schema=False, guards=[requires_login], sync_to_thread=True)
def cancel_submit(asset_id: str, user: UserSession, services: Services) -> Redirect:
    req = services.workflow.cancel(user, asset_id, user.username)
    return go(f"/my/requests/{req.id}")


@post("/market/{asset_id:str}/report", include_in_schema=False, guards=[requires_login], sync_to_thread=True)
def report_submit(asset_id: str, data: Form, user: UserSession, services: Services) -> Redirect:
    """The publisher of `original` reports this asset as a re-publication of it."""
    req = services.workflow.report(user, field(data, "original"), asset_id)
    return go(f"/my/requests/{req.id}")


@get("/market/{asset_id:str}/download", include_in_schema=False, guards=[requires_login], sync_to_thread=True)
def download(asset_id: str, user: UserSession, services: Services) -> Response[bytes]:
    name, data = services.catalog.download(user, asset_id)
    return Response(
        data,
        media_type="application/octet-stream",
        headers={"content-disposition": f'attachment; filename="{name}"', "x-content-type-options": "nosniff"},
    )


ROUTES = [market, asset_page, publish_page, publish_submit, buy_submit, offer_submit, cancel_submit, report_submit, download]

"""The JSON API: the seed's routes with the seed's parameter names, plus login and review.

Authenticated by `Authorization: Bearer <token>` from POST /auth/login; exempt from CSRF
because no cookie is accepted here. Write routes answer 202 with the request id: the
request waits for an administrator.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

import msgspec
from litestar import Request, Response, Router, get, post
from litestar.datastructures import UploadFile
from litestar.enums import RequestEncodingType
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import Body, Parameter

from webapp.deps import client_of, requires_admin, requires_login
from webapp.errors import BadInput, NotFound
from webapp.market_index import PAGE_MAX, PAGE_SIZE, PAGE_SIZE_MAX, SORTS
from webapp.services import Services
from webapp.sessions import UserSession
from webapp.views import audit_view, request_view


class RegisterBody(msgspec.Struct):
    userName: str
    userId: str
    password: str


class LoginBody(msgspec.Struct):
    username: str
    password: str


class TopupBody(msgspec.Struct):
    userId: str
    Token: int | str


class DeleteBody(msgspec.Struct):
    userId: str


class EnrollBody(msgspec.Struct):
    assetName: str
    assetId: str
    metadata: str
    ownerId: str
    value: int | str


class ExchangeBody(msgspec.Struct):
    assetId: str
    originOwnerId: str
    currentOwnerId: str


class CancelBody(msgspec.Struct):
    assetId: str
    issuerId: str


class ReportBody(msgspec.Struct):
    originalAssetId: str
    copyAssetId: str


class RejectBody(msgspec.Struct):
    reason: str = ""


class BulkBody(msgspec.Struct):
    requestIds: list[str]


@dataclass
class DatasetUpload:
    file: UploadFile


class ErrorBody(msgspec.Struct):
    """Every refusal: a stable code and a sentence a person can act on."""

    code: str
    message: str


class AcceptedBody(msgspec.Struct):
    """A write is queued for an administrator's review: follow it with GET /requests/{requestId}."""

    requestId: str
    status: str
    txId: str | None


REFUSAL_MEANINGS = {
    400: "Bad input: a field is missing, malformed or out of range",
    401: "Not logged in: send Authorization: Bearer <token> from POST /auth/login",
    403: "Not allowed for this user (someone else's account or request, or not an administrator)",
    404: "No such record",
    409: "Conflicts with the current state (taken id, request already decided)",
    413: "The body is larger than the console accepts",
    415: "The file type is not accepted",
    429: "Too many attempts: wait the seconds in Retry-After",
    500: "The stored file no longer matches its hash on the ledger",
    503: "The ledger cannot be reached (no running peer)",
}


def refusals(*statuses: int) -> dict[int, ResponseSpec]:
    """OpenAPI entries for the refusals a route answers, all with the one error body."""
    return {
        status: ResponseSpec(data_container=ErrorBody, description=REFUSAL_MEANINGS[status], generate_examples=False) for status in statuses
    }


def accepted(req: Any) -> Response[AcceptedBody]:
    view = request_view(req)
    return Response(AcceptedBody(requestId=view["requestId"], status=view["status"], txId=view["txId"]), status_code=202)


@get("/index", sync_to_thread=True, guards=[], responses=refusals(503))
def index(services: Services) -> dict[str, Any]:
    """The service and the ledger's height."""
    chain = services.chain
    return {"name": "GridLedger", "approverOrg": chain.approver_org, "height": chain.height(), "peers": len(chain.peers)}


@post("/auth/login", sync_to_thread=True, status_code=200, responses=refusals(400, 401, 429))
def login(data: LoginBody, request: Request[Any, Any, Any], services: Services) -> dict[str, Any]:
    """Unlock the user's wallet; answers a bearer token."""
    session = services.accounts.login(data.username, data.password, client_of(request))
    return {"token": session.token, "username": session.username, "isAdmin": session.is_admin, "expiresAt": session.expires_at}


@post("/auth/logout", guards=[requires_login], status_code=200, responses=refusals(401))
async def logout(user: UserSession, services: Services) -> dict[str, Any]:
    services.sessions.close(user.token)
    return {"status": "logged_out"}


@post("/users/register", sync_to_thread=True, status_code=202, responses=refusals(400, 409, 429, 503))
def users_register(data: RegisterBody, request: Request[Any, Any, Any], services: Services) -> Response[AcceptedBody]:
    """Sign up: key, certificate and wallet now; the ledger account once an administrator approves."""
    _, identity = services.accounts.sign_up(data.userId, data.userName, data.password, client_of(request))
    return accepted(services.workflow.register(identity, data.userId, data.userName))


@get("/users/get", sync_to_thread=True, guards=[requires_login], responses=refusals(400, 401, 403, 404, 503))
def users_get(services: Services, user: UserSession, user_id: Annotated[str, Parameter(query="userId")]) -> dict[str, Any]:
    """The full account (balance, holdings): only for its owner and administrators; others see /users/profile."""
    from webapp.workflow import require_self

    if not user.is_admin:
        require_self(user, user_id)
    found = services.chain.query_user(user_id)
    if found is None:
        raise NotFound("USER_NOT_FOUND", f"There is no ledger user {user_id!r}.")
    return found


@get("/users/profile", sync_to_thread=True, guards=[requires_login], responses=refusals(400, 401, 404, 503))
def users_profile(services: Services, user_id: Annotated[str, Parameter(query="userId")]) -> dict[str, Any]:
    """What anyone logged in may know of a member: its name and organization."""
    return services.catalog.profile(user_id).as_dict()


@post("/users/topup", sync_to_thread=True, guards=[requires_login], status_code=202, responses=refusals(400, 401, 403, 404, 409, 503))
def users_topup(data: TopupBody, user: UserSession, services: Services) -> Response[AcceptedBody]:
    return accepted(services.workflow.topup(user, data.userId, data.Token))


@post("/users/delete", sync_to_thread=True, guards=[requires_login], status_code=202, responses=refusals(400, 401, 403, 404, 409, 503))
def users_delete(data: DeleteBody, user: UserSession, services: Services) -> Response[AcceptedBody]:
    return accepted(services.workflow.delete(user, data.userId))


@get("/assets/get", sync_to_thread=True, guards=[requires_login], responses=refusals(400, 401, 404, 503))
def assets_get(services: Services, asset_id: Annotated[str, Parameter(query="assetId")]) -> dict[str, Any]:
    found = services.chain.query_asset(asset_id)
    if found is None:
        raise NotFound("ASSET_NOT_FOUND", f"There is no asset {asset_id!r} on the ledger.")
    return found


@get("/assets/search", sync_to_thread=True, guards=[requires_login], responses=refusals(400, 401, 503))
def assets_search(
    services: Services,
    q: str = "",
    sort: str = "newest",
    page: Annotated[int, Parameter(ge=1, le=PAGE_MAX)] = 1,
    page_size: Annotated[int, Parameter(query="pageSize", ge=1, le=PAGE_SIZE_MAX)] = PAGE_SIZE,
    fmt: Annotated[str, Parameter(query="format")] = "",
    on_sale_only: Annotated[bool, Parameter(query="onSaleOnly")] = True,
) -> dict[str, Any]:
    """Assets with every word of `q` (name, description, columns, issuer; any order, any case),
    sorted newest, price_asc, price_desc or most_bought, `pageSize` per page."""
    if sort not in SORTS:
        raise BadInput("BAD_SORT", f"sort is one of {', '.join(SORTS)}.")
    found = services.catalog.search(q, fmt, None, on_sale_only=on_sale_only, sort=sort, page=page, page_size=page_size)
    return {"assets": found.assets, "total": found.total, "page": found.page, "pages": found.pages, "sort": found.sort}


@post("/assets/enroll", sync_to_thread=True, guards=[requires_login], status_code=202, responses=refusals(400, 401, 403, 404, 409, 413, 503))
def assets_enroll(data: EnrollBody, user: UserSession, services: Services) -> Response[AcceptedBody]:
    """Publish: metadata names the SHA-256 of a file uploaded before with POST /datasets."""
    from webapp.datasets import parse_metadata
    from webapp.workflow import require_self

    require_self(user, data.ownerId)
    meta = parse_metadata(data.metadata)
    if not services.datasets.has(meta["sha256"]):
        raise BadInput("DATASET_NOT_UPLOADED", "Upload the dataset file first (POST /datasets); its sha256 goes into metadata.")
    req = services.workflow.enroll(user, data.assetName, data.assetId, data.metadata, data.ownerId, data.value)
    return accepted(req)


@post("/assets/exchange", sync_to_thread=True, guards=[requires_login], status_code=202, responses=refusals(400, 401, 403, 404, 409, 503))
def assets_exchange(data: ExchangeBody, user: UserSession, services: Services) -> Response[AcceptedBody]:
    """Buy from the publisher (buyer signs), or start a transfer between holders (the other party accepts)."""
    return accepted(services.workflow.exchange(user, data.assetId, data.originOwnerId, data.currentOwnerId))


@post("/assets/cancel", sync_to_thread=True, guards=[requires_login], status_code=202, responses=refusals(400, 401, 403, 404, 409, 503))
def assets_cancel(data: CancelBody, user: UserSession, services: Services) -> Response[AcceptedBody]:
    return accepted(services.workflow.cancel(user, data.assetId, data.issuerId))


@post("/assets/report", sync_to_thread=True, guards=[requires_login], status_code=202, responses=refusals(400, 401, 403, 404, 409, 503))
def assets_report(data: ReportBody, user: UserSession, services: Services) -> Response[AcceptedBody]:
    return accepted(services.workflow.report(user, data.originalAssetId, data.copyAssetId))


@get("/assets/exchange/history", sync_to_thread=True, guards=[requires_login], responses=refusals(400, 401, 404, 503))
def assets_exchange_history(
    services: Services,
    asset_id: Annotated[str, Parameter(query="assetId")],
    query_type: Annotated[str, Parameter(query="queryType")] = "all",
) -> list[dict[str, Any]]:
    if query_type not in ("enroll", "exchange", "all"):
        raise BadInput("BAD_QUERY_TYPE", "queryType is enroll, exchange or all.")
    if services.chain.query_asset(asset_id) is None:
        raise NotFound("ASSET_NOT_FOUND", f"There is no asset {asset_id!r} on the ledger.")
    return services.chain.asset_history(asset_id, query_type)


@get("/assets/download", sync_to_thread=True, guards=[requires_login], responses=refusals(400, 401, 403, 404, 500, 503))
def assets_download(services: Services, user: UserSession, asset_id: Annotated[str, Parameter(query="assetId")]) -> Response[bytes]:
    name, data = services.catalog.download(user, asset_id)
    return Response(data, media_type="application/octet-stream", headers={"content-disposition": f'attachment; filename="{name}"'})


@post("/datasets", sync_to_thread=True, guards=[requires_login], status_code=201, responses=refusals(400, 401, 413, 415))
def datasets_upload(
    data: Annotated[DatasetUpload, Body(media_type=RequestEncodingType.MULTI_PART)], user: UserSession, services: Services
) -> dict[str, Any]:
    """Store a dataset file (encrypted, by SHA-256) and answer its data dictionary for the metadata."""
    info = services.catalog.upload(user, data.file.filename or "", data.file.file.read())
    return {"sha256": info.sha256, "size": info.size, "format": info.format, "columns": info.columns, "rows": info.rows}


@get("/requests/{request_id:str}", guards=[requires_login], sync_to_thread=True, responses=refusals(400, 401, 403, 404))
def requests_get(request_id: str, user: UserSession, services: Services) -> dict[str, Any]:
    return request_view(services.workflow.get_visible(user, request_id))


@post("/requests/{request_id:str}/accept", guards=[requires_login], sync_to_thread=True, status_code=202, responses=refusals(400, 401, 403, 404, 409, 503))
def requests_accept(request_id: str, user: UserSession, services: Services) -> dict[str, Any]:
    """The other party of a transfer between holders signs it."""
    return request_view(services.workflow.accept(user, request_id))


@get("/requests/{request_id:str}/dry-run", guards=[requires_login], sync_to_thread=True, responses=refusals(400, 401, 403, 404, 409))
def requests_dry_run(request_id: str, user: UserSession, services: Services) -> dict[str, Any]:
    """For the other party of a transfer awaiting acceptance: what accepting (then an approval)
    would write, or the refusal it would get; nothing is signed for good, nothing is ordered."""
    return services.workflow.acceptance_dry_run(user, request_id).as_dict()


@get("/reviews", guards=[requires_admin], sync_to_thread=True, responses=refusals(400, 401, 403))
def reviews_list(
    services: Services, status: str | None = "pending", kind: str | None = None, requester: str | None = None
) -> list[dict[str, Any]]:
    return [request_view(r) for r in services.reviews.queue(status or None, kind, requester)]


@post("/reviews/{request_id:str}/approve", guards=[requires_admin], sync_to_thread=True, status_code=200, responses=refusals(400, 401, 403, 404, 409, 503))
def reviews_approve(request_id: str, user: UserSession, services: Services) -> dict[str, Any]:
    """Sign the approval and submit; answers the outcome (committed or failed)."""
    return request_view(services.reviews.approve(user, request_id))


@get("/reviews/{request_id:str}/dry-run", guards=[requires_admin], sync_to_thread=True, responses=refusals(400, 401, 403, 404, 409))
def reviews_dry_run(request_id: str, user: UserSession, services: Services) -> dict[str, Any]:
    """Simulate the request on the peers without ordering: outcome would_commit (with the keys
    and decoded values it would write), would_fail (with the ledger's code) or unavailable."""
    return services.reviews.dry_run(user, request_id).as_dict()


@get("/reviews/{request_id:str}/dataset", guards=[requires_admin], sync_to_thread=True, responses=refusals(400, 401, 403, 404, 500))
def reviews_dataset(request_id: str, services: Services) -> Response[bytes]:
    """The dataset file a publication request names, for its reviewer (checked against its hash)."""
    from webapp.publish_review import dataset_file

    name, data = dataset_file(services.datasets, services.workflow.get(request_id))
    return Response(data, media_type="application/octet-stream", headers={"content-disposition": f'attachment; filename="{name}"'})


@post("/reviews/{request_id:str}/reject", guards=[requires_admin], sync_to_thread=True, status_code=200, responses=refusals(400, 401, 403, 404, 409))
def reviews_reject(request_id: str, data: RejectBody, user: UserSession, services: Services) -> dict[str, Any]:
    return request_view(services.reviews.reject(user, request_id, data.reason))


@post("/reviews/approve-bulk", guards=[requires_admin], sync_to_thread=True, status_code=200, responses=refusals(400, 401, 403, 404, 409, 503))
def reviews_approve_bulk(data: BulkBody, user: UserSession, services: Services) -> list[dict[str, Any]]:
    results = services.reviews.bulk_approve(user, data.requestIds)
    return [{"requestId": r.request_id, "ok": r.ok, "status": r.status, "message": r.message, "kind": r.kind, "requester": r.requester} for r in results]


@get("/reviews/audit", guards=[requires_admin], sync_to_thread=True, responses=refusals(400, 401, 403))
def reviews_audit(services: Services, request_id: Annotated[str | None, Parameter(query="requestId")] = None) -> list[dict[str, Any]]:
    return [audit_view(e) for e in services.reviews.audit_log(request_id)]


def api_router() -> Router:
    return Router(
        path="/",
        route_handlers=[
            index, login, logout, users_register, users_get, users_profile, users_topup, users_delete, assets_get, assets_search, assets_enroll,
            assets_exchange, assets_cancel, assets_report, assets_exchange_history, assets_download, datasets_upload,
            requests_get, requests_accept, requests_dry_run, reviews_list, reviews_dry_run, reviews_dataset, reviews_approve, reviews_reject, reviews_approve_bulk, reviews_audit,
        ],
        opt={"api": True, "exclude_from_csrf": True},
        tags=["api"],
    )

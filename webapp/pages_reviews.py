"""Pages for administrators: the review queue, one request, decisions, audit log, admins."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Request, get, post
from litestar.enums import RequestEncodingType
from litestar.params import Body
from litestar.response import Redirect, Response, Template

from webapp.deps import requires_admin
from webapp.pages import field, fields, go, page
from webapp.publish_review import dataset_file, publish_review
from webapp.services import Services
from webapp.sessions import UserSession
from webapp.views import audit_view, request_view
from webapp.workflow import REQUEST_KINDS, Status

Form = Annotated[dict[str, Any], Body(media_type=RequestEncodingType.URL_ENCODED)]
KINDS = REQUEST_KINDS
STATUSES = tuple(s.value for s in (Status.PENDING, Status.AWAITING_ACCEPTANCE, Status.APPROVED, Status.SUBMITTED,
                                   Status.COMMITTED, Status.FAILED, Status.REJECTED, Status.EXPIRED))


@get("/admin/reviews", include_in_schema=False, guards=[requires_admin], sync_to_thread=True)
def queue(request: Request[Any, Any, Any], services: Services, status: str = "pending", kind: str = "", requester: str = "") -> Template:
    requests = services.reviews.queue(status or None, kind or None, requester or None)
    return page(
        request, "reviews.html", requests=[request_view(r) for r in requests], status=status, kind=kind,
        requester=requester, kinds=KINDS, statuses=STATUSES, counts=services.reviews.counts(),
    )


@get("/admin/reviews/{request_id:str}", include_in_schema=False, guards=[requires_admin], sync_to_thread=True)
def review_page(request: Request[Any, Any, Any], request_id: str, user: UserSession, services: Services, decided: str = "") -> Template:
    """One request; after a decision (`decided=1`) a confirmation and the next pending request."""
    req = services.workflow.get(request_id)
    fresh = services.workflow.warnings(req) if req.status == "pending" else None
    view = request_view(req)
    if fresh is not None:
        view["warnings"] = fresh
    simulated = services.reviews.dry_run(user, req.id) if req.status == "pending" else None
    publication = publish_review(services.engine, services.datasets, req) if req.function == "assetsEnroll" else None
    return page(
        request, "review.html", req=view, audit=services.reviews.audit_log(req.id), dry_run=simulated, publication=publication,
        decided=bool(decided), next_pending=services.reviews.next_pending(user, req.id) if decided else None,
    )


@get("/admin/reviews/{request_id:str}/dataset", include_in_schema=False, guards=[requires_admin], sync_to_thread=True)
def review_dataset(request_id: str, services: Services) -> Response[bytes]:
    """The file of a publication request, for its reviewer."""
    name, data = dataset_file(services.datasets, services.workflow.get(request_id))
    return Response(data, media_type="application/octet-stream", headers={"content-disposition": f'attachment; filename="{name}"'})


@post("/admin/reviews/{request_id:str}/approve", include_in_schema=False, guards=[requires_admin], sync_to_thread=True)
def approve(request_id: str, user: UserSession, services: Services) -> Redirect:
    services.reviews.approve(user, request_id)
    return go(f"/admin/reviews/{request_id}?decided=1")


@post("/admin/reviews/{request_id:str}/reject", include_in_schema=False, guards=[requires_admin], sync_to_thread=True)
def reject(request_id: str, data: Form, user: UserSession, services: Services) -> Redirect:
    services.reviews.reject(user, request_id, field(data, "reason"))
    return go(f"/admin/reviews/{request_id}?decided=1")


@post("/admin/reviews/bulk-approve", include_in_schema=False, guards=[requires_admin], sync_to_thread=True)
def bulk_approve(request: Request[Any, Any, Any], data: Form, user: UserSession, services: Services) -> Template:
    results = services.reviews.bulk_approve(user, fields(data, "ids"))
    return page(request, "bulk.html", results=results)


@get("/admin/audit", include_in_schema=False, guards=[requires_admin], sync_to_thread=True)
def audit(request: Request[Any, Any, Any], services: Services, request_id: str = "") -> Template:
    entries = [audit_view(e) for e in services.reviews.audit_log(request_id or None)]
    return page(request, "audit.html", entries=entries, request_id=request_id)


@get("/admin/admins", include_in_schema=False, guards=[requires_admin])
async def admins_page(request: Request[Any, Any, Any], services: Services) -> Template:
    return page(request, "admins.html", admins=services.accounts.list_admins())


@post("/admin/admins", include_in_schema=False, guards=[requires_admin], sync_to_thread=True)
def admins_add(data: Form, services: Services) -> Redirect:
    services.accounts.add_admin(field(data, "username"), field(data, "display_name"), field(data, "password"))
    return go("/admin/admins")


ROUTES = [queue, bulk_approve, review_page, review_dataset, approve, reject, audit, admins_page, admins_add]

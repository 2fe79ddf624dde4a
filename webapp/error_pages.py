"""The one mapping of errors to HTTP: JSON {code, message} for the API, a page in words for
people (with the menu the person would see on any other page), a redirect to the login for 401."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlencode, urlsplit

import structlog
from litestar import Request, Response
from litestar.exceptions import HTTPException, NotFoundException, PermissionDeniedException
from litestar.response import Redirect, Template

from webapp.errors import AppError, BadInput, Forbidden, NotFound, TooLarge, error_headers
from webapp.formats import human_size
from webapp.metering_staff import is_staff
from webapp.pages import safe_next
from webapp.sessions import SESSION_COOKIE

log = structlog.get_logger("webapp.errors")

API_PATH_PREFIXES = ("/index", "/users/", "/assets/", "/auth/", "/requests/", "/reviews", "/datasets")


def is_api_request(request: Request[Any, Any, Any]) -> bool:
    try:
        if request.route_handler.opt.get("api"):
            return True
    except Exception:  # no handler matched (404, 405)
        pass
    return request.url.path.startswith(API_PATH_PREFIXES)


_MISSING_PARAMETER = re.compile(r"Missing required (query|path|header|cookie) parameter '([^']+)'")


_MISSING_FIELD = re.compile(r"Object missing required field `([^`]+)`")


def _field_problem(item: dict[str, Any], aliases: dict[str, str]) -> str:
    """One validation problem as the caller wrote the request: a missing body field by its
    name (the validator reports it under the key `data`, the whole body), a query parameter
    by its name in the URL (`pageSize`, not the handler's `page_size`), then what is wrong."""
    message = str(item.get("message") or "")
    missing = _MISSING_FIELD.search(message)
    if missing:
        return f"'{missing.group(1)}' is required"
    key = str(item.get("key") or "")
    if key == "data":  # the body as a whole: absent (the message is then just its key) or of the wrong shape
        return "a JSON object body is required" if message.strip("'") == "data" else f"the body: {message[:1].lower()}{message[1:]}"
    name = aliases.get(key, key)
    return f"{name}: {message[:1].lower()}{message[1:]}" if name and message else name or message


def _query_aliases(request: Request[Any, Any, Any]) -> dict[str, str]:
    """The handler's parameter names → the query names it declared with Parameter(query=...)."""
    try:
        parameters = request.route_handler.parsed_fn_signature.parameters
    except Exception:  # no handler matched
        return {}
    aliases = {}
    for name, parameter in parameters.items():
        query = getattr(getattr(parameter, "kwarg_definition", None), "query", None)
        if isinstance(query, str) and query:
            aliases[name] = query
    return aliases


def _from_http_exception(
    exc: HTTPException, aliases: dict[str, str], content_type: str = "", dataset_bytes_max: int = 0, expected_media: str = "application/json"
) -> AppError:
    if isinstance(exc, PermissionDeniedException) and "CSRF" in str(exc.detail):
        return Forbidden("CSRF_FAILED", "The form was not accepted: its security token is missing or stale. Reload the page and try again.")
    if isinstance(exc, NotFoundException):
        return NotFound("NOT_FOUND", "There is nothing at this address.")
    if exc.status_code == 413:  # the body limit, before any handler could say the dataset limit
        limit = f": a dataset file has at most {human_size(dataset_bytes_max)} ({dataset_bytes_max} bytes)" if dataset_bytes_max else ""
        return TooLarge("TOO_LARGE", f"The upload is larger than the console accepts{limit}.")
    if exc.status_code == 405:
        return AppError("METHOD_NOT_ALLOWED", "This address does not accept that method.", 405)
    if exc.status_code == 400:
        extra = exc.extra if isinstance(exc.extra, list) else []
        fields = ", ".join(_field_problem(item, aliases) for item in extra if isinstance(item, dict))
        missing = _MISSING_PARAMETER.match(str(exc.detail))  # a missing parameter comes with no `extra`, only its name in the detail
        fields = fields or (f"{missing.group(1)} parameter '{missing.group(2)}' is required" if missing else "")
        media = content_type.split(";", 1)[0].strip().lower()
        if media and (media != expected_media if expected_media == "multipart/form-data" else "json" not in media):  # a body of another kind than the route reads (a form for JSON, JSON for an upload): say so first
            how = "as multipart/form-data with the file in the field 'file'" if expected_media == "multipart/form-data" else f"as JSON with Content-Type: {expected_media}"
            fields = f"the body is {media}; send it {how}" + (f"; {fields}" if fields else "")
        detail = f" ({fields})" if fields else ""
        return BadInput("BAD_REQUEST", f"The request is malformed or misses a field{detail}.")
    return AppError("HTTP_ERROR", str(exc.detail), exc.status_code)


def handle_exception(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    """The one place where errors become HTTP: JSON {code, message} for the API, a page in words for people."""
    if isinstance(exc, AppError):
        error = exc
    elif isinstance(exc, HTTPException):
        content_type = request.headers.get("content-type", "") if is_api_request(request) else ""
        error = _from_http_exception(exc, _query_aliases(request), content_type, _dataset_bytes_max(request), _expected_media(request))
    else:
        import traceback

        log.error("unhandled_error", path=request.url.path, error=repr(exc), traceback=traceback.format_exc())
        error = AppError("INTERNAL_ERROR", "Something went wrong on the server; the error was logged.", 500)
    headers = error_headers(error)
    if exc_allow := _allow_of(exc):
        headers["allow"] = exc_allow
    if is_api_request(request):
        return Response({"code": error.code, "message": error.message}, status_code=error.status_code, headers=headers)
    if error.status_code == 401:
        return Redirect(path=login_redirect(request))
    back = safe_next(_same_site_referer(request), "") if request.method not in ("GET", "HEAD") else ""  # the page the refused form was on
    return Template(
        template_name="error.html",
        context={"error": error, "user": getattr(request.state, "user_session", None), "meter_staff": _meter_staff(request), "back": back},
        status_code=error.status_code,
        headers=headers,
    )


def _expected_media(request: Request[Any, Any, Any]) -> str:
    """The body the matched route reads: multipart for an upload (POST /datasets), else JSON."""
    try:
        data = request.route_handler.parsed_fn_signature.parameters.get("data")
        media = getattr(getattr(data, "kwarg_definition", None), "media_type", None)
    except Exception:  # no handler matched
        return "application/json"
    return "multipart/form-data" if media is not None and str(getattr(media, "value", media)) == "multipart/form-data" else "application/json"


def _dataset_bytes_max(request: Request[Any, Any, Any]) -> int:
    try:
        return int(request.app.state.services.settings.dataset_bytes_max)
    except Exception:  # before the console's services exist
        return 0


def _meter_staff(request: Request[Any, Any, Any]) -> bool:
    """What the menu needs besides the user (`pages.page` adds it on every other page)."""
    try:
        return is_staff(request.app.state.services, getattr(request.state, "user_session", None))
    except Exception:  # an error page renders even when the console's database does not answer
        return False


def _allow_of(exc: Exception) -> str | None:
    """The Allow header Litestar puts on a 405 (kept when the error becomes our JSON)."""
    if isinstance(exc, HTTPException) and exc.status_code == 405 and exc.headers:
        allow = {k.lower(): v for k, v in exc.headers.items()}.get("allow")
        return allow or None
    return None


def login_redirect(request: Request[Any, Any, Any]) -> str:
    """The login page, then back: to the page asked for, or, for a form posted after the
    session ended (a redirect cannot replay a POST, and its address may take no GET), to
    the page the form was on, saying that what was sent was not done."""
    ended = bool(request.cookies.get(SESSION_COOKIE))  # it had a session, now unknown: logged out elsewhere, expired, restart
    if request.method in ("GET", "HEAD"):
        wanted, why = _path_and_query(request), "expired" if ended else ""
    else:
        wanted, why = _same_site_referer(request), "form"
    query = urlencode({k: v for k, v in (("next", wanted), ("why", why)) if v}, safe="/")
    return f"/login?{query}" if query else "/login"


def _same_site_referer(request: Request[Any, Any, Any]) -> str:
    """The path and query of the Referer when it is this console's own page, else ""."""
    referer = urlsplit(request.headers.get("referer", ""))
    if referer.scheme not in ("http", "https") or referer.netloc != request.url.netloc:
        return ""
    return f"{referer.path}?{referer.query}" if referer.query else referer.path


def _path_and_query(request: Request[Any, Any, Any]) -> str:
    query = request.url.query
    return f"{request.url.path}?{query}" if query else request.url.path

"""The console's refusals: one exception type with a stable code, a subclass per HTTP status
(`webapp.error_pages` turns them into responses)."""

from __future__ import annotations


class AppError(Exception):
    """An expected refusal: `code` is stable, `message` a sentence a person can act on."""

    status_code = 400

    def __init__(self, code: str, message: str, status_code: int | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        if status_code is not None:
            self.status_code = status_code


class BadInput(AppError):
    status_code = 400


class NotAuthenticated(AppError):
    status_code = 401


class Forbidden(AppError):
    status_code = 403


class NotFound(AppError):
    status_code = 404


class Conflict(AppError):
    status_code = 409


class TooLarge(AppError):
    status_code = 413


class UnsupportedType(AppError):
    status_code = 415


class TooManyAttempts(AppError):
    """Answered with `Retry-After: retry_after_s`."""

    status_code = 429

    def __init__(self, code: str, message: str, retry_after_s: int = 1) -> None:
        super().__init__(code, message)
        self.retry_after_s = retry_after_s


class LedgerUnavailable(AppError):
    status_code = 503


def error_headers(error: AppError) -> dict[str, str]:
    """Headers that belong to a refusal: Retry-After for 429."""
    if isinstance(error, TooManyAttempts):
        return {"retry-after": str(error.retry_after_s)}
    return {}

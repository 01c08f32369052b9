"""Errors as RFC 9457 problem details."""

from __future__ import annotations

from starlette.responses import JSONResponse

from bot.shared.body import Unread
from storage.refusal import Conflict, Invalid, NotAllowed, NotFound, Refused, TooLarge, TooMany

TITLES = {
    400: "Bad request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not found",
    408: "Request timeout",
    409: "Conflict",
    413: "Too large",
    429: "Too many requests",
    503: "Unavailable",
}


def problem(status: int, detail: str, retry_after: int | None = None) -> JSONResponse:
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else {}
    if retry_after is not None:
        headers["Retry-After"] = str(retry_after)
    return JSONResponse(
        {"type": "about:blank", "title": TITLES.get(status, "Error"), "status": status, "detail": detail},
        status_code=status,
        media_type="application/problem+json",
        headers=headers or None,
    )


class TooSlow(Refused):
    """The request's body did not arrive within the time allowed."""


# How each kind of refusal is answered over HTTP (the storage layer knows no status codes).
STATUS: dict[type[Refused], int] = {
    Invalid: 400,
    NotAllowed: 403,
    NotFound: 404,
    Conflict: 409,
    TooLarge: 413,
    TooSlow: 408,
    TooMany: 429,
}


def http_status(error: Refused) -> int:
    return next((code for kind, code in STATUS.items() if isinstance(error, kind)), 400)


def refusal(error: Refused) -> JSONResponse:
    """The problem details for `error`; a TooMany says when to try again (Retry-After, in seconds)."""
    retry = error.retry_after if isinstance(error, TooMany) else None
    return problem(http_status(error), error.message, retry)


def unread(why: Unread) -> Refused:
    """The refusal for a body the shared reader would not read (bot.shared.body): 413, 408 or 400."""
    if why.status == 413:
        return TooLarge(why.reason)
    if why.status == 408:
        return TooSlow(why.reason)
    return Invalid(why.reason)

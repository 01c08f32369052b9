"""Errors as RFC 9457 problem details."""

from __future__ import annotations

from starlette.responses import JSONResponse

from storage.refusal import Conflict, Invalid, NotAllowed, NotFound, Refused, TooLarge

TITLES = {
    400: "Bad request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not found",
    409: "Conflict",
    413: "Too large",
    503: "Unavailable",
}


def problem(status: int, detail: str) -> JSONResponse:
    return JSONResponse(
        {"type": "about:blank", "title": TITLES.get(status, "Error"), "status": status, "detail": detail},
        status_code=status,
        media_type="application/problem+json",
        headers={"WWW-Authenticate": "Bearer"} if status == 401 else None,
    )


# How each kind of refusal is answered over HTTP (the storage layer knows no status codes).
STATUS: dict[type[Refused], int] = {
    Invalid: 400,
    NotAllowed: 403,
    NotFound: 404,
    Conflict: 409,
    TooLarge: 413,
}


def http_status(error: Refused) -> int:
    return next((code for kind, code in STATUS.items() if isinstance(error, kind)), 400)


def refusal(error: Refused) -> JSONResponse:
    return problem(http_status(error), error.message)

"""Errors as RFC 9457 problem details."""

from __future__ import annotations

from starlette.responses import JSONResponse

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

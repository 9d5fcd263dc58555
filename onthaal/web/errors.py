"""Error answers that say what is wrong and never repeat what was sent.

FastAPI's own 422 body quotes every bad input back: a 50 MB title came back as a 50 MB
error, and an input JSON cannot hold (a non-finite number, a lone surrogate) made the
error handler itself fail with a 500. Here every problem is ``{"loc", "msg", "type"}``,
the message cut short and made plain text; a body that is not JSON at all (bad UTF-8,
nesting too deep, a number of thousands of digits) is a 422 too, as the API documents,
not FastAPI's 400.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from onthaal.web.openapi import allowed_methods

MAX_PROBLEMS = 20
MAX_MESSAGE = 300  # characters of one problem's message
_UNPARSED = "There was an error parsing the body"  # FastAPI's words for a body it cannot read


def plain(text: str, limit: int = MAX_MESSAGE) -> str:
    """``text`` as JSON can carry it (no lone surrogates), at most ``limit`` characters."""
    clean = text.encode("utf-8", "replace").decode("utf-8")
    return clean if len(clean) <= limit else clean[: limit - 3] + "..."


def validation_problems(errors: Sequence[Any]) -> list[dict[str, Any]]:
    """pydantic's errors as the API answers them: where, what, which rule; no input."""
    problems = []
    for error in list(errors)[:MAX_PROBLEMS]:
        location = [part if isinstance(part, int) else plain(str(part), 80)
                    for part in error.get("loc", ())]  # fmt: skip
        message = plain(str(error.get("msg", "invalid")).removeprefix("Value error, "))
        problems.append({"loc": location, "msg": message, "type": str(error.get("type", ""))})
    return problems


def install_error_handlers(app: FastAPI) -> None:
    """Make ``app`` answer bad requests with :func:`validation_problems` bodies."""

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse(
            {"detail": validation_problems(exc.errors())},
            status_code=status.HTTP_422_UNPROCESSABLE_CONTENT,
        )

    @app.exception_handler(StarletteHTTPException)
    async def http_problem(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == status.HTTP_400_BAD_REQUEST and exc.detail == _UNPARSED:
            return JSONResponse(
                {"detail": [{"loc": ["body"], "type": "json_invalid", "msg": (
                    "the body is not JSON this API reads: UTF-8, nested at most a few "
                    "hundred levels, numbers of at most 4300 digits")}]},
                status_code=status.HTTP_422_UNPROCESSABLE_CONTENT,
            )  # fmt: skip
        headers = dict(exc.headers or {})
        if exc.status_code == status.HTTP_405_METHOD_NOT_ALLOWED:
            # Starlette names the methods of the first route it found; a path can have
            # several (GET and POST /api/v1/messages are two routes).
            headers["Allow"] = ", ".join(allowed_methods(request.app, dict(request.scope)))
        detail: Any = exc.detail
        if isinstance(detail, str):
            detail = plain(detail)
        elif isinstance(detail, list):
            detail = validation_problems(detail)
        return JSONResponse({"detail": detail}, status_code=exc.status_code, headers=headers)

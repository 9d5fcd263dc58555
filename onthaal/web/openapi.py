"""The OpenAPI document says what the API really answers (checked by schemathesis).

FastAPI documents a route's success and its 422; the one authorization policy, the
store and the limits add more, the same way on every route, so they are documented
here from the route's shape rather than by hand on each: 401 and 403 on every API
route, 404 where the path names something, 409 where a change can conflict, 413
where a body is read, 503 when a database or the core is busy. Pages and forms are
for browsers (a session, HTML, tested in Chromium): they are left out of the document.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.routing import APIRoute
from pydantic import BaseModel, Field
from starlette.routing import Match

#: Routes outside /api/ that machines call, and what they answer with.
MACHINE_ROUTES = {
    "/healthz": "application/json",
    "/metrics": "text/plain",
    "/display/{display_id}": "text/html",
    "/display/{display_id}/events": "text/event-stream",
}


class Problem(BaseModel):
    """An error that is not about one field: what went wrong, in a sentence."""

    detail: str = Field(description="What went wrong, and what to do.")


def _problem(description: str) -> dict[str, Any]:
    return {"model": Problem, "description": description}


def document_responses(app: FastAPI) -> None:
    """Add to every route of ``app`` the answers the policy gives; hide browser routes."""
    for route in app.routes:
        if not isinstance(route, APIRoute):
            continue
        path, methods = route.path, route.methods or set()
        if not path.startswith("/api/") and path not in MACHINE_ROUTES:
            route.include_in_schema = False
            continue
        extra: dict[int | str, dict[str, Any]] = {}
        if path.startswith("/api/"):
            extra[401] = _problem("No token or session, or an unknown or revoked token.")
            extra[403] = _problem("The caller's role may not do this (or no CSRF token).")
            extra[503] = _problem("A database is busy or the core is restarting: retry.")
        if "{" in path:
            extra[404] = _problem("Nothing with that id.")
        if methods & {"POST", "PUT", "DELETE"}:
            extra[409] = _problem("It conflicts with what is stored (a taken id, the last admin).")
        if methods & {"POST", "PUT"}:
            extra[413] = _problem("The body is larger than [web] max_body.")
        if path == "/display/{display_id}/events":
            extra[429] = _problem("Too many open streams from this address, or in all.")
        if path == "/healthz":
            extra[503] = {"description": "Something is not healthy (the body says what)."}
        kind = MACHINE_ROUTES.get(path) or ("text/csv" if path.endswith(".csv") else None)
        if kind is not None and kind != "application/json":
            success = next(iter(route.responses), None) or 200
            extra[200 if success == 200 else success] = {
                "content": {kind: {"schema": {"type": "string"}}},
                "description": "As the content type says.",
            }
        route.responses = {**extra, **route.responses}
    app.openapi_schema = None  # built again, with all of the above


def allowed_methods(app: FastAPI, scope: dict[str, Any]) -> list[str]:
    """The methods a path answers to (for the Allow header of a 405)."""
    found: set[str] = set()
    for route in app.routes:
        if isinstance(route, APIRoute):
            match, _ = route.matches({**scope, "method": "GET", "type": "http"})
            if match is not Match.NONE:
                found |= route.methods or set()
    return sorted(found)

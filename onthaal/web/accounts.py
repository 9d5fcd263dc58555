"""Who may use the app, and what was done: accounts, API tokens, the two trails.

The admins' API for staff accounts and tokens and the security log (sign-ins, account
and token changes, each with the caller's address); the schedule's audit trail (who
changed which message, when) for all staff, as API and as a page.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Any, Literal

from fastapi import APIRouter, HTTPException, Query, Request, status
from fastapi.responses import HTMLResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from onthaal.web.common import ApiUser, StaffPages, StaffUser, _client, _unprocessable
from onthaal.web.security import require_role

if TYPE_CHECKING:
    from onthaal.web.app import WebServices


class UserIn(BaseModel):
    """A new staff account."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=10, max_length=200)
    role: str = Field(pattern="^(staff|admin)$")
    language: str = Field(default="nl", pattern="^(nl|en)$")


class TokenIn(BaseModel):
    """A new API token."""

    model_config = ConfigDict(extra="forbid")
    label: str = Field(min_length=1, max_length=64)
    role: Literal["staff", "admin"] = "staff"
    days: int | None = Field(default=None, ge=1, le=3650, description="expires after N days")


def accounts_router(services: WebServices, staff_pages: StaffPages) -> APIRouter:
    """The account, token, security-log and audit API and the audit page of ``services``."""
    page = staff_pages.render
    router = APIRouter()

    @router.get("/api/v1/audit")
    async def audit(user: ApiUser, message_id: str | None = None) -> list[dict[str, Any]]:
        return [
            {
                "seq": e.seq,
                "message": e.message_id,
                "actor": e.actor,
                "at": e.at,
                "action": e.action,
            }
            for e in services.store.audit(message_id)
        ]

    @router.get("/api/v1/users")
    async def list_users(user: ApiUser) -> list[dict[str, str]]:
        require_role(user, "admin")
        return [
            {"name": u.name, "role": u.role, "language": u.language} for u in services.users.all()
        ]

    @router.post("/api/v1/users", status_code=status.HTTP_201_CREATED)
    async def add_user(request: Request, user: ApiUser, data: UserIn) -> dict[str, str]:
        require_role(user, "admin")
        try:
            added = services.users.add(
                data.name,
                data.password,
                data.role,  # type: ignore[arg-type]
                data.language,
            )
        except ValueError as exc:
            raise _unprocessable([f"user: {exc}"]) from None
        services.users.note(f"user-added ({added.role})", user.name, added.name,
                            _client(request), services.clock.now())  # fmt: skip
        return {"name": added.name, "role": added.role}

    @router.get("/api/v1/security-log")
    async def security_log(user: ApiUser, limit: int = Query(200, ge=1, le=1000)) -> Any:
        require_role(user, "admin")
        return services.users.security_log(limit)

    @router.get("/api/v1/tokens")
    async def list_tokens(user: ApiUser) -> list[dict[str, Any]]:
        require_role(user, "admin")
        return [vars(info) for info in services.users.tokens()]

    @router.post("/api/v1/tokens", status_code=status.HTTP_201_CREATED)
    async def add_token(request: Request, user: ApiUser, data: TokenIn) -> dict[str, str]:
        require_role(user, "admin")
        now = services.clock.now()
        expires = now + timedelta(days=data.days) if data.days else None
        try:
            token = services.users.create_token(data.label, data.role, now, expires)
        except ValueError as exc:
            raise _unprocessable([f"token: {exc}"]) from None
        services.users.note(f"token-made ({data.role})", user.name, data.label,
                            _client(request), now)  # fmt: skip
        return {"token": token, "note": "shown once: keep it safe"}

    @router.delete("/api/v1/tokens/{token_id}", status_code=status.HTTP_204_NO_CONTENT)
    async def revoke_token(request: Request, user: ApiUser, token_id: str) -> Response:
        require_role(user, "admin")
        if not services.users.revoke_token(token_id):
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no token with id {token_id!r}")
        services.users.note("token-revoked", user.name, token_id, _client(request),
                            services.clock.now())  # fmt: skip
        return Response(status_code=status.HTTP_204_NO_CONTENT)

    @router.delete("/api/v1/users/{name}", status_code=status.HTTP_204_NO_CONTENT)
    async def remove_user(request: Request, user: ApiUser, name: str) -> Response:
        require_role(user, "admin")
        try:
            services.users.remove(name)
        except ValueError as exc:
            raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from None
        services.users.note("user-removed", user.name, name, _client(request),
                            services.clock.now())  # fmt: skip
        return Response(status_code=status.HTTP_204_NO_CONTENT)

    @router.get("/audit", response_class=HTMLResponse)
    async def audit_page(request: Request, user: StaffUser) -> HTMLResponse:
        return page(request, "audit.html", user, entries=list(reversed(services.store.audit())))

    return router

"""The staff's way in: signing in and out, the interface language, the dashboard.

Failed sign-ins are limited per name and address (:class:`~onthaal.web.security.LoginLimiter`),
password checks take turns on worker threads (:class:`~onthaal.web.limits.HashGate`), and
sign-ins, failed ones and sign-outs go to the security log.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

from fastapi import APIRouter, Form, Query, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from onthaal.fleet_stack import FleetWords
from onthaal.web.common import StaffPages, StaffUser, _client, safe_next
from onthaal.web.devices import _robot
from onthaal.web.fleet import fleet_view
from onthaal.web.limits import GateFull, HashGate
from onthaal.web.security import LoginLimiter, check_csrf, session_user
from scheduler.model import Kind

if TYPE_CHECKING:
    from onthaal.web.app import WebServices


def pages_router(
    services: WebServices, staff_pages: StaffPages, limiter: LoginLimiter, hash_gate: HashGate
) -> APIRouter:
    """The login page and form, logout, the language choice and the dashboard."""
    page = staff_pages.render
    words = staff_pages.words
    router = APIRouter()

    @router.get("/login", response_class=HTMLResponse)
    async def login_page(
        request: Request, next: Annotated[str, Query(max_length=200)] = ""
    ) -> HTMLResponse:
        return page(request, "login.html", None, error=None, next=safe_next(next) or "")

    @router.post("/login", response_model=None)
    async def login(
        request: Request,
        name: Annotated[str, Form()],
        password: Annotated[str, Form()],
        csrf: Annotated[str, Form()] = "",
        next: Annotated[str, Form(max_length=200)] = "",
    ) -> Response:
        check_csrf(request, csrf)
        back = safe_next(next) or ""
        client = request.client.host if request.client else "?"
        t = words["nl"]
        if limiter.blocked(name, client):
            response = page(request, "login.html", None, error=t["too_many"], next=back)
            response.status_code = status.HTTP_429_TOO_MANY_REQUESTS
            return response
        try:
            # Argon2 on a worker thread, a few at a time: never on the robot's loop.
            user = await hash_gate.run(services.users.check_password, name, password)
        except GateFull:
            response = page(request, "login.html", None, error=t["too_many"], next=back)
            response.status_code = status.HTTP_429_TOO_MANY_REQUESTS
            response.headers["Retry-After"] = "5"
            return response
        if user is None:
            limiter.failed(name, client)
            services.users.note("sign-in-failed", name, name, client, services.clock.now())
            response = page(request, "login.html", None, error=t["wrong_login"], next=back)
            response.status_code = status.HTTP_401_UNAUTHORIZED
            return response
        limiter.succeeded(name, client)
        services.users.note("sign-in", user.name, user.name, client, services.clock.now())
        request.session.clear()
        request.session["user"] = user.name
        request.session["epoch"] = user.epoch
        return RedirectResponse(back or "/", status.HTTP_303_SEE_OTHER)

    @router.post("/logout")
    async def logout(request: Request, csrf: Annotated[str, Form()] = "") -> RedirectResponse:
        check_csrf(request, csrf)
        user = session_user(request, services.users)
        if user is not None:
            services.users.end_sessions(user.name)  # a copied cookie dies with this one
            services.users.note("sign-out", user.name, user.name, _client(request),
                                services.clock.now())  # fmt: skip
        request.session.clear()
        return RedirectResponse("/login", status.HTTP_303_SEE_OTHER)

    @router.post("/language")
    async def choose_language(
        request: Request,
        user: StaffUser,
        language: Annotated[str, Form()],
        csrf: Annotated[str, Form()] = "",
    ) -> RedirectResponse:
        check_csrf(request, csrf)
        if language in words:
            services.users.set_language(user.name, language)
        # A fixed, local target: a Referer header is the client's to choose.
        return RedirectResponse("/", status.HTTP_303_SEE_OTHER)

    fleet_words = FleetWords()

    @router.get("/", response_class=HTMLResponse)
    async def dashboard(
        request: Request, user: StaffUser, place: Annotated[str, Query(max_length=64)] = ""
    ) -> HTMLResponse:
        return page(
            request,
            "dashboard.html",
            user,
            visitors_today=_robot(services)["today"].get("greeted", 0),
            fleet=await fleet_view(services, fleet_words, user.language, place),
            alert_test=request.session.pop("alert_test", None),
            emergency=[m for m in services.store.messages() if m.kind is Kind.EMERGENCY],
        )

    return router

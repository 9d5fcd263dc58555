"""The staff web app and the integrators' API on one ASGI app (FastAPI, server-rendered).

``create_app(services)`` builds it; :func:`serve` runs it with uvicorn as a supervised
child. Only ``/healthz``, ``/metrics``, ``/display/*`` and the login page answer without
credentials.

The routes live in one module per area, each a function that returns an ``APIRouter``:
:mod:`~onthaal.web.health`, :mod:`~onthaal.web.devices`, :mod:`~onthaal.web.messages`,
:mod:`~onthaal.web.emergency`, :mod:`~onthaal.web.accounts`, :mod:`~onthaal.web.sim`
and :mod:`~onthaal.web.pages` (what they share is in :mod:`~onthaal.web.common`), besides
the robot's tablet (:mod:`~onthaal.web.tablet`) and the website chatbot
(:mod:`~onthaal.web.chat`). This module builds what they share and puts them together.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import uvicorn
from fastapi import APIRouter, FastAPI, Request, status
from fastapi.responses import JSONResponse
from fastapi.templating import Jinja2Templates
from starlette.middleware.sessions import SessionMiddleware

from beacons.alert_log import AlertLog
from clock import Clock
from onthaal.config import Config
from onthaal.dialogue_setup import build_engine, load_tablet_pages, opening_calendar
from onthaal.scheduler_stack import devices as config_devices
from onthaal.web.accounts import accounts_router
from onthaal.web.chat import chat_router, load_chat_texts
from onthaal.web.common import StaffPages, _ui_words
from onthaal.web.core import Core
from onthaal.web.devices import devices_router
from onthaal.web.emergency import emergency_router
from onthaal.web.errors import install_error_handlers
from onthaal.web.fleet import fleet_router
from onthaal.web.headers import SecurityHeaders
from onthaal.web.health import health_router
from onthaal.web.images import ImageLibrary, images_router
from onthaal.web.limits import BodyLimit, HashGate
from onthaal.web.messages import messages_router
from onthaal.web.metrics import Metrics
from onthaal.web.openapi import document_responses
from onthaal.web.pages import pages_router
from onthaal.web.played import played_router
from onthaal.web.screen_week import screen_week_router
from onthaal.web.security import LoginLimiter
from onthaal.web.sim import sim_router
from onthaal.web.tablet import tablet_router
from onthaal.web.users import Users
from scheduler.store import Store
from scheduler.templates import load_templates

__all__ = ["WebServices", "create_app", "serve"]

HERE = Path(__file__).resolve().parent


@dataclass
class WebServices:
    """Everything the web app reads or changes."""

    config: Config
    config_path: Path
    clock: Clock
    users: Users
    store: Store
    core: Core  # the running system: a snapshot to read, a few things to ask
    tablet_token: str = ""  # the robot's key to its tablet pages ("": no tablet input)
    session_key: str = ""  # signs session cookies ("": one kept in the account database)
    alerts: AlertLog | None = None  # the fleet's alerts, read for the dashboard


log = logging.getLogger("onthaal.web")


def create_app(services: WebServices) -> FastAPI:
    """The ASGI app for ``services``."""
    config = services.config
    limiter = LoginLimiter(services.clock)
    hash_gate = HashGate()
    metrics_text = Metrics(services.store, services.core.snapshot)
    templates = Jinja2Templates(directory=HERE / "templates")  # autoescape on for .html
    words = _ui_words(services.config_path)
    hours = opening_calendar(config)  # the building's: for messages tied to it
    notice_templates = load_templates(
        services.config_path.parent / config.scheduler.emergency_templates,
        tuple(config.site.languages),
    )
    # The chat may use the semantic stage; serve() prepares it, off the loop.
    engine = build_engine(
        config, services.config_path, services.clock, semantic=config.chat.enabled
    )
    app_tablet = tablet_router(
        services.clock,
        services.core,
        engine,
        load_tablet_pages(config, services.config_path, engine.kb),
        services.tablet_token,
        list(config.site.languages),
        config.site.default_language,
    )
    app = FastAPI(title="Onthaal", version="1", docs_url=None, redoc_url=None)
    app.state.semantic = engine.semantic
    app.include_router(app_tablet)  # the robot's tablet: visitor pages, no staff session
    if config.chat.enabled:  # the website chatbot: citizens, anonymous, nothing stored
        chat_texts = load_chat_texts(
            services.config_path.parent / config.chat.texts, tuple(config.site.languages)
        )
        app.include_router(
            chat_router(
                engine,
                services.clock,
                chat_texts,
                languages=list(config.site.languages),
                default_language=config.site.default_language,
                origins=config.chat.origins,
                per_minute=config.chat.per_minute,
            )
        )
    app.state.services = services
    install_error_handlers(app)
    app.add_middleware(BodyLimit, max_bytes=config.web.max_body)
    app.add_middleware(SecurityHeaders)
    app.add_middleware(
        SessionMiddleware,
        secret_key=services.session_key or services.users.secret(),
        session_cookie="onthaal_session",
        same_site="lax",
        # Secure (sent over https only) when the app is reached over https (public_url).
        https_only=config.public_address().startswith("https://"),
        max_age=12 * 3600,
    )
    devices = config_devices(config)

    @app.exception_handler(sqlite3.OperationalError)
    async def database_busy(request: Request, exc: sqlite3.OperationalError) -> JSONResponse:
        """A database another program holds: 503 and when to try again, never a 500."""
        text = str(exc)
        if "locked" in text or "busy" in text:
            log.warning("database busy: %s %s", request.method, request.url.path)
            return JSONResponse(
                {"detail": "the database is busy (another program holds it); try again"},
                status_code=status.HTTP_503_SERVICE_UNAVAILABLE,
                headers={"Retry-After": "2"},
            )
        log.error("database error on %s %s: %s", request.method, request.url.path, text)
        return JSONResponse(
            {"detail": "the database could not be used; see the server log"},
            status_code=status.HTTP_503_SERVICE_UNAVAILABLE,
            headers={"Retry-After": "10"},
        )

    device_names = {d.id: d.name for d in config.displays} | {b.id: b.name for b in config.beacons}
    staff_pages = StaffPages(templates, words, device_names)
    library = ImageLibrary(
        services.config_path.parent / config.web.images, config.web.image_max_bytes
    )
    # In route order, after the tablet's and the chat's: the first route that matches a
    # request answers it (no two areas have a path in common).
    for area in (
        health_router(services, metrics_text),  # open: machines
        devices_router(services, templates, devices, hours),  # /display/* open: screens
        messages_router(services, staff_pages, devices, library),
        emergency_router(services, staff_pages, devices, notice_templates),
        accounts_router(services, staff_pages),
        sim_router(services),
        pages_router(services, staff_pages, limiter, hash_gate),
        fleet_router(services, staff_pages),
        played_router(services, staff_pages),
        images_router(services, library),
        screen_week_router(services, staff_pages, devices, hours),
    ):
        _adopt(app, area)
    document_responses(app)
    return app


def _adopt(app: FastAPI, router: APIRouter) -> None:
    """Make ``router``'s routes the app's own, in their order.

    Not ``app.include_router``: recent FastAPI (0.165 here) keeps an included router as
    one nested entry of ``app.routes``, and ``app.routes`` is where the one authorization
    policy is documented (:func:`document_responses`), where a 405 finds its Allow header
    (:func:`~onthaal.web.openapi.allowed_methods`) and what the route-table tests walk.
    """
    app.router.routes.extend(router.routes)


class _QuietServer(uvicorn.Server):
    """uvicorn without its own signal handling: the supervisor owns SIGINT/SIGTERM."""

    @contextlib.contextmanager
    def capture_signals(self) -> Any:
        yield


async def serve(app: FastAPI, host: str, port: int) -> None:
    """Serve ``app`` until cancelled (a supervised child)."""
    server = _QuietServer(
        uvicorn.Config(
            app,
            host=host,
            port=port,
            log_level="warning",
            lifespan="off",
            access_log=False,
            timeout_graceful_shutdown=2,  # open streams (display pages) do not hold a stop
        )
    )
    task = asyncio.ensure_future(server.serve())
    stage = getattr(app.state, "semantic", None)
    preparing = asyncio.ensure_future(stage.prepare_in_threads()) if stage is not None else None
    try:
        await asyncio.shield(task)
    finally:
        if preparing is not None:
            preparing.cancel()
        server.should_exit = True
        with contextlib.suppress(Exception, asyncio.CancelledError):
            await asyncio.wait_for(task, 3)

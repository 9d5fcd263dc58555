"""The staff web app and the integrators' API on one ASGI app (FastAPI, server-rendered).

``create_app(services)`` builds it; :func:`serve` runs it with uvicorn as a supervised
child. Only ``/healthz``, ``/metrics``, ``/display/*`` and the login page answer without
credentials.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import sqlite3
import threading
import tomllib
import unicodedata
from collections import Counter
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar
from zoneinfo import ZoneInfo

import uvicorn
from fastapi import Depends, FastAPI, Form, HTTPException, Query, Request, status
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.middleware.sessions import SessionMiddleware
from starlette.responses import StreamingResponse

from beacons.content import Language, LocalizedContent
from beacons.frames import FrameError, encode_eddystone_url
from clock import Clock
from onthaal.config import Config
from onthaal.dialogue_setup import build_engine, load_tablet_pages, opening_calendar
from onthaal.scheduler_stack import devices as config_devices
from onthaal.scheduler_stack import url_beacons
from onthaal.web.chat import chat_router, load_chat_texts
from onthaal.web.core import Core, CoreUnavailable, SimControls
from onthaal.web.errors import install_error_handlers, validation_problems
from onthaal.web.headers import SecurityHeaders
from onthaal.web.limits import BodyLimit, GateFull, HashGate
from onthaal.web.metrics import Metrics
from onthaal.web.openapi import document_responses
from onthaal.web.security import (
    LoginLimiter,
    api_user,
    check_csrf,
    csrf_token,
    may_change_message,
    require_role,
    session_user,
)
from onthaal.web.tablet import tablet_router
from onthaal.web.users import User, Users
from scheduler.model import (
    Daypart,
    Kind,
    Message,
    Recurrence,
    Targets,
    emergency_notice,
)
from scheduler.parse import InputError, first_error, quoted, recurrence_of, site_time
from scheduler.recurrence import WEEKDAYS, Pattern, RecurrenceError, describe, pattern_of
from scheduler.resolve import Device, Showing, windows_of
from scheduler.screen import columns, warnings
from scheduler.store import Store, StoreError
from scheduler.templates import Template, load_templates
from scheduler.validate import problems

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


# -- API models ---------------------------------------------------------------------------


class MessageIn(BaseModel):
    """A message as the API accepts it (times with an offset, or local site time)."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{0,63}$")
    title: str = Field(min_length=1, max_length=120)
    content: dict[Language, LocalizedContent] = Field(min_length=1)
    targets: Targets
    starts: datetime
    ends: datetime | None = None
    every: str | None = Field(default=None, description="Plain words: 'weekdays 08:30-12:00'.")
    recurrence: Recurrence | None = None
    priority: int = Field(default=50, ge=0, le=100)
    kind: Kind = Kind.INFO
    building: Literal["any", "open", "closed"] = Field(
        default="any", description="Only while the building is open, or only while closed."
    )


class EmergencyIn(BaseModel):
    """An emergency notice: its words, or a template's (``GET /emergency-templates``)."""

    model_config = ConfigDict(extra="forbid")

    content: dict[Language, LocalizedContent] = Field(default_factory=dict)
    template: str | None = Field(
        default=None, max_length=64, description="A template's words, under any given here."
    )
    targets: Targets = Field(default_factory=lambda: Targets(everything=True))
    drill: bool = Field(default=False, description="An exercise: marked as one everywhere.")
    minutes: int | None = Field(
        default=None, ge=1, le=24 * 60, description="Ends by itself after this many minutes."
    )


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


class VisitorIn(BaseModel):
    """A simulated visitor walking up to the robot."""

    model_config = ConfigDict(extra="forbid")

    track: int = Field(ge=1, le=1_000_000)
    zone: int = Field(default=1, ge=1, le=3)


class UtteranceIn(BaseModel):
    """Something a simulated visitor says."""

    model_config = ConfigDict(extra="forbid")

    text: str = Field(min_length=1, max_length=500)
    language: str = Field(default="Dutch", pattern="^(Dutch|French|English|German)$")


async def _api_user(request: Request) -> User:
    """The API caller (bearer token, or session plus CSRF header); 401 if none."""
    return api_user(request, request.app.state.services.users)


async def _staff_user(request: Request) -> User:
    """The logged-in staff member of a page; otherwise off to the login page."""
    user = session_user(request, request.app.state.services.users)
    if user is None:
        raise HTTPException(status.HTTP_303_SEE_OTHER, headers={"Location": "/login"})
    return user


ApiUser = Annotated[User, Depends(_api_user)]
StaffUser = Annotated[User, Depends(_staff_user)]


def _field_time(field: str, value: datetime, tz: ZoneInfo) -> datetime:
    """A body's time in the site's zone and the schedule's window, or 422 naming it."""
    try:
        return site_time(value, tz)
    except InputError as exc:
        raise _unprocessable([f"{field}: {exc}"]) from None


def _query_time(field: str, value: datetime, tz: ZoneInfo) -> datetime:
    """A query's time in the site's zone and the schedule's window, or 422 naming it."""
    try:
        return site_time(value, tz)
    except InputError as exc:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            [{"loc": ["query", field], "msg": str(exc), "type": "value_error"}],
        ) from None


def _unprocessable(found: list[str]) -> HTTPException:
    return HTTPException(
        status.HTTP_422_UNPROCESSABLE_CONTENT,
        [
            {"loc": [p.split(":", 1)[0]], "msg": p.split(":", 1)[-1].strip(), "type": "value_error"}
            for p in found
        ],
    )


# -- the app --------------------------------------------------------------------------------


log = logging.getLogger("onthaal.web")
T = TypeVar("T")

STREAMS_PER_ADDRESS = 8  # a screen player needs one; a few spare for reloads
STREAMS_IN_ALL = 256
DEFAULT_PAGE = 100  # messages per page of GET /api/v1/messages
MAX_PAGE = 1000


def create_app(services: WebServices) -> FastAPI:
    """The ASGI app for ``services``."""
    config = services.config
    tz = ZoneInfo(config.site.timezone)
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
    device_ids = {d.id for d in devices}

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

    def to_message(data: MessageIn, user: User, message_id: str | None = None) -> Message:
        if data.kind is Kind.EMERGENCY:
            require_role(user, "desk")  # before anything else is looked at
        starts = _field_time("starts", data.starts, tz)
        try:
            recurrence = recurrence_of(data.every, data.recurrence, starts.astimezone(tz).year)
        except InputError as exc:
            raise _unprocessable([f"every: {exc}"]) from None
        ends = None if data.ends is None else _field_time("ends", data.ends, tz)
        try:
            message = Message(
                id=message_id or data.id,
                title=data.title,
                content=data.content,
                targets=data.targets,
                starts=starts,
                ends=ends,
                recurrence=recurrence,
                priority=data.priority,
                kind=data.kind,
                building=data.building,
            )
        except ValidationError as exc:
            raise _unprocessable(
                [
                    f"{'.'.join(map(str, e['loc'])) or 'message'}: "
                    + str(e["msg"]).removeprefix("Value error, ")
                    for e in exc.errors()
                ]
            ) from None
        found = problems(message, devices, url_beacons(config), tz)
        if found:
            raise _unprocessable(found)
        return message

    # -- open endpoints -------------------------------------------------------------------

    def staff_or_none(request: Request) -> User | None:
        """Who asks, if anyone is signed in or sends a token (never an error)."""
        try:
            return api_user(request, services.users)
        except HTTPException:
            return None

    @app.get("/healthz")
    async def healthz(request: Request) -> JSONResponse:
        snapshot = services.core.snapshot()
        children = [h.as_dict() for h in snapshot.health]
        healthy = all(c["state"] == "running" and not c["problem"] for c in children)
        body: dict[str, Any] = {"children": children}
        if snapshot.robot.present:
            # The link child keeps running while it reconnects: the link itself says
            # whether the robot is reachable.
            seen = snapshot.robot.last_seen
            connected = snapshot.robot.connected
            body["robot"] = {
                "connected": connected,
                "last_seen": seen.isoformat() if seen is not None else None,
            }
            healthy = healthy and connected
        body["status"] = "ok" if healthy else "degraded"
        if staff_or_none(request) is None:
            # Anonymous (a load balancer, a monitor): the verdict only. What failed and
            # why (addresses, database errors) is for staff.
            body = {"status": body["status"]}
        return JSONResponse(body, status_code=200 if healthy else 503)

    @app.get("/metrics")
    async def metrics() -> Response:
        return Response(metrics_text.render(), media_type="text/plain; version=0.0.4")

    @app.get("/display/{display_id}", response_class=HTMLResponse)
    async def display_page(request: Request, display_id: str) -> HTMLResponse:
        display = next((d for d in config.displays if d.id == display_id), None)
        if display is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no display {display_id!r}")
        return templates.TemplateResponse(
            request,
            "display.html",
            {"display": display, "content": _display_content(services, display_id)},
        )

    streams: Counter[str] = Counter()  # open display event streams per client address

    @app.get("/display/{display_id}/events")
    async def display_events(request: Request, display_id: str) -> StreamingResponse:
        if display_id not in {d.id for d in config.displays}:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no display {display_id!r}")
        client = request.client.host if request.client else "?"
        if streams[client] >= STREAMS_PER_ADDRESS or streams.total() >= STREAMS_IN_ALL:
            raise HTTPException(
                status.HTTP_429_TOO_MANY_REQUESTS,
                f"too many open display streams (at most {STREAMS_PER_ADDRESS} per address)",
                headers={"Retry-After": "30"},
            )

        async def stream() -> AsyncIterator[str]:
            streams[client] += 1  # counted while it runs (a stream never started never ends)
            try:
                last = None
                while True:
                    content = _display_content(services, display_id)
                    if content != last:
                        last = content
                        yield f"data: {json.dumps(content)}\n\n"
                    await asyncio.sleep(1.0)  # clock-ok: a browser connection lives in real time
            finally:
                streams[client] -= 1
                if streams[client] <= 0:
                    del streams[client]

        return StreamingResponse(stream(), media_type="text/event-stream")

    # -- API ------------------------------------------------------------------------------

    readers = threading.local()  # one connection per worker thread

    def reader() -> Store:
        store: Store | None = getattr(readers, "store", None)
        if store is None:
            store = readers.store = services.store.reader()
        return store

    pages = _PageCache(services.store)
    page_turns = asyncio.Semaphore(1)

    async def off_loop(change: Callable[[Store], T]) -> T:
        """Run a change to the schedule on a worker thread, then wake the dispatcher.

        A database another program holds makes the worker wait, not the robot's loop.
        """
        if services.store.reader() is services.store:  # ":memory:": one connection only
            return change(services.store)
        result = await asyncio.to_thread(lambda: change(reader()))
        pages.changed()
        services.core.schedule_changed()  # the dispatcher reads its own connection
        return result

    @app.get("/api/v1/messages")
    async def list_messages(
        request: Request,
        user: ApiUser,
        kind: Kind | None = None,
        target: str | None = None,
        active_at: datetime | None = None,
        after: Annotated[
            str | None, Query(max_length=64, description="Cursor: ids after this.")
        ] = None,
        limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = DEFAULT_PAGE,
    ) -> Response:
        """One page of messages by id; ``Link: <…>; rel="next"`` and ``X-Total-Count``."""
        keep = None
        if active_at is not None:
            at = _query_time("active_at", active_at, tz)

            def keep(message: Message) -> bool:
                return bool(message.occurrences(tz, at, at + _SECOND))

        def one_page() -> tuple[bytes, str | None, int | None]:
            # On a worker thread with its own connection: never on the robot's loop.
            found, total = reader().page(
                kind=kind, target=target, after=after, limit=limit, keep=keep
            )
            body = json.dumps([_message_json(m, tz) for m in found], ensure_ascii=False)
            return body.encode(), found[-1].id if len(found) == limit else None, total

        # The same page asked again (staff screens poll) is served from memory until the
        # schedule changes; building pages takes turns, so one worker at a time competes
        # with the robot's loop for the interpreter.
        key = (pages.version(), kind, target, active_at, after, limit)
        cached = pages.get(key)
        if cached is None:
            async with page_turns:
                cached = pages.get(key) or pages.put(key, await asyncio.to_thread(one_page))
        body, last, total = cached
        headers = {}
        if total is not None:
            headers["X-Total-Count"] = str(total)
        if last is not None:
            following = request.url.include_query_params(after=last)
            headers["Link"] = f'<{following}>; rel="next"'
        return Response(body, media_type="application/json", headers=headers)

    @app.post("/api/v1/messages", status_code=status.HTTP_201_CREATED)
    async def create_message(user: ApiUser, data: MessageIn) -> dict[str, Any]:
        message = to_message(data, user)
        try:
            now = services.clock.now()
            saved = await off_loop(lambda store: store.add(message, user.name, now))
        except StoreError as exc:
            raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from None
        return _message_json(saved, tz)

    @app.get("/api/v1/messages/{message_id}")
    async def read_message(user: ApiUser, message_id: str) -> dict[str, Any]:
        return _message_json(_get(services.store, message_id), tz)

    @app.put("/api/v1/messages/{message_id}")
    async def update_message(user: ApiUser, message_id: str, data: MessageIn) -> dict[str, Any]:
        before = _get(services.store, message_id)
        may_change_message(user, before, None)
        message = to_message(data, user, message_id)
        may_change_message(user, before, message)
        now = services.clock.now()
        saved = await off_loop(lambda store: store.update(message, user.name, now))
        return _message_json(saved, tz)

    @app.delete("/api/v1/messages/{message_id}", status_code=status.HTTP_204_NO_CONTENT)
    async def delete_message(user: ApiUser, message_id: str) -> Response:
        try:
            may_change_message(user, _get(services.store, message_id), None)
        except HTTPException as exc:
            if exc.status_code != status.HTTP_404_NOT_FOUND:
                raise
            if not services.store.exists(message_id):
                raise
            require_role(user, "admin")  # stored but unreadable: an admin removes it
        now = services.clock.now()
        await off_loop(lambda store: store.delete(message_id, user.name, now))
        return Response(status_code=status.HTTP_204_NO_CONTENT)

    async def shown_at(moment: datetime) -> Mapping[str, Showing]:
        """What every device shows at ``moment``, from the core; 503 while it is away."""
        try:
            return await services.core.preview(moment)
        except CoreUnavailable as exc:
            raise HTTPException(
                status.HTTP_503_SERVICE_UNAVAILABLE, str(exc), headers={"Retry-After": "5"}
            ) from None

    @app.get("/api/v1/preview")
    async def preview(user: ApiUser, at: datetime) -> dict[str, Any]:
        showing = await shown_at(_query_time("at", at, tz))
        return {
            device: {"content_id": s.content_id, "title": s.message.title if s.message else None}
            for device, s in showing.items()
        }

    @app.get("/api/v1/messages/{message_id}/week")
    async def message_week(
        user: ApiUser, message_id: str, start: Annotated[date | None, Query(alias="from")] = None
    ) -> dict[str, Any]:
        """Seven days of a message from ``from`` (default today): when it is shown, which
        days it skips, and where a message of higher rank hides it."""
        message = _get(services.store, message_id)
        first = start or services.clock.now().astimezone(tz).date()
        if not date(2000, 1, 1) <= first <= date(2099, 12, 24):
            raise _unprocessable(["from: a date between 2000-01-01 and 2099-12-24"])
        targeted = [d.id for d in devices if _targets_device(message.targets, d)]
        unskipped = (
            message.model_copy(
                update={"recurrence": message.recurrence.model_copy(update={"exdates": []})}
            )
            if message.recurrence is not None
            else message
        )
        days: list[dict[str, Any]] = []
        for offset in range(7):
            day = first + timedelta(days=offset)
            begin = datetime.combine(day, datetime.min.time(), tzinfo=tz)
            end = begin + timedelta(days=1)
            windows = []
            for opens, closes in windows_of(message, tz, begin, end, hours)[:WEEK_WINDOWS]:
                showing = await shown_at(max(opens, begin))
                hidden = {
                    device: {"title": s.message.title, "priority": s.message.priority}
                    for device in targeted
                    if (s := showing.get(device)) is not None
                    and s.message is not None
                    and s.message.id != message.id
                }
                windows.append(
                    {
                        "start": opens.astimezone(tz).strftime("%Y-%m-%d %H:%M"),
                        "end": closes.astimezone(tz).strftime("%Y-%m-%d %H:%M"),
                        "hidden_by": hidden,
                    }
                )
            skipped = (
                message.recurrence is not None
                and day in message.recurrence.exdates
                and bool(windows_of(unskipped, tz, begin, end, hours))
            )
            days.append({"date": day.isoformat(), "windows": windows, "skipped": skipped})
        return {"message": message.id, "devices": targeted, "days": days}

    @app.get("/api/v1/frame-check")
    async def frame_check(user: ApiUser, url: str) -> dict[str, Any]:
        try:
            frame = encode_eddystone_url(url)
        except FrameError as exc:
            return {"fits": False, "reason": str(exc)}
        return {"fits": True, "bytes": len(frame)}

    @app.get("/api/v1/devices")
    async def list_devices(user: ApiUser) -> list[dict[str, Any]]:
        return _devices(services)

    @app.get("/api/v1/groups")
    async def list_groups(user: ApiUser) -> dict[str, list[str]]:
        groups: dict[str, list[str]] = {}
        for device in devices:
            groups.setdefault(device.group, []).append(device.id)
        return groups

    @app.get("/api/v1/emergency")
    async def emergency_status(user: ApiUser) -> dict[str, Any]:
        active = [
            _message_json(m, tz) | {"panel": _emergency_panel(services, m)}
            for m in services.store.messages()
            if m.kind is Kind.EMERGENCY
        ]
        return {"active": bool(active), "notices": active}

    @app.post("/api/v1/emergency", status_code=status.HTTP_201_CREATED)
    async def emergency_start(user: ApiUser, data: EmergencyIn) -> dict[str, Any]:
        require_role(user, "desk")
        return _message_json(_start_emergency(services, data, user, notice_templates), tz)

    @app.get("/api/v1/emergency-templates")
    async def emergency_templates(user: ApiUser) -> dict[str, Any]:
        """The notices ready to raise, with their words per language."""
        return {
            t.id: {
                "label": t.label,
                "content": {k: v.model_dump(mode="json") for k, v in t.content.items()},
            }
            for t in notice_templates.values()
        }

    @app.delete("/api/v1/emergency")
    async def emergency_stop(user: ApiUser) -> dict[str, Any]:
        require_role(user, "desk")
        return {"ended": _stop_emergency(services, user)}

    @app.delete("/api/v1/emergency/{message_id}")
    async def emergency_stop_one(user: ApiUser, message_id: str) -> dict[str, Any]:
        require_role(user, "desk")
        _stop_one_emergency(services, message_id, user)
        return {"ended": 1}

    @app.get("/api/v1/robot")
    async def robot(user: ApiUser) -> dict[str, Any]:
        return _robot(services)

    @app.get("/api/v1/beacons/feed")
    async def beacon_feed(user: ApiUser) -> list[dict[str, Any]]:
        return list(services.core.snapshot().beacon_feed)

    @app.get("/api/v1/audit")
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

    @app.get("/api/v1/users")
    async def list_users(user: ApiUser) -> list[dict[str, str]]:
        require_role(user, "admin")
        return [
            {"name": u.name, "role": u.role, "language": u.language} for u in services.users.all()
        ]

    @app.post("/api/v1/users", status_code=status.HTTP_201_CREATED)
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

    @app.get("/api/v1/security-log")
    async def security_log(user: ApiUser, limit: int = Query(200, ge=1, le=1000)) -> Any:
        require_role(user, "admin")
        return services.users.security_log(limit)

    @app.get("/api/v1/tokens")
    async def list_tokens(user: ApiUser) -> list[dict[str, Any]]:
        require_role(user, "admin")
        return [vars(info) for info in services.users.tokens()]

    @app.post("/api/v1/tokens", status_code=status.HTTP_201_CREATED)
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

    @app.delete("/api/v1/tokens/{token_id}", status_code=status.HTTP_204_NO_CONTENT)
    async def revoke_token(request: Request, user: ApiUser, token_id: str) -> Response:
        require_role(user, "admin")
        if not services.users.revoke_token(token_id):
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no token with id {token_id!r}")
        services.users.note("token-revoked", user.name, token_id, _client(request),
                            services.clock.now())  # fmt: skip
        return Response(status_code=status.HTTP_204_NO_CONTENT)

    @app.delete("/api/v1/users/{name}", status_code=status.HTTP_204_NO_CONTENT)
    async def remove_user(request: Request, user: ApiUser, name: str) -> Response:
        require_role(user, "admin")
        try:
            services.users.remove(name)
        except ValueError as exc:
            raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from None
        services.users.note("user-removed", user.name, name, _client(request),
                            services.clock.now())  # fmt: skip
        return Response(status_code=status.HTTP_204_NO_CONTENT)

    @app.post("/api/v1/sim/visitor", status_code=status.HTTP_202_ACCEPTED)
    async def sim_visitor(user: ApiUser, data: VisitorIn) -> dict[str, str]:
        sim = _sim(services)
        sim.approach(data.track, data.zone)
        return {"status": "visitor approaching"}

    @app.delete("/api/v1/sim/visitor/{track}", status_code=status.HTTP_202_ACCEPTED)
    async def sim_leave(user: ApiUser, track: int) -> dict[str, str]:
        _sim(services).leave(track)
        return {"status": "visitor leaving"}

    @app.post("/api/v1/sim/utterance", status_code=status.HTTP_202_ACCEPTED)
    async def sim_utterance(user: ApiUser, data: UtteranceIn) -> dict[str, str]:
        _sim(services).hear(data.text, data.language)
        return {"status": "heard"}

    # -- pages ----------------------------------------------------------------------------

    device_names = {d.id: d.name for d in config.displays} | {b.id: b.name for b in config.beacons}

    def words_for(user: User | None) -> dict[str, str]:
        return words.get(user.language if user else "nl", words["nl"])

    def page(request: Request, name: str, user: User | None, **context: Any) -> HTMLResponse:
        language = user.language if user else request.session.get("language", "nl")
        return templates.TemplateResponse(
            request,
            name,
            {
                "t": words.get(language, words["nl"]),
                "device_names": device_names,
                "user": user,
                "csrf": csrf_token(request),
                "language": language,
                **context,
            },
        )

    @app.get("/login", response_class=HTMLResponse)
    async def login_page(request: Request) -> HTMLResponse:
        return page(request, "login.html", None, error=None)

    @app.post("/login", response_model=None)
    async def login(
        request: Request,
        name: Annotated[str, Form()],
        password: Annotated[str, Form()],
        csrf: Annotated[str, Form()] = "",
    ) -> Response:
        check_csrf(request, csrf)
        client = request.client.host if request.client else "?"
        t = words["nl"]
        if limiter.blocked(name, client):
            response = page(request, "login.html", None, error=t["too_many"])
            response.status_code = status.HTTP_429_TOO_MANY_REQUESTS
            return response
        try:
            # Argon2 on a worker thread, a few at a time: never on the robot's loop.
            user = await hash_gate.run(services.users.check_password, name, password)
        except GateFull:
            response = page(request, "login.html", None, error=t["too_many"])
            response.status_code = status.HTTP_429_TOO_MANY_REQUESTS
            response.headers["Retry-After"] = "5"
            return response
        if user is None:
            limiter.failed(name, client)
            services.users.note("sign-in-failed", name, name, client, services.clock.now())
            response = page(request, "login.html", None, error=t["wrong_login"])
            response.status_code = status.HTTP_401_UNAUTHORIZED
            return response
        limiter.succeeded(name, client)
        services.users.note("sign-in", user.name, user.name, client, services.clock.now())
        request.session.clear()
        request.session["user"] = user.name
        request.session["epoch"] = user.epoch
        return RedirectResponse("/", status.HTTP_303_SEE_OTHER)

    @app.post("/logout")
    async def logout(request: Request, csrf: Annotated[str, Form()] = "") -> RedirectResponse:
        check_csrf(request, csrf)
        user = session_user(request, services.users)
        if user is not None:
            services.users.end_sessions(user.name)  # a copied cookie dies with this one
            services.users.note("sign-out", user.name, user.name, _client(request),
                                services.clock.now())  # fmt: skip
        request.session.clear()
        return RedirectResponse("/login", status.HTTP_303_SEE_OTHER)

    @app.post("/language")
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

    @app.get("/", response_class=HTMLResponse)
    async def dashboard(request: Request, user: StaffUser) -> HTMLResponse:
        return page(
            request,
            "dashboard.html",
            user,
            robot=_robot(services),
            devices=_devices(services),
            emergency=[m for m in services.store.messages() if m.kind is Kind.EMERGENCY],
        )

    @app.get("/messages", response_class=HTMLResponse)
    async def messages_page(
        request: Request,
        user: StaffUser,
        after: Annotated[str | None, Query(max_length=64)] = None,
        deleted: Annotated[str | None, Query(max_length=64)] = None,
    ) -> HTMLResponse:
        def one_page() -> tuple[list[dict[str, Any]], int | None]:
            found, total = reader().page(after=after, limit=DEFAULT_PAGE)
            return [_message_json(m, tz, user.language) for m in found], total

        listed, total = await asyncio.to_thread(one_page)  # off the robot's loop
        following = listed[-1]["id"] if len(listed) == DEFAULT_PAGE else None
        return page(
            request,
            "messages.html",
            user,
            messages=listed,
            total=total,
            following=following,
            deleted=deleted if deleted and not services.store.exists(deleted) else None,
        )

    @app.get("/messages/new", response_class=HTMLResponse)
    async def new_message(request: Request, user: StaffUser) -> HTMLResponse:
        return page(
            request,
            "editor.html",
            user,
            message=None,
            errors=[],
            devices=devices,
            languages=config.site.languages,
            form={},
        )

    @app.get("/messages/{message_id}/edit", response_class=HTMLResponse)
    async def edit_message(request: Request, user: StaffUser, message_id: str) -> HTMLResponse:
        message = _get(services.store, message_id)
        return page(
            request,
            "editor.html",
            user,
            message=message,
            errors=[],
            devices=devices,
            languages=config.site.languages,
            form=_form_from(message, tz, user.language),
            week_from=max(
                message.starts.astimezone(tz).date(), services.clock.now().astimezone(tz).date()
            ).isoformat(),
        )

    @app.post("/messages", response_model=None)
    async def save_message(request: Request, user: StaffUser) -> Response:
        form = dict((await request.form()).items())
        check_csrf(request, str(form.get("csrf", "")))
        existing = str(form.get("existing", "")) or None
        before = _find(services.store, existing) if existing else None
        if before is not None:
            may_change_message(user, before, None)  # 403 before the form is even read
        try:
            data = _message_in(form, config.site.languages, device_ids)
            message = to_message(data, user, existing)
            may_change_message(user, before, message)
            now = services.clock.now()
            if existing:
                await off_loop(lambda store: store.update(message, user.name, now))
            elif str(form.get("id", "")).strip():
                await off_loop(lambda store: store.add(message, user.name, now))
            else:  # an id made from the title: the first one free
                await off_loop(lambda store: _add_with_free_id(store, message, user.name, now))
        except HTTPException as exc:
            errors = (
                [f"{'.'.join(map(str, d['loc']))}: {d['msg']}" for d in exc.detail]
                if isinstance(exc.detail, list)
                else [str(exc.detail)]
            )
            response = page(
                request,
                "editor.html",
                user,
                message=before,  # still editing it: the form keeps its id and mode
                errors=errors,
                devices=devices,
                languages=config.site.languages,
                form=form,
            )
            response.status_code = status.HTTP_422_UNPROCESSABLE_CONTENT
            return response
        except (ValidationError, StoreError, InputError, ValueError) as exc:
            response = page(
                request,
                "editor.html",
                user,
                message=before,
                errors=[str(exc)],
                devices=devices,
                languages=config.site.languages,
                form=form,
            )
            response.status_code = status.HTTP_422_UNPROCESSABLE_CONTENT
            return response
        return RedirectResponse("/messages", status.HTTP_303_SEE_OTHER)

    @app.post("/messages/check")
    async def check_message(request: Request, user: StaffUser) -> dict[str, Any]:
        """The editor's checks before saving: errors, warnings, each screen at its size."""
        form = dict((await request.form()).items())
        check_csrf(request, str(form.get("csrf", "")))
        existing = str(form.get("existing", "")) or None
        try:
            data = _message_in(form, config.site.languages, device_ids)
            message = to_message(data, user, existing)
        except HTTPException as exc:
            detail = exc.detail if isinstance(exc.detail, list) else [exc.detail]
            return {"errors": [_said(d) for d in detail], "warnings": [], "screens": []}
        except (ValidationError, InputError, ValueError) as exc:
            return {"errors": [str(exc)], "warnings": [], "screens": []}
        found: list[str] = []
        screens = []
        for display in config.displays:
            device = next(d for d in devices if d.id == display.id)
            if not _targets_device(message.targets, device):
                continue
            found += warnings(
                message.content,
                display.id,
                display.languages,
                config.site.languages,
                display.width,
                display.height,
            )
            screens.append(
                {
                    "id": display.id,
                    "name": display.name,
                    "width": display.width,
                    "height": display.height,
                    "emergency": message.kind is Kind.EMERGENCY,
                    "columns": [
                        {
                            "language": c.language,
                            "shown": c.shown,
                            "title": c.item.title,
                            "body": c.item.body,
                        }
                        for c in columns(message.content, display.languages, config.site.languages)
                    ],
                }
            )
        if not message.fires(tz):
            found.append("never shown: the repetition has no date between its start and end")
        return {"errors": [], "warnings": found, "screens": screens}

    @app.post("/messages/{message_id}/delete")
    async def delete_message_form(
        request: Request, user: StaffUser, message_id: str, csrf: Annotated[str, Form()] = ""
    ) -> RedirectResponse:
        check_csrf(request, csrf)
        may_change_message(user, _get(services.store, message_id), None)
        now = services.clock.now()
        await off_loop(lambda store: store.delete(message_id, user.name, now))
        # The list offers to undo it for a while (UNDO_WITHIN).
        return RedirectResponse(f"/messages?deleted={message_id}", status.HTTP_303_SEE_OTHER)

    @app.post("/messages/{message_id}/restore", response_model=None)
    async def restore_message_form(
        request: Request, user: StaffUser, message_id: str, csrf: Annotated[str, Form()] = ""
    ) -> Response:
        check_csrf(request, csrf)
        now = services.clock.now()
        try:
            await off_loop(lambda store: store.restore(message_id, user.name, now, UNDO_WITHIN))
        except StoreError as exc:
            raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from None
        return RedirectResponse("/messages", status.HTTP_303_SEE_OTHER)

    def emergency_view(
        request: Request, user: User, errors: Sequence[str] = (), form: Any = None
    ) -> HTMLResponse:
        active = [
            {
                "id": m.id,
                "title": m.title,
                "started": m.starts.astimezone(tz).strftime("%Y-%m-%d %H:%M:%S"),
                "panel": _emergency_panel(services, m),
            }
            for m in services.store.messages()
            if m.kind is Kind.EMERGENCY
        ]
        response = page(
            request,
            "emergency.html",
            user,
            active=active,
            languages=config.site.languages,
            groups=sorted({d.group for d in devices}),
            may_raise=user.has("desk"),
            templates={
                t.id: {
                    "label": t.label.get(user.language) or t.id,
                    "content": {k: [v.title, v.body] for k, v in t.content.items()},
                }
                for t in notice_templates.values()
            },
            errors=list(errors),
            form=form or {},
        )
        if errors:
            response.status_code = status.HTTP_422_UNPROCESSABLE_CONTENT
        return response

    @app.get("/emergency", response_class=HTMLResponse)
    async def emergency_page(request: Request, user: StaffUser) -> HTMLResponse:
        return emergency_view(request, user)

    @app.post("/emergency/start", response_model=None)
    async def emergency_start_form(request: Request, user: StaffUser) -> Response:
        form = await request.form()
        check_csrf(request, str(form.get("csrf", "")))
        require_role(user, "desk")
        words = words_for(user)
        typed = {k: str(v) for k, v in form.items() if isinstance(v, str)}
        where = [str(v) for v in form.getlist("where")]
        typed |= {f"where_{w.replace(':', '_')}": "1" for w in where}
        content = {
            lang: LocalizedContent(
                title=str(form.get(f"title_{lang}", "")).strip(),
                body=str(form.get(f"body_{lang}", "")).strip(),
            )
            for lang in config.site.languages
            if str(form.get(f"title_{lang}", "")).strip()
        }
        problems_found = []
        template = str(form.get("template", "")) or None
        if not content and template is None:
            problems_found.append(words["write_notice"])
        minutes_text = str(form.get("minutes", "")).strip()
        minutes = int(minutes_text) if minutes_text.isdigit() else None
        if minutes_text and (minutes is None or not 1 <= minutes <= 24 * 60):
            problems_found.append(words["minutes_range"])
        if form.get("confirm") != "yes":
            problems_found.append(words["tick_confirm"])
        if problems_found:
            return emergency_view(request, user, problems_found, typed)
        targets = (
            Targets(everything=True)
            if "everything" in where or not where
            else Targets(groups=[w.removeprefix("group:") for w in where if w.startswith("group:")])
        )
        asked = EmergencyIn(
            content=content,
            template=template,
            targets=targets,
            drill=form.get("drill") == "yes",
            minutes=minutes,
        )
        try:
            _start_emergency(services, asked, user, notice_templates)
        except HTTPException as exc:
            detail = exc.detail if isinstance(exc.detail, list) else [str(exc.detail)]
            return emergency_view(request, user, [str(d) for d in detail], typed)
        return RedirectResponse("/emergency", status.HTTP_303_SEE_OTHER)

    @app.post("/emergency/{message_id}/stop", response_model=None)
    async def emergency_stop_one_form(
        request: Request, user: StaffUser, message_id: str
    ) -> Response:
        form = await request.form()
        check_csrf(request, str(form.get("csrf", "")))
        require_role(user, "desk")
        if form.get("confirm") != "yes":
            return emergency_view(request, user, [words_for(user)["tick_confirm"]])
        _stop_one_emergency(services, message_id, user)
        return RedirectResponse("/emergency", status.HTTP_303_SEE_OTHER)

    @app.post("/emergency/stop")
    async def emergency_stop_form(request: Request, user: StaffUser) -> RedirectResponse:
        form = await request.form()
        check_csrf(request, str(form.get("csrf", "")))
        require_role(user, "desk")
        _stop_emergency(services, user)
        return RedirectResponse("/emergency", status.HTTP_303_SEE_OTHER)

    @app.get("/audit", response_class=HTMLResponse)
    async def audit_page(request: Request, user: StaffUser) -> HTMLResponse:
        return page(request, "audit.html", user, entries=list(reversed(services.store.audit())))

    document_responses(app)
    return app


_SECOND = datetime.fromtimestamp(1) - datetime.fromtimestamp(0)  # noqa: DTZ006


def _ui_words(config_path: Path) -> dict[str, dict[str, str]]:
    path = config_path.parent / "content" / "web" / "ui.toml"
    if not path.exists():
        path = HERE.parent.parent / "content" / "web" / "ui.toml"
    words: dict[str, dict[str, str]] = tomllib.loads(path.read_text(encoding="utf-8"))
    for language, table in words.items():
        if language != "nl":
            words[language] = {**words["nl"], **table}
    return words


def _client(request: Request) -> str:
    return request.client.host if request.client else "?"


def _find(store: Store, message_id: str) -> Message | None:
    try:
        return store.get(message_id)
    except StoreError:
        return None


def _get(store: Store, message_id: str) -> Message:
    try:
        return store.get(message_id)
    except StoreError as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from None


#: How long after a delete the message list offers to undo it.
UNDO_WITHIN = timedelta(minutes=10)
#: Priority levels the form offers (the API takes any number 0-100).
PRIORITY_LEVELS = (25, 50, 75, 90)

#: Windows per day the week view looks at (each one asks the core what shows then).
WEEK_WINDOWS = 4


def _said(detail: Any) -> str:
    """One validation problem as a line for staff."""
    if isinstance(detail, dict):
        where = ".".join(str(p) for p in detail.get("loc", ()) if p not in ("body", "form"))
        return f"{where}: {detail.get('msg', '')}" if where else str(detail.get("msg", ""))
    return str(detail)


def _targets_device(targets: Targets, device: Device) -> bool:
    """Whether ``targets`` include ``device``."""
    return (
        targets.everything
        or device.group in targets.groups
        or (device.kind == "display" and device.id in targets.displays)
        or (device.kind == "beacon" and device.id in targets.beacons)
    )


def _message_json(message: Message, tz: ZoneInfo, language: str = "en") -> dict[str, Any]:
    data = message.model_dump(mode="json")
    data["starts_local"] = message.starts.astimezone(tz).strftime("%Y-%m-%d %H:%M")
    data["ends_local"] = (
        message.ends.astimezone(tz).strftime("%Y-%m-%d %H:%M") if message.ends else None
    )
    data["repeats"] = describe(message.recurrence, language, message.starts.astimezone(tz).year)
    data["content_id"] = message.content_id
    return data


def _devices(services: WebServices) -> list[dict[str, Any]]:
    snapshot = services.core.snapshot()
    status_of = snapshot.status
    showing = snapshot.showing
    found: list[dict[str, Any]] = []
    signage = snapshot.displays
    ble = snapshot.beacons
    for display in services.config.displays:
        state = signage.get(display.id)
        entry = status_of.get(display.id)
        found.append(
            {
                "id": display.id,
                "kind": "display",
                "group": display.group,
                "name": display.name,
                "title": _title(showing.get(display.id)),
                "online": bool(state and state.online),
                "wanted": entry.wanted if entry else None,
                "delivered": entry.delivered if entry else None,
                "failed": entry.failed if entry else None,
                "last_seen": state.last_ack.isoformat() if state and state.last_ack else None,
                "battery_percent": None,
            }
        )
    for beacon in services.config.beacons:
        seen = ble.get(beacon.id)
        entry = status_of.get(beacon.id)
        found.append(
            {
                "id": beacon.id,
                "kind": "beacon",
                "group": beacon.group,
                "name": beacon.name,
                "title": _title(showing.get(beacon.id)),
                "online": bool(seen and seen.last_seen),
                "wanted": entry.wanted if entry else None,
                "delivered": entry.delivered if entry else None,
                "failed": (entry.failed if entry else None)
                or (seen.last_error if seen and seen.status == "failed" else None),
                "last_seen": seen.last_seen.isoformat() if seen and seen.last_seen else None,
                "battery_percent": seen.battery_percent if seen else None,
            }
        )
    return found


def _title(showing: Showing | None) -> str | None:
    """The staff title of the scheduled message a device should show (None: its default)."""
    return showing.message.title if showing is not None and showing.message else None


def _robot(services: WebServices) -> dict[str, Any]:
    zone = ZoneInfo(services.config.site.timezone)
    snapshot = services.core.snapshot()
    today = snapshot.taken_at.astimezone(zone).date()
    robot = snapshot.robot
    seen = robot.last_seen
    return {
        "connected": robot.connected,
        "last_seen": seen.isoformat() if seen is not None else None,
        "last_seen_local": seen.astimezone(zone).strftime("%H:%M:%S") if seen else None,
        "behaviours": list(robot.running),
        "battery": robot.battery if robot.connected else None,
        "today": snapshot.reception.on(today.isoformat()),
    }


def _display_content(services: WebServices, display_id: str) -> dict[str, Any]:
    snapshot = services.core.snapshot()
    status_of = snapshot.status.get(display_id)
    wanted = status_of.wanted if status_of else None
    preview = snapshot.showing.get(display_id)
    message = preview.message if preview else None
    display = next(d for d in services.config.displays if d.id == display_id)
    content = message.content if message else display.default
    shown = columns(content, display.languages, services.config.site.languages)
    return {
        "content_id": wanted,
        "emergency": bool(message and message.kind is Kind.EMERGENCY),
        # One column per screen language; a missing one shows the site's fallback text.
        "languages": {c.shown: {"title": c.item.title, "body": c.item.body} for c in shown},
    }


class _PageCache:
    """Recently built message-list pages, valid until the schedule changes.

    The version is this process's own changes (counted) plus SQLite's ``data_version``
    of the running system's connection, which moves when any other connection (a worker
    thread's, another process's) commits.
    """

    def __init__(self, store: Store, size: int = 64) -> None:
        self._store = store
        self._size = size
        self._ours = 0
        self._pages: dict[tuple[Any, ...], tuple[bytes, str | None, int | None]] = {}
        store.on_change(self.changed)

    def changed(self) -> None:
        """The schedule changed through this process."""
        self._ours += 1

    def version(self) -> tuple[int, int]:
        """What the cached pages are valid for."""
        return self._ours, self._store.data_version()

    def get(self, key: tuple[Any, ...]) -> tuple[bytes, str | None, int | None] | None:
        """A page built for ``key``, if still valid."""
        return self._pages.get(key)

    def put(
        self, key: tuple[Any, ...], built: tuple[bytes, str | None, int | None]
    ) -> tuple[bytes, str | None, int | None]:
        """Keep ``built`` for ``key`` (forgetting stale and old pages); return it."""
        version = key[0]
        self._pages = {k: v for k, v in self._pages.items() if k[0] == version}
        while len(self._pages) >= self._size:
            self._pages.pop(next(iter(self._pages)))
        self._pages[key] = built
        return built


def _start_emergency(
    services: WebServices,
    data: EmergencyIn,
    user: User,
    templates: Mapping[str, Template] | None = None,
) -> Message:
    now = services.clock.now()
    tz = ZoneInfo(services.config.site.timezone)
    content = dict(data.content)
    if data.template is not None:
        template = (templates or {}).get(data.template)
        if template is None:
            raise _unprocessable([f"template: no template {quoted(data.template)}"])
        # The template's words where the desk wrote none (a missing language stays filled).
        content = {**template.content, **content}  # type: ignore[dict-item]
    if not content:
        raise _unprocessable(["content: write the notice, or choose a template"])
    lasts = timedelta(minutes=data.minutes) if data.minutes else None
    try:
        message = emergency_notice(content, data.targets, now, tz, drill=data.drill, lasts=lasts)
    except ValueError as exc:
        raise _unprocessable([str(exc)]) from None
    config = services.config
    found = problems(message, config_devices(config), url_beacons(config), tz)
    if found:
        raise _unprocessable(found)
    try:
        return services.store.add(message, user.name, now)
    except StoreError as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from None


def _stop_emergency(services: WebServices, user: User) -> int:
    return services.store.end_emergencies(user.name, services.clock.now())


def _stop_one_emergency(services: WebServices, message_id: str, user: User) -> None:
    message = _get(services.store, message_id)
    if message.kind is not Kind.EMERGENCY:
        raise HTTPException(status.HTTP_409_CONFLICT, f"{message_id!r} is not an emergency")
    services.store.delete(message_id, user.name, services.clock.now())


def _emergency_panel(services: WebServices, message: Message) -> dict[str, Any]:
    """How far an emergency got: confirmed screens and beacons, failures, who is waited for."""
    snapshot = services.core.snapshot()
    counts = {"display": [0, 0], "beacon": [0, 0]}
    failed: dict[str, str] = {}
    waiting: list[str] = []
    for device in config_devices(services.config):
        if not _targets_device(message.targets, device):
            continue
        counts[device.kind][1] += 1
        state = snapshot.status.get(device.id)
        if state is not None and state.delivered == message.content_id:
            counts[device.kind][0] += 1
        elif state is not None and state.failed:
            failed[device.id] = state.failed
        else:
            waiting.append(device.id)
    return {
        "screens": {"confirmed": counts["display"][0], "total": counts["display"][1]},
        "beacons": {"confirmed": counts["beacon"][0], "total": counts["beacon"][1]},
        "failed": failed,
        "waiting": waiting,
    }


def _sim(services: WebServices) -> SimControls:
    if services.core.sim is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "simulator controls exist only in sim")
    return services.core.sim


def _form_from(message: Message, tz: ZoneInfo, language: str) -> dict[str, Any]:
    form: dict[str, Any] = {
        "id": message.id,
        "title": message.title,
        "priority": message.priority,
        "building": message.building,
        "starts": message.starts.astimezone(tz).strftime("%Y-%m-%dT%H:%M"),
        "ends": message.ends.astimezone(tz).strftime("%Y-%m-%dT%H:%M") if message.ends else "",
        "targets": [f"display:{d}" for d in message.targets.displays]
        + [f"beacon:{b}" for b in message.targets.beacons]
        + [f"group:{g}" for g in message.targets.groups]
        + (["everything"] if message.targets.everything else []),
    }
    form |= _recurrence_form(message.recurrence, message.starts.astimezone(tz).year, language)
    for language_code, item in message.content.items():
        form[f"title_{language_code}"] = item.title
        form[f"body_{language_code}"] = item.body
        form[f"link_{language_code}"] = str(item.link) if item.link else ""
    return form


#: Time windows the message form offers.
FORM_WINDOWS = 4


def _recurrence_form(recurrence: Recurrence | None, year: int, language: str) -> dict[str, Any]:
    """The form's recurrence fields for a stored recurrence: what it saved, it shows."""
    if recurrence is None:
        return {"repeat": "once"}
    form: dict[str, Any] = {
        "described": describe(recurrence, language, year),
        "skip": ", ".join(d.isoformat() for d in recurrence.exdates),
    }
    for i, part in enumerate(recurrence.dayparts[:FORM_WINDOWS]):
        form[f"window_start_{i}"] = f"{part.start:%H:%M}"
        form[f"window_end_{i}"] = f"{part.end:%H:%M}"
    pattern = pattern_of(recurrence)
    if pattern is None or len(recurrence.dayparts) > FORM_WINDOWS:
        return form | {"repeat": "rule", "rrule": recurrence.rrule}
    form |= {"repeat": pattern.unit, "every_n": pattern.every}
    if pattern.unit == "month":
        return form | {"ordinal": str(pattern.ordinal), "month_day": pattern.weekdays[0]}
    return form | {f"day_{d}": d for d in pattern.weekdays}


def _recurrence_from_form(form: dict[str, Any]) -> dict[str, Any] | None:
    """The recurrence the form's fields describe (as the API takes it), or None: once."""
    repeat = str(form.get("repeat", "once"))
    if repeat == "once":
        return None
    problems: list[str] = []
    windows: list[Daypart] = []
    for i in range(FORM_WINDOWS):
        start = str(form.get(f"window_start_{i}", "")).strip()
        end = str(form.get(f"window_end_{i}", "")).strip()
        if not start and not end:
            continue
        try:
            windows.append(Daypart.parse(f"{start}-{end}"))
        except (ValueError, ValidationError) as exc:
            problems.append(f"window {i + 1}: {first_error(exc)}")
    skip: list[date] = []
    for item in re.split(r"[\s,;]+", str(form.get("skip", "")).strip()):
        if item:
            try:
                skip.append(date.fromisoformat(item))
            except ValueError:
                problems.append(f"skip: {quoted(item)} is not a date (YYYY-MM-DD)")
    try:
        every = int(str(form.get("every_n", "1")).strip() or "1")
    except ValueError:
        every = 0
    try:
        if problems:
            raise RecurrenceError("; ".join(problems))
        if repeat == "rule":
            rule = Recurrence(rrule=str(form.get("rrule", "")), dayparts=windows, exdates=skip)
            return rule.model_dump(mode="json")
        if repeat not in ("day", "week", "month"):
            raise RecurrenceError(f"repeat: {quoted(repeat)} is not a choice of the form")
        days = [d for d in WEEKDAYS if form.get(f"day_{d}")]
        pattern = Pattern(
            unit=repeat,  # type: ignore[arg-type]
            every=every,
            weekdays=tuple(days) if repeat == "week" else (str(form.get("month_day", "")),),
            ordinal=int(str(form.get("ordinal", "1"))) if repeat == "month" else None,
            windows=tuple(windows),
            skip=tuple(sorted(set(skip))),
        )
        return pattern.recurrence().model_dump(mode="json")
    except (RecurrenceError, ValidationError, ValueError) as exc:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            [{"loc": ["form", "recurrence"], "msg": first_error(exc), "type": "value_error"}],
        ) from None


def _add_with_free_id(store: Store, message: Message, actor: str, at: datetime) -> Message:
    """Add ``message`` under its id, or its id with -2, -3... when that one is taken."""
    base = message.id[:60]
    for number in range(1, 100):
        candidate = (
            message if number == 1 else message.model_copy(update={"id": f"{base}-{number}"})
        )
        try:
            return store.add(candidate, actor, at)
        except StoreError:
            if number == 99:
                raise
    raise AssertionError("unreachable")


def title_of(form: dict[str, Any], content: dict[str, dict[str, str]]) -> str:
    """The staff title, or the first language's."""
    return str(form.get("title", "")).strip() or next((c["title"] for c in content.values()), "")


def _slug(title: str) -> str:
    """An id from a title: "Kerstmarkt op het plein!" -> "kerstmarkt-op-het-plein"."""
    decomposed = unicodedata.normalize("NFKD", title.lower())
    ascii_only = "".join(c for c in decomposed if not unicodedata.combining(c))
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_only).strip("-")[:48].strip("-")
    return slug or "bericht"


def _message_in(form: dict[str, Any], languages: Sequence[str], device_ids: set[str]) -> MessageIn:
    uploads = sorted(key for key, value in form.items() if not isinstance(value, str))
    if uploads:  # a file part would be stored as the text "UploadFile(...)"
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            [{"loc": ["form", uploads[0]], "msg": "a file cannot be sent here; type the text",
              "type": "value_error"}],
        )  # fmt: skip
    content: dict[str, dict[str, str]] = {}
    for language in languages:
        title = str(form.get(f"title_{language}", "")).strip()
        if title:
            item = {"title": title, "body": str(form.get(f"body_{language}", "")).strip()}
            link = str(form.get(f"link_{language}", "")).strip()
            if link:
                item["link"] = link
            content[language] = item
    picked = [str(v) for k, v in form.items() if k.startswith("target:")]
    targets: dict[str, Any] = {"displays": [], "beacons": [], "groups": []}
    for value in picked:
        kind, _, name = value.partition(":")
        if value == "everything":
            targets["everything"] = True
        elif kind in ("display", "beacon", "group"):
            targets[f"{kind}s"].append(name)
    starts = str(form.get("starts", "")).strip()
    ends = str(form.get("ends", "")).strip()
    try:
        return MessageIn.model_validate(
            {
                "id": str(form.get("id", "")).strip() or _slug(title_of(form, content)),
                "title": str(form.get("title", "")).strip()
                or next((c["title"] for c in content.values()), ""),
                "content": content,
                "targets": targets,
                "starts": starts,
                "ends": ends or None,
                "every": str(form.get("every", "")).strip() or None,
                "recurrence": _recurrence_from_form(form),
                "priority": str(form.get("priority", "")).strip() or 50,
                "building": str(form.get("building", "any")) or "any",
            }
        )
    except ValidationError as exc:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT, validation_problems(exc.errors())
        ) from None


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

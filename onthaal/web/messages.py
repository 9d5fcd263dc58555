"""Scheduled messages: the API (``/api/v1/messages``) and the staff's list, editor and forms.

Both take the same rules (:func:`~onthaal.web.security.may_change_message`, the
scheduler's checks) and change the schedule off the robot's loop, on a worker thread
with its own connection. The editor's form fields and the API's :class:`MessageIn` are
translated into each other here.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import threading
import tomllib
import unicodedata
from collections.abc import Callable, Sequence
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal, TypeVar
from urllib.parse import quote
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Form, HTTPException, Query, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from beacons.content import Language, LocalizedContent
from onthaal.scheduler_stack import url_beacons
from onthaal.web.common import (
    ApiUser,
    StaffPages,
    StaffUser,
    _field_time,
    _find,
    _get,
    _message_json,
    _query_time,
    _targets_device,
    _unprocessable,
)
from onthaal.web.errors import validation_problems
from onthaal.web.images import ImageLibrary, image_url
from onthaal.web.security import check_csrf, may_change_message, require_role
from onthaal.web.users import User
from scheduler.model import Daypart, Kind, Message, Recurrence, Targets
from scheduler.parse import InputError, first_error, quoted, recurrence_of
from scheduler.recurrence import WEEKDAYS, Pattern, RecurrenceError, describe, pattern_of
from scheduler.resolve import Device
from scheduler.screen import columns, warnings
from scheduler.store import Store, StoreError
from scheduler.validate import problems

log = logging.getLogger("onthaal.web.messages")

if TYPE_CHECKING:
    from onthaal.web.app import WebServices

T = TypeVar("T")

DEFAULT_PAGE = 100  # messages per page of GET /api/v1/messages
MAX_PAGE = 1000
#: How long after a delete the message list offers to undo it.
UNDO_WITHIN = timedelta(minutes=10)
#: Priority levels the form offers (the API takes any number 0-100).
PRIORITY_LEVELS = (25, 50, 75, 90)
#: Time windows the message form offers.
FORM_WINDOWS = 4

_SECOND = datetime.fromtimestamp(1) - datetime.fromtimestamp(0)  # noqa: DTZ006


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


def messages_router(
    services: WebServices, staff_pages: StaffPages, devices: list[Device], library: ImageLibrary
) -> APIRouter:
    """The message API and the staff's message pages of ``services``.

    ``devices``: every display and beacon, which the editor offers as targets;
    ``library``: the pictures a message may show.
    """
    config = services.config
    tz = ZoneInfo(config.site.timezone)
    device_ids = {d.id for d in devices}
    page = staff_pages.render
    router = APIRouter()

    form_errors = FormErrors()

    def editor(request: Request, user: User, **context: Any) -> HTMLResponse:
        """The editor page, offering the library's pictures."""
        context.setdefault("field_errors", {})
        return page(request, "editor.html", user, pictures=library.names(), **context)

    def picture_of(form: dict[str, Any]) -> str | None:
        """The URL of the picture the form chose (422 naming ``image`` if unknown)."""
        name = str(form.get("image", "")).strip()
        if not name:
            return None
        if not library.has(name):
            raise HTTPException(
                status.HTTP_422_UNPROCESSABLE_CONTENT,
                [{"loc": ["form", "image"], "msg": f"no picture {name!r} in the library",
                  "type": "value_error"}],
            )  # fmt: skip
        return image_url(services, name)

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

    # -- API ------------------------------------------------------------------------------

    @router.get("/api/v1/messages")
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

    @router.post("/api/v1/messages", status_code=status.HTTP_201_CREATED)
    async def create_message(user: ApiUser, data: MessageIn) -> dict[str, Any]:
        message = to_message(data, user)
        try:
            now = services.clock.now()
            saved = await off_loop(lambda store: store.add(message, user.name, now))
        except StoreError as exc:
            raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from None
        return _message_json(saved, tz)

    @router.get("/api/v1/messages/{message_id}")
    async def read_message(user: ApiUser, message_id: str) -> dict[str, Any]:
        return _message_json(_get(services.store, message_id), tz)

    @router.put("/api/v1/messages/{message_id}")
    async def update_message(user: ApiUser, message_id: str, data: MessageIn) -> dict[str, Any]:
        before = _get(services.store, message_id)
        may_change_message(user, before, None)
        message = to_message(data, user, message_id)
        may_change_message(user, before, message)
        now = services.clock.now()
        saved = await off_loop(lambda store: store.update(message, user.name, now))
        return _message_json(saved, tz)

    @router.delete("/api/v1/messages/{message_id}", status_code=status.HTTP_204_NO_CONTENT)
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

    # -- pages ----------------------------------------------------------------------------
    # Fixed paths (/messages/new, /messages/check) before those with an id: the first
    # route that matches answers, and "new" or "check" would do as an id.

    @router.get("/messages", response_class=HTMLResponse)
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

    @router.get("/messages/new", response_class=HTMLResponse)
    async def new_message(request: Request, user: StaffUser) -> HTMLResponse:
        return editor(
            request,
            user,
            message=None,
            errors=[],
            devices=devices,
            languages=config.site.languages,
            form={},
        )

    @router.get("/messages/{message_id}/edit", response_class=HTMLResponse)
    async def edit_message(request: Request, user: StaffUser, message_id: str) -> HTMLResponse:
        message = _get(services.store, message_id)
        return editor(
            request,
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

    @router.post("/messages", response_model=None)
    async def save_message(request: Request, user: StaffUser) -> Response:
        form = dict((await request.form()).items())
        check_csrf(request, str(form.get("csrf", "")))
        existing = str(form.get("existing", "")) or None
        before = _find(services.store, existing) if existing else None
        if before is not None:
            may_change_message(user, before, None)  # 403 before the form is even read
        try:
            data = _message_in(form, config.site.languages, device_ids, picture_of(form))
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
            problems = exc.detail if isinstance(exc.detail, list) else [{"msg": exc.detail}]
            errors, fields = form_errors.place(problems, user.language)
            response = editor(
                request,
                user,
                message=before,  # still editing it: the form keeps its id and mode
                errors=errors,
                field_errors=fields,
                devices=devices,
                languages=config.site.languages,
                form=form,
            )
            response.status_code = status.HTTP_422_UNPROCESSABLE_CONTENT
            return response
        except (ValidationError, StoreError, InputError, ValueError) as exc:
            errors, fields = form_errors.place([{"msg": str(exc)}], user.language)
            response = editor(
                request,
                user,
                message=before,
                errors=errors,
                field_errors=fields,
                devices=devices,
                languages=config.site.languages,
                form=form,
            )
            response.status_code = status.HTTP_422_UNPROCESSABLE_CONTENT
            return response
        # Saved: the list tells this browser to forget the draft it kept of the form.
        saved = quote(existing or "new", safe="")
        return RedirectResponse(f"/messages?saved={saved}", status.HTTP_303_SEE_OTHER)

    @router.post("/messages/check")
    async def check_message(request: Request, user: StaffUser) -> dict[str, Any]:
        """The editor's checks before saving: errors, warnings, each screen at its size."""
        form = dict((await request.form()).items())
        check_csrf(request, str(form.get("csrf", "")))
        existing = str(form.get("existing", "")) or None
        try:
            data = _message_in(form, config.site.languages, device_ids, picture_of(form))
            message = to_message(data, user, existing)
        except HTTPException as exc:
            detail = exc.detail if isinstance(exc.detail, list) else [{"msg": exc.detail}]
            lines, fields = form_errors.place(detail, user.language)
            return {"errors": lines, "fields": fields, "warnings": [], "screens": []}
        except (ValidationError, InputError, ValueError) as exc:
            lines, fields = form_errors.place([{"msg": str(exc)}], user.language)
            return {"errors": lines, "fields": fields, "warnings": [], "screens": []}
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

    @router.post("/messages/{message_id}/delete")
    async def delete_message_form(
        request: Request, user: StaffUser, message_id: str, csrf: Annotated[str, Form()] = ""
    ) -> RedirectResponse:
        check_csrf(request, csrf)
        may_change_message(user, _get(services.store, message_id), None)
        now = services.clock.now()
        await off_loop(lambda store: store.delete(message_id, user.name, now))
        # The list offers to undo it for a while (UNDO_WITHIN).
        return RedirectResponse(f"/messages?deleted={message_id}", status.HTTP_303_SEE_OTHER)

    @router.post("/messages/{message_id}/restore", response_model=None)
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

    return router


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


# -- the editor's form ---------------------------------------------------------------------


def _form_from(message: Message, tz: ZoneInfo, language: str) -> dict[str, Any]:
    """The editor's fields for a stored message."""
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
    pictures = [str(i.image_url) for i in message.content.values() if i.image_url]
    if pictures and (ours := re.search(r"/images/([0-9a-f]{20}\.(?:png|jpg))$", pictures[0])):
        form["image"] = ours[1]  # one of the library's: the editor selects it again
    for language_code, item in message.content.items():
        form[f"title_{language_code}"] = item.title
        form[f"body_{language_code}"] = item.body
        form[f"link_{language_code}"] = str(item.link) if item.link else ""
    return form


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


class FormErrors:
    """Puts each problem next to its field, in the staff member's language.

    The API's problems name a location (``content.nl.title``, ``starts``); the editor's
    fields are named after them (``title_nl``, ``starts``). The words come from
    ``content/web/form_errors.toml`` (rules per language; English as it is).
    """

    FILE = Path(__file__).resolve().parents[2] / "content" / "web" / "form_errors.toml"

    def __init__(self, path: Path = FILE) -> None:
        """Read the rules (a broken file: messages as they are, and a log line)."""
        self._rules: dict[str, list[tuple[re.Pattern[str], str]]] = {}
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
            for language, table in data.items():
                self._rules[language] = [(re.compile(a), b) for a, b in table.get("rules", [])]
        except (OSError, tomllib.TOMLDecodeError, re.error, ValueError, TypeError) as exc:
            log.error("form error words not read from %s: %s", path, exc)

    def say(self, message: str, language: str) -> str:
        """``message`` in ``language`` (as it is when no rule matches)."""
        for pattern, said in self._rules.get(language, []):
            if pattern.match(message):
                return pattern.sub(said, message)
        return message

    def place(
        self, problems: Sequence[Any], language: str
    ) -> tuple[list[str], dict[str, list[str]]]:
        """(every problem as a line for the summary, the problems per form field)."""
        lines: list[str] = []
        fields: dict[str, list[str]] = {}
        for problem in problems:
            if not isinstance(problem, dict):
                problem = {"msg": str(problem)}
            loc = [str(p) for p in problem.get("loc", ()) if p not in ("body", "form")]
            said = self.say(str(problem.get("msg", "")), language)
            field = _field_of(loc, str(problem.get("msg", "")))
            if field is not None:
                fields.setdefault(field, []).append(said)
            label = ".".join(loc)
            lines.append(f"{label}: {said}" if label else said)
        return lines, fields


def _field_of(loc: list[str], message: str) -> str | None:
    """The editor's field a problem is about (None: the form as a whole)."""
    if message.startswith("ends ("):
        return "ends"
    if "already exists" in message:
        return "id"
    if loc == ["message"]:
        return None  # the message as a whole (a rule across fields)
    if loc[:1] == ["content"] and len(loc) >= 3:
        part = {"image_url": "image"}.get(loc[2], loc[2])
        return part if part == "image" else f"{part}_{loc[1]}"
    if loc[:1] == ["content"]:
        return "content"
    if loc[:1] in (["targets"],):
        return "targets"
    if loc[:1] in (["every"], ["recurrence"]):
        return "repeat"
    return loc[0] if loc else None


def _message_in(
    form: dict[str, Any],
    languages: Sequence[str],
    device_ids: set[str],
    picture: str | None = None,
) -> MessageIn:
    """The editor's fields as the API's :class:`MessageIn`, or 422 naming the field.

    ``picture``: the chosen picture's URL, shown in every language with the text.
    """
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
            if picture:
                item["image_url"] = picture
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

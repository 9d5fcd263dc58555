"""Emergency notices: raise one (from a template or in the desk's words), follow it, end it.

The API (``/api/v1/emergency``, ``/api/v1/emergency-templates``) and the staff's
emergency page and forms; raising and ending are the reception desk's and the admins'
(role ``desk``). The panel says how far a notice got: which screens and beacons
confirmed it, which failed, which are still waited for.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Body, Depends, HTTPException, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from beacons.content import Language, LocalizedContent
from onthaal.scheduler_stack import devices as config_devices
from onthaal.scheduler_stack import url_beacons
from onthaal.web.common import (
    ApiUser,
    StaffPages,
    StaffUser,
    _get,
    _message_json,
    _targets_device,
    _unprocessable,
)
from onthaal.web.errors import validation_problems
from onthaal.web.security import api_user, check_csrf, require_role
from onthaal.web.users import User
from scheduler.model import Kind, Message, Targets, emergency_notice
from scheduler.parse import quoted
from scheduler.resolve import Device
from scheduler.store import StoreError, ending
from scheduler.templates import Template
from scheduler.validate import problems

if TYPE_CHECKING:
    from onthaal.web.app import WebServices


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


def emergency_router(
    services: WebServices,
    staff_pages: StaffPages,
    devices: list[Device],
    notice_templates: Mapping[str, Template],
) -> APIRouter:
    """The emergency API and the staff's emergency page and forms of ``services``.

    ``devices``: every display and beacon (the page offers their groups);
    ``notice_templates``: the notices ready to raise, by id.
    """
    config = services.config
    tz = ZoneInfo(config.site.timezone)
    page = staff_pages.render
    words_for = staff_pages.words_for
    router = APIRouter()

    # -- API ------------------------------------------------------------------------------
    # DELETE /api/v1/emergency ends them all; DELETE /api/v1/emergency/{message_id} one.

    @router.get("/api/v1/emergency")
    async def emergency_status(user: ApiUser) -> dict[str, Any]:
        active = [
            _message_json(m, tz) | {"panel": _emergency_panel(services, m)}
            for m in services.store.messages()
            if m.kind is Kind.EMERGENCY
        ]
        return {"active": bool(active), "notices": active}

    @router.post("/api/v1/emergency", status_code=status.HTTP_201_CREATED)
    async def emergency_start(user: ApiUser, data: EmergencyIn) -> dict[str, Any]:
        require_role(user, "desk")
        return _message_json(_start_emergency(services, data, user, notice_templates), tz)

    @router.get("/api/v1/emergency-templates")
    async def emergency_templates(user: ApiUser) -> dict[str, Any]:
        """The notices ready to raise, with their words per language."""
        return {
            t.id: {
                "label": t.label,
                "content": {k: v.model_dump(mode="json") for k, v in t.content.items()},
            }
            for t in notice_templates.values()
        }

    @router.delete("/api/v1/emergency")
    async def emergency_stop(user: ApiUser) -> dict[str, Any]:
        require_role(user, "desk")
        return {"ended": _stop_emergency(services, user)}

    @router.delete("/api/v1/emergency/{message_id}")
    async def emergency_stop_one(user: ApiUser, message_id: str) -> dict[str, Any]:
        require_role(user, "desk")
        _stop_one_emergency(services, message_id, user)
        return {"ended": 1}

    # -- pages ----------------------------------------------------------------------------

    def emergency_view(
        request: Request, user: User, errors: Sequence[str] = (), form: Any = None
    ) -> HTMLResponse:
        now = services.clock.now()
        active = [
            {
                "id": m.id,
                "title": m.title,
                "started": m.starts.astimezone(tz).strftime("%Y-%m-%d %H:%M:%S"),
                "panel": _emergency_panel(services, m),
                # An auto-end: when, how long still, and a reminder when it comes close.
                "ends": m.ends.astimezone(tz).strftime("%H:%M") if m.ends else None,
                "minutes_left": _minutes_left(m, now),
                "ends_soon": m.ends is not None and m.ends - now <= REMIND_BEFORE,
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

    @router.get("/emergency", response_class=HTMLResponse)
    async def emergency_page(request: Request, user: StaffUser) -> HTMLResponse:
        return emergency_view(request, user)

    @router.post("/emergency/start", response_model=None)
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

    @router.post("/emergency/{message_id}/stop", response_model=None)
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

    @router.post("/emergency/{message_id}/extend", response_model=None)
    async def emergency_extend_form(request: Request, user: StaffUser, message_id: str) -> Response:
        """Push an emergency's automatic end back (the reminder's button)."""
        form = await request.form()
        check_csrf(request, str(form.get("csrf", "")))
        require_role(user, "desk")
        _extend_emergency(services, message_id, user, EXTEND_BY)
        return RedirectResponse("/emergency", status.HTTP_303_SEE_OTHER)

    @router.post("/api/v1/emergency/{message_id}/extend")
    async def emergency_extend(
        message_id: str,
        user: Annotated[User, Depends(_desk_caller)],
        body: Annotated[dict[str, Any] | None, Body(description="ExtendIn: {minutes}")] = None,
    ) -> dict[str, Any]:
        """Push an emergency's automatic end back by ``minutes`` (15 by default; desk or
        admin). The body is read after the role is checked: staff get 403, not 422."""
        try:
            asked = ExtendIn.model_validate(body or {})
        except ValidationError as exc:
            raise HTTPException(
                status.HTTP_422_UNPROCESSABLE_CONTENT, validation_problems(exc.errors())
            ) from None
        message = _extend_emergency(services, message_id, user, timedelta(minutes=asked.minutes))
        return _message_json(message, tz) | {"panel": _emergency_panel(services, message)}

    @router.post("/emergency/stop")
    async def emergency_stop_form(request: Request, user: StaffUser) -> RedirectResponse:
        form = await request.form()
        check_csrf(request, str(form.get("csrf", "")))
        require_role(user, "desk")
        _stop_emergency(services, user)
        return RedirectResponse("/emergency", status.HTTP_303_SEE_OTHER)

    return router


def _start_emergency(
    services: WebServices,
    data: EmergencyIn,
    user: User,
    templates: Mapping[str, Template] | None = None,
) -> Message:
    """Raise the notice ``data`` asks for (a template's words where it gives none)."""
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
    """End every emergency notice; how many there were."""
    return services.store.end_emergencies(user.name, services.clock.now())


def _stop_one_emergency(services: WebServices, message_id: str, user: User) -> None:
    """End the emergency ``message_id`` (404: none such, 409: not an emergency)."""
    message = _get(services.store, message_id)
    if message.kind is not Kind.EMERGENCY:
        raise HTTPException(status.HTTP_409_CONFLICT, f"{message_id!r} is not an emergency")
    services.store.delete(message_id, user.name, services.clock.now(), ending(message))


async def _desk_caller(request: Request) -> User:
    """An API caller with the desk role or higher (403 before the body is even read)."""
    user = api_user(request, request.app.state.services.users)
    require_role(user, "desk")
    return user


REMIND_BEFORE = timedelta(minutes=5)  # the page says so this long before an auto-end
EXTEND_BY = timedelta(minutes=15)  # what the reminder's button adds


class ExtendIn(BaseModel):
    """How much longer an emergency with an automatic end lasts."""

    model_config = ConfigDict(extra="forbid")

    minutes: int = Field(default=15, ge=1, le=24 * 60, description="Minutes added to its end.")


def _minutes_left(message: Message, now: datetime) -> int | None:
    """Whole minutes until an emergency ends by itself (None: it does not)."""
    if message.ends is None:
        return None
    return max(0, int((message.ends - now).total_seconds() // 60))


def _extend_emergency(services: WebServices, message_id: str, user: User, by: timedelta) -> Message:
    """Move the automatic end of emergency ``message_id`` ``by`` later (404/409)."""
    message = _get(services.store, message_id)
    if message.kind is not Kind.EMERGENCY:
        raise HTTPException(status.HTTP_409_CONFLICT, f"{message_id!r} is not an emergency")
    if message.ends is None:
        raise HTTPException(status.HTTP_409_CONFLICT, f"{message_id!r} does not end by itself")
    now = services.clock.now()
    later = message.model_copy(update={"ends": max(message.ends, now) + by})
    return services.store.update(later, user.name, now)


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

"""A week of one screen: what it shows, hour by hour, and why (the winner of each slot).

"Why isn't my message showing?" is answered per message by its week view; this is the
other side: for one screen, seven days of hourly slots with the message that wins each
(or its default, or the closed-day notice), read from the schedule and resolved here
with the dispatcher's own rules, in a worker thread (a week is 7 x 24 resolutions of one
device: bounded, whatever the schedule).
"""

from __future__ import annotations

import asyncio
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, HTTPException, Query, Request, status
from fastapi import Path as PathParam
from fastapi.responses import HTMLResponse

from onthaal.fleet_stack import FleetWords
from onthaal.scheduler_stack import closed_days
from onthaal.web.common import ApiUser, StaffPages, StaffUser
from scheduler.resolve import BuildingHours, Device, Timeline, resolve

if TYPE_CHECKING:
    from dialogue.calendar import OpeningCalendar
    from onthaal.web.app import WebServices

DAYS = 7


def screen_week_router(
    services: WebServices,
    pages: StaffPages,
    devices: list[Device],
    calendar: OpeningCalendar,
) -> APIRouter:
    """``/devices/<id>/week`` (page) and ``/api/v1/devices/<id>/week`` (JSON)."""
    router = APIRouter()
    config = services.config
    tz = ZoneInfo(config.site.timezone)
    screens = {d.id: d for d in devices if d.kind == "display"}
    names = {d.id: d.name or d.id for d in config.displays}
    closed = closed_days(config, services.config_path, calendar)
    words = FleetWords()

    def week(device: Device, first: date) -> list[dict[str, Any]]:
        start = datetime.combine(first, datetime.min.time(), tzinfo=tz)
        end = start + timedelta(days=DAYS)
        if services.store.in_memory:
            messages = services.store.messages()  # tests: one connection, this thread
        else:
            reader = services.store.reader(any_thread=True)  # its own, for this thread
            try:
                messages = reader.messages()
            finally:
                reader.close()
        extra = closed(start, end) if closed is not None else []
        hours: BuildingHours = calendar
        timeline = Timeline([*messages, *extra], tz, start - timedelta(days=1), end, hours)
        days = []
        for offset in range(DAYS):
            day = first + timedelta(days=offset)
            slots = []
            for hour in range(24):
                at = datetime.combine(day, datetime.min.time(), tzinfo=tz) + timedelta(hours=hour)
                shown = resolve(
                    timeline, [device], at, ties=config.scheduler.ties,
                    rotate_every=config.scheduler.rotate_every,
                )[device.id]  # fmt: skip
                message = shown.message
                slots.append(
                    {
                        "hour": hour,
                        "message": message.id if message else None,
                        "title": message.title if message else None,
                        "priority": message.priority if message else None,
                        "emergency": shown.emergency,
                        "closed": bool(message and message.id.startswith("closed-")),
                    }
                )
            days.append({"date": day.isoformat(), "slots": slots})
        return days

    async def off_loop(work: Any, *args: Any) -> Any:
        """In a worker thread (an in-memory schedule: here, on its own connection)."""
        if services.store.in_memory:
            return work(*args)
        return await asyncio.to_thread(work, *args)

    def screen(device_id: str) -> Device:
        found = screens.get(device_id)
        if found is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no screen {device_id!r}")
        return found

    def first_day(start: date | None) -> date:
        today = services.clock.now().astimezone(tz).date()
        if start is not None and not date(2000, 1, 2) <= start <= date(2099, 12, 20):
            raise HTTPException(
                status.HTTP_422_UNPROCESSABLE_CONTENT,
                [{"loc": ["query", "start"], "msg": "must lie between 2000 and 2099",
                  "type": "value_error"}],
            )  # fmt: skip
        return start or today

    @router.get("/api/v1/devices/{device}/week")
    async def week_api(
        user: ApiUser,
        device: Annotated[str, PathParam(max_length=64)],
        start: Annotated[date | None, Query(description="First day (default today).")] = None,
    ) -> dict[str, Any]:
        """Seven days of one screen: per hour, the message that wins (or the default)."""
        found = screen(device)
        return {"device": device, "days": await off_loop(week, found, first_day(start))}

    @router.get("/devices/{device}/week", response_class=HTMLResponse)
    async def week_page(
        request: Request,
        user: StaffUser,
        device: Annotated[str, PathParam(max_length=64)],
        start: Annotated[date | None, Query()] = None,
    ) -> HTMLResponse:
        found = screen(device)
        first = first_day(start)
        return pages.render(
            request, "screen_week.html", user, screen_name=names.get(device, device), device=device,
            days=await off_loop(week, found, first), first=first,
            w=words.section(user.language, "dashboard"),
            previous=(first - timedelta(days=DAYS)).isoformat(),
            following=(first + timedelta(days=DAYS)).isoformat(),
        )  # fmt: skip

    return router

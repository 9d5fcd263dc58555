"""The screens, beacons and robot: what each shows or does, now or at another moment.

The screens' own pages (``/display/<id>`` and its event stream, no credentials: a
screen player has none), the devices and groups, what every device shows at a moment
and a message's week, whether a link fits a beacon's frame, the robot's state and the
beacons' feed.
"""

from __future__ import annotations

import asyncio
import base64
import functools
import io
import json
from collections import Counter
from collections.abc import AsyncIterator, Mapping
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Annotated, Any
from zoneinfo import ZoneInfo

import qrcode
import qrcode.image.svg
from fastapi import APIRouter, HTTPException, Query, Request, status
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates
from starlette.responses import StreamingResponse

from beacons.frames import FrameError, encode_eddystone_url
from onthaal.web.common import ApiUser, _get, _query_time, _targets_device, _unprocessable
from onthaal.web.core import CoreUnavailable
from onthaal.web.images import name_in
from scheduler.model import Kind
from scheduler.resolve import BuildingHours, Device, Showing, windows_of
from scheduler.screen import columns

if TYPE_CHECKING:
    from onthaal.web.app import WebServices

STREAMS_PER_ADDRESS = 8  # a screen player needs one; a few spare for reloads
STREAMS_IN_ALL = 256

#: Windows per day the week view looks at (each one asks the core what shows then).
WEEK_WINDOWS = 4


def devices_router(
    services: WebServices,
    templates: Jinja2Templates,
    devices: list[Device],
    hours: BuildingHours,
) -> APIRouter:
    """The display pages and the device, preview, week and robot API of ``services``.

    ``devices``: every display and beacon; ``hours``: the building's, for messages tied
    to them.
    """
    config = services.config
    tz = ZoneInfo(config.site.timezone)
    router = APIRouter()

    @router.get("/display/{display_id}", response_class=HTMLResponse)
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

    @router.get("/display/{display_id}/events")
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

    async def shown_at(moment: datetime) -> Mapping[str, Showing]:
        """What every device shows at ``moment``, from the core; 503 while it is away."""
        try:
            return await services.core.preview(moment)
        except CoreUnavailable as exc:
            raise HTTPException(
                status.HTTP_503_SERVICE_UNAVAILABLE, str(exc), headers={"Retry-After": "5"}
            ) from None

    @router.get("/api/v1/preview")
    async def preview(user: ApiUser, at: datetime) -> dict[str, Any]:
        showing = await shown_at(_query_time("at", at, tz))
        return {
            device: {"content_id": s.content_id, "title": s.message.title if s.message else None}
            for device, s in showing.items()
        }

    @router.get("/api/v1/messages/{message_id}/week")
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

    @router.get("/api/v1/frame-check")
    async def frame_check(user: ApiUser, url: str) -> dict[str, Any]:
        try:
            frame = encode_eddystone_url(url)
        except FrameError as exc:
            return {"fits": False, "reason": str(exc)}
        return {"fits": True, "bytes": len(frame)}

    @router.get("/api/v1/devices")
    async def list_devices(user: ApiUser) -> list[dict[str, Any]]:
        return _devices(services)

    @router.get("/api/v1/groups")
    async def list_groups(user: ApiUser) -> dict[str, list[str]]:
        groups: dict[str, list[str]] = {}
        for device in devices:
            groups.setdefault(device.group, []).append(device.id)
        return groups

    @router.get("/api/v1/robot")
    async def robot(user: ApiUser) -> dict[str, Any]:
        return _robot(services)

    @router.get("/api/v1/beacons/feed")
    async def beacon_feed(user: ApiUser) -> list[dict[str, Any]]:
        return list(services.core.snapshot().beacon_feed)

    return router


def _devices(services: WebServices) -> list[dict[str, Any]]:
    """Every display and beacon: what it should show, what it confirmed, when last seen."""
    snapshot = services.core.snapshot()
    status_of = snapshot.status
    showing = snapshot.showing
    found: list[dict[str, Any]] = []
    signage = snapshot.displays
    ble = snapshot.beacons
    health = {h.device: h for h in snapshot.fleet}

    def judged(device: str) -> dict[str, Any]:
        """The fleet watcher's state and reason ("unknown" before its first look)."""
        found = health.get(device)
        if found is None:
            return {"state": "unknown", "reason": "not judged yet"}
        return {"state": found.state, "reason": found.reason, "days_left": found.days_left}

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
                **judged(display.id),
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
                # Heard within [fleet] beacon_stale_minutes (no longer: heard once, ever).
                "online": health[beacon.id].state not in ("stale", "offline", "unknown")
                if beacon.id in health
                else bool(seen and seen.last_seen),
                **judged(beacon.id),
                "wanted": entry.wanted if entry else None,
                "delivered": entry.delivered if entry else None,
                "failed": (entry.failed if entry else None)
                or (seen.last_error if seen and seen.status == "failed" else None),
                "last_seen": seen.last_seen.isoformat() if seen and seen.last_seen else None,
                "battery_percent": seen.battery_percent if seen else None,
            }
        )
    return found


def _picture(services: WebServices, url: object | None) -> str | None:
    """A picture's address for Onthaal's own screen page: one of the library's by its
    path (whatever host name the screen used to reach this server), others as given."""
    if url is None:
        return None
    ours = name_in(services, str(url))
    return f"/images/{ours}" if ours else str(url)


@functools.lru_cache(maxsize=256)
def qr_data_uri(link: str) -> str:
    """A QR code of ``link`` as an SVG data URI (cached: the screens' stream asks often)."""
    image = qrcode.make(link, image_factory=qrcode.image.svg.SvgPathImage, box_size=10)
    out = io.BytesIO()
    image.save(out)
    return "data:image/svg+xml;base64," + base64.b64encode(out.getvalue()).decode("ascii")


def _title(showing: Showing | None) -> str | None:
    """The staff title of the scheduled message a device should show (None: its default)."""
    return showing.message.title if showing is not None and showing.message else None


def _robot(services: WebServices) -> dict[str, Any]:
    """The robot: connected or not, when last seen, what it runs, today's visitors."""
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
    """What screen ``display_id`` shows now: one column per language, emergency or not."""
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
        "languages": {
            c.shown: {
                "title": c.item.title,
                "body": c.item.body,
                "image": _picture(services, c.item.image_url),
                # A phone in front of the screen opens the message's link.
                "qr": qr_data_uri(str(c.item.link)) if c.item.link else None,
            }
            for c in shown
        },
    }

"""The fleet on the dashboard: every device's health, live, and the alerts.

What staff see is the fleet watcher's judgement (``snapshot.fleet``: a state and its
reason per device), what each screen shows (its title, and a miniature at the screen's
shape), grouped as screens, beacons and the robot, filtered by place. The dashboard
follows it live over one server-sent event stream (a fragment of HTML re-rendered when
it changes). Alerts are read from the alert log; an admin can send a test alert.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections import Counter
from collections.abc import AsyncIterator
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Form, HTTPException, Query, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse
from starlette.responses import StreamingResponse

from beacons.fleet import Health
from onthaal.alert_channels import channels_of
from onthaal.fleet_stack import FleetWords, send_test
from onthaal.web.common import ApiUser, StaffPages, StaffUser
from onthaal.web.security import check_csrf, require_role
from scheduler.screen import columns

if TYPE_CHECKING:
    from onthaal.web.app import WebServices

log = logging.getLogger("onthaal.web.fleet")

STREAMS_PER_USER = 4  # a few tabs
STREAMS_IN_ALL = 64
REFRESH = 2.0  # real seconds between two looks for a change
ALERTS_SHOWN = 20


def fleet_router(services: WebServices, pages: StaffPages) -> APIRouter:
    """Fleet health and alerts: the API, the live fragment, the test alert."""
    router = APIRouter()
    words = FleetWords()
    streams: Counter[str] = Counter()

    @router.get("/api/v1/fleet")
    async def fleet(user: ApiUser) -> list[dict[str, Any]]:
        """Every device's health: state, reason, last seen, battery (and days left)."""
        return [_health_json(h) for h in services.core.snapshot().fleet]

    @router.get("/api/v1/alerts")
    async def alerts(
        user: ApiUser,
        limit: Annotated[int, Query(ge=1, le=500)] = 100,
        device: Annotated[str | None, Query(max_length=64)] = None,
    ) -> list[dict[str, Any]]:
        """The newest alerts first, with what each channel said."""
        return [_logged_json(item) for item in await _recent(services, limit, device)]

    @router.post("/api/v1/alerts/test")
    async def test_alert(user: ApiUser) -> dict[str, str]:
        """Send a test alert on every configured channel; per channel "ok" or the error."""
        require_role(user, "admin")
        return await _send_test(services, words, user.name)

    @router.post("/alerts/test", response_model=None)
    async def test_alert_form(
        request: Request, user: StaffUser, csrf: Annotated[str, Form()] = ""
    ) -> RedirectResponse:
        check_csrf(request, csrf)
        require_role(user, "admin")
        request.session["alert_test"] = await _send_test(services, words, user.name)
        return RedirectResponse("/#alerts", status.HTTP_303_SEE_OTHER)

    @router.get("/dashboard/fleet", response_class=HTMLResponse)
    async def fragment(
        request: Request, user: StaffUser, place: Annotated[str, Query(max_length=64)] = ""
    ) -> HTMLResponse:
        """The dashboard's fleet part alone (what the live stream sends)."""
        view = await fleet_view(services, words, user.language, place)
        return pages.render(request, "_fleet.html", user, **view)

    @router.get("/dashboard/events")
    async def events(
        request: Request, user: StaffUser, place: Annotated[str, Query(max_length=64)] = ""
    ) -> StreamingResponse:
        """The fleet part again whenever it changes (server-sent events)."""
        if streams[user.name] >= STREAMS_PER_USER or streams.total() >= STREAMS_IN_ALL:
            raise HTTPException(
                status.HTTP_429_TOO_MANY_REQUESTS,
                f"too many open dashboards (at most {STREAMS_PER_USER} per account)",
                headers={"Retry-After": "30"},
            )
        template = pages.templates.get_template("_fleet.html")
        t = pages.words_for(user)

        async def stream() -> AsyncIterator[str]:
            streams[user.name] += 1
            try:
                last = None
                while True:
                    view = await fleet_view(services, words, user.language, place)
                    html = template.render(t=t, user=user, **view)
                    if html != last:
                        last = html
                        yield f"data: {json.dumps({'html': html})}\n\n"
                    await asyncio.sleep(REFRESH)  # clock-ok: a browser lives in real time
            finally:
                streams[user.name] -= 1
                if streams[user.name] <= 0:
                    del streams[user.name]

        return StreamingResponse(stream(), media_type="text/event-stream")

    return router


async def fleet_view(
    services: WebServices, words: FleetWords, language: str, place: str = ""
) -> dict[str, Any]:
    """What the dashboard shows of the fleet, in ``language``, for one place or all."""
    config = services.config
    zone = ZoneInfo(config.site.timezone)
    snapshot = services.core.snapshot()
    states = words.section(language, "states")
    reasons = words.section(language, "reasons")
    health = {h.device: h for h in snapshot.fleet}
    places = sorted({d.group for d in config.displays} | {b.group for b in config.beacons})

    def common(device: str, name: str, group: str) -> dict[str, Any]:
        found = health.get(device)
        state = found.state if found is not None else "unknown"
        seen = found.last_seen if found is not None else None
        return {
            "id": device,
            "name": name or device,
            "group": group,
            "state": state,
            "state_label": states.get(state, state),
            "reason": found.reason_in(reasons) if found is not None else "",
            "last_seen": seen.isoformat() if seen else None,
            "last_seen_local": _local(seen, zone, snapshot.taken_at),
            "battery": found.battery_percent if found is not None else None,
            "days_left": round(found.days_left) if found and found.days_left else None,
        }

    screens = []
    for display in config.displays:
        if place and display.group != place:
            continue
        showing = snapshot.showing.get(display.id)
        message = showing.message if showing is not None else None
        content = message.content if message is not None else display.default
        shown = columns(content, display.languages, config.site.languages)
        status_of = snapshot.status.get(display.id)
        screens.append(
            {
                **common(display.id, display.name, display.group),
                "title": message.title if message is not None else None,
                "confirmed": bool(status_of and status_of.wanted == status_of.delivered),
                "emergency": showing is not None and showing.emergency,
                "width": display.width,
                "height": display.height,
                "columns": [{"language": c.shown, "title": c.item.title} for c in shown],
            }
        )
    beacons = []
    for beacon in config.beacons:
        if place and beacon.group != place:
            continue
        showing = snapshot.showing.get(beacon.id)
        message = showing.message if showing is not None else None
        status_of = snapshot.status.get(beacon.id)
        beacons.append(
            {
                **common(beacon.id, beacon.name, beacon.group),
                "title": message.title if message is not None else None,
                "confirmed": bool(status_of and status_of.wanted == status_of.delivered),
                "link": beacon.url if message is None else None,
            }
        )
    robot = snapshot.robot
    robot_health = health.get("robot")
    return {
        "w": words.section(language, "dashboard"),
        "conditions": words.section(language, "conditions"),
        "places": places,
        "place": place,
        "screens": screens,
        "beacons": beacons,
        "robot": {
            "present": robot.present,
            "state": robot_health.state
            if robot_health
            else ("online" if robot.connected else "unknown"),
            "state_label": states.get(robot_health.state if robot_health else "unknown", "?"),
            "connected": robot.connected,
            "last_seen_local": _local(robot.last_seen, zone, snapshot.taken_at),
            "behaviours": list(robot.running),
            # Only what a connected robot said: an unreachable one has no battery reading.
            "battery": robot.battery if robot.connected else None,
        },
        "alerts": [_logged_json(item, zone) for item in await _recent(services, ALERTS_SHOWN)],
        "alert_channels": [c.name for c in _channels(services)],
        "taken_local": snapshot.taken_at.astimezone(zone).strftime("%H:%M:%S"),
    }


def _local(moment: datetime | None, zone: ZoneInfo, now: datetime) -> str | None:
    """A time as staff read it: the hour today, with the date on another day."""
    if moment is None:
        return None
    local = moment.astimezone(zone)
    if local.date() == now.astimezone(zone).date():
        return local.strftime("%H:%M:%S")
    return local.strftime("%d/%m %H:%M")


def _channels(services: WebServices) -> list[Any]:
    alerts = services.config.alerts
    return list(channels_of(alerts.email, alerts.webhook))


async def _send_test(services: WebServices, words: FleetWords, user: str) -> dict[str, str]:
    channels = _channels(services)
    if not channels:
        raise HTTPException(
            status.HTTP_409_CONFLICT,
            "no alert channel is set up: add [alerts.email] or [alerts.webhook] to the config",
        )
    text = words.section(services.config.site.default_language, "alerts")
    site = services.config.site.name
    subject = text.get("test_subject", "{site}: test").format(site=site)
    body = text.get("test_body", "Test by {user}.").format(user=user) + "\n"
    payload = {"schema": 1, "site": services.config.site.id, "event": "test", "by": user}
    results = await send_test(channels, subject, body, payload)
    log.info("test alert by %s: %s", user, results)
    return results


async def _recent(services: WebServices, limit: int, device: str | None = None) -> list[Any]:
    alert_log = services.alerts
    if alert_log is None:
        return []
    return await asyncio.to_thread(alert_log.recent, limit, device)


def _health_json(health: Health) -> dict[str, Any]:
    return {
        "device": health.device,
        "kind": health.kind,
        "name": health.name,
        "group": health.group,
        "state": health.state,
        "reason": health.reason,
        "last_seen": health.last_seen.isoformat() if health.last_seen else None,
        "battery_percent": health.battery_percent,
        "days_left": health.days_left,
    }


def _logged_json(item: Any, zone: ZoneInfo | None = None) -> dict[str, Any]:
    alert = item.alert
    shown = {
        "key": alert.key,
        "device": alert.device,
        "name": alert.name,
        "condition": alert.condition,
        "edge": alert.edge,
        "at": alert.at.isoformat(),
        "since": alert.since.isoformat(),
        "reason": alert.reason,
        "status": item.status,
        "channels": item.channels,
    }
    if zone is not None:
        shown["at_local"] = alert.at.astimezone(zone).strftime("%d/%m %H:%M")
    return shown

"""Proof of play in the web app: per message and per device, on a page and as CSV.

"Was the Christmas notice on the hall screen on 19/12?" — each device's stretches
(from its confirmation until it confirmed something else, :mod:`scheduler.played`) over
a period (the last 30 days unless asked), with the minutes per device. A message that
has since been deleted still has its record.
"""

from __future__ import annotations

import csv
import io
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, HTTPException, Query, Request, status
from fastapi import Path as PathParam
from fastapi.responses import HTMLResponse, Response

from onthaal.fleet_stack import FleetWords
from onthaal.web.common import (
    ApiUser,
    StaffPages,
    StaffUser,
    _find,
    _query_time,
    _unprocessable,
)
from scheduler.played import Played, of_message, stretches

if TYPE_CHECKING:
    from onthaal.web.app import WebServices

DEFAULT_PERIOD = timedelta(days=30)
LONGEST_PERIOD = timedelta(days=400)
_MESSAGE_ID = r"^[a-z0-9][a-z0-9-]{0,63}$"
_DEVICE_ID = r"^[a-z0-9][a-z0-9-]{0,63}$"

Start = Annotated[datetime | None, Query(description="From (local time or with offset).")]
End = Annotated[datetime | None, Query(description="Until (default: now).")]


def played_router(services: WebServices, pages: StaffPages) -> APIRouter:
    """Proof of play per message and per device: JSON, CSV and a page for each."""
    router = APIRouter()
    words = FleetWords()
    config = services.config
    tz = ZoneInfo(config.site.timezone)
    names = {d.id: (d.name or d.id, "display") for d in config.displays}
    names.update({b.id: (b.name or b.id, "beacon") for b in config.beacons})

    def period(start: datetime | None, end: datetime | None) -> tuple[datetime, datetime]:
        now = services.clock.now()
        until = _query_time("end", end, tz) if end is not None else now
        since = _query_time("start", start, tz) if start is not None else until - DEFAULT_PERIOD
        if since >= until:
            raise _unprocessable(["start: start is not before end"])
        if until - since > LONGEST_PERIOD:
            raise _unprocessable(
                [f"start: a report covers at most {LONGEST_PERIOD.days} days; ask for less"]
            )
        return since, until

    def report(
        message_id: str | None, device: str | None, since: datetime, until: datetime
    ) -> tuple[list[Played], datetime]:
        """The stretches asked for, and the moment an unreplaced one is counted to."""
        if device is not None and device not in names:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no device {device!r}")
        found = stretches(services.store.deliveries_between(since, until, device), since, until)
        if message_id is not None:
            found = of_message(found, message_id)
        return found, min(until, services.clock.now())

    def rows(found: list[Played], upto: datetime) -> list[dict[str, Any]]:
        return [
            {
                "device": p.device,
                "name": names.get(p.device, (p.device, "?"))[0],
                "kind": names.get(p.device, (p.device, "?"))[1],
                "content_id": p.content_id,
                "message": p.message,
                "from": p.starts.astimezone(tz).isoformat(),
                "until": p.ends.astimezone(tz).isoformat() if p.ends else None,
                "minutes": round(p.minutes(upto), 1),
            }
            for p in found
        ]

    def totals(found: list[Played], upto: datetime) -> list[dict[str, Any]]:
        minutes: dict[str, float] = {}
        for p in found:
            minutes[p.device] = minutes.get(p.device, 0.0) + p.minutes(upto)
        return [
            {"device": d, "name": names.get(d, (d, "?"))[0], "minutes": round(m, 1)}
            for d, m in sorted(minutes.items())
        ]

    def title_of(message_id: str) -> str:
        message = _find(services.store, message_id)
        return message.title if message is not None else message_id

    @router.get("/api/v1/messages/{message_id}/played")
    async def message_played(
        user: ApiUser, message_id: Annotated[str, _path(_MESSAGE_ID)], start: Start = None,
        end: End = None,
    ) -> dict[str, Any]:  # fmt: skip
        """Where and when a message was shown (any of its versions), minutes per device."""
        since, until = period(start, end)
        found, upto = report(message_id, None, since, until)
        return {
            "message": message_id,
            "from": since.isoformat(),
            "until": until.isoformat(),
            "devices": totals(found, upto),
            "shown": rows(found, upto),
        }

    @router.get("/api/v1/messages/{message_id}/played.csv")
    async def message_played_csv(
        user: ApiUser, message_id: Annotated[str, _path(_MESSAGE_ID)], start: Start = None,
        end: End = None,
    ) -> Response:  # fmt: skip
        """The same as CSV: one line per stretch, local times, minutes."""
        since, until = period(start, end)
        found, upto = report(message_id, None, since, until)
        return _csv(rows(found, upto), f"{message_id}-played.csv")

    @router.get("/api/v1/devices/{device}/played")
    async def device_played(
        user: ApiUser, device: Annotated[str, _path(_DEVICE_ID)], start: Start = None,
        end: End = None,
    ) -> dict[str, Any]:  # fmt: skip
        """What a device showed, stretch by stretch."""
        since, until = period(start, end)
        found, upto = report(None, device, since, until)
        return {"device": device, "from": since.isoformat(), "until": until.isoformat(),
                "shown": rows(found, upto)}  # fmt: skip

    @router.get("/api/v1/devices/{device}/played.csv")
    async def device_played_csv(
        user: ApiUser, device: Annotated[str, _path(_DEVICE_ID)], start: Start = None,
        end: End = None,
    ) -> Response:  # fmt: skip
        """The same as CSV."""
        since, until = period(start, end)
        found, upto = report(None, device, since, until)
        return _csv(rows(found, upto), f"{device}-played.csv")

    @router.get("/messages/{message_id}/played", response_class=HTMLResponse)
    async def message_played_page(
        request: Request, user: StaffUser, message_id: Annotated[str, _path(_MESSAGE_ID)],
        start: Start = None, end: End = None,
    ) -> HTMLResponse:  # fmt: skip
        since, until = period(start, end)
        found, upto = report(message_id, None, since, until)
        return pages.render(
            request, "played.html", user, pw=words.section(user.language, "played"),
            heading=title_of(message_id), what="message",
            subject=message_id, since=since.astimezone(tz), until=until.astimezone(tz),
            totals=totals(found, upto), shown=rows(found, upto),
        )  # fmt: skip

    @router.get("/devices/{device}/played", response_class=HTMLResponse)
    async def device_played_page(
        request: Request, user: StaffUser, device: Annotated[str, _path(_DEVICE_ID)],
        start: Start = None, end: End = None,
    ) -> HTMLResponse:  # fmt: skip
        since, until = period(start, end)
        found, upto = report(None, device, since, until)
        shown = rows(found, upto)
        for row in shown:
            row["title"] = title_of(row["message"]) if row["message"] else None
        return pages.render(
            request, "played.html", user, pw=words.section(user.language, "played"),
            heading=names[device][0], what="device",
            subject=device, since=since.astimezone(tz), until=until.astimezone(tz),
            totals=[], shown=shown,
        )  # fmt: skip

    return router


def _path(pattern: str) -> Any:
    """A path parameter that must match ``pattern`` (else 422 naming it)."""
    return PathParam(pattern=pattern, max_length=64)


def _cell(value: object) -> str:
    """A CSV cell a spreadsheet will not run as a formula."""
    text = "" if value is None else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def _csv(found: list[dict[str, Any]], filename: str) -> Response:
    out = io.StringIO()
    columns = ["device", "name", "kind", "content_id", "message", "from", "until", "minutes"]
    writer = csv.writer(out)
    writer.writerow(columns)
    for row in found:
        writer.writerow([_cell(row[c]) for c in columns])
    return Response(
        out.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )

"""What the areas of the staff web app share: who asks, and the answers they give alike.

The two callers (an API caller, a page's signed-in staff member), times from a body or a
query, a 422 naming its fields, the staff pages' renderer and words, and the few
lookups and JSON shapes more than one area uses. Each area's routes live in a module of
their own (``messages``, ``emergency``, ``devices``, ``accounts``, ``pages``, ``sim``,
``health``); :func:`onthaal.web.app.create_app` puts them together.
"""

from __future__ import annotations

import re
import tomllib
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote, urlsplit
from zoneinfo import ZoneInfo

from fastapi import Depends, HTTPException, Request, status
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from onthaal.web.security import api_user, csrf_token, session_user
from onthaal.web.users import User
from scheduler.model import Message, Targets
from scheduler.parse import InputError, site_time
from scheduler.recurrence import describe
from scheduler.resolve import Device
from scheduler.store import Store, StoreError

HERE = Path(__file__).resolve().parent


# -- who asks ------------------------------------------------------------------------------


async def _api_user(request: Request) -> User:
    """The API caller (bearer token, or session plus CSRF header); 401 if none."""
    return api_user(request, request.app.state.services.users)


async def _staff_user(request: Request) -> User:
    """The logged-in staff member of a page; otherwise off to the login page, and back
    to this page after it (a form sent with an expired session: back to the form, where
    the editor restores what was typed)."""
    user = session_user(request, request.app.state.services.users)
    if user is None:
        back = request.url.path if request.method == "GET" else _same_site_path(request)
        where = f"/login?next={quote(back, safe='/')}" if back and back != "/" else "/login"
        raise HTTPException(status.HTTP_303_SEE_OTHER, headers={"Location": where})
    return user


def _same_site_path(request: Request) -> str | None:
    """The path of the page a form was sent from, if it is one of this site's."""
    referer = urlsplit(request.headers.get("referer", ""))
    if referer.netloc and referer.netloc != request.url.netloc:
        return None
    return safe_next(referer.path)


def safe_next(path: str | None) -> str | None:
    """``path`` if it is a local page to go back to after signing in (never elsewhere)."""
    if not path or not path.startswith("/") or path.startswith("//") or "\\" in path:
        return None
    if not re.fullmatch(r"/[A-Za-z0-9/_.-]*", path) or path.startswith("/api/"):
        return None
    return path


ApiUser = Annotated[User, Depends(_api_user)]
StaffUser = Annotated[User, Depends(_staff_user)]


def _client(request: Request) -> str:
    """The caller's address, for the security log."""
    return request.client.host if request.client else "?"


# -- input ---------------------------------------------------------------------------------


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
    """A 422 with one problem per ``"field: what is wrong"`` line of ``found``."""
    return HTTPException(
        status.HTTP_422_UNPROCESSABLE_CONTENT,
        [
            {"loc": [p.split(":", 1)[0]], "msg": p.split(":", 1)[-1].strip(), "type": "value_error"}
            for p in found
        ],
    )


def _said(detail: Any) -> str:
    """One validation problem as a line for staff."""
    if isinstance(detail, dict):
        where = ".".join(str(p) for p in detail.get("loc", ()) if p not in ("body", "form"))
        return f"{where}: {detail.get('msg', '')}" if where else str(detail.get("msg", ""))
    return str(detail)


# -- the schedule --------------------------------------------------------------------------


def _find(store: Store, message_id: str) -> Message | None:
    """The stored message ``message_id``, or None."""
    try:
        return store.get(message_id)
    except StoreError:
        return None


def _get(store: Store, message_id: str) -> Message:
    """The stored message ``message_id``, or 404."""
    try:
        return store.get(message_id)
    except StoreError as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from None


def _targets_device(targets: Targets, device: Device) -> bool:
    """Whether ``targets`` include ``device``."""
    return (
        targets.everything
        or device.group in targets.groups
        or (device.kind == "display" and device.id in targets.displays)
        or (device.kind == "beacon" and device.id in targets.beacons)
    )


def _message_json(message: Message, tz: ZoneInfo, language: str = "en") -> dict[str, Any]:
    """A message as the API answers it, with its local times and its repetition in words."""
    data = message.model_dump(mode="json")
    data["starts_local"] = message.starts.astimezone(tz).strftime("%Y-%m-%d %H:%M")
    data["ends_local"] = (
        message.ends.astimezone(tz).strftime("%Y-%m-%d %H:%M") if message.ends else None
    )
    data["repeats"] = describe(message.recurrence, language, message.starts.astimezone(tz).year)
    data["content_id"] = message.content_id
    return data


# -- staff pages ---------------------------------------------------------------------------


def _ui_words(config_path: Path) -> dict[str, dict[str, str]]:
    """The staff pages' words per language (the site's ``content/web/ui.toml``, else ours).

    A language's missing words are the Dutch ones, so a page never shows a bare key.
    """
    path = config_path.parent / "content" / "web" / "ui.toml"
    if not path.exists():
        path = HERE.parent.parent / "content" / "web" / "ui.toml"
    words: dict[str, dict[str, str]] = tomllib.loads(path.read_text(encoding="utf-8"))
    for language, table in words.items():
        if language != "nl":
            words[language] = {**words["nl"], **table}
    return words


class StaffPages:
    """Renders the staff pages: the reader's words, the CSRF token, the devices' names."""

    def __init__(
        self,
        templates: Jinja2Templates,
        words: dict[str, dict[str, str]],
        device_names: dict[str, str],
    ) -> None:
        self.templates = templates
        self.words = words
        self._device_names = device_names

    def words_for(self, user: User | None) -> dict[str, str]:
        """The words of ``user``'s language (Dutch for nobody)."""
        return self.words.get(user.language if user else "nl", self.words["nl"])

    def render(
        self, request: Request, name: str, user: User | None, **context: Any
    ) -> HTMLResponse:
        """The page ``name`` for ``user`` (None: signed out, in the session's language)."""
        language = user.language if user else request.session.get("language", "nl")
        return self.templates.TemplateResponse(
            request,
            name,
            {
                "t": self.words.get(language, self.words["nl"]),
                "device_names": self._device_names,
                "user": user,
                "csrf": csrf_token(request),
                "language": language,
                **context,
            },
        )

"""Who may use the app, and what was done: accounts, API tokens, the two trails.

The admins' page and API for staff accounts and tokens (``/users``): add an account,
change its role, reset its password, disable or enable it, make and revoke API tokens.
An admin never types anyone's password: a new or reset account gets a one-time
set-password link (``/set-password/TOKEN``, see :mod:`onthaal.web.users`), shown once.

Every change is written twice: to the security log (with the caller's address, trimmed
under a flood of failed sign-ins) and to the account audit trail (never trimmed). The
``/audit`` page merges the schedule's audit trail (who changed which message) with the
account audit trail (for admins), by time, in the site's time zone, filtered, and as CSV.
"""

from __future__ import annotations

import asyncio
import csv
import io
import threading
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Annotated, Any, Literal
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Form, HTTPException, Query, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import BaseModel, ConfigDict, Field, StrictBool

from onthaal.web.common import ApiUser, StaffPages, StaffUser, _client, _unprocessable
from onthaal.web.security import check_csrf, csrf_token, require_role
from onthaal.web.users import (
    ACCOUNT_ACTIONS,
    MAX_PASSWORD,
    ROLES,
    Account,
    Role,
    TokenInfo,
    User,
    UserError,
)

if TYPE_CHECKING:
    from onthaal.web.app import WebServices
    from scheduler.store import AuditEntry, Store

#: What the schedule's audit trail records, as the audit page names it: a created
#: emergency (or drill) reads as one raised.
MESSAGE_ACTIONS = (
    "create", "update", "delete", "restore",
    "emergency-start", "emergency-end", "drill-start", "drill-end",
)  # fmt: skip
#: Rows the audit page shows (newest first); the CSV has every row the filters keep.
PAGE_ROWS = 500
LANGUAGES = ("nl", "en")
_EARLIEST, _LATEST = date(2000, 1, 1), date(2099, 12, 31)
_CSV_FORMULA = ("=", "+", "-", "@", "\t", "\r")
_Day = Annotated[str | None, Query(max_length=10, description="a local date, YYYY-MM-DD")]
_Text = Annotated[str | None, Query(max_length=100)]


class UserIn(BaseModel):
    """A new staff account: without a password, it gets a one-time set-password link."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=64)
    password: str | None = Field(
        default=None,
        min_length=10,
        max_length=MAX_PASSWORD,
        description="omitted: the answer has a one-time set-password link for the user",
    )
    role: Role
    language: Literal["nl", "en"] = "nl"


class UserChange(BaseModel):
    """A change to an account: its role, or whether it is disabled (or both)."""

    model_config = ConfigDict(extra="forbid")

    role: Role | None = None
    disabled: StrictBool | None = Field(
        default=None,
        description="true: cannot sign in, its sessions end, its API tokens stop working",
    )


class TokenIn(BaseModel):
    """A new API token."""

    model_config = ConfigDict(extra="forbid")
    label: str = Field(min_length=1, max_length=64)
    role: Role = "staff"
    days: int | None = Field(default=None, ge=1, le=3650, description="expires after N days")
    owner: str | None = Field(
        default=None,
        min_length=1,
        max_length=64,
        description="the account it acts for (at most its role; stops while it is disabled)",
    )


@dataclass(frozen=True)
class TrailRow:
    """One change in the merged audit trail: a message's or an account's."""

    at: datetime  # aware
    seq: int
    area: Literal["message", "account"]
    actor: str
    action: str  # one of MESSAGE_ACTIONS or ACCOUNT_ACTIONS, as the page names it
    subject: str  # the message id, the account's name or the token's label
    detail: dict[str, Any]
    stored: str  # the action as the trail stores it ("create" for a raised emergency)


@dataclass(frozen=True)
class TrailFilter:
    """What the audit page and its CSV keep (None: anything)."""

    actor: str | None = None
    action: str | None = None
    since: date | None = None  # local dates, both included
    until: date | None = None
    message: str | None = None

    def keeps(self, row: TrailRow, tz: ZoneInfo) -> bool:
        """Whether ``row`` passes every filter."""
        local = row.at.astimezone(tz).date()
        return (
            (self.actor is None or row.actor == self.actor)
            and (self.action is None or row.action == self.action)
            and (self.since is None or local >= self.since)
            and (self.until is None or local <= self.until)
            and (self.message is None or (row.area == "message" and row.subject == self.message))
        )


def _instant(iso: str) -> datetime:
    """A stored ISO instant, aware (one without a zone was written in UTC)."""
    moment = datetime.fromisoformat(iso)
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _message_row(entry: AuditEntry) -> TrailRow:
    action = entry.action
    after = entry.after or {}
    if action == "create" and after.get("kind") == "emergency":
        action = "drill-start" if after.get("drill") else "emergency-start"
    title = after.get("title") or (entry.before or {}).get("title") or ""
    return TrailRow(
        _instant(entry.at),
        entry.seq,
        "message",
        entry.actor,
        action,
        entry.message_id,
        {"title": str(title)},
        entry.action,
    )


def _local(iso: str | None, tz: ZoneInfo, *, seconds: bool = False) -> str:
    """An ISO instant as the site's local time, to the minute (or second); "" for None."""
    if not iso:
        return ""
    return (
        _instant(iso).astimezone(tz).strftime("%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M")
    )


def _worded(exc: UserError, t: dict[str, str]) -> str:
    """A refused change in the reader's words (the English sentence if there are none)."""
    words = t.get(f"user_error_{exc.code}")
    if not words:
        return str(exc)
    try:
        return words.format(**exc.values)
    except (KeyError, IndexError, ValueError):
        return words


#: Which field a refused change is about, for a 422's ``loc``.
_FIELD = {"name": "name", "short": "password", "long": "password", "role": "role",
          "label": "label", "expires": "days", "owner_role": "role",
          "owner_disabled": "owner"}  # fmt: skip


def _api_problem(exc: UserError) -> HTTPException:
    """A refused change as the API answers it: 404, 409 or 422, saying why."""
    if exc.code == "no_user":
        return HTTPException(status.HTTP_404_NOT_FOUND, str(exc))
    if exc.code in ("taken", "last_admin"):
        return HTTPException(status.HTTP_409_CONFLICT, str(exc))
    return _unprocessable([f"{_FIELD.get(exc.code, 'body')}: {exc}"])


def _csv_cell(value: str) -> str:
    """A cell a spreadsheet shows as text, never runs as a formula."""
    return "'" + value if value.startswith(_CSV_FORMULA) else value


def _parse_day(text: str) -> date | None:
    try:
        day = date.fromisoformat(text)
    except ValueError:
        return None
    return day if _EARLIEST <= day <= _LATEST else None


def accounts_router(services: WebServices, staff_pages: StaffPages) -> APIRouter:
    """The account, token, security-log and audit API and pages of ``services``."""
    page = staff_pages.render
    users = services.users
    users.now = services.clock.now  # tokens expire and are last used on the site's clock
    tz = ZoneInfo(services.config.site.timezone)
    router = APIRouter()

    # -- the merged audit trail -----------------------------------------------------------

    readers = threading.local()  # one connection to the schedule per worker thread

    def schedule_trail() -> list[TrailRow]:
        store: Store | None = getattr(readers, "store", None)
        if store is None:
            store = readers.store = services.store.reader()
        return [_message_row(entry) for entry in store.audit()]

    def account_rows() -> list[TrailRow]:
        at = _instant
        return [
            TrailRow(at(e.at), e.seq, "account", e.actor, e.action, e.subject, e.detail, e.action)
            for e in users.account_audit()
        ]

    async def trail(keep: TrailFilter, *, accounts: bool) -> tuple[list[TrailRow], list[str]]:
        """The rows ``keep`` keeps, newest first, and every actor (for the filter).

        ``accounts``: with the account changes (the admins' to read, like the security
        log). The schedule's trail is read on a worker thread with its own connection.
        """
        if services.store.in_memory:
            rows = [_message_row(entry) for entry in services.store.audit()]
        else:
            rows = await asyncio.to_thread(schedule_trail)
        if accounts:
            rows += account_rows()
        rows.sort(key=lambda r: (r.at, r.area == "account", r.seq), reverse=True)
        actors = sorted({r.actor for r in rows})
        return [r for r in rows if keep.keeps(r, tz)], actors

    def what(row: TrailRow, t: dict[str, str]) -> str:
        return t.get("action_" + row.action.replace("-", "_"), row.action)

    def detail(row: TrailRow, t: dict[str, str]) -> str:
        d = row.detail
        if row.area == "message":
            return str(d.get("title", ""))
        parts: list[str] = []
        if row.action == "role-change":
            parts.append(f"{t.get('role_' + str(d.get('from')), d.get('from'))} → "
                         f"{t.get('role_' + str(d.get('to')), d.get('to'))}")  # fmt: skip
        elif d.get("role"):
            parts.append(f"{t['role']}: {t.get('role_' + str(d['role']), d['role'])}")
        if row.action.startswith("token-"):
            parts.append(f"{t['owner']}: {d.get('owner') or t['integration']}")
            if d.get("expires"):
                parts.append(f"{t['expires']}: {_local(d['expires'], tz)}")
            parts.append(f"id {d.get('id', '')}")
        if d.get("link_until"):
            parts.append(f"{t['link_until']} {_local(d['link_until'], tz)}")
        return "; ".join(parts)

    def filters_from(params: dict[str, str], t: dict[str, str]) -> tuple[TrailFilter, list[str]]:
        """The filters typed on the audit page, and what is wrong with them."""
        errors: list[str] = []
        days: dict[str, date | None] = {}
        for key in ("from", "to"):
            text = params.get(key, "").strip()
            days[key] = _parse_day(text) if text else None
            if text and days[key] is None:
                errors.append(t["audit_bad_date"].format(date=text[:20]))
        since, until = days["from"], days["to"]
        if since and until and since > until:
            errors.append(t["audit_dates_reversed"])
        action = params.get("action", "").strip() or None
        if action is not None and action not in MESSAGE_ACTIONS + ACCOUNT_ACTIONS:
            errors.append(t["audit_bad_action"])
        keep = TrailFilter(
            actor=params.get("actor", "").strip() or None,
            action=action,
            since=since,
            until=until,
            message=params.get("message", "").strip() or None,
        )
        return keep, errors

    def audit_params(request: Request) -> dict[str, str]:
        keys = ("actor", "action", "from", "to", "message")
        return {k: request.query_params.get(k, "")[:100] for k in keys}

    @router.get("/audit", response_class=HTMLResponse)
    async def audit_page(request: Request, user: StaffUser) -> HTMLResponse:
        t = staff_pages.words_for(user)
        typed = audit_params(request)
        keep, errors = filters_from(typed, t)
        rows, actors = await trail(TrailFilter() if errors else keep, accounts=user.is_admin)
        if errors:
            rows = []
        if typed["actor"] and typed["actor"] not in actors:
            actors.append(typed["actor"])
        kinds = MESSAGE_ACTIONS + (ACCOUNT_ACTIONS if user.is_admin else ())
        response = page(
            request,
            "audit.html",
            user,
            rows=[
                {
                    "iso": r.at.astimezone(UTC).isoformat(),
                    "when": r.at.astimezone(tz).strftime("%Y-%m-%d %H:%M:%S"),
                    "actor": r.actor,
                    "action": r.action,
                    "area": r.area,
                    "what": what(r, t),
                    "subject": r.subject,
                    "detail": detail(r, t),
                }
                for r in rows[:PAGE_ROWS]
            ],
            total=len(rows),
            actors=actors,
            kinds=[(k, t.get("action_" + k.replace("-", "_"), k)) for k in kinds],
            form=typed,
            query=urlencode({k: v for k, v in typed.items() if v}),
            errors=errors,
            zone=str(tz),
        )
        if errors:
            response.status_code = status.HTTP_422_UNPROCESSABLE_CONTENT
        return response

    @router.get("/audit.csv", response_model=None)
    async def audit_csv(request: Request, user: StaffUser) -> Response:
        t = staff_pages.words_for(user)
        keep, errors = filters_from(audit_params(request), t)
        if errors:
            raise _unprocessable([f"query: {e}" for e in errors])
        rows, _ = await trail(keep, accounts=user.is_admin)
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\r\n")
        writer.writerow([t["when"], t["who"], t["what"], t["audit_code"], t["audit_subject"],
                         t["audit_detail"]])  # fmt: skip
        for r in rows:
            cells = [r.at.astimezone(tz).strftime("%Y-%m-%d %H:%M:%S"), r.actor, what(r, t),
                     r.action, r.subject, detail(r, t)]  # fmt: skip
            writer.writerow([_csv_cell(c) for c in cells])
        today = services.clock.now().astimezone(tz).date().isoformat()
        return Response(
            ("\ufeff" + out.getvalue()).encode("utf-8"),  # the BOM: spreadsheets read UTF-8
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="onthaal-audit-{today}.csv"'},
        )

    # -- API ------------------------------------------------------------------------------

    def day_query(name: str, text: str | None) -> date | None:
        if text is None:
            return None
        day = _parse_day(text)
        if day is None:
            raise HTTPException(
                status.HTTP_422_UNPROCESSABLE_CONTENT,
                [{"loc": ["query", name], "type": "value_error",
                  "msg": "a date YYYY-MM-DD between 2000-01-01 and 2099-12-31"}],
            )  # fmt: skip
        return day

    def trail_json(r: TrailRow) -> dict[str, Any]:
        return {
            "seq": r.seq,
            "at": r.at.isoformat(),
            "at_local": r.at.astimezone(tz).strftime("%Y-%m-%d %H:%M:%S"),
            "actor": r.actor,
            "action": r.stored,
        }

    @router.get("/api/v1/audit")
    async def audit(
        user: ApiUser,
        message_id: _Text = None,
        actor: _Text = None,
        action: _Text = None,
        since: _Day = None,
        until: _Day = None,
    ) -> list[dict[str, Any]]:
        """The schedule's audit trail, oldest first; ``action`` as stored, ``kind`` as the
        audit page names it (a created emergency: ``emergency-start``)."""
        keep = TrailFilter(actor, None, day_query("since", since), day_query("until", until),
                           message_id)  # fmt: skip
        rows, _ = await trail(keep, accounts=False)
        return [
            {**trail_json(r), "message": r.subject, "kind": r.action}
            for r in reversed(rows)
            if action is None or action in (r.stored, r.action)
        ]

    @router.get("/api/v1/account-audit")
    async def account_audit(
        user: ApiUser,
        actor: _Text = None,
        action: _Text = None,
        since: _Day = None,
        until: _Day = None,
    ) -> list[dict[str, Any]]:
        """Every change to accounts and tokens, oldest first (admins)."""
        require_role(user, "admin")
        keep = TrailFilter(actor, action, day_query("since", since), day_query("until", until))
        rows = [r for r in account_rows() if keep.keeps(r, tz)]
        return [{**trail_json(r), "subject": r.subject, "detail": r.detail} for r in rows]

    def account_json(a: Account) -> dict[str, Any]:
        return {
            "name": a.name,
            "role": a.role,
            "language": a.language,
            "disabled": a.disabled,
            "last_sign_in": a.last_sign_in,
            "last_sign_in_local": _local(a.last_sign_in, tz) or None,
            "password_set": a.password_set,
            "set_password_link_expires": a.link_expires,
        }

    def link_url(request: Request, token: str) -> str:
        """The link to hand over: on ``[web] public_url``, else where the admin is."""
        base = services.config.web.public_url or str(request.base_url)
        return f"{base.rstrip('/')}/set-password/{token}"

    def noted(request: Request, action: str, actor: User, subject: str) -> None:
        users.note(action, actor.name, subject, _client(request), services.clock.now())

    @router.get("/api/v1/users")
    async def list_users(user: ApiUser) -> list[dict[str, Any]]:
        require_role(user, "admin")
        return [account_json(a) for a in users.accounts()]

    @router.post("/api/v1/users", status_code=status.HTTP_201_CREATED)
    async def add_user(request: Request, user: ApiUser, data: UserIn) -> dict[str, Any]:
        """A new account; without a password, with its one-time set-password link."""
        require_role(user, "admin")
        now = services.clock.now()
        answer: dict[str, Any] = {}
        try:
            if data.password is None:
                added, token, expires = users.invite(
                    data.name, data.role, data.language, user.name, now
                )
                answer = {
                    "set_password_url": link_url(request, token),
                    "expires": expires.isoformat(),
                    "note": "shown once: give it to the user in person",
                }
            else:
                hashed = await asyncio.to_thread(users.hash_password, data.name, data.password)
                added = users.add(data.name, None, data.role, data.language, hashed=hashed,
                                  actor=user.name, at=now)  # fmt: skip
        except UserError as exc:
            raise _api_problem(exc) from None
        noted(request, f"user-added ({added.role})", user, added.name)
        return {"name": added.name, "role": added.role, **answer}

    @router.patch(
        "/api/v1/users/{name}",
        responses={409: {"description": "It would leave no enabled admin."},
                   413: {"description": "The body is larger than [web] max_body."}},
    )  # fmt: skip
    async def change_user(
        request: Request, user: ApiUser, name: str, data: UserChange
    ) -> dict[str, Any]:
        """Change an account's role, or disable or enable it."""
        require_role(user, "admin")
        if data.role is None and data.disabled is None:
            raise _unprocessable(["body: send 'role' or 'disabled' (or both)"])
        now = services.clock.now()
        try:
            if data.role is not None:
                before = users.get(name)
                changed = users.set_role(name, data.role, user.name, now)
                if before is not None and before.role != changed.role:
                    noted(request, f"role-changed ({changed.role})", user, name)
            if data.disabled is not None:
                before = users.get(name)
                changed = users.set_disabled(name, data.disabled, user.name, now)
                if before is not None and before.disabled != changed.disabled:
                    noted(request, "user-disabled" if changed.disabled else "user-enabled",
                          user, name)  # fmt: skip
        except UserError as exc:
            raise _api_problem(exc) from None
        return next(account_json(a) for a in users.accounts() if a.name == name)

    @router.post("/api/v1/users/{name}/password-reset")
    async def reset_password(request: Request, user: ApiUser, name: str) -> dict[str, Any]:
        """The old password stops working and the account's sessions end now; the answer
        has the one-time set-password link (shown once)."""
        require_role(user, "admin")
        try:
            token, expires = users.reset_password(name, user.name, services.clock.now())
        except UserError as exc:
            raise _api_problem(exc) from None
        noted(request, "password-reset", user, name)
        return {"name": name, "set_password_url": link_url(request, token),
                "expires": expires.isoformat(), "note": "shown once"}  # fmt: skip

    @router.get("/api/v1/security-log")
    async def security_log(user: ApiUser, limit: int = Query(200, ge=1, le=1000)) -> Any:
        require_role(user, "admin")
        return users.security_log(limit)

    @router.get("/api/v1/tokens")
    async def list_tokens(
        user: ApiUser, owner: Annotated[str | None, Query(max_length=64)] = None
    ) -> list[dict[str, Any]]:
        require_role(user, "admin")
        return [vars(info) for info in users.tokens(owner)]

    def make_token(
        request: Request, user: User, label: str, role: Role, days: int | None, owner: str | None
    ) -> str:
        now = services.clock.now()
        expires = now + timedelta(days=days) if days else None
        token = users.create_token(label, role, now, expires, owner=owner, actor=user.name)
        noted(request, f"token-made ({role})", user, label)
        return token

    @router.post("/api/v1/tokens", status_code=status.HTTP_201_CREATED)
    async def add_token(request: Request, user: ApiUser, data: TokenIn) -> dict[str, str]:
        require_role(user, "admin")
        try:
            token = make_token(request, user, data.label, data.role, data.days, data.owner)
        except UserError as exc:
            if exc.code == "no_user":
                raise _unprocessable([f"owner: {exc}"]) from None
            raise _api_problem(exc) from None
        return {"token": token, "note": "shown once: keep it safe"}

    @router.delete("/api/v1/tokens/{token_id}", status_code=status.HTTP_204_NO_CONTENT)
    async def revoke_token(request: Request, user: ApiUser, token_id: str) -> Response:
        require_role(user, "admin")
        if not users.revoke_token(token_id, actor=user.name, at=services.clock.now()):
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no token with id {token_id!r}")
        noted(request, "token-revoked", user, token_id)
        return Response(status_code=status.HTTP_204_NO_CONTENT)

    @router.delete("/api/v1/users/{name}", status_code=status.HTTP_204_NO_CONTENT)
    async def remove_user(request: Request, user: ApiUser, name: str) -> Response:
        """Remove an account and its tokens (disabling keeps it, for the record)."""
        require_role(user, "admin")
        try:
            users.remove(name, actor=user.name, at=services.clock.now())
        except UserError as exc:
            raise _api_problem(exc) from None
        noted(request, "user-removed", user, name)
        return Response(status_code=status.HTTP_204_NO_CONTENT)

    # -- the admins' page -----------------------------------------------------------------

    def token_row(info: TokenInfo) -> dict[str, Any]:
        return {
            "id": info.id,
            "label": info.label,
            "role": info.role,
            "owner": info.owner,
            "created": _local(info.created, tz),
            "last_used": _local(info.last_used, tz),
            "expires": _local(info.expires, tz),
        }

    def users_view(
        request: Request,
        user: User,
        *,
        errors: list[str] | None = None,
        where: str = "",
        form: dict[str, str] | None = None,
        shown: dict[str, str] | None = None,
        notice: str = "",
        code: int = status.HTTP_200_OK,
    ) -> HTMLResponse:
        accounts = users.accounts()
        tokens = sorted(users.tokens(), key=lambda i: (i.owner or "", i.label, i.created))
        response = page(
            request,
            "users.html",
            user,
            accounts=[
                {
                    **vars(a),
                    "last_sign_in": _local(a.last_sign_in, tz),
                    "link_expires": _local(a.link_expires, tz),
                    "keys": [i.label for i in tokens if i.owner == a.name],
                }
                for a in accounts
            ],
            tokens=[token_row(i) for i in tokens],
            owners=[a.name for a in accounts if not a.disabled],
            roles=ROLES,
            languages=LANGUAGES,
            errors=errors or [],
            where=where,
            form=form or {},
            shown=shown,
            notice=notice,
        )
        response.status_code = code
        response.headers["Cache-Control"] = "no-store"  # a one-time link or token is shown
        return response

    async def admin_form(request: Request, user: User) -> dict[str, str]:
        form = await request.form()
        check_csrf(request, str(form.get("csrf", "")))
        require_role(user, "admin")
        return {k: v[:200] for k, v in form.items() if isinstance(v, str) and k != "csrf"}

    def refused(
        request: Request, user: User, exc: UserError, where: str, form: dict[str, str]
    ) -> HTMLResponse:
        code = {"no_user": 404, "taken": 409, "last_admin": 409}.get(exc.code, 422)
        t = staff_pages.words_for(user)
        return users_view(request, user, errors=[_worded(exc, t)], where=where, form=form,
                          code=code)  # fmt: skip

    def done(what_done: str, name: str) -> RedirectResponse:
        query = urlencode({"done": what_done, "name": name})
        return RedirectResponse(f"/users?{query}", status.HTTP_303_SEE_OTHER)

    @router.get("/users", response_class=HTMLResponse)
    async def users_page(
        request: Request,
        user: StaffUser,
        done_: Annotated[str, Query(alias="done", max_length=40)] = "",
        name: Annotated[str, Query(max_length=64)] = "",
    ) -> HTMLResponse:
        require_role(user, "admin")
        t = staff_pages.words_for(user)
        words = t.get(f"done_{done_.replace('-', '_')}", "") if done_ else ""
        return users_view(request, user, notice=words.format(name=name) if words else "")

    @router.post("/users", response_class=HTMLResponse)
    async def add_user_form(request: Request, user: StaffUser) -> HTMLResponse:
        typed = await admin_form(request, user)
        t = staff_pages.words_for(user)
        name = typed.get("name", "").strip()
        role, language = typed.get("role", "staff"), typed.get("language", "nl")
        if language not in LANGUAGES:
            language = "nl"
        try:
            if role not in ROLES:
                raise UserError("role must be one of staff, desk, admin", "role")
            added, token, expires = users.invite(name, role, language, user.name,
                                                 services.clock.now())  # fmt: skip
        except UserError as exc:
            return refused(request, user, exc, "add", typed)
        noted(request, f"user-added ({added.role})", user, added.name)
        shown = {"kind": "link", "name": added.name, "value": link_url(request, token),
                 "until": _local(expires.isoformat(), tz)}  # fmt: skip
        return users_view(request, user, shown=shown, notice=t["done_user_add"].format(name=name),
                          code=status.HTTP_201_CREATED)  # fmt: skip

    @router.post("/users/{name}/role", response_model=None)
    async def role_form(request: Request, user: StaffUser, name: str) -> Response:
        typed = await admin_form(request, user)
        role = typed.get("role", "")
        try:
            if role not in ROLES:
                raise UserError("role must be one of staff, desk, admin", "role")
            before = users.get(name)
            changed = users.set_role(name, role, user.name, services.clock.now())
        except UserError as exc:
            return refused(request, user, exc, f"row:{name}", typed)
        if before is not None and before.role != changed.role:
            noted(request, f"role-changed ({changed.role})", user, name)
        return done("role-change", name)

    @router.post("/users/{name}/password-reset", response_class=HTMLResponse)
    async def reset_form(request: Request, user: StaffUser, name: str) -> HTMLResponse:
        typed = await admin_form(request, user)
        t = staff_pages.words_for(user)
        try:
            token, expires = users.reset_password(name, user.name, services.clock.now())
        except UserError as exc:
            return refused(request, user, exc, f"row:{name}", typed)
        noted(request, "password-reset", user, name)
        shown = {"kind": "link", "name": name, "value": link_url(request, token),
                 "until": _local(expires.isoformat(), tz)}  # fmt: skip
        notice = t["done_password_reset"].format(name=name)
        return users_view(request, user, shown=shown, notice=notice)

    async def switch(request: Request, user: User, name: str, disabled: bool) -> Response:
        typed = await admin_form(request, user)
        try:
            before = users.get(name)
            changed = users.set_disabled(name, disabled, user.name, services.clock.now())
        except UserError as exc:
            return refused(request, user, exc, f"row:{name}", typed)
        if before is not None and before.disabled != changed.disabled:
            noted(request, "user-disabled" if disabled else "user-enabled", user, name)
        return done("disable" if disabled else "enable", name)

    @router.post("/users/{name}/disable", response_model=None)
    async def disable_form(request: Request, user: StaffUser, name: str) -> Response:
        return await switch(request, user, name, True)

    @router.post("/users/{name}/enable", response_model=None)
    async def enable_form(request: Request, user: StaffUser, name: str) -> Response:
        return await switch(request, user, name, False)

    @router.post("/users/tokens", response_class=HTMLResponse)
    async def token_form(request: Request, user: StaffUser) -> HTMLResponse:
        typed = await admin_form(request, user)
        t = staff_pages.words_for(user)
        label = typed.get("label", "").strip()
        owner = typed.get("owner", "").strip() or None
        role = typed.get("role", "staff")
        days_text = typed.get("days", "").strip()
        days = int(days_text) if days_text.isdigit() else None
        try:
            if days_text and (days is None or not 1 <= days <= 3650):
                raise UserError("days must be between 1 and 3650", "days")
            if role not in ROLES:
                raise UserError("role must be one of staff, desk, admin", "role")
            token = make_token(request, user, label, role, days, owner)
        except UserError as exc:
            return refused(request, user, exc, "token", typed)
        shown = {"kind": "token", "name": label, "value": token, "until": ""}
        notice = t["done_token_create"].format(name=label)
        return users_view(request, user, shown=shown, notice=notice,
                          code=status.HTTP_201_CREATED)  # fmt: skip

    @router.post("/users/tokens/{token_id}/revoke", response_model=None)
    async def revoke_form(request: Request, user: StaffUser, token_id: str) -> Response:
        typed = await admin_form(request, user)
        label = next((i.label for i in users.tokens() if i.id == token_id), token_id)
        if not users.revoke_token(token_id, actor=user.name, at=services.clock.now()):
            t = staff_pages.words_for(user)
            return users_view(request, user, errors=[t["user_error_no_token"]],
                              where=f"token:{token_id}", form=typed,
                              code=status.HTTP_404_NOT_FOUND)  # fmt: skip
        noted(request, "token-revoked", user, token_id)
        return done("token-revoke", label)

    # -- a set-password link (no session: whoever holds the link) ------------------------

    def link_page(
        request: Request,
        account: User | None,
        *,
        errors: list[str] | None = None,
        finished: bool = False,
        code: int = status.HTTP_200_OK,
    ) -> HTMLResponse:
        language = account.language if account else request.session.get("language", "nl")
        t = staff_pages.words.get(language, staff_pages.words["nl"])
        response = staff_pages.templates.TemplateResponse(
            request,
            "set_password.html",
            {
                "t": t,
                "user": None,  # not signed in: no menu
                "csrf": csrf_token(request),
                "language": language,
                "account": account,
                "errors": errors or [],
                "finished": finished,
            },
        )
        response.status_code = code
        response.headers["Cache-Control"] = "no-store"
        return response

    @router.get("/set-password/{token}", response_class=HTMLResponse)
    async def link_form(request: Request, token: str) -> HTMLResponse:
        account = users.link_user(token, services.clock.now())
        code = status.HTTP_200_OK if account else status.HTTP_404_NOT_FOUND
        return link_page(request, account, code=code)

    @router.post("/set-password/{token}", response_class=HTMLResponse)
    async def set_password(
        request: Request,
        token: str,
        password: Annotated[str, Form(max_length=1000)],
        again: Annotated[str, Form(max_length=1000)],
        csrf: Annotated[str, Form()] = "",
    ) -> HTMLResponse:
        check_csrf(request, csrf)
        account = users.link_user(token, services.clock.now())
        if account is None:
            return link_page(request, None, code=status.HTTP_404_NOT_FOUND)
        t = staff_pages.words.get(account.language, staff_pages.words["nl"])
        try:
            if password != again:
                raise UserError("the two passwords differ", "differ")
            # Argon2 on a worker thread: never on the robot's loop.
            hashed = await asyncio.to_thread(users.hash_password, account.name, password)
            account = users.use_link(token, hashed, services.clock.now())
        except UserError as exc:
            missing = exc.code == "link"
            return link_page(request, None if missing else account, errors=[_worded(exc, t)],
                             code=404 if missing else 422)  # fmt: skip
        users.note("password-set", account.name, account.name, _client(request),
                   services.clock.now())  # fmt: skip
        return link_page(request, account, finished=True)

    return router

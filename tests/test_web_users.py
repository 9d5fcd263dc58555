"""Users in the web app (#23): accounts, one-time set-password links, disabling, tokens
per user, and the merged audit trail with its filters and CSV, through the served app."""

from __future__ import annotations

import csv
import io
import re
import sqlite3
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from onthaal.web.users import _SCHEMA, LINK_HOURS, Users
from tests.web_harness import PASSWORD, T0, Site, running_site

NEW_PASSWORD = "a new sentence, 2026"
#: 10:17 in Brussels (09:17 UTC): a time whose local and UTC forms differ.
LATER = datetime.fromisoformat("2026-11-24T10:17:00+01:00")


@pytest.fixture
async def site(tmp_path: Path) -> AsyncIterator[Site]:
    async with running_site(tmp_path) as running:
        yield running


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def csrf_of(page: httpx.Response) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert found is not None, page.text[:500]
    return found[1]


async def login(http: httpx.AsyncClient, name: str, password: str = PASSWORD) -> httpx.Response:
    token = csrf_of(await http.get("/login"))
    return await http.post("/login", data={"name": name, "password": password, "csrf": token})


async def signed_in(site: Site, name: str, password: str = PASSWORD) -> httpx.AsyncClient:
    http = httpx.AsyncClient(base_url=site.url)
    assert (await login(http, name, password)).status_code == 303, name
    return http


async def set_password(site: Site, url: str, password: str, again: str | None = None) -> Any:
    """Follow a one-time link in a browser of its own, as the new user does."""
    path = url.removeprefix(site.url)
    assert path.startswith("/set-password/"), url
    async with httpx.AsyncClient(base_url=site.url) as http:
        form = await http.get(path)
        if form.status_code != 200:
            return form
        data = {"password": password, "again": again or password, "csrf": csrf_of(form)}
        return await http.post(path, data=data)


async def test_a_new_account_gets_a_one_time_link_that_works_once_and_expires(
    site: Site,
) -> None:
    admin = bearer(site.admin_token)
    async with httpx.AsyncClient(base_url=site.url, headers=admin) as http:
        made = await http.post("/api/v1/users", json={"name": "bert", "role": "desk"})
        assert made.status_code == 201, made.text
        link = made.json()["set_password_url"]
        assert made.json()["role"] == "desk", "desk is a role the API accepts now"
        expires = datetime.fromisoformat(made.json()["expires"])
        assert expires == T0 + timedelta(hours=LINK_HOURS)
        listed = {u["name"]: u for u in (await http.get("/api/v1/users")).json()}
        assert listed["bert"]["password_set"] is False
        assert listed["bert"]["set_password_link_expires"] is not None
        assert listed["bert"]["disabled"] is False and listed["bert"]["last_sign_in"] is None
        # Stored hashed: the link's secret is nowhere in the database.
        secret = link.rsplit("/", 1)[1]
        raw = Path(site.services.config_path).parent / "var" / "users.sqlite"
        with sqlite3.connect(raw) as db:
            assert secret not in str(db.execute("SELECT * FROM password_links").fetchall())
    async with httpx.AsyncClient(base_url=site.url) as http:
        assert (await login(http, "bert", "")).status_code in (401, 422), "no password yet"
    short = await set_password(site, link, "short")
    assert short.status_code == 422 and "minstens 10 tekens" in short.text, "bert reads Dutch"
    differ = await set_password(site, link, NEW_PASSWORD, "something else entirely")
    assert differ.status_code == 422 and "verschillen" in differ.text
    done = await set_password(site, link, NEW_PASSWORD)
    assert done.status_code == 200 and 'id="password-set"' in done.text
    again = await set_password(site, link, "yet another sentence")
    assert again.status_code == 404 and "al gebruikt of verlopen" in again.text, "single use"
    http = await signed_in(site, "bert", NEW_PASSWORD)
    await http.aclose()
    async with httpx.AsyncClient(base_url=site.url, headers=admin) as api:
        bert = next(u for u in (await api.get("/api/v1/users")).json() if u["name"] == "bert")
        assert bert["password_set"] and bert["last_sign_in"] is not None
        # A link not used in time no longer works.
        late = (await api.post("/api/v1/users", json={"name": "carla", "role": "staff"})).json()
    await site.advance_to(T0 + timedelta(hours=LINK_HOURS, seconds=1))
    expired = await set_password(site, late["set_password_url"], NEW_PASSWORD)
    assert expired.status_code == 404


async def test_a_reset_stops_the_old_password_and_the_sessions_at_once(site: Site) -> None:
    staff = await signed_in(site, "staff")
    copied = dict(staff.cookies)
    assert (await staff.get("/messages")).status_code == 200
    async with httpx.AsyncClient(base_url=site.url, headers=bearer(site.admin_token)) as http:
        reset = await http.post("/api/v1/users/staff/password-reset")
        assert reset.status_code == 200, reset.text
        link = reset.json()["set_password_url"]
        assert (await http.post("/api/v1/users/nobody/password-reset")).status_code == 404
    page = await staff.get("/messages")
    assert page.status_code == 303, "session ended"
    assert page.headers["location"] == "/login?next=/messages"  # and back there after
    await staff.aclose()
    async with httpx.AsyncClient(base_url=site.url, cookies=copied) as thief:
        assert (await thief.get("/api/v1/messages")).status_code == 401
    async with httpx.AsyncClient(base_url=site.url) as http:
        assert (await login(http, "staff")).status_code == 401, "the old password is gone"
    assert (await set_password(site, link, NEW_PASSWORD)).status_code == 200
    async with httpx.AsyncClient(base_url=site.url) as http:
        assert (await login(http, "staff")).status_code == 401
        assert (await login(http, "staff", NEW_PASSWORD)).status_code == 303


async def test_a_disabled_account_cannot_sign_in_and_its_tokens_stop(site: Site) -> None:
    admin = bearer(site.admin_token)
    async with httpx.AsyncClient(base_url=site.url, headers=admin) as http:
        made = await http.post(
            "/api/v1/tokens", json={"label": "bert-laptop", "owner": "staff", "role": "staff"}
        )
        assert made.status_code == 201, made.text
        own = bearer(made.json()["token"])
        assert (await http.get("/api/v1/devices", headers=own)).status_code == 200
        staff = await signed_in(site, "staff")
        off = await http.patch("/api/v1/users/staff", json={"disabled": True})
        assert off.status_code == 200 and off.json()["disabled"] is True
        assert (await staff.get("/")).status_code == 303, "the session ended"
        await staff.aclose()
        assert (await http.get("/api/v1/devices", headers=own)).status_code == 401
        assert (
            await http.get("/api/v1/devices", headers=bearer(site.staff_token))
        ).status_code == (200), "an integration's token (no owner) is not the person's"
        async with httpx.AsyncClient(base_url=site.url) as browser:
            assert (await login(browser, "staff")).status_code == 401, "right password, still no"
        # No new token for a disabled account.
        more = await http.post("/api/v1/tokens", json={"label": "x", "owner": "staff"})
        assert more.status_code == 422 and "disabled" in more.text
        on = await http.patch("/api/v1/users/staff", json={"disabled": False})
        assert on.status_code == 200 and on.json()["disabled"] is False
        assert (await http.get("/api/v1/devices", headers=own)).status_code == 200
        listed = (await http.get("/api/v1/tokens", params={"owner": "staff"})).json()
        assert [t["label"] for t in listed] == ["bert-laptop"]
        assert listed[0]["last_used"] is not None, "last use is known"
        assert made.json()["token"] not in str(listed)
    http = await signed_in(site, "staff")
    await http.aclose()


async def test_roles_change_and_a_persons_token_has_at_most_their_role(site: Site) -> None:
    admin = bearer(site.admin_token)
    async with httpx.AsyncClient(base_url=site.url, headers=admin) as http:
        too_much = await http.post(
            "/api/v1/tokens", json={"label": "x", "owner": "staff", "role": "admin"}
        )
        assert too_much.status_code == 422 and "at most the role 'staff'" in too_much.text
        unknown = await http.post("/api/v1/tokens", json={"label": "x", "owner": "nobody"})
        assert unknown.status_code == 422 and unknown.json()["detail"][0]["loc"] == ["owner"]
        up = await http.patch("/api/v1/users/desk", json={"role": "admin"})
        assert up.status_code == 200 and up.json()["role"] == "admin"
        token = (
            await http.post("/api/v1/tokens", json={"label": "d", "owner": "desk", "role": "admin"})
        ).json()["token"]
        assert (await http.get("/api/v1/users", headers=bearer(token))).status_code == 200
        down = await http.patch("/api/v1/users/desk", json={"role": "staff"})
        assert down.status_code == 200
        assert (await http.get("/api/v1/users", headers=bearer(token))).status_code == 403, (
            "demoted at once, and the token with them"
        )


@pytest.mark.parametrize(
    ("body", "code", "says"),
    [
        ({}, 422, "send 'role' or 'disabled'"),
        ({"role": "king"}, 422, "'staff', 'desk' or 'admin'"),
        ({"disabled": "maybe"}, 422, "boolean"),
        ({"role": "staff", "name": "x"}, 422, "Extra inputs"),
        ({"role": "staff"}, 409, "last admin"),
        ({"disabled": True}, 409, "last admin"),
    ],
)
async def test_a_bad_change_gets_a_4xx_saying_what_is_wrong(
    site: Site, body: dict[str, Any], code: int, says: str
) -> None:
    async with httpx.AsyncClient(base_url=site.url, headers=bearer(site.admin_token)) as http:
        answer = await http.patch("/api/v1/users/admin", json=body)
        assert answer.status_code == code, answer.text
        assert says in answer.text
        assert (await http.patch("/api/v1/users/nobody", json={"role": "staff"})).status_code == 404
        assert (await http.get("/api/v1/users")).json()[0]["role"] == "admin"


async def test_the_last_admin_may_not_demote_or_disable_themselves_in_the_form(
    site: Site,
) -> None:
    admin = await signed_in(site, "admin")  # an admin reading Dutch
    token = csrf_of(await admin.get("/users"))
    refused = await admin.post("/users/admin/role", data={"role": "staff", "csrf": token})
    assert refused.status_code == 409
    assert "admin is de laatste beheerder" in refused.text
    assert re.search(r'<option value="staff"\s+selected>', refused.text), "keeps the choice"
    refused = await admin.post("/users/admin/disable", data={"csrf": token})
    assert refused.status_code == 409 and "laatste beheerder" in refused.text
    # With a second admin, the first may step down.
    up = await admin.post("/users/desk/role", data={"role": "admin", "csrf": token})
    assert up.status_code == 303 and up.headers["location"].startswith("/users?done=role-change")
    assert "Rol van desk gewijzigd" in (await admin.get(up.headers["location"])).text
    down = await admin.post("/users/admin/role", data={"role": "desk", "csrf": token})
    assert down.status_code == 303
    assert (await admin.get("/users")).status_code == 403, "no longer an admin"
    await admin.aclose()


async def test_the_users_page_adds_accounts_and_tokens_and_says_errors_in_the_ui_language(
    site: Site,
) -> None:
    staff = await signed_in(site, "staff")
    assert (await staff.get("/users")).status_code == 403
    assert 'href="/users"' not in (await staff.get("/")).text, "the menu is for admins"
    await staff.aclose()
    admin = await signed_in(site, "admin")
    page = await admin.get("/users")
    assert page.status_code == 200 and 'href="/users"' in page.text
    assert page.headers["cache-control"] == "no-store"
    token = csrf_of(page)
    assert (await admin.post("/users", data={"name": "bert"})).status_code == 403, "CSRF"
    bad = await admin.post(
        "/users", data={"name": "Bert Smit", "role": "desk", "language": "en", "csrf": token}
    )
    assert bad.status_code == 422
    assert "Een gebruikersnaam bestaat uit" in bad.text
    assert 'value="Bert Smit"' in bad.text, "the form keeps what was typed"
    assert re.search(r'<option value="desk"\s+selected>', bad.text)
    made = await admin.post(
        "/users", data={"name": "bert", "role": "desk", "language": "en", "csrf": token}
    )
    assert made.status_code == 201
    link = re.search(r'id="one-time-link" value="([^"]+)"', made.text)
    assert link is not None and "/set-password/" in link[1]
    assert "geldig tot 2026-11-27 09:00" in made.text, "72 hours, in local time"
    taken = await admin.post("/users", data={"name": "bert", "role": "staff", "csrf": token})
    assert taken.status_code == 409 and "Er bestaat al een gebruiker bert" in taken.text
    # bert reads English: the link's page is in his language.
    assert (
        "A password has at least 10 characters" in (await set_password(site, link[1], "short")).text
    )
    key = await admin.post(
        "/users/tokens",
        data={"label": "bert-script", "owner": "bert", "role": "admin", "days": "", "csrf": token},
    )
    assert key.status_code == 422 and "heeft hoogstens de rol desk" in key.text
    assert 'value="bert-script"' in key.text
    key = await admin.post(
        "/users/tokens",
        data={"label": "bert-script", "owner": "bert", "role": "desk", "days": "30", "csrf": token},
    )
    assert key.status_code == 201
    secret = re.search(r'id="new-token" value="([^"]+)"', key.text)
    assert secret is not None and secret[1].startswith("onthaal_")
    listing = await admin.get("/users")
    assert secret[1] not in listing.text, "shown once"
    row = re.search(r'<tr data-token="([0-9a-f]{12})">\s*<td[^>]*>bert-script', listing.text)
    assert row is not None
    revoked = await admin.post(f"/users/tokens/{row[1]}/revoke", data={"csrf": token})
    assert revoked.status_code == 303
    assert (
        "API-sleutel bert-script ingetrokken" in (await admin.get(revoked.headers["location"])).text
    )
    gone = await admin.post(f"/users/tokens/{row[1]}/revoke", data={"csrf": token})
    assert gone.status_code == 404 and "bestaat niet" in gone.text
    await admin.aclose()

    english = await signed_in(site, "staff")  # English; made an admin to read the page
    site.services.users.set_role("staff", "admin", "test", site.clock.now())
    wrong = await english.post(
        "/users", data={"name": "-x", "role": "staff", "csrf": csrf_of(await english.get("/users"))}
    )
    assert wrong.status_code == 422 and "A user name is 1 to 64" in wrong.text
    await english.aclose()


async def test_every_account_change_is_in_the_audit_trail_with_who_when_what_for_whom(
    site: Site,
) -> None:
    await site.advance_to(LATER)
    admin = bearer(site.admin_token)
    async with httpx.AsyncClient(base_url=site.url, headers=admin) as http:
        await http.post("/api/v1/users", json={"name": "bert", "role": "staff"})
        await http.patch("/api/v1/users/bert", json={"role": "desk"})
        await http.post("/api/v1/users/bert/password-reset")
        await http.patch("/api/v1/users/bert", json={"disabled": True})
        await http.patch("/api/v1/users/bert", json={"disabled": False})
        await http.post("/api/v1/tokens", json={"label": "app", "owner": "bert", "role": "desk"})
        token_id = next(t["id"] for t in (await http.get("/api/v1/tokens")).json()
                        if t["label"] == "app")  # fmt: skip
        assert (await http.delete(f"/api/v1/tokens/{token_id}")).status_code == 204
        assert (await http.delete("/api/v1/users/bert")).status_code == 204
        trail = (await http.get("/api/v1/account-audit")).json()
        assert (
            await http.get("/api/v1/account-audit", headers=bearer(site.staff_token))
        ).status_code == 403
        only = await http.get("/api/v1/account-audit", params={"action": "token-revoke"})
        bad_day = await http.get("/api/v1/account-audit", params={"since": "2026-02-30"})
    assert [(e["actor"], e["action"], e["subject"]) for e in trail] == [
        ("token:tests-admin", "user-add", "bert"),
        ("token:tests-admin", "role-change", "bert"),
        ("token:tests-admin", "password-reset", "bert"),
        ("token:tests-admin", "disable", "bert"),
        ("token:tests-admin", "enable", "bert"),
        ("token:tests-admin", "token-create", "app"),
        ("token:tests-admin", "token-revoke", "app"),
        ("token:tests-admin", "user-remove", "bert"),
    ]
    assert all(e["at_local"] == "2026-11-24 10:17:00" for e in trail)
    assert trail[1]["detail"] == {"from": "staff", "to": "desk"}
    assert trail[6]["detail"]["id"] == token_id
    assert [e["action"] for e in only.json()] == ["token-revoke"]
    assert bad_day.status_code == 422 and bad_day.json()["detail"][0]["loc"] == ["query", "since"]


async def test_the_audit_page_merges_both_trails_in_local_time_with_readable_words(
    site: Site,
) -> None:
    admin_token = bearer(site.admin_token)
    async with httpx.AsyncClient(base_url=site.url, headers=admin_token) as http:
        body: dict[str, Any] = {
            "id": "kerst",
            "title": '=HYPERLINK("http://x")',
            "targets": {"groups": ["hall"]},
            "content": {"nl": {"title": "Kerstmarkt"}},
            "starts": "2026-12-19T08:00",
        }
        assert (await http.post("/api/v1/messages", json=body)).status_code == 201
        await site.advance_to(LATER)
        body["priority"] = 70
        assert (await http.put("/api/v1/messages/kerst", json=body)).status_code == 200
        drill = {"content": {"nl": {"title": "Evacuatie"}}, "drill": True}
        assert (await http.post("/api/v1/emergency", json=drill)).status_code == 201
        assert (await http.delete("/api/v1/emergency")).status_code == 200
        fire = {"content": {"nl": {"title": "Brand"}}}
        assert (await http.post("/api/v1/emergency", json=fire)).status_code == 201
        assert (await http.delete("/api/v1/emergency")).status_code == 200
        await site.advance_to(LATER + timedelta(days=1, minutes=5))
        assert (await http.post("/api/v1/users/desk/password-reset")).status_code == 200
        api_trail = (await http.get("/api/v1/audit", params={"message_id": "kerst"})).json()
    assert [(e["action"], e["at_local"]) for e in api_trail] == [
        ("create", "2026-11-24 09:00:00"),
        ("update", "2026-11-24 10:17:00"),
    ]

    admin = await signed_in(site, "admin")  # Dutch
    page = (await admin.get("/audit")).text
    rows = re.findall(
        r'<tr data-action="([a-z-]+)" data-area="(\w+)">\s*<td[^>]*><time datetime="[^"]+">'
        r"([^<]+)</time></td>\s*<td[^>]*>([^<]*)</td>\s*<td[^>]*>([^<]*)</td>",
        page,
    )
    assert [(r[0], r[2], r[4]) for r in rows] == [
        ("password-reset", "2026-11-25 10:22:00", "wachtwoord hersteld"),
        ("emergency-end", "2026-11-24 10:17:00", "noodmelding beëindigd"),
        ("emergency-start", "2026-11-24 10:17:00", "noodmelding gestart"),
        ("drill-end", "2026-11-24 10:17:00", "oefening beëindigd"),
        ("drill-start", "2026-11-24 10:17:00", "oefening gestart"),
        ("update", "2026-11-24 10:17:00", "gewijzigd"),
        ("create", "2026-11-24 09:00:00", "aangemaakt"),
    ], "newest first, local time (UTC was 08:00 and 09:17)"
    assert "Europe/Brussels" in page

    # Filters: by actor, kind, dates and message; each keeps what was chosen.
    by_kind = (await admin.get("/audit", params={"action": "drill-end"})).text
    assert by_kind.count("<tr data-action=") == 1 and "oefening beëindigd" in by_kind
    assert re.search(r'<option value="drill-end"\s+selected>', by_kind)
    day = (await admin.get("/audit", params={"from": "2026-11-25", "to": "2026-11-25"})).text
    assert day.count("<tr data-action=") == 1 and 'value="2026-11-25"' in day
    message = (await admin.get("/audit", params={"message": "kerst"})).text
    assert message.count("<tr data-action=") == 2
    actor = (await admin.get("/audit", params={"actor": "nobody"})).text
    assert actor.count("<tr data-action=") == 0 and "Geen wijzigingen." in actor
    bad = await admin.get("/audit", params={"from": "2026-13-01", "to": "2026-01-01"})
    assert bad.status_code == 422 and "Geen geldige datum: 2026-13-01" in bad.text
    assert 'value="2026-13-01"' in bad.text, "what was typed stays"
    reversed_ = await admin.get("/audit", params={"from": "2026-12-01", "to": "2026-11-01"})
    assert reversed_.status_code == 422 and "begindatum ligt na de einddatum" in reversed_.text

    # The CSV: what the filters keep, a header, local times, UTF-8, no formulas.
    exported = await admin.get("/audit.csv", params={"to": "2026-11-24"})
    assert exported.status_code == 200
    assert exported.headers["content-type"] == "text/csv; charset=utf-8"
    assert "attachment" in exported.headers["content-disposition"]
    assert exported.content.startswith(b"\xef\xbb\xbf")
    table = list(csv.reader(io.StringIO(exported.content.decode("utf-8-sig"))))
    assert table[0] == ["Wanneer", "Wie", "Wat", "Code", "Waarover", "Details"]
    assert len(table) == 7, "the reset on the 25th is left out"
    assert table[1][:4] == ["2026-11-24 10:17:00", "token:tests-admin", "noodmelding beëindigd",
                            "emergency-end"]  # fmt: skip
    created = table[-1]
    assert created[0] == "2026-11-24 09:00:00" and created[4] == "kerst"
    assert created[5] == '\'=HYPERLINK("http://x")', "a title that is a formula is text"
    assert (await admin.get("/audit.csv", params={"from": "x"})).status_code == 422
    await admin.aclose()

    # Staff read the schedule's trail, not the accounts'.
    staff = await signed_in(site, "staff")
    theirs = (await staff.get("/audit")).text
    assert 'data-area="account"' not in theirs and "password reset" not in theirs
    assert "emergency ended" in theirs and "drill ended" in theirs, "English words"
    staff_csv = (await staff.get("/audit.csv")).content.decode("utf-8-sig")
    assert "password-reset" not in staff_csv and staff_csv.startswith("When,Who,What")
    await staff.aclose()


async def test_an_existing_account_database_is_migrated_keeping_its_data(tmp_path: Path) -> None:
    """Migrations only append: a database of the previous version keeps its accounts,
    tokens and log, and the last sign-in comes from the security log."""
    path = tmp_path / "users.sqlite"
    db = sqlite3.connect(path, isolation_level=None)
    for number, script in enumerate(_SCHEMA[:4], start=1):
        db.executescript(f"BEGIN; {script} PRAGMA user_version = {number}; COMMIT;")
    db.execute(
        "INSERT INTO users (name, role, password, language) VALUES ('an', 'admin', 'x', 'nl')"
    )
    db.execute(
        "INSERT INTO tokens (digest, label, role, created) VALUES "
        "(hex(randomblob(32)), 'app', 'staff', '2026-01-01T00:00:00+00:00')"
    )
    db.execute("INSERT INTO security_log (at, action, actor, subject, client) VALUES "
               "('2026-03-01T08:00:00+00:00', 'sign-in', 'an', 'an', '127.0.0.1')")  # fmt: skip
    db.close()
    users = Users(path)
    try:
        (account,) = users.accounts()
        assert account.name == "an" and not account.disabled
        assert account.last_sign_in == "2026-03-01T08:00:00+00:00"
        (token,) = users.tokens()
        assert token.label == "app" and token.owner is None and token.last_used is None
        assert users.security_log()[0]["action"] == "sign-in"
        users.note("sign-in", "an", "an", "127.0.0.1", datetime(2026, 4, 1, tzinfo=UTC))
        assert users.accounts()[0].last_sign_in == "2026-04-01T00:00:00+00:00"
        assert users.account_audit() == []
    finally:
        users.close()


async def test_the_command_line_changes_are_in_the_audit_trail_too(tmp_path: Path) -> None:
    from onthaal.cli import main
    from onthaal.config import load_config
    from onthaal.web.users_stack import open_users
    from tests.configs import isolated_config

    config = isolated_config(tmp_path)
    assert main(["users", "token", "city-app", "--config", str(config)]) == 0
    users = open_users(load_config(config), config)
    try:
        token_id = users.tokens()[0].id
        assert main(["users", "revoke", token_id, "--config", str(config)]) == 0
        trail = [(e.actor, e.action, e.subject) for e in users.account_audit()]
        assert trail == [("cli", "token-create", "city-app"), ("cli", "token-revoke", "city-app")]
    finally:
        users.close()

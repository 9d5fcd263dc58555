"""The HTTP API and pages with httpx against the running app: every endpoint and boundary."""

from __future__ import annotations

import asyncio
import contextlib
import re
import sqlite3
import time
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.routing import APIRoute

from onthaal.web.app import create_app
from tests.web_harness import PASSWORD, T0, Site, running_site


@pytest.fixture
async def site(tmp_path: Path) -> AsyncIterator[Site]:
    async with running_site(tmp_path) as running:
        yield running


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def kerst(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": "kerst",
        "title": "Kerstmarkt",
        "content": {
            "nl": {
                "title": "Kerstmarkt",
                "body": "Op het plein",
                "link": "https://aalter.be/kerst",
            },
            "en": {"title": "Christmas market"},
        },
        "targets": {"groups": ["hall"]},
        "starts": "2026-12-19T08:00",
        "ends": "2026-12-20T18:00",
        "every": "daily 09:00-17:00",
        "priority": 60,
    }
    body.update(changes)
    return body


PROTECTED = [
    ("GET", "/api/v1/messages"), ("POST", "/api/v1/messages"), ("GET", "/api/v1/messages/x"),
    ("PUT", "/api/v1/messages/x"), ("DELETE", "/api/v1/messages/x"),
    ("GET", "/api/v1/preview?at=2026-12-19T10:00"), ("GET", "/api/v1/devices"),
    ("GET", "/api/v1/groups"), ("GET", "/api/v1/emergency"), ("POST", "/api/v1/emergency"),
    ("DELETE", "/api/v1/emergency"), ("GET", "/api/v1/robot"), ("GET", "/api/v1/beacons/feed"),
    ("GET", "/api/v1/audit"), ("GET", "/api/v1/users"), ("POST", "/api/v1/users"),
    ("POST", "/api/v1/sim/visitor"), ("POST", "/api/v1/sim/utterance"),
    ("GET", "/api/v1/frame-check?url=https://a.be"),
]  # fmt: skip


async def test_nothing_but_health_metrics_displays_and_login_answers_anonymously(
    site: Site,
) -> None:
    async with httpx.AsyncClient(base_url=site.url) as http:
        for method, path in PROTECTED:
            response = await http.request(method, path, json={})
            assert response.status_code == 401, (method, path, response.text)
            assert "Bearer" in response.headers.get("www-authenticate", "")
        assert (
            await http.get("/api/v1/messages", headers=bearer("onthaal_nope"))
        ).status_code == 401
        for page in ("/", "/messages", "/messages/new", "/emergency", "/audit"):
            response = await http.get(page)
            # off to sign in, and back to that page after it
            back = "/login" if page == "/" else f"/login?next={page}"
            assert response.status_code == 303 and response.headers["location"] == back
        assert (await http.get("/login")).status_code == 200
        assert (await http.get("/healthz")).json()["status"] == "ok"
        metrics = (await http.get("/metrics")).text
        assert "onthaal_visitors_greeted_total" in metrics
        assert "onthaal_handovers_total" in metrics
        assert (await http.get("/display/hall-info")).status_code == 200
        assert (await http.get("/display/attic")).status_code == 404
        spec = (await http.get("/openapi.json")).json()
        assert {"/api/v1/messages", "/api/v1/emergency", "/api/v1/beacons/feed"} <= set(
            spec["paths"]
        )


async def test_staff_schedule_messages_through_every_endpoint(site: Site) -> None:
    async with httpx.AsyncClient(base_url=site.url, headers=bearer(site.staff_token)) as http:
        created = await http.post("/api/v1/messages", json=kerst())
        assert created.status_code == 201, created.text
        assert created.json()["repeats"] == "every day from 9.00 to 17.00"
        assert created.json()["starts_local"] == "2026-12-19 08:00"
        assert (await http.post("/api/v1/messages", json=kerst())).status_code == 409
        listed = (await http.get("/api/v1/messages", params={"target": "hall"})).json()
        assert [m["id"] for m in listed] == ["kerst"]
        active = await http.get("/api/v1/messages", params={"active_at": "2026-12-19T08:30"})
        assert active.json() == [], "before the daypart opens"
        assert (await http.get("/api/v1/messages/kerst")).json()["version"] == 1
        updated = await http.put("/api/v1/messages/kerst", json=kerst(priority=80))
        assert updated.json()["version"] == 2 and updated.json()["priority"] == 80
        preview = (await http.get("/api/v1/preview", params={"at": "2026-12-19T10:00"})).json()
        assert preview["hall-info"] == {"content_id": "kerst.v2", "title": "Kerstmarkt"}
        assert preview["waiting-room-1"]["content_id"] == "default"
        devices = (await http.get("/api/v1/devices")).json()
        assert {d["id"] for d in devices} >= {"hall-info", "hall-door", "waiting-room-b"}
        assert set((await http.get("/api/v1/groups")).json()) == {"hall", "waiting-room"}
        robot = (await http.get("/api/v1/robot")).json()
        assert set(robot) == {
            "connected",
            "last_seen",
            "last_seen_local",
            "behaviours",
            "battery",
            "today",
        }
        assert (await http.get("/api/v1/beacons/feed")).status_code == 200
        check = await http.get("/api/v1/frame-check", params={"url": "https://aalter.be/x"})
        assert check.json()["fits"] is True
        trail = (await http.get("/api/v1/audit", params={"message_id": "kerst"})).json()
        assert [(e["actor"], e["action"]) for e in trail] == [
            ("token:tests", "create"),
            ("token:tests", "update"),
        ]
        assert (await http.delete("/api/v1/messages/kerst")).status_code == 204
        assert (await http.get("/api/v1/messages/kerst")).status_code == 404
        visitor = await http.post("/api/v1/sim/visitor", json={"track": 7, "zone": 1})
        said = await http.post("/api/v1/sim/utterance", json={"text": "Waar is het toilet?"})
        assert visitor.status_code == said.status_code == 202
        assert site.visitors == [(7, 1)] and site.heard == [("Waar is het toilet?", "Dutch")]


async def test_role_boundaries(site: Site) -> None:
    notice = {"content": {"nl": {"title": "Evacuatie"}}}
    new_user = {"name": "bert", "password": PASSWORD, "role": "staff"}
    async with httpx.AsyncClient(base_url=site.url) as http:
        staff, admin = bearer(site.staff_token), bearer(site.admin_token)
        assert (await http.get("/api/v1/users", headers=staff)).status_code == 403
        assert (await http.post("/api/v1/users", json=new_user, headers=staff)).status_code == 403
        assert (await http.post("/api/v1/emergency", json=notice, headers=staff)).status_code == 403
        emergency = kerst(id="fire", kind="emergency")
        assert (
            await http.post("/api/v1/messages", json=emergency, headers=staff)
        ).status_code == 403
        assert (await http.post("/api/v1/users", json=new_user, headers=admin)).status_code == 201
        names = [u["name"] for u in (await http.get("/api/v1/users", headers=admin)).json()]
        assert names == ["admin", "bert", "desk", "staff"]
        started = await http.post("/api/v1/emergency", json=notice, headers=admin)
        assert started.status_code == 201
        status = (await http.get("/api/v1/emergency", headers=staff)).json()
        assert status["active"] is True
        assert (await http.delete("/api/v1/emergency", headers=staff)).status_code == 403
        assert (await http.delete("/api/v1/emergency", headers=admin)).json() == {"ended": 1}
        assert (await http.delete("/api/v1/users/bert", headers=admin)).status_code == 204
        # The reception desk (#22): emergencies yes, accounts no.
        desk = bearer(site.desk_token)
        assert (await http.get("/api/v1/users", headers=desk)).status_code == 403
        raised = await http.post("/api/v1/emergency", json=notice, headers=desk)
        assert raised.status_code == 201, raised.text
        one = raised.json()["id"]
        assert (await http.delete(f"/api/v1/emergency/{one}", headers=staff)).status_code == 403
        assert (await http.delete(f"/api/v1/emergency/{one}", headers=desk)).json() == {"ended": 1}
        assert not (await http.get("/api/v1/emergency", headers=desk)).json()["active"]


@pytest.mark.parametrize(
    ("changes", "where", "says"),
    [
        ({"ends": "2026-12-18T08:00"}, "message", "is not after starts"),
        ({"targets": {"displays": ["attic"]}}, "targets", "unknown display 'attic'"),
        (
            {"content": {"es": {"title": "Hola"}}},
            "content.es",
            "should be 'nl', 'fr', 'en' or 'de'",
        ),
        ({"every": "sun 09:00-10:00", "ends": "2026-12-19T20:00"}, "recurrence", "never"),
        (
            {"content": {"nl": {"title": "x", "link": "https://www.aalter.be/kerstmarkt-2026"}}},
            "content.nl.link",
            "bytes too long",
        ),
        ({"priority": 500}, "priority", "less than or equal to 100"),
        ({"every": "fortnightly"}, "every", "not understood"),
    ],
)
async def test_invalid_input_gets_422_saying_what_is_wrong(
    site: Site, changes: dict[str, Any], where: str, says: str
) -> None:
    async with httpx.AsyncClient(base_url=site.url, headers=bearer(site.staff_token)) as http:
        response = await http.post("/api/v1/messages", json=kerst(**changes))
    assert response.status_code == 422
    problems = response.json()["detail"]
    assert any(where in ".".join(map(str, p["loc"])) and says in p["msg"] for p in problems), (
        problems
    )


async def login(http: httpx.AsyncClient, name: str, password: str = PASSWORD) -> httpx.Response:
    page = await http.get("/login")
    token = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert token is not None
    return await http.post("/login", data={"name": name, "password": password, "csrf": token[1]})


def csrf_of(page: httpx.Response) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert found is not None
    return found[1]


async def test_forms_and_cookie_api_calls_need_the_csrf_token(site: Site) -> None:
    async with httpx.AsyncClient(base_url=site.url) as http:
        assert (await login(http, "admin")).status_code == 303
        page = await http.get("/messages/new")
        token = csrf_of(page)
        form = {
            "id": "kerst",
            "title_nl": "Kerstmarkt",
            "target:group:hall": "group:hall",
            "starts": "2026-12-19T08:00",
            "priority": "50",
        }
        refused = await http.post("/messages", data=form)
        assert refused.status_code == 403 and "CSRF" in refused.text
        assert (await http.post("/messages", data={**form, "csrf": "forged"})).status_code == 403
        saved = await http.post("/messages", data={**form, "csrf": token})
        assert saved.status_code == 303, saved.text
        api = await http.post("/api/v1/messages", json=kerst(id="kerst-2"))
        assert api.status_code == 403, "a cookie alone does not authorise API writes"
        api = await http.post(
            "/api/v1/messages", json=kerst(id="kerst-2"), headers={"X-CSRF-Token": token}
        )
        assert api.status_code == 201
        assert (await http.post("/emergency/stop", data={})).status_code == 403
        assert (await http.post("/logout", data={"csrf": token})).status_code == 303
        assert (await http.get("/")).status_code == 303


async def test_a_script_in_a_message_is_rendered_inert(site: Site) -> None:
    evil = "<script>alert('x')</script><img src=x onerror=alert(1)>"
    async with httpx.AsyncClient(base_url=site.url) as http:
        notice = {"content": {"nl": {"title": evil, "body": evil}}}
        started = await http.post(
            "/api/v1/emergency", json=notice, headers=bearer(site.admin_token)
        )
        assert started.status_code == 201
        await http.post(
            "/api/v1/messages", json=kerst(title=evil), headers=bearer(site.staff_token)
        )
        await login(http, "admin")
        for page in ("/", "/messages", "/emergency", "/audit", "/display/hall-info"):
            html = (await http.get(page)).text
            assert "<script>alert" not in html, page
            assert "<img src=x" not in html, page
        assert "&lt;script&gt;alert" in (await http.get("/")).text
        assert "&lt;script&gt;alert" in (await http.get("/display/hall-info")).text


async def test_login_attempts_are_rate_limited(site: Site) -> None:
    async with httpx.AsyncClient(base_url=site.url) as http:
        for _ in range(5):
            assert (await login(http, "staff", "wrong password!")).status_code == 401
        assert (await login(http, "staff", "wrong password!")).status_code == 429
        assert (await login(http, "staff")).status_code == 429, "blocked even when right"
        await site.advance_to(site.clock.now() + timedelta(seconds=301))
        assert (await login(http, "staff")).status_code == 303


async def test_sim_controls_exist_only_in_sim(tmp_path: Path) -> None:
    async with (
        running_site(tmp_path, simulate=False) as site,
        httpx.AsyncClient(base_url=site.url, headers=bearer(site.staff_token)) as http,
    ):
        response = await http.post("/api/v1/sim/visitor", json={"track": 1})
    assert response.status_code == 404


async def test_hostile_requests_are_refused_fast_and_health_keeps_answering(site: Site) -> None:
    """A huge body (before auth), a rule that would never end, a flood of sign-ins."""
    async with httpx.AsyncClient(base_url=site.url, timeout=10) as http:
        # A client announcing 40 MB gets its answer before it has sent them (no auth).
        started = time.perf_counter()
        host, port = site.url.removeprefix("http://").rstrip("/").split(":")
        reader, writer = await asyncio.open_connection(host, int(port))
        writer.write(
            b"POST /api/v1/messages HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: 40000000\r\n\r\n" + b'{"title": "' + b"x" * 65536
        )
        await writer.drain()
        answer = (await reader.read(4096)).decode()
        writer.close()
        assert answer.startswith("HTTP/1.1 413"), answer[:80]
        assert "[web] max_body" in answer
        assert time.perf_counter() - started < 2.0

        for rule in ("FREQ=DAILY;INTERVAL=0", "FREQ=SECONDLY"):
            started = time.perf_counter()
            response = await http.post(
                "/api/v1/messages",
                json=kerst(every=None, recurrence={"rrule": rule, "dayparts": ["09:00-17:00"]}),
                headers=bearer(site.staff_token),
            )
            assert response.status_code == 422, response.text
            assert time.perf_counter() - started < 2.0, rule

        names = [f"nobody-{n}" for n in range(25)]
        codes = [(await login(http, name, "wrong password!")).status_code for name in names]
        assert codes[:20] == [401] * 20 and set(codes[20:]) == {429}, "limited per address"
        started = time.perf_counter()
        assert (await http.get("/healthz")).status_code == 200
        assert time.perf_counter() - started < 0.1


async def test_the_message_list_is_paged_and_filtered_in_the_database(site: Site) -> None:
    async with httpx.AsyncClient(base_url=site.url, headers=bearer(site.staff_token)) as http:
        for n in range(12):
            groups = ["hall"] if n % 3 == 0 else ["waiting-room"]
            body = kerst(id=f"m-{n:02d}", targets={"groups": groups})
            created = await http.post("/api/v1/messages", json=body)
            assert created.status_code == 201, created.text
        first = await http.get("/api/v1/messages", params={"limit": 5})
        assert first.headers["X-Total-Count"] == "12"
        assert [m["id"] for m in first.json()] == [f"m-{n:02d}" for n in range(5)]
        seen = [m["id"] for m in first.json()]
        following = first.headers["Link"].split(">")[0].removeprefix("<")
        while following:
            page = await http.get(following)
            seen += [m["id"] for m in page.json()]
            link = page.headers.get("Link")
            following = link.split(">")[0].removeprefix("<") if link else ""
        assert seen == [f"m-{n:02d}" for n in range(12)], "every message once, in order"
        hall = await http.get("/api/v1/messages", params={"target": "hall"})
        assert hall.headers["X-Total-Count"] == "4"
        assert (await http.get("/api/v1/messages", params={"limit": 5000})).status_code == 422


async def test_a_database_locked_by_another_program_gets_503_soon_not_a_frozen_robot(
    site: Site, tmp_path: Path
) -> None:
    other = sqlite3.connect(tmp_path / "var" / "schedule.sqlite", isolation_level=None)
    other.execute("BEGIN EXCLUSIVE")  # another program holds the database
    try:
        async with httpx.AsyncClient(base_url=site.url, headers=bearer(site.staff_token)) as http:
            writing = asyncio.ensure_future(http.post("/api/v1/messages", json=kerst()))
            await asyncio.sleep(0.2)  # the write waits for the lock, on a worker thread
            started = time.perf_counter()
            assert (await http.get("/healthz")).status_code == 200
            assert time.perf_counter() - started < 0.1, "the loop is not waiting with it"
            listed = await http.get("/api/v1/messages")
            assert listed.status_code == 200, "WAL: reading goes on while another writes"
            created = await writing
            assert created.status_code == 503, created.text
            assert created.headers["Retry-After"] == "2"
            assert "busy" in created.json()["detail"]
    finally:
        other.execute("ROLLBACK")
        other.close()
    async with httpx.AsyncClient(base_url=site.url, headers=bearer(site.staff_token)) as http:
        assert (await http.post("/api/v1/messages", json=kerst())).status_code == 201


async def test_display_event_streams_are_bounded_per_address(site: Site) -> None:
    async with httpx.AsyncClient(base_url=site.url, timeout=5) as http:
        async with contextlib.AsyncExitStack() as open_streams:
            for _ in range(8):
                response = await open_streams.enter_async_context(
                    http.stream("GET", "/display/hall-info/events")
                )
                assert response.status_code == 200
            await asyncio.sleep(0.2)  # every stream is running
            refused = await http.get("/display/hall-info/events")
            assert refused.status_code == 429
            assert "per address" in refused.json()["detail"]
        await asyncio.sleep(0.1)  # the streams were closed: room again
        async with http.stream("GET", "/display/hall-info/events") as again:
            assert again.status_code == 200


async def test_no_route_lets_staff_end_edit_or_convert_an_emergency(site: Site) -> None:
    """#19: one rule for API and forms, checked over every changing route the app has."""
    app = create_app(site.services)
    changing = sorted(
        (method, route.path)
        for route in app.routes
        if isinstance(route, APIRoute)
        for method in route.methods
        if method in ("POST", "PUT", "PATCH", "DELETE")
        and ("{message_id}" in route.path or route.path in ("/messages", "/emergency/stop",
                                                             "/api/v1/emergency"))
    )  # fmt: skip
    assert ("POST", "/messages/{message_id}/delete") in changing, "the form that ended one"
    assert len(changing) >= 6, changing
    admin = bearer(site.admin_token)
    async with httpx.AsyncClient(base_url=site.url) as http:
        notice = {"content": {"nl": {"title": "Brand", "body": "Verlaat het gebouw."}}}
        fire = (await http.post("/api/v1/emergency", json=notice, headers=admin)).json()["id"]
        assert (await login(http, "staff")).status_code == 303
        csrf = csrf_of(await http.get("/messages/new"))
        as_info = {"id": fire, "title_nl": "Brand", "target:group:hall": "group:hall",
                   "starts": "2026-11-24T08:00", "priority": "50", "csrf": csrf,
                   "existing": fire}  # fmt: skip
        for method, path in changing:
            url = path.replace("{message_id}", fire)
            if path.startswith("/api/"):
                body = kerst(id=fire, kind="info") if method in ("PUT", "POST") else None
                answer = await http.request(
                    method, url, json=body, headers={**bearer(site.staff_token)}
                )
            else:
                answer = await http.request(method, url, data=as_info)
            if (method, path) in (("POST", "/messages"), ("POST", "/api/v1/emergency")):
                continue  # creating: the form with an existing id is checked below
            assert answer.status_code in (403, 409), (method, path, answer.status_code)
        # The form that saves an edited message, with the emergency's id: refused too.
        edited = await http.post("/messages", data=as_info)
        assert edited.status_code == 403, edited.text
    async with httpx.AsyncClient(base_url=site.url, headers=admin) as http:
        still = (await http.get("/api/v1/emergency")).json()
        assert still["active"] and still["notices"][0]["id"] == fire
        assert still["notices"][0]["kind"] == "emergency"
        # An admin may end it, but not by turning it into an ordinary message.
        converted = await http.put(f"/api/v1/messages/{fire}", json=kerst(id=fire))
        assert converted.status_code == 409 and "end it on the emergency page" in converted.text


async def test_after_logout_a_copied_session_cookie_no_longer_works(site: Site) -> None:
    """#19: the server ends a session, not only the browser."""
    async with httpx.AsyncClient(base_url=site.url) as http:
        assert (await login(http, "staff")).status_code == 303
        copied = dict(http.cookies)
        csrf = csrf_of(await http.get("/messages/new"))
        assert (await http.post("/logout", data={"csrf": csrf})).status_code == 303
    async with httpx.AsyncClient(base_url=site.url, cookies=copied) as thief:
        page = await thief.get("/")
        assert page.status_code == 303 and page.headers["location"] == "/login"
        assert (await thief.get("/api/v1/messages")).status_code == 401
    site.services.users.set_password("admin", "a new password, 2026")
    async with httpx.AsyncClient(base_url=site.url) as http:
        assert (await login(http, "admin", "a new password, 2026")).status_code == 303
        assert (await http.get("/")).status_code == 200


async def test_the_last_admin_cannot_be_removed_and_data_files_are_private(site: Site) -> None:
    async with httpx.AsyncClient(base_url=site.url, headers=bearer(site.admin_token)) as http:
        last = await http.delete("/api/v1/users/admin")
        assert last.status_code == 409 and "last admin" in last.text
        assert site.services.users.get("admin") is not None
    folder = Path(site.services.config_path).parent / "var"
    assert folder.stat().st_mode & 0o777 == 0o700
    for name in ("schedule.sqlite", "users.sqlite"):
        assert (folder / name).stat().st_mode & 0o777 == 0o600, name


async def test_every_answer_carries_the_security_headers(site: Site) -> None:
    """#19: CSP (scripts only from here or with the page's nonce), no framing, nosniff."""
    async with httpx.AsyncClient(base_url=site.url) as http:
        for path in ("/login", "/healthz", "/display/hall-info", "/tablet/welcome"):
            answer = await http.get(path)
            csp = answer.headers["content-security-policy"]
            assert "script-src 'self' 'nonce-" in csp and "frame-ancestors 'none'" in csp
            assert answer.headers["x-content-type-options"] == "nosniff"
            assert answer.headers["referrer-policy"] == "same-origin"
        first, second = (await http.get("/login"), await http.get("/login"))
        assert first.headers["content-security-policy"] != second.headers["content-security-policy"]
        page = (await http.get("/display/hall-info")).text
        nonce = first.headers["content-security-policy"].split("'nonce-")[1].split("'")[0]
        assert "onchange=" not in page and nonce not in page  # a nonce per answer
        assert (await http.get("/healthz")).json() == {"status": "ok"}, "details are for staff"
        detailed = await http.get("/healthz", headers=bearer(site.staff_token))
        assert "children" in detailed.json()


async def test_tokens_are_listed_revoked_and_expire(site: Site) -> None:
    """#19: an API token can be seen (never its secret), revoked, and given an end."""
    admin = bearer(site.admin_token)
    async with httpx.AsyncClient(base_url=site.url, headers=admin) as http:
        made = await http.post("/api/v1/tokens", json={"label": "city-app", "days": 30})
        assert made.status_code == 201
        secret = made.json()["token"]
        listed = (await http.get("/api/v1/tokens")).json()
        app_token = next(t for t in listed if t["label"] == "city-app")
        assert app_token["expires"] is not None and secret not in str(listed)
        assert (await http.get("/api/v1/devices", headers=bearer(secret))).status_code == 200
        assert (await http.delete(f"/api/v1/tokens/{app_token['id']}")).status_code == 204
        assert (await http.get("/api/v1/devices", headers=bearer(secret))).status_code == 401
        assert (await http.delete("/api/v1/tokens/000000000000")).status_code == 404
        odd = await http.post("/api/v1/tokens", json={"label": "x", "days": 0})
        assert odd.status_code == 422
        staff = await http.get("/api/v1/tokens", headers=bearer(site.staff_token))
        assert staff.status_code == 403
    users = site.services.users
    old = users.create_token("old", "staff", T0 - timedelta(days=10), T0 - timedelta(days=1))
    assert users.user_for_token(old, T0) is None, "expired"


async def test_sign_ins_failures_and_account_changes_are_in_the_security_log(site: Site) -> None:
    """#19: who signed in or failed to, from where, and who changed accounts or tokens."""
    async with httpx.AsyncClient(base_url=site.url) as http:
        assert (await login(http, "staff", "not the password")).status_code == 401
        assert (await login(http, "staff")).status_code == 303
        csrf = csrf_of(await http.get("/messages/new"))
        assert (await http.post("/logout", data={"csrf": csrf})).status_code == 303
    async with httpx.AsyncClient(base_url=site.url, headers=bearer(site.admin_token)) as http:
        added = await http.post(
            "/api/v1/users",
            json={"name": "carla", "password": "long enough, 2026", "role": "staff"},
        )
        assert added.status_code == 201
        made = await http.post("/api/v1/tokens", json={"label": "city-app"})
        token_id = next(t["id"] for t in (await http.get("/api/v1/tokens")).json()
                        if t["label"] == "city-app")  # fmt: skip
        assert (await http.delete(f"/api/v1/tokens/{token_id}")).status_code == 204
        assert (await http.delete("/api/v1/users/carla")).status_code == 204
        trail = (await http.get("/api/v1/security-log")).json()
        staff_view = await http.get("/api/v1/security-log", headers=bearer(site.staff_token))
    actions = [(e["action"], e["subject"]) for e in reversed(trail)]
    assert actions[:3] == [("sign-in-failed", "staff"), ("sign-in", "staff"), ("sign-out", "staff")]
    assert ("user-added (staff)", "carla") in actions and ("user-removed", "carla") in actions
    assert ("token-made (staff)", "city-app") in actions and ("token-revoked", token_id) in actions
    assert all(e["client"] for e in trail)
    assert "not the password" not in str(trail) and made.json()["token"] not in str(trail)
    assert staff_view.status_code == 403


#: Who may call each route (#19): the one table this test holds the app to. A new route
#: fails the test until it is put here.
ANYONE = {
    ("GET", "/healthz"), ("GET", "/metrics"), ("GET", "/display/{display_id}"),
    ("GET", "/display/{display_id}/events"), ("GET", "/login"), ("POST", "/login"),
    # the website chatbot (#21): citizens, anonymous, rate-limited, nothing stored
    ("GET", "/chat"), ("GET", "/chat/widget.js"), ("POST", "/api/v1/chat"),
    ("OPTIONS", "/api/v1/chat"),
    # a one-time set-password link (#23): whoever holds it, once, before it expires
    ("GET", "/set-password/{token}"), ("POST", "/set-password/{token}"),
    # pictures on the screens (#22): a screen player has no credentials
    ("GET", "/images/{name}"),
}  # fmt: skip
ADMINS = {
    ("GET", "/api/v1/users"),
    ("POST", "/api/v1/users"), ("DELETE", "/api/v1/users/{name}"), ("GET", "/api/v1/tokens"),
    ("POST", "/api/v1/tokens"), ("DELETE", "/api/v1/tokens/{token_id}"),
    ("GET", "/api/v1/security-log"),
    # users in the web app (#23): the API and the admins' page and forms
    ("PATCH", "/api/v1/users/{name}"), ("POST", "/api/v1/users/{name}/password-reset"),
    ("GET", "/api/v1/account-audit"), ("GET", "/users"), ("POST", "/users"),
    ("POST", "/users/{name}/role"), ("POST", "/users/{name}/password-reset"),
    ("POST", "/users/{name}/disable"), ("POST", "/users/{name}/enable"),
    ("POST", "/users/tokens"), ("POST", "/users/tokens/{token_id}/revoke"),
    # a test alert on every channel (#23)
    ("POST", "/api/v1/alerts/test"), ("POST", "/alerts/test"),
}  # fmt: skip
#: The reception desk's (#22): raising and ending emergencies; admins may too.
DESK = {
    ("POST", "/api/v1/emergency"), ("DELETE", "/api/v1/emergency"),
    ("DELETE", "/api/v1/emergency/{message_id}"), ("POST", "/emergency/start"),
    ("POST", "/emergency/stop"), ("POST", "/emergency/{message_id}/stop"),
    ("POST", "/emergency/{message_id}/extend"), ("POST", "/api/v1/emergency/{message_id}/extend"),
}  # fmt: skip
SESSION_FORMS = {("POST", "/logout"), ("POST", "/language")}  # a signed-in browser's own
PLACEHOLDERS = {
    "{message_id}": "none", "{display_id}": "hall-info", "{token_id}": "000000000000",
    "{name}": "nobody", "{track}": "1", "{token}": "not-a-link", "{device}": "hall-info",
}  # fmt: skip
#: Streams that never end: each has its own test of who may open one.
STREAMS = {"/display/{display_id}/events", "/dashboard/events"}


async def test_every_route_by_every_kind_of_caller_follows_one_table(site: Site) -> None:
    """#19: generated from the app's own route table: anonymous, then staff and admin,
    each with an API token and with a signed-in browser session (forms and API alike)."""
    app = create_app(site.services)
    routes = sorted(
        (method, route.path)
        for route in app.routes
        if isinstance(route, APIRoute) and not route.path.startswith("/tablet/")
        for method in route.methods
    )
    staff_routes = set(routes) - ANYONE - ADMINS - DESK - SESSION_FORMS
    assert all(path.startswith(("/api/v1/", "/")) for _, path in staff_routes)

    def url(path: str) -> str:
        for placeholder, value in PLACEHOLDERS.items():
            path = path.replace(placeholder, value)
        return path

    async with httpx.AsyncClient(base_url=site.url) as http:
        for method, path in routes:
            if path in STREAMS:
                continue  # a stream that never ends: its 404/429 rules have their own test
            body = {"json": {}} if method in ("POST", "PUT") and path.startswith("/api/") else {}
            anonymous = await http.request(method, url(path), **body)  # type: ignore[arg-type]
            if (method, path) in ANYONE:
                assert anonymous.status_code not in (401, 403), (method, path)
            elif path.startswith("/api/"):
                assert anonymous.status_code == 401, (method, path, anonymous.status_code)
            else:
                assert anonymous.status_code in (303, 403), (method, path, anonymous.status_code)
            if not path.startswith("/api/"):
                continue
            for token, allowed in (
                (site.staff_token, (method, path) not in ADMINS | DESK),
                (site.desk_token, (method, path) not in ADMINS),
                (site.admin_token, True),
            ):
                answer = await http.request(method, url(path), headers=bearer(token), **body)  # type: ignore[arg-type]
                if allowed:
                    assert answer.status_code not in (401, 403), (method, path, answer.text)
                else:  # the body may be refused first (422); never done (2xx)
                    assert answer.status_code in (403, 422), (method, path, answer.status_code)
    for name in ("staff", "desk", "admin"):  # a signed-in browser: cookie and CSRF token
        async with httpx.AsyncClient(base_url=site.url) as browser:
            assert (await login(browser, name)).status_code == 303
            csrf = csrf_of(await browser.get("/messages/new"))
            for method, path in routes:
                if (method, path) in SESSION_FORMS or path in STREAMS:
                    continue  # they end or change this very session; a stream
                allowed = (
                    name == "admin"
                    or (name == "desk" and (method, path) not in ADMINS)
                    or (method, path) not in ADMINS | DESK
                )
                if path.startswith("/api/"):
                    extra: dict[str, Any] = {"headers": {"x-csrf-token": csrf}}
                    if method in ("POST", "PUT"):
                        extra["json"] = {}
                else:
                    extra = {"data": {"csrf": csrf}} if method == "POST" else {}
                answer = await browser.request(method, url(path), **extra)
                where = (name, method, path, answer.status_code)
                if allowed:
                    assert answer.status_code not in (401, 403), where
                    assert "/login" not in answer.headers.get("location", ""), where
                else:
                    assert answer.status_code in (403, 422), where

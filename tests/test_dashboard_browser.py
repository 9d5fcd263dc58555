"""The dashboard in a real browser: live device health, places, and a test alert.

Debian's chromium driven by Playwright; screenshots kept as test artifacts. Simulated
time is held by the harness while the browser works; the test moves it on.
"""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

from playwright.async_api import Browser, expect

from tests.receivers import WebhookReceiver
from tests.test_web_browser import log_in, shot
from tests.web_harness import T0, running_site


async def test_a_screen_switched_off_turns_offline_on_an_open_dashboard_without_reloading(
    tmp_path: Path, browser: Browser
) -> None:
    async with running_site(tmp_path, screens=True, fleet__check_seconds="30") as site:
        assert site.screens is not None
        await site.advance_to(T0 + timedelta(minutes=1))  # connected, confirmed, judged
        page = await browser.new_page()
        await log_in(page, site, "admin")  # Dutch
        row = page.locator("#screens tr[data-device=hall-info]")
        await expect(row).to_have_attribute("data-state", "online")
        await expect(row.locator(".state")).to_have_text("in orde")
        # screens, beacons, each in its own table; titles, not content ids
        await expect(page.locator("#screens tr[data-device]")).to_have_count(3)
        await expect(page.locator("#beacons tr[data-device]")).to_have_count(5)
        await expect(row.locator(".shows")).not_to_contain_text("default.")
        await shot(page, "dashboard-all-online")

        site.screens["hall-info"].switch_off()
        await site.advance_to(T0 + timedelta(minutes=2))
        # The page was not reloaded: the live stream brought the change.
        await expect(row).to_have_attribute("data-state", "offline", timeout=10_000)
        await expect(row.locator(".state")).to_have_text("offline")
        await expect(row.locator(".reason")).to_contain_text("meldt zich offline")
        await expect(page.locator("#alert-list")).to_contain_text("onbereikbaar")
        await shot(page, "dashboard-screen-offline")

        # One place only
        await page.select_option("#place", "waiting-room")
        await expect(page.locator("#screens tr[data-device]")).to_have_count(1)
        await expect(page.locator("#screens")).to_contain_text("waiting-room")
        await shot(page, "dashboard-one-place")


async def test_an_admin_sends_a_test_alert_and_sees_what_each_channel_said(
    tmp_path: Path, browser: Browser
) -> None:
    hook = WebhookReceiver()
    try:
        async with running_site(
            tmp_path, alerts__webhook=f'{{ url = "{hook.url}" }}'
        ) as site:  # fmt: skip
            page = await browser.new_page()
            await log_in(page, site, "staff")  # English; staff may not send one
            await expect(page.locator("#send-test-alert")).to_have_count(0)
            admin = await browser.new_page()
            await log_in(admin, site, "admin")
            await admin.click("#send-test-alert")
            await expect(admin.locator("#alert-test")).to_contain_text("webhook: ok")
            (call,) = hook.calls
            assert json.loads(call.body)["event"] == "test"
            assert json.loads(call.body)["by"] == "admin"
            await shot(admin, "dashboard-test-alert")
    finally:
        hook.close()


async def test_only_signed_in_staff_open_the_dashboard_stream_and_it_sends_the_fleet(
    tmp_path: Path,
) -> None:
    import httpx

    from tests.test_web_api import csrf_of, login

    async with running_site(tmp_path) as site, httpx.AsyncClient(base_url=site.url) as http:
        anonymous = await http.get("/dashboard/events")
        assert anonymous.status_code == 303
        assert anonymous.headers["location"] == "/login?next=/dashboard/events"
        assert (await login(http, "staff")).status_code == 303
        csrf_of(await http.get("/messages/new"))
        async with http.stream("GET", "/dashboard/events") as stream:
            assert stream.status_code == 200
            assert stream.headers["content-type"].startswith("text/event-stream")
            async for line in stream.aiter_lines():
                if line.startswith("data: "):
                    sent = json.loads(line[6:])["html"]
                    assert 'id="screens"' in sent and "hall-info" in sent
                    break


async def test_a_screens_week_shows_the_winner_of_every_hour(
    tmp_path: Path, browser: Browser
) -> None:
    from datetime import datetime

    from beacons.content import LocalizedContent
    from scheduler.model import Message, Targets

    def message(id: str, starts: str, ends: str, priority: int) -> Message:
        return Message(
            id=id, title=id.capitalize(), content={"nl": LocalizedContent(title=id)},
            targets=Targets(groups=["hall"]), priority=priority,
            starts=datetime.fromisoformat(starts), ends=datetime.fromisoformat(ends),
        )  # fmt: skip

    async with running_site(tmp_path) as site:
        store = site.services.store
        store.add(message("markt", "2026-11-24T09:00+01:00", "2026-11-24T12:00+01:00", 50), "x", T0)
        store.add(
            message("storing", "2026-11-24T11:00+01:00", "2026-11-24T12:00+01:00", 90), "x", T0
        )
        page = await browser.new_page()
        await log_in(page, site, "admin")
        await page.goto(f"{site.url}/devices/hall-info/week?start=2026-11-23")

        def cell(day: str, hour: int) -> str:
            return f"#week td[data-day='{day}'][data-hour='{hour}']"

        await expect(page.locator(cell("2026-11-24", 10))).to_have_text("Markt")
        await expect(page.locator(cell("2026-11-24", 11))).to_have_text("Storing")  # higher
        await expect(page.locator(cell("2026-11-24", 13))).to_have_text("·")  # its default
        await expect(page.locator(cell("2026-11-29", 10))).to_have_text("Vandaag gesloten")
        await expect(page.locator(cell("2026-11-29", 10))).to_have_class("closed")
        await shot(page, "screen-week")
        assert (await page.request.get(f"{site.url}/devices/attic/week")).status == 404


async def test_an_emergency_that_ends_by_itself_reminds_the_desk_who_can_extend_it(
    tmp_path: Path, browser: Browser
) -> None:
    from datetime import timedelta

    import httpx

    async with running_site(tmp_path) as site:
        desk = {"Authorization": f"Bearer {site.desk_token}"}
        async with httpx.AsyncClient(base_url=site.url, headers=desk) as http:
            raised = await http.post(
                "/api/v1/emergency", json={"template": "evacuation", "minutes": 10}
            )
            assert raised.status_code == 201, raised.text
            notice = raised.json()["id"]
            staff = {"Authorization": f"Bearer {site.staff_token}"}
            refused = await http.post(
                f"/api/v1/emergency/{notice}/extend", json={"minutes": 5}, headers=staff
            )
            assert refused.status_code == 403
        page = await browser.new_page()
        await log_in(page, site, "desk")  # Dutch
        await page.goto(f"{site.url}/emergency")
        await expect(page.locator(".notice .ends")).to_contain_text("eindigt vanzelf om")
        await expect(page.locator(".notice .reminder")).to_have_count(0)  # not yet
        await site.advance_to(T0 + timedelta(minutes=6))
        await page.reload()
        await expect(page.locator(".notice .reminder")).to_contain_text("over 4 min")
        await shot(page, "emergency-reminder")
        await page.click(".notice .extend-emergency")
        ends = site.services.store.get(notice).ends
        assert ends is not None and ends - T0 == timedelta(minutes=25)
        await expect(page.locator(".notice .reminder")).to_have_count(0)
        await expect(page.locator(".notice .ends")).to_contain_text("nog 19 min")

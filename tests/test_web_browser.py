"""Staff in a real browser: Debian's chromium driven by Playwright, screenshots kept.

The harness holds simulated time while the browser works, so nothing in the schedule
moves on between a click and the check that follows; the test moves time on explicitly.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from pathlib import Path

from playwright.async_api import Browser, Page, expect

from tests.conftest import ARTIFACTS
from tests.web_harness import PASSWORD, Site, running_site


async def log_in(page: Page, site: Site, name: str) -> None:
    await page.goto(f"{site.url}/login")
    await page.fill("input[name=name]", name)
    await page.fill("input[name=password]", PASSWORD)
    await page.click("button[type=submit]")
    await expect(page.locator("header")).to_contain_text(name)


async def shot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    await page.screenshot(path=ARTIFACTS / f"{name}.png", full_page=True)


async def test_staff_schedule_a_bilingual_message_and_see_it_delivered(
    tmp_path: Path, browser: Browser
) -> None:
    async with running_site(tmp_path, screens=True) as site:
        page = await browser.new_page()
        # simulated time is held by the harness while the browser works
        await log_in(page, site, "staff")
        await page.goto(f"{site.url}/messages/new")
        await page.fill("input[name=id]", "kerst-ochtend")
        await page.fill("input[name=title]", "Kerstmarkt (ochtend)")
        await page.fill("input[name=title_nl]", "Kerstmarkt op het plein")
        await page.fill("textarea[name=body_nl]", "Morgenochtend van 9 tot 12 uur.")
        await page.fill("input[name=title_en]", "Christmas market on the square")
        await page.fill("textarea[name=body_en]", "Tomorrow morning, 9 to 12.")
        await page.fill("input[name=link_nl]", "https://aalter.be/kerst")
        await expect(page.locator("#preview-title")).to_have_text("Kerstmarkt op het plein")
        await expect(page.locator("#frame-check")).to_contain_text("Fits a beacon link")
        await page.check("input[value='group:hall']")
        await page.fill("input[name=starts]", "2026-11-25T08:30")
        await page.fill("input[name=ends]", "2026-11-25T12:00")
        await shot(page, "staff-editor")
        await page.click("button[type=submit]")
        await expect(page.locator("#messages")).to_contain_text("Kerstmarkt (ochtend)")
        await shot(page, "staff-messages")

        # Tomorrow, 09:00 in Brussels: the hall screens must show and confirm it.
        await site.advance_to(datetime.fromisoformat("2026-11-25T09:00+01:00"))
        deadline = asyncio.get_running_loop().time() + 10
        while not all(
            site.services.core.snapshot().displays[d].acknowledged == "kerst-ochtend.v1"
            for d in ("hall-entrance", "hall-info")
        ):
            assert asyncio.get_running_loop().time() < deadline, site.services.core.snapshot()
            await asyncio.sleep(0.05)
        await page.goto(site.url + "/")
        row = page.locator("tr[data-device=hall-entrance] .shows")
        await expect(row).to_have_text("kerst-ochtend.v1")
        waiting = page.locator("tr[data-device=waiting-room-1] .shows")
        await expect(waiting).not_to_contain_text("kerst")
        await shot(page, "staff-dashboard-delivered")
        screen = await browser.new_page()
        await screen.goto(site.url + "/display/hall-entrance")
        await expect(screen.locator("h1").first).to_have_text("Kerstmarkt op het plein")
        await expect(screen.locator("h1").nth(1)).to_have_text("Christmas market on the square")
        await shot(screen, "display-hall-entrance")


async def test_an_admin_raises_and_clears_an_emergency(tmp_path: Path, browser: Browser) -> None:
    async with running_site(tmp_path, screens=True) as site:
        # simulated time is held by the harness while the browser works
        page = await browser.new_page()
        await log_in(page, site, "admin")
        await page.goto(f"{site.url}/emergency")
        await expect(page.locator("main")).to_contain_text("Geen noodmelding actief")
        await page.fill("input[name=title_nl]", "Evacuatie: verlaat het gebouw")
        await page.fill("input[name=title_en]", "Evacuate the building")
        await page.check("input[name=confirm]")
        await shot(page, "admin-emergency-form")
        await page.click("#start-emergency")
        await expect(page.locator(".emergency")).to_contain_text("Evacuatie")
        screen = await browser.new_page()
        await screen.goto(site.url + "/display/waiting-room-1")
        await expect(screen.locator("body")).to_have_class("emergency")
        await shot(screen, "display-emergency")
        await page.goto(site.url + "/")
        await expect(page.locator(".emergency")).to_contain_text("Evacuatie")
        await shot(page, "admin-dashboard-emergency")
        await page.goto(f"{site.url}/emergency")
        await page.click("#stop-emergency")
        await expect(page.locator("main")).to_contain_text("Geen noodmelding actief")
        await screen.reload()
        await expect(screen.locator("body")).not_to_have_class("emergency")
        await shot(page, "admin-emergency-cleared")
        trail = [(e.actor, e.action) for e in site.services.store.audit()]
        assert trail == [("admin", "create"), ("admin", "delete")]

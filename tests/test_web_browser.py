"""Staff in a real browser: Debian's chromium driven by Playwright, screenshots kept.

The harness holds simulated time while the browser works, so nothing in the schedule
moves on between a click and the check that follows; the test moves time on explicitly.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from playwright.async_api import Browser, Page, expect

from scheduler.model import Message, Targets
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
        # No id typed: it is made from the staff title ("Kerstmarkt (ochtend)").
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
            site.services.core.snapshot().displays[d].acknowledged == "kerstmarkt-ochtend.v1"
            for d in ("hall-entrance", "hall-info")
        ):
            assert asyncio.get_running_loop().time() < deadline, site.services.core.snapshot()
            await asyncio.sleep(0.05)
        await page.goto(site.url + "/")
        # What it shows, by its title (not an internal content id), and that it confirmed.
        row = page.locator("tr[data-device=hall-entrance] .shows")
        await expect(row).to_contain_text("Kerstmarkt (ochtend)")
        await expect(row).to_contain_text("confirmed")
        await expect(page.locator("tr[data-device=hall-entrance] .thumb")).to_contain_text(
            "Kerstmarkt op het plein"
        )
        waiting = page.locator("tr[data-device=waiting-room-1] .shows")
        await expect(waiting).not_to_contain_text("Kerst")
        await shot(page, "staff-dashboard-delivered")
        screen = await browser.new_page()
        await screen.goto(site.url + "/display/hall-entrance")
        await expect(screen.locator("h1").first).to_have_text("Kerstmarkt op het plein")
        await expect(screen.locator("h1").nth(1)).to_have_text("Christmas market on the square")
        await shot(screen, "display-hall-entrance")


async def test_the_reception_desk_raises_and_clears_an_emergency(
    tmp_path: Path, browser: Browser
) -> None:
    async with running_site(tmp_path, screens=True) as site:
        # simulated time is held by the harness while the browser works
        staff = await browser.new_page()
        await log_in(staff, site, "staff")
        await staff.goto(f"{site.url}/emergency")
        await expect(staff.locator("#needs-desk")).to_contain_text("reception desk")
        await expect(staff.locator("#start-emergency")).to_have_count(0)

        page = await browser.new_page()
        await log_in(page, site, "desk")  # not an admin: the desk role
        await page.goto(f"{site.url}/emergency")
        await expect(page.locator("main")).to_contain_text("Geen noodmelding actief")
        await page.check("#emergency-form input[name=confirm]")
        await page.click("#start-emergency")  # nothing written: said above the form
        await expect(page.locator(".errors")).to_contain_text("Schrijf de melding")
        await page.fill("input[name=title_nl]", "Evacuatie")
        await page.fill("textarea[name=body_nl]", "Verlaat het gebouw via de dichtste uitgang.")
        await page.fill("input[name=title_en]", "Evacuation")
        await page.fill("textarea[name=body_en]", "Leave the building by the nearest exit.")
        await page.check("#emergency-form input[name=confirm]")
        await shot(page, "desk-emergency-form")
        await page.click("#start-emergency")
        await expect(page.locator(".notice .emergency")).to_contain_text("Evacuatie")
        # Every screen confirms it: the live panel counts them.
        await expect(page.locator(".notice .panel")).to_contain_text("3/3 schermen bevestigd")
        screen = await browser.new_page()
        await screen.goto(site.url + "/display/waiting-room-1")
        await expect(screen.locator("body")).to_have_class("emergency")
        await shot(screen, "display-emergency")
        await shot(page, "desk-emergency-live")
        await page.click(".notice .stop-emergency")  # without the confirmation: refused
        await expect(page.locator(".notice")).to_have_count(1)
        await page.check(".notice input[name=confirm]")
        await page.click(".notice .stop-emergency")
        await expect(page.locator("main")).to_contain_text("Geen noodmelding actief")
        await screen.reload()
        await expect(screen.locator("body")).not_to_have_class("emergency")
        await shot(page, "desk-emergency-cleared")
        trail = [(e.actor, e.action) for e in site.services.store.audit()]
        assert trail == [("desk", "create"), ("desk", "emergency-end")]


async def _save(page: Page) -> None:
    await page.click("#editor button[type=submit]")
    await expect(page.locator("#messages")).to_be_visible()


async def test_a_recurring_message_is_made_edited_and_saved_again_without_retyping(
    tmp_path: Path, browser: Browser
) -> None:
    """#22: every Monday and Wednesday 8.30-12.00, not on 11 November, in Dutch."""
    async with running_site(tmp_path) as site:
        page = await browser.new_page()
        await log_in(page, site, "admin")  # works in Dutch
        await page.goto(f"{site.url}/messages/new")
        await page.click("#editor details summary")  # the id is an advanced field
        await page.fill("input[name=id]", "loket-3")
        await page.fill("input[name=title]", "Loket 3")
        await page.fill("input[name=title_nl]", "Loket 3 is open")
        await page.check("input[value='group:hall']")
        await page.fill("input[name=starts]", "2026-11-02T08:00")
        await page.check("input[name=repeat][value=week]")
        await page.check("input[name=day_MO]")
        await page.check("input[name=day_WE]")
        await page.fill("input[name=window_start_0]", "08:30")
        await page.fill("input[name=window_end_0]", "12:00")
        await page.fill("input[name=skip]", "2026-11-11")
        await _save(page)
        said = "elke maandag en woensdag van 8.30 tot 12.00, niet op 11 november"
        await expect(page.locator("tr[data-message=loket-3]")).to_contain_text(said)
        saved = site.services.store.get("loket-3")
        assert saved is not None and saved.recurrence is not None

        # Edit: the form shows what was saved; change the priority only, save again.
        await page.click("tr[data-message=loket-3] a")
        await expect(page.locator("input[name=repeat][value=week]")).to_be_checked()
        for day in ("MO", "WE"):
            await expect(page.locator(f"input[name=day_{day}]")).to_be_checked()
        await expect(page.locator("input[name=day_TU]")).not_to_be_checked()
        await expect(page.locator("input[name=window_start_0]")).to_have_value("08:30")
        await expect(page.locator("input[name=skip]")).to_have_value("2026-11-11")
        await expect(page.locator("#described")).to_have_text(said)
        await page.select_option("select[name=priority]", "75")  # "hoog"
        await _save(page)
        again = site.services.store.get("loket-3")
        assert again is not None and again.version == 2 and again.priority == 75
        assert again.recurrence == saved.recurrence, "nothing retyped, nothing changed"

        # A mistake keeps the form in edit mode; fixing it saves the same message.
        await page.click("tr[data-message=loket-3] a")
        await page.fill("input[name=window_end_0]", "08:30")
        await page.click("#editor button[type=submit]")
        await expect(page.locator(".errors")).to_contain_text("lasts no time")
        await expect(page.locator("input[name=id]")).to_have_attribute("readonly", "")
        await page.fill("input[name=window_end_0]", "12:00")
        await _save(page)
        assert (site.services.store.get("loket-3") or again).version == 3

        # The week view: shown on Monday 9, skipped on Wednesday 11 November, and hidden
        # on Monday 16 by a message of higher priority on the same screens.
        other = Message(
            id="storing",
            title="Storing",
            content={"nl": {"title": "Storing", "body": "Loketten dicht"}},
            targets=Targets(groups=["hall"]),
            starts=datetime(2026, 11, 16, 7, 0, tzinfo=UTC),
            ends=datetime(2026, 11, 16, 12, 0, tzinfo=UTC),
            priority=90,
        )
        site.services.store.add(other, "admin", site.clock.now())
        await page.click("tr[data-message=loket-3] a")
        await page.fill("#week-from", "2026-11-09")
        await page.click("#week-show")
        await expect(page.locator("li[data-date='2026-11-09']")).to_contain_text("08:30–12:00")
        await expect(page.locator("li[data-date='2026-11-11']")).to_contain_text("overgeslagen")
        await expect(page.locator("li[data-date='2026-11-10']")).to_contain_text("niet getoond")
        await shot(page, "staff-recurrence-week-nl")
        await page.fill("#week-from", "2026-11-16")
        await page.click("#week-show")
        monday = page.locator("li[data-date='2026-11-16']")
        await expect(monday).to_contain_text("verborgen door 'Storing', 90")


async def test_a_monthly_first_tuesday_message_round_trips_in_english(
    tmp_path: Path, browser: Browser
) -> None:
    async with running_site(tmp_path) as site:
        page = await browser.new_page()
        await log_in(page, site, "staff")  # works in English
        await page.goto(f"{site.url}/messages/new")
        await page.click("#editor details summary")  # the id is an advanced field
        await page.fill("input[name=id]", "zitdag")
        await page.fill("input[name=title]", "Zitdag notaris")
        await page.fill("input[name=title_en]", "The notary is in")
        await page.check("input[value='display:hall-info']")
        await page.fill("input[name=starts]", "2026-11-01T08:00")
        await page.check("input[name=repeat][value=month]")
        await page.select_option("select[name=ordinal]", "1")
        await page.select_option("select[name=month_day]", "TU")
        await page.fill("input[name=window_start_0]", "09:00")
        await page.fill("input[name=window_end_0]", "11:00")
        await page.select_option("select[name=building]", "open")
        await _save(page)
        said = "every first Tuesday of the month from 9.00 to 11.00"
        await expect(page.locator("tr[data-message=zitdag]")).to_contain_text(said)
        saved = site.services.store.get("zitdag")
        assert saved is not None and saved.recurrence is not None
        assert saved.recurrence.rrule == "FREQ=MONTHLY;BYDAY=1TU"
        assert saved.building == "open", "only while the building is open"
        await page.click("tr[data-message=zitdag] a")
        await expect(page.locator("select[name=building]")).to_have_value("open")
        await expect(page.locator("select[name=month_day]")).to_have_value("TU")
        await expect(page.locator("select[name=ordinal]")).to_have_value("1")
        await _save(page)
        again = site.services.store.get("zitdag")
        assert again is not None and again.version == 2 and again.recurrence == saved.recurrence
        await page.click("tr[data-message=zitdag] a")
        await page.fill("#week-from", "2026-12-01")
        await page.click("#week-show")
        await expect(page.locator("li[data-date='2026-12-01']")).to_contain_text("09:00–11:00")
        await expect(page.locator("li[data-date='2026-12-08']")).to_have_count(0)
        await expect(page.locator("li[data-date='2026-12-02']")).to_contain_text("not shown")
        await shot(page, "staff-recurrence-monthly-en")


LOREM = (
    "Wegens werken aan de riolering is de parking achter het gemeentehuis van maandag tot "
    "en met vrijdag afgesloten; gebruik de parking aan de sporthal of kom met de fiets, en "
    "houd rekening met extra wachttijd aan de loketten burgerzaken en financien. "
)


async def test_the_preview_warns_of_a_missing_language_and_text_too_long_for_a_portrait_screen(
    tmp_path: Path, browser: Browser
) -> None:
    async with running_site(tmp_path) as site:
        page = await browser.new_page()
        await log_in(page, site, "staff")
        await page.goto(f"{site.url}/messages/new")
        await page.click("#editor details summary")  # the id is an advanced field
        await page.fill("input[name=id]", "riolering")
        await page.fill("input[name=title_nl]", "Parking dicht")
        await page.fill("textarea[name=body_nl]", LOREM * 4)
        await page.check("input[value='display:hall-info']")
        await page.fill("input[name=starts]", "2026-11-24T09:00")
        checks = page.locator("#check-list")
        await expect(checks).to_contain_text("hall-info: shows fr, the message has no fr")
        await expect(checks).to_contain_text("does not fit (1080x1920")
        mini = page.locator("figure[data-screen=hall-info] .mini")
        box = await mini.bounding_box()
        assert box is not None and box["height"] > box["width"], "drawn standing, like it stands"
        await expect(page.locator("figure[data-screen=hall-info] .lang")).to_have_text("nl")
        await shot(page, "staff-preview-warnings")
        # Shorter and in both languages: nothing to remark.
        await page.fill("textarea[name=body_nl]", "Gebruik de parking aan de sporthal.")
        await page.fill("input[name=title_fr]", "Parking fermé")
        await page.fill("textarea[name=body_fr]", "Utilisez le parking du hall des sports.")
        await expect(checks).to_have_text("Nothing to remark.")


async def test_the_fit_estimate_agrees_with_what_chromium_lays_out(
    tmp_path: Path, browser: Browser
) -> None:
    """The preview's estimate (scheduler/screen.py) against the display page itself."""
    from beacons.content import LocalizedContent
    from scheduler.screen import filling

    async with running_site(tmp_path) as site:
        checked = 0
        verdicts: set[bool] = set()
        for words in (15, 60, 200):
            body = " ".join((LOREM * 10).split()[:words])
            item = LocalizedContent(title="Parking dicht", body=body)
            for width, height, display, languages in (
                (1080, 1920, "hall-info", ("nl", "fr")),
                (1920, 1080, "hall-entrance", ("nl", "en")),
            ):
                estimate = filling(item, width, height, len(languages))
                if 0.85 < estimate < 1.15:
                    continue  # too close to call for an estimate: not held to it
                message = Message(
                    id=f"fit-{words}-{display}",
                    title="fit",
                    content={lang: item for lang in languages},
                    targets=Targets(displays=[display]),
                    starts=site.clock.now(),
                    priority=60 + checked,
                )
                site.services.store.add(message, "staff", site.clock.now())
                page = await browser.new_page(viewport={"width": width, "height": height})
                await page.goto(f"{site.url}/display/{display}")
                await expect(page.locator("h1").first).to_have_text("Parking dicht")
                overflows = await page.evaluate(
                    "() => [...document.querySelectorAll('section')]"
                    ".some(s => s.scrollHeight > s.clientHeight + 1)"
                )
                assert overflows == (estimate > 1), (words, display, estimate)
                verdicts.add(overflows)
                await page.close()
                site.services.store.delete(message.id, "staff", site.clock.now())
                checked += 1
        assert checked >= 4 and verdicts == {True, False}, "both kinds of text were tried"


async def test_delete_asks_first_can_be_undone_and_a_phone_reaches_every_button(
    tmp_path: Path, browser: Browser
) -> None:
    async with running_site(tmp_path) as site:
        kerst = Message(
            id="kerst",
            title="Kerstmarkt",
            content={"nl": {"title": "Kerstmarkt", "body": "Op het plein"}},
            targets=Targets(groups=["hall"]),
            starts=datetime(2026, 12, 19, 8, 0, tzinfo=UTC),
        )
        site.services.store.add(kerst, "staff", site.clock.now())
        phone = await browser.new_page(viewport={"width": 390, "height": 844})
        await log_in(phone, site, "staff")
        await phone.goto(f"{site.url}/messages")
        row = phone.locator("tr[data-message=kerst]")
        for control in (row.locator("a"), row.locator("button")):
            box = await control.bounding_box()
            assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 390, box
        await shot(phone, "staff-messages-phone")

        answers: list[bool] = [False, True]

        async def answer(dialog: Any) -> None:
            assert "Delete this message?" in dialog.message
            await (dialog.accept() if answers.pop(0) else dialog.dismiss())

        phone.on("dialog", answer)
        await row.locator("button").click()  # "no": nothing happens
        await expect(row).to_be_visible()
        assert site.services.store.exists("kerst")
        await row.locator("button").click()  # "yes": gone, with an undo
        await expect(phone.locator(".undo")).to_contain_text("Deleted: kerst")
        assert not site.services.store.exists("kerst")
        await phone.click("#undo")
        await expect(phone.locator("tr[data-message=kerst]")).to_be_visible()
        actions = [e.action for e in site.services.store.audit("kerst")]
        assert actions == ["create", "delete", "restore"]

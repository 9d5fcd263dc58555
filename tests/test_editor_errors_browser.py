"""Each error next to its field, in the staff member's language (Chromium, nl and en)."""

from __future__ import annotations

from pathlib import Path

from playwright.async_api import Browser, expect

from tests.test_web_browser import log_in, shot
from tests.web_harness import running_site


async def test_errors_stand_next_to_their_fields_in_dutch_and_the_form_keeps_its_text(
    tmp_path: Path, browser: Browser
) -> None:
    async with running_site(tmp_path) as site:
        page = await browser.new_page()
        await log_in(page, site, "admin")  # Dutch
        await page.goto(f"{site.url}/messages/new")
        await page.fill("input[name=title_nl]", "K" * 130)
        await page.fill("input[name=link_nl]", "ftp://aalter.be/kerst")
        await page.fill("textarea[name=body_nl]", "Op het plein.")
        await page.fill("input[name=starts]", "2026-11-25T12:00")
        await page.fill("input[name=ends]", "2026-11-25T09:00")
        await page.click("button[type=submit]")
        title = page.locator(".field-error[data-field=title_nl]")
        await expect(title).to_have_text("hoogstens 120 tekens")
        link = page.locator(".field-error[data-field=link_nl]")
        await expect(link).to_have_text("een link begint met http:// of https://")
        # right after its field, and what was typed is still there
        after = "label:has(input[name=title_nl]) + .field-error"
        await expect(page.locator(after)).to_have_count(1)
        await expect(page.locator("textarea[name=body_nl]")).to_have_value("Op het plein.")
        await shot(page, "editor-errors-nl")
        await page.fill("input[name=title_nl]", "Kerstmarkt")
        await page.fill("input[name=link_nl]", "https://aalter.be/kerst")
        await page.click("button[type=submit]")
        targets = page.locator(".field-error[data-field=targets]")
        await expect(targets).to_contain_text("kies waar het bericht komt")
        await page.check("input[value='group:hall']")
        await page.click("button[type=submit]")
        ends = page.locator(".field-error[data-field=ends]")
        await expect(ends).to_have_text("het einde ligt niet na het begin")
        await expect(page.locator(".field-error")).to_have_count(1)


async def test_in_english_the_errors_are_said_as_they_are(tmp_path: Path, browser: Browser) -> None:
    async with running_site(tmp_path) as site:
        page = await browser.new_page()
        await log_in(page, site, "staff")  # English
        await page.goto(f"{site.url}/messages/new")
        await page.fill("input[name=starts]", "2026-11-25T12:00")
        await page.click("button[type=submit]")  # no title in any language
        content = page.locator(".field-error[data-field=content]")
        await expect(content).to_contain_text("at least 1 item")
        await shot(page, "editor-errors-en")

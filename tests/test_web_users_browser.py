"""Users in the web app (#23) in a real browser: Debian's chromium driven by Playwright.

The acceptance item: an admin resets a staff member's password and revokes a token in
the web app; both appear in the audit trail in local time. Screenshots are kept in
test-artifacts/ like the other browser tests'.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
from playwright.async_api import Browser, Page, expect

from tests.conftest import ARTIFACTS
from tests.web_harness import PASSWORD, Site, running_site

NEW_PASSWORD = "the sea at Ostend, 2026"
#: 10:17 in Brussels: what the audit trail must show (09:17 UTC, which it must not).
LATER = datetime.fromisoformat("2026-11-24T10:17:00+01:00")


async def shot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    await page.screenshot(path=ARTIFACTS / f"{name}.png", full_page=True)


async def sign_in(page: Page, site: Site, name: str, password: str = PASSWORD) -> None:
    await page.goto(f"{site.url}/login")
    await page.fill("input[name=name]", name)
    await page.fill("input[name=password]", password)
    await page.click("button[type=submit]")


def confirm_every_dialog(page: Page, seen: list[str]) -> None:
    async def accept(dialog: Any) -> None:
        seen.append(dialog.message)
        await dialog.accept()

    page.on("dialog", accept)


async def test_an_admin_resets_a_password_and_revokes_a_token_and_both_are_in_the_audit_trail(
    tmp_path: Path, browser: Browser
) -> None:
    async with running_site(tmp_path) as site:
        await site.advance_to(LATER)  # then held while the browser works
        staff = await browser.new_page()
        await sign_in(staff, site, "staff")
        await expect(staff.locator("header")).to_contain_text("staff")
        await expect(staff.locator("header a[href='/users']")).to_have_count(0)

        admin = await browser.new_page()
        asked: list[str] = []
        confirm_every_dialog(admin, asked)
        await sign_in(admin, site, "admin")  # reads Dutch
        await admin.click("header a[href='/users']")
        await expect(admin.locator("h1")).to_have_text("Gebruikers")
        row = admin.locator("tr[data-user=staff]")
        await expect(row.locator(".state")).to_have_text("actief")
        await expect(row.locator(".last-sign-in")).to_have_text("2026-11-24 10:17")
        await shot(admin, "admin-users")

        # Reset staff's password: asked first, then the one-time link, shown once.
        await row.locator("form.reset button").click()
        await expect(admin.locator("#notice")).to_contain_text("Wachtwoord van staff hersteld")
        assert asked and "stopt meteen" in asked[-1]
        link = await admin.locator("#one-time-link").input_value()
        assert link.startswith(f"{site.url}/set-password/"), link
        await expect(admin.locator("#shown")).to_contain_text("geldig tot 2026-11-27 10:17")
        await shot(admin, "admin-password-reset-link")
        await staff.reload()
        await expect(staff).to_have_url(f"{site.url}/login"), "staff's session ended at once"

        # The old password no longer signs in, before and after the new one is chosen.
        await sign_in(staff, site, "staff")
        await expect(staff.locator(".errors")).to_contain_text("klopt niet")
        newcomer = await (await browser.new_context()).new_page()  # staff's own browser
        await newcomer.goto(link)
        await expect(newcomer.locator("main")).to_contain_text("Choose a password for staff")
        await newcomer.fill("input[name=password]", NEW_PASSWORD)
        await newcomer.fill("input[name=again]", NEW_PASSWORD)
        await newcomer.click("#set-password button[type=submit]")
        await expect(newcomer.locator("#password-set")).to_have_text(
            "Your password is set. Sign in now."
        )
        await shot(newcomer, "staff-password-set")
        await newcomer.goto(link)
        await expect(newcomer.locator("#link-invalid")).to_be_visible()  # used once
        await sign_in(staff, site, "staff")
        await expect(staff.locator(".errors")).to_contain_text("klopt niet")
        await sign_in(staff, site, "staff", NEW_PASSWORD)
        await expect(staff.locator("header")).to_contain_text("staff (staff)")

        # Revoke the 'tests' token (staff's integration): asked first, then gone.
        async with httpx.AsyncClient(base_url=site.url) as api:
            bearer = {"Authorization": f"Bearer {site.staff_token}"}
            assert (await api.get("/api/v1/messages", headers=bearer)).status_code == 200
            await admin.goto(f"{site.url}/users")
            token_row = admin.locator("#tokens tr", has_text="tests").filter(has_not_text="tests-")
            await expect(token_row.locator(".last-used")).to_have_text("2026-11-24 10:17")
            await token_row.locator("form.revoke button").click()
            await expect(admin.locator("#notice")).to_have_text("API-sleutel tests ingetrokken.")
            assert "intrekken" in asked[-1]
            await expect(admin.locator("#tokens")).not_to_contain_text("tests (")
            revoked = await api.get("/api/v1/messages", headers=bearer)
            assert revoked.status_code == 401, revoked.text

        # Both in the audit trail, newest first, in Brussels time, in words.
        await admin.click("header a[href='/audit']")
        trail = admin.locator("#audit tr[data-action]")
        await expect(trail).to_have_count(3)
        await expect(trail.nth(0)).to_contain_text("2026-11-24 10:17:00")
        await expect(trail.nth(0)).to_contain_text("sleutel ingetrokken")
        await expect(trail.nth(0)).to_contain_text("admin")
        await expect(trail.nth(1)).to_contain_text("wachtwoord ingesteld via link")
        await expect(trail.nth(2)).to_contain_text("wachtwoord hersteld")
        await expect(trail.nth(2)).to_contain_text("2026-11-24 10:17:00")
        await expect(trail.nth(2)).to_contain_text("staff")
        await expect(admin.locator("#audit")).not_to_contain_text("09:17")
        await expect(admin.locator("#audit-zone")).to_contain_text("Europe/Brussels")
        await shot(admin, "admin-audit-trail")
        await admin.select_option("select[name=action]", label="sleutel ingetrokken")
        await admin.click("#audit-apply")
        await expect(trail).to_have_count(1)
        await expect(admin.locator("#audit-csv")).to_have_attribute(
            "href", "/audit.csv?action=token-revoke"
        )


async def test_in_english_an_admin_adds_an_account_fixes_a_typo_and_disables_it(
    tmp_path: Path, browser: Browser
) -> None:
    async with running_site(tmp_path) as site:
        site.services.users.add("eva", PASSWORD, "admin", "en")
        page = await browser.new_page()
        asked: list[str] = []
        confirm_every_dialog(page, asked)
        await sign_in(page, site, "eva")
        await page.click("header a[href='/users']")
        await expect(page.locator("h1")).to_have_text("Users")
        form = page.locator("#add-user")
        await form.locator("input[name=name]").fill("Bert Peeters")
        await form.locator("select[name=role]").select_option("desk")
        await form.locator("button[type=submit]").click()
        await expect(form.locator(".errors")).to_contain_text("A user name is 1 to 64 lower-case")
        await expect(form.locator("input[name=name]")).to_have_value("Bert Peeters")
        await expect(form.locator("select[name=role]")).to_have_value("desk")
        await shot(page, "admin-add-user-error-en")
        await form.locator("input[name=name]").fill("bert.peeters")
        await form.locator("button[type=submit]").click()
        await expect(page.locator("#notice")).to_have_text("User bert.peeters added.")
        link = await page.locator("#one-time-link").input_value()
        assert "/set-password/" in link
        row = page.locator("tr[data-user='bert.peeters']")
        await expect(row.locator(".password-state")).to_contain_text("waiting for the link")
        await expect(row.locator("select[name=role]")).to_have_value("desk")

        # The last admin keeps the role: said next to the row, in English.
        await page.locator("tr[data-user=admin] form.disable button").click()
        await expect(page.locator("#notice")).to_have_text("admin is disabled.")
        await page.locator("tr[data-user=eva] select[name=role]").select_option("staff")
        await page.locator("tr[data-user=eva] button.change-role").click()
        await expect(page.locator("tr[data-user=eva] .errors")).to_contain_text(
            "eva is the last admin: make someone else admin first."
        )
        await expect(page.locator("tr[data-user=eva] select[name=role]")).to_have_value("staff")
        await shot(page, "admin-last-admin-en")

        # Disabling bert cancels his link; he cannot use it any more.
        await page.goto(f"{site.url}/users")
        await page.locator("tr[data-user='bert.peeters'] form.disable button").click()
        await expect(page.locator("#notice")).to_have_text("bert.peeters is disabled.")
        await expect(row.locator(".state")).to_have_text("disabled")
        assert "can no longer sign in" in asked[-1]
        other = await (await browser.new_context()).new_page()
        await other.goto(link)
        await expect(other.locator("#link-invalid")).to_be_visible()
        await page.locator("tr[data-user=admin] form.enable button").click()
        await expect(page.locator("#notice")).to_have_text("admin is enabled again.")

        await page.click("header a[href='/audit']")
        words = await page.locator("#audit tr[data-action] .what").all_inner_texts()
        assert words == [
            "account enabled again",
            "account disabled",
            "account disabled",
            "account created",
        ], words
        await expect(page.locator("#audit tr[data-action]").first).to_contain_text(
            "2026-11-24 09:00:00"
        )
        await shot(page, "admin-audit-en")

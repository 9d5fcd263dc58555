"""Pictures for the screens: judged by their bytes, stored once, served to the screens.

And on the screen: a message's picture above its text, and a QR code of its link.
"""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import httpx
import pytest
from playwright.async_api import Browser, expect

from beacons.images import MAX_SIDE, ImageRefused, check_image
from tests.test_web_browser import log_in, shot
from tests.web_harness import running_site


def png(width: int = 4, height: int = 3, declared: tuple[int, int] | None = None) -> bytes:
    """A real PNG of ``width`` x ``height`` red pixels (``declared``: a lying header)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    w, h = declared or (width, height)
    header = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)
    rows = b"".join(b"\x00" + b"\xff\x00\x00" * width for _ in range(height))
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


def jpeg_header(width: int, height: int) -> bytes:
    """The start of a baseline JPEG: SOI, an APP0 segment, the SOF0 frame header."""
    app0 = b"\xff\xe0" + struct.pack(">H", 16) + b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
    sof0 = b"\xff\xc0" + struct.pack(">HBHHB", 11, 8, height, width, 1) + b"\x01\x11\x00"
    return b"\xff\xd8" + app0 + sof0 + b"\xff\xd9"


def test_pictures_are_judged_by_their_bytes_not_their_name() -> None:
    picture = check_image(png(), 10_000)
    assert (picture.width, picture.height, picture.media_type) == (4, 3, "image/png")
    assert picture.name.endswith(".png") and len(picture.name) == 24
    assert check_image(png(), 10_000).name == picture.name  # the same picture, one name
    photo = check_image(jpeg_header(1080, 1920), 10_000)
    assert (photo.width, photo.height, photo.media_type) == (1080, 1920, "image/jpeg")
    refusals = {
        b"<svg xmlns='http://www.w3.org/2000/svg'><script>alert(1)</script></svg>": "SVG too",
        b"": "empty",
        b"GIF89a....": "not a PNG or JPEG",
        png(declared=(MAX_SIDE + 1, 10)): f"at most {MAX_SIDE} a side",
        b"\x89PNG\r\n\x1a\n": "damaged PNG",
        b"\xff\xd8\xff\xda\x00\x02": "damaged JPEG",
    }
    for data, reason in refusals.items():
        with pytest.raises(ImageRefused, match=reason):
            check_image(data, 10_000)
    with pytest.raises(ImageRefused, match="at most 50"):
        check_image(png(), 50)


async def test_staff_upload_a_picture_and_screens_fetch_it_without_credentials(
    tmp_path: Path,
) -> None:
    async with running_site(tmp_path) as site:
        staff = {"Authorization": f"Bearer {site.staff_token}"}
        async with httpx.AsyncClient(base_url=site.url) as http:
            assert (await http.post("/api/v1/images", content=png())).status_code == 401
            made = await http.post("/api/v1/images", content=png(), headers=staff)
            assert made.status_code == 201, made.text
            name = made.json()["name"]
            assert made.json()["url"].endswith(f"/images/{name}")
            bad = await http.post("/api/v1/images", content=b"<svg/>", headers=staff)
            assert bad.status_code == 422 and "PNG or JPEG" in bad.json()["detail"][0]["msg"]
            served = await http.get(f"/images/{name}")  # a screen has no credentials
            assert served.status_code == 200 and served.content == png()
            assert served.headers["content-type"] == "image/png"
            assert served.headers["x-content-type-options"] == "nosniff"
            assert "immutable" in served.headers["cache-control"]
            for wrong in ("nothere.png", "..%2Fusers.sqlite", "0123456789abcdef0123.svg"):
                assert (await http.get(f"/images/{wrong}")).status_code == 404, wrong
            listed = await http.get("/api/v1/images", headers=staff)
            assert [p["name"] for p in listed.json()] == [name]
        stored = tmp_path / "var" / "images" / name
        assert stored.stat().st_mode & 0o777 == 0o600
        assert (tmp_path / "var" / "images").stat().st_mode & 0o777 == 0o700


async def test_a_message_with_a_picture_and_a_link_shows_both_on_the_screen(
    tmp_path: Path, browser: Browser
) -> None:
    async with running_site(tmp_path) as site:
        page = await browser.new_page()
        await log_in(page, site, "admin")  # Dutch
        await page.goto(f"{site.url}/messages/new")
        await page.fill("input[name=title_nl]", "Kerstmarkt op het plein")
        await page.fill("input[name=link_nl]", "https://aalter.be/kerst")
        picture = tmp_path / "kerst.png"
        picture.write_bytes(png(40, 30))
        await page.set_input_files("#image-upload", str(picture))
        await expect(page.locator("#image-status")).to_have_text("40 × 30")
        await expect(page.locator("#image-preview")).to_be_visible()
        await page.check("input[value='group:hall']")
        await page.fill("input[name=starts]", "2026-11-24T08:00")
        await shot(page, "editor-picture")
        await page.click("button[type=submit]")
        await expect(page.locator("#messages")).to_contain_text("Kerstmarkt")
        message = site.services.store.get("kerstmarkt-op-het-plein")
        assert str(message.content["nl"].image_url).endswith(".png")
        # Editing it again keeps the picture chosen.
        await page.goto(f"{site.url}/messages/{message.id}/edit")
        await expect(page.locator("#image-choice")).to_have_value(
            str(message.content["nl"].image_url).rsplit("/", 1)[1]
        )
        screen = await browser.new_page()
        await screen.goto(f"{site.url}/display/hall-entrance")
        shown = screen.locator("section img.picture").first
        await expect(shown).to_be_visible()
        assert await shown.evaluate("img => img.naturalWidth") == 40
        qr = screen.locator("section img.qr").first
        await expect(qr).to_be_visible()
        assert await qr.evaluate("img => img.naturalWidth") > 0
        await shot(screen, "display-picture-and-qr")


async def test_what_was_typed_survives_an_expired_session_and_comes_back_after_sign_in(
    tmp_path: Path, browser: Browser
) -> None:
    from tests.web_harness import PASSWORD

    async with running_site(tmp_path) as site:
        page = await browser.new_page()
        await log_in(page, site, "staff")  # English
        await page.goto(f"{site.url}/messages/new")
        await page.fill("input[name=title_nl]", "Loket 3 gesloten")
        await page.fill("textarea[name=body_nl]", "Ga naar loket 4, naast de trap.")
        await page.check("input[value='group:hall']")
        await page.fill("input[name=starts]", "2026-11-24T10:00")
        site.services.users.end_sessions("staff")  # the session expires meanwhile
        await page.click("button[type=submit]")
        await expect(page).to_have_url(f"{site.url}/login?next=/messages/new")
        await page.fill("input[name=name]", "staff")
        await page.fill("input[name=password]", PASSWORD)
        await page.click("button[type=submit]")
        await expect(page).to_have_url(f"{site.url}/messages/new")
        await expect(page.locator("#draft-restored")).to_be_visible()
        await expect(page.locator("input[name=title_nl]")).to_have_value("Loket 3 gesloten")
        await expect(page.locator("textarea[name=body_nl]")).to_have_value(
            "Ga naar loket 4, naast de trap."
        )
        await expect(page.locator("input[value='group:hall']")).to_be_checked()
        await expect(page.locator("input[name=starts]")).to_have_value("2026-11-24T10:00")
        await shot(page, "editor-draft-restored")
        await page.click("button[type=submit]")
        await expect(page.locator("#messages")).to_contain_text("Loket 3 gesloten")
        await page.goto(f"{site.url}/messages/new")  # saved: nothing to put back any more
        await expect(page.locator("input[name=title_nl]")).to_have_value("")
        await expect(page.locator("#draft-restored")).to_have_count(0)
        # signing in never sends anyone elsewhere
        await page.goto(f"{site.url}/login?next=//evil.example/x")
        assert await page.locator("input[name=next]").count() == 0

"""#21: the website chatbot: the robot's knowledge for citizens, on the municipality's site.

Through the served API and in Chromium on a page of another origin that embeds the
widget with one script tag. Nothing a citizen types is written anywhere.
"""

from __future__ import annotations

import asyncio
import contextlib
import http.server
import threading
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.async_api import Browser, expect

from hw_sim.brokers import free_port
from tests.web_harness import Site, running_site

ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
ARTIFACTS.mkdir(exist_ok=True)
HOST_PORT = free_port()  # the municipality's own website, another origin
HOST_ORIGIN = f"http://127.0.0.1:{HOST_PORT}"


@pytest.fixture
async def site(tmp_path: Path) -> AsyncIterator[Site]:
    async with running_site(
        tmp_path, chat__origins=f'["{HOST_ORIGIN}"]', chat__per_minute="8"
    ) as s:
        yield s


async def ask(http: httpx.AsyncClient, text: str, conversation: str | None = None,
              **extra: Any) -> dict[str, Any]:  # fmt: skip
    answer = await http.post("/api/v1/chat", json={"text": text, "conversation": conversation,
                                                  **extra})  # fmt: skip
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


async def test_the_chat_answers_keeps_the_topic_and_gives_contact_details_for_a_person(
    site: Site,
) -> None:
    async with httpx.AsyncClient(base_url=site.url) as http:
        first = await ask(http, "Hoeveel kost een nieuw paspoort?", language="nl")
        assert first["kind"] == "answer" and first["language"] == "nl"
        assert "paspoort" in first["text"].lower()
        hours = await ask(http, "Zijn jullie open op zaterdag?", first["conversation"])
        assert "zaterdag" in hours["text"].lower()
        again = await ask(http, "en op maandag?", hours["conversation"])
        assert again["conversation"] == hours["conversation"] and "maandag" in again["text"]
        person = await ask(http, "Ik wil iemand van het personeel spreken", again["conversation"])
        assert person["kind"] == "handover"
        assert "09 325 75 00" in person["text"] and "collega" not in person["text"]
        french = await ask(http, "Où sont les toilettes ?")
        assert french["language"] == "fr" and french["conversation"] != first["conversation"]
        lost = await ask(http, "wie wint de Ronde van Vlaanderen", language="nl")
        assert lost["kind"] == "no_match" and "09 325 75 00" in lost["text"]
        assert "scherm" not in lost["text"], "a website has no robot screen to type on"


async def test_bad_questions_are_refused_and_a_flood_waits(site: Site) -> None:
    async with httpx.AsyncClient(base_url=site.url) as http:
        for body in ({"text": ""}, {"text": "x" * 501}, {"text": "a\x00b"},
                     {"text": "paspoort", "conversation": "../../etc"}):  # fmt: skip
            assert (await http.post("/api/v1/chat", json=body)).status_code == 422, body
        codes = [
            (await http.post("/api/v1/chat", json={"text": "paspoort"})).status_code
            for _ in range(9)
        ]
    assert codes[:8] == [200] * 8 and codes[8] == 429, codes


async def test_only_the_configured_websites_may_call_it_from_their_pages(site: Site) -> None:
    async with httpx.AsyncClient(base_url=site.url) as http:
        ours = await http.post("/api/v1/chat", json={"text": "wifi"},
                               headers={"Origin": HOST_ORIGIN})  # fmt: skip
        assert ours.status_code == 200
        assert ours.headers["access-control-allow-origin"] == HOST_ORIGIN
        other = await http.post("/api/v1/chat", json={"text": "wifi"},
                                headers={"Origin": "https://evil.example"})  # fmt: skip
        assert other.status_code == 403 and "access-control-allow-origin" not in other.headers
        preflight = await http.options("/api/v1/chat", headers={
            "Origin": HOST_ORIGIN, "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type"})  # fmt: skip
        assert preflight.status_code == 204
        assert preflight.headers["access-control-allow-methods"] == "POST"


async def test_nothing_a_citizen_types_is_written_anywhere(
    site: Site, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("DEBUG")
    secret = "zwartkopmeesje"  # a word no file or log line has any reason to hold
    async with httpx.AsyncClient(base_url=site.url) as http:
        await ask(http, f"mijn paspoort, ik heet {secret}", language="nl")
        await ask(http, f"{secret} {secret}")
    await asyncio.sleep(0.1)  # clock-ok: let anything that would write, write
    for record in caplog.records:
        assert secret not in record.getMessage()
    assert _files_holding(tmp_path, secret.encode()) == []


def _files_holding(folder: Path, data: bytes) -> list[Path]:
    return [p for p in folder.rglob("*") if p.is_file() and data in p.read_bytes()]


@contextlib.contextmanager
def municipality_website(folder: Path, onthaal: str) -> Iterator[str]:
    """A page of the municipality's own site, on another origin, embedding the widget."""
    folder.mkdir()
    (folder / "index.html").write_text(
        '<!doctype html><html lang="nl"><head><meta charset="utf-8"><title>Aalter</title>'
        "</head><body><h1>Gemeente Aalter</h1><p>Welkom op onze website.</p>"
        f'<script src="{onthaal}/chat/widget.js" async></script></body></html>',
        encoding="utf-8",
    )

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, directory=str(folder), **kwargs)

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", HOST_PORT), Quiet)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield HOST_ORIGIN
    finally:
        server.shutdown()
        server.server_close()


async def test_the_widget_answers_on_a_page_that_embeds_it_by_keyboard(
    site: Site, browser: Browser, tmp_path: Path
) -> None:
    with municipality_website(tmp_path / "www", site.url) as origin:
        page = await browser.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        await page.goto(f"{origin}/index.html")
        opener = page.get_by_role("button", name="Vraag het ons")
        await opener.focus()
        await page.keyboard.press("Enter")
        dialog = page.get_by_role("dialog", name="Vraag het aan het gemeentehuis")
        await expect(dialog).to_be_visible()
        question = page.get_by_role("textbox", name="Uw vraag")
        await expect(question).to_be_focused()
        await question.fill("Waar kan ik naar het toilet?")
        await page.keyboard.press("Enter")
        log = page.get_by_role("log")
        await expect(log).to_contain_text("toilet", timeout=10_000)
        await expect(log.locator("p")).to_have_count(3)  # intro, question, answer
        await question.fill("en wat is het wifi wachtwoord")
        await page.get_by_role("button", name="Versturen").click()
        await expect(log).to_contain_text("welkom2026", timeout=10_000)
        await page.keyboard.press("Escape")
        await expect(dialog).to_be_hidden()
        await expect(opener).to_be_focused()
        await page.screenshot(path=ARTIFACTS / "chat-widget-closed.png")
        assert errors == []


async def test_the_chat_page_of_its_own_in_french(site: Site, browser: Browser) -> None:
    page = await browser.new_page()
    await page.goto(f"{site.url}/chat?lang=fr")
    assert await page.evaluate("document.documentElement.lang") == "fr"
    question = page.get_by_role("textbox", name="Votre question")
    await expect(question).to_be_focused()
    await question.fill("Quelles sont vos heures d'ouverture samedi ?")
    await page.keyboard.press("Enter")
    await expect(page.get_by_role("log")).to_contain_text("samedi", timeout=10_000)
    await page.screenshot(path=ARTIFACTS / "chat-page-fr.png")

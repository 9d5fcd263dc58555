"""The robot's tablet (#18): real pages from the web app, a real browser at 1280x800, real taps.

Each test runs the reception against the simulated Pepper with the real web app serving
the tablet pages (``tests/reception_harness.py``); the simulated tablet fetches every page
the robot shows. Screenshots of every page go to ``test-artifacts/tablet-*.png``.
Simulated time is held while the browser loads and clicks (a person is looking), and
runs while the robot speaks.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import httpx
import pytest
from playwright.async_api import Browser, ConsoleMessage, Page, expect

from tests.conftest import ARTIFACTS
from tests.reception_harness import Reception, reception

OPEN = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)  # a Tuesday, 10:00 in Brussels
LANGUAGES = ("nl", "fr", "en", "de")
PAGES = (
    "welcome",
    "languages",
    "ask",
    "page/passport",
    "page/waste_collection",
    "route/burgerzaken",
    "route/omgeving",
    "colleague",
    "closed",
    "emergency",
)


@pytest.fixture
async def hall() -> AsyncIterator[Reception]:
    async with reception(OPEN) as r:
        yield r


async def tablet_page(browser: Browser) -> tuple[Page, list[str]]:
    """A page the size of Pepper's tablet, collecting console errors and page errors."""
    page = await browser.new_page(viewport={"width": 1280, "height": 800})
    errors: list[str] = []

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error":
            errors.append(message.text)

    page.on("console", on_console)
    page.on("pageerror", lambda error: errors.append(str(error)))
    return page, errors


async def engaged(r: Reception) -> None:
    """A visitor walks up and is greeted (the robot shows the language page)."""
    await r.sim.world.walk_in(7, step=1.0)
    await r.until_said("welkom")
    await r.until(lambda: r.situation.listening)


async def test_every_page_answers_200_in_every_language_and_renders_without_errors(
    hall: Reception, browser: Browser
) -> None:
    page, errors = await tablet_page(browser)
    ARTIFACTS.mkdir(exist_ok=True)
    with hall.clock.held():
        for language in LANGUAGES:
            for name in PAGES:
                url = f"{hall.tablet}/{name}?lang={language}&t={hall.tablet_key}"
                answer = await page.goto(url)
                assert answer is not None and answer.status == 200, (url, answer)
                assert await page.evaluate("document.documentElement.lang") == language
                await expect(page.locator("h1")).not_to_be_empty()
                shot = name.replace("/", "-")
                if language == "nl" or name in ("welcome", "ask", "page/passport"):
                    await page.screenshot(path=ARTIFACTS / f"tablet-{shot}-{language}.png")
        # The route page marks the desk on the plan, inside the picture.
        await page.goto(f"{hall.tablet}/route/burgerzaken?lang=en&t={hall.tablet_key}")
        plan = await page.locator(".plan img").bounding_box()
        mark = await page.locator("#desk-mark").bounding_box()
        assert plan is not None and mark is not None
        centre = (mark["x"] + mark["width"] / 2, mark["y"] + mark["height"] / 2)
        assert plan["x"] < centre[0] < plan["x"] + plan["width"]
        assert plan["y"] < centre[1] < plan["y"] + plan["height"]
        await expect(page.locator("#location")).to_contain_text("ground floor")
    assert errors == []
    assert hall.refused_pages() == []


async def test_pages_load_nothing_from_elsewhere(hall: Reception, browser: Browser) -> None:
    page, _ = await tablet_page(browser)
    asked: list[str] = []
    page.on("request", lambda request: asked.append(request.url))
    with hall.clock.held():
        for name in PAGES:
            await page.goto(f"{hall.tablet}/{name}?lang=nl&t={hall.tablet_key}")
    origin = hall.tablet.removesuffix("/tablet")
    assert asked and all(url.startswith(origin) for url in asked), set(asked)


async def test_a_tap_on_francais_makes_the_robot_speak_french_next(
    hall: Reception, browser: Browser
) -> None:
    await engaged(hall)
    shown = hall.sim.state.tablet
    assert shown is not None and "/tablet/languages?lang=nl" in shown[1]
    page, errors = await tablet_page(browser)
    with hall.clock.held():
        await page.goto(shown[1])  # the page the robot shows, key and all
        await page.get_by_role("button", name="Français").click()
        await page.wait_for_url("**/tablet/ask?lang=fr*")
    said = await hall.until_said("je continue en français")  # what it says next
    assert said["text"].startswith("Très bien") and said["language"] == "French"
    assert hall.situation.conversation is not None
    assert hall.situation.conversation.language == "fr"
    await hall.until(lambda: "/tablet/ask?lang=fr" in (hall.sim.state.tablet or ("", ""))[1])
    with hall.clock.held():
        await page.screenshot(path=ARTIFACTS / "tablet-after-francais.png")
    assert errors == []


async def test_a_typed_question_is_answered_aloud_and_on_the_page(
    hall: Reception, browser: Browser
) -> None:
    await engaged(hall)
    page, errors = await tablet_page(browser)
    with hall.clock.held():
        await page.goto(f"{hall.tablet}/ask?lang=nl&t={hall.tablet_key}")
        await page.fill("#question-text", "waar kan ik mijn paspoort aanvragen")
        await page.get_by_role("button", name="Vraag").click()
        await expect(page.locator("#question-sent")).to_be_visible()
    answer = await hall.until_said("Een paspoort vraagt u aan")
    assert answer["language"] == "Dutch"
    # Shown as it is spoken: the live caption on the page, and the answer page.
    with hall.clock.held():
        await expect(page.locator("#caption")).to_contain_text("Een paspoort vraagt u aan")
        await page.screenshot(path=ARTIFACTS / "tablet-typed-question.png")

    def shown(fragment: str) -> bool:
        return any(fragment in e["url"] for e in hall.journal("pepper", "tablet-show"))

    assert shown("/tablet/page/passport?lang=nl")
    await hall.until(lambda: shown("/tablet/route/burgerzaken?lang=nl"))  # then the way
    assert errors == []
    assert hall.refused_pages() == []


async def test_taps_need_the_robots_key_and_are_checked_and_limited(hall: Reception) -> None:
    await engaged(hall)
    async with httpx.AsyncClient(base_url=hall.tablet.removesuffix("/tablet")) as http:
        key = {"X-Tablet-Key": hall.tablet_key}
        for headers in ({}, {"X-Tablet-Key": "guessed"}):
            refused = await http.post("/tablet/tap", json={"element": "lang-fr"}, headers=headers)
            assert refused.status_code == 403, refused.text
            assert (await http.get("/tablet/caption", headers=headers)).status_code == 403
        assert "not the robot's tablet" in refused.text
        odd = await http.post("/tablet/tap", json={"element": "lang-es"}, headers=key)
        assert odd.status_code == 422 and "lang-es" in odd.text
        long = await http.post("/tablet/question", json={"text": "x" * 301, "lang": "nl"},
                               headers=key)  # fmt: skip
        assert long.status_code == 422
        wrong = await http.post("/tablet/question", json={"text": "hallo", "lang": "es"},
                                headers=key)  # fmt: skip
        assert wrong.status_code == 422 and "'es' is not one of" in wrong.text
        caption = (await http.get("/tablet/caption", headers=key)).json()
        assert caption["text"].startswith("Goedendag, welkom") and caption["lang"] == "nl"
        # A page opened without the key has no key in it: nothing it sends is accepted.
        page = (await http.get("/tablet/ask?lang=nl")).text
        assert 'data-key=""' in page and hall.tablet_key not in page
        answers = [
            (await http.post("/tablet/tap", json={"element": "topic-wifi"}, headers=key))
            for _ in range(25)
        ]
        codes = [a.status_code for a in answers]
        # Per address, 20 in 10 s: the 3 taps and questions above counted too.
        assert codes.count(202) == 17 and codes[17:] == [429] * 8, codes
        assert answers[-1].headers["Retry-After"] == "10"
        # Counted in the robot's time (a rehearsed day's taps come within a minute of
        # real time): ten seconds on, taps are taken again.
        await hall.clock.sleep(11)
        again = await http.post("/tablet/tap", json={"element": "topic-wifi"}, headers=key)
        assert again.status_code == 202

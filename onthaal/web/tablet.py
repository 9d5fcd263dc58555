"""The robot's tablet: the visitor pages Pepper shows, and the taps that come back.

Pages (``/tablet/<page>?lang=xx&t=<key>``), laid out for Pepper's 1280x800 tablet at
arm's length: ``welcome``, ``languages``, ``ask``, ``page/<intent>``, ``route/<desk>``,
``colleague``, ``closed`` and ``emergency``. Their words, topics, logo and floor plans
come from the municipality's content (``content/tablet/tablet.toml`` and the knowledge
base); the CSS, script and pictures are served from here, so a tablet without internet
shows everything. Every page carries the live caption of what the robot says.

Taps and typed questions come back over plain HTTP (``POST /tablet/tap``,
``POST /tablet/question``), not through QiMessaging's JavaScript bridge, which hangs on
pages served from another machine. They carry the robot's tablet key (the ``t`` in the
address the robot showed) in the ``X-Tablet-Key`` header: a page elsewhere cannot send
one (a custom header needs CORS, which this app never allows), and nobody without the
key can speak for the robot's visitor. The core turns them into the robot's own events:
a tap is ``TabletTouched``, a typed question an utterance heard with full confidence.
"""

from __future__ import annotations

import hmac
import io
from collections import deque
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any

import qrcode
import qrcode.image.svg
from fastapi import APIRouter, Depends, Header, HTTPException, Query, Request, status
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse
from fastapi.templating import Jinja2Templates
from pydantic import BaseModel, ConfigDict, Field

from clock import Clock
from dialogue.engine import DialogueEngine
from onthaal.web.core import Core
from onthaal.web.tablet_content import PICTURE_TYPES, TabletContent
from robot.hal import TabletTouched, UtteranceHeard

HERE = Path(__file__).resolve().parent

# What each language calls itself, on the buttons that choose it.
ENDONYMS = {"nl": "Nederlands", "fr": "Français", "en": "English", "de": "Deutsch"}
INPUTS_PER_WINDOW = 20  # taps and questions one address may send per window
INPUT_WINDOW = 10.0  # seconds
QUESTION_LENGTH = 300  # characters a typed question may have

Lang = Annotated[str | None, Query(max_length=8)]  # the page's language (default: the site's)
Key = Annotated[str | None, Query(max_length=64)]  # the robot's tablet key, from its address


class TapIn(BaseModel):
    """A tap on an element of a tablet page."""

    model_config = ConfigDict(extra="forbid")
    element: str = Field(min_length=1, max_length=64, pattern=r"^[a-z]+(-[a-z_]+)?$")


class QuestionIn(BaseModel):
    """A question typed on the tablet."""

    model_config = ConfigDict(extra="forbid")
    text: str = Field(min_length=1, max_length=QUESTION_LENGTH)
    lang: str = Field(min_length=2, max_length=2)


class _InputLimit:
    """At most :data:`INPUTS_PER_WINDOW` inputs per address per :data:`INPUT_WINDOW`.

    Counted on the system's clock: a visitor's taps come in the robot's time (simulated
    time in a rehearsal, where a whole day's taps arrive within a minute).
    """

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._seen: dict[str, deque[float]] = {}

    def check(self, address: str) -> None:
        now = self._clock.now().timestamp()
        seen = self._seen.setdefault(address, deque())
        while seen and now - seen[0] > INPUT_WINDOW:
            seen.popleft()
        if len(seen) >= INPUTS_PER_WINDOW:
            raise HTTPException(
                status.HTTP_429_TOO_MANY_REQUESTS,
                "too many taps; wait a moment",
                headers={"Retry-After": str(int(INPUT_WINDOW))},
            )
        seen.append(now)
        if len(self._seen) > 1000:  # forget quiet addresses (bounded memory)
            for quiet in [a for a, s in self._seen.items() if not s]:
                del self._seen[quiet]


@lru_cache(maxsize=64)
def qr_svg(link: str) -> str:
    """A QR code for ``link`` as inline SVG (drawn here: no outside service)."""
    image = qrcode.make(link, image_factory=qrcode.image.svg.SvgPathImage, box_size=12)
    out = io.BytesIO()
    image.save(out)
    text = out.getvalue().decode()
    return text[text.index("<svg") :]  # without the XML declaration, to inline it


def tablet_router(
    clock: Clock,
    core: Core,
    engine: DialogueEngine,
    content: TabletContent,
    key: str,
    languages: list[str],
    default_language: str,
) -> APIRouter:
    """The routes under ``/tablet`` for the robot with tablet ``key``."""
    router = APIRouter(prefix="/tablet", include_in_schema=False)
    templates = Jinja2Templates(directory=HERE / "templates")  # autoescape on for .html
    limit = _InputLimit(clock)
    kb = engine.kb

    def language_of(lang: str | None) -> str:
        return lang if lang in languages else default_language

    def page(
        request: Request, name: str, lang: str | None, given: str | None, **context: Any
    ) -> HTMLResponse:
        language = language_of(lang)
        valid = bool(key) and given is not None and hmac.compare_digest(given, key)
        return templates.TemplateResponse(
            request,
            f"tablet/{name}.html",
            {
                "language": language,
                "w": content.words[language],
                "key": key if valid else "",
                "site": kb.variable("site", language) if "site" in kb.variables else "",
                "logo": content.logo,
                "languages": [(code, ENDONYMS.get(code, code)) for code in languages],
                **context,
            },
            status_code=context.pop("status_code", 200),
        )

    def not_found(request: Request, lang: str | None, t: str | None) -> HTMLResponse:
        return page(request, "missing", lang, t, status_code=404)

    @router.get("/welcome", response_class=HTMLResponse)
    async def welcome(request: Request, lang: Lang = None, t: Key = None) -> HTMLResponse:
        return page(request, "welcome", lang, t)

    @router.get("/languages", response_class=HTMLResponse)
    async def choose(request: Request, lang: Lang = None, t: Key = None) -> HTMLResponse:
        return page(request, "languages", lang, t)

    @router.get("/ask", response_class=HTMLResponse)
    async def ask(request: Request, lang: Lang = None, t: Key = None) -> HTMLResponse:
        language = language_of(lang)
        topics = [(topic, kb.intents[topic].label[language]) for topic in content.topics]
        staff = "contact_staff" if "contact_staff" in kb.intents else None
        return page(request, "ask", lang, t, topics=topics, staff=staff)

    @router.get("/page/{intent}", response_class=HTMLResponse)
    async def answer(
        request: Request, intent: str, lang: Lang = None, t: Key = None
    ) -> HTMLResponse:
        found = next((i for i in kb.intents.values() if i.tablet == intent), None)
        if found is None:
            return not_found(request, lang, t)
        language = language_of(lang)
        reply = engine.answer(found.id, language)
        return page(
            request,
            "answer",
            lang,
            t,
            title=found.label[language],
            text=reply.text,
            link=found.link,
            qr=qr_svg(found.link) if found.link else None,
            desk=found.desk if found.desk in content.desks else None,
            desk_name=kb.desks[found.desk].name[language] if found.desk in kb.desks else "",
        )

    @router.get("/route/{desk}", response_class=HTMLResponse)
    async def route(request: Request, desk: str, lang: Lang = None, t: Key = None) -> HTMLResponse:
        place = kb.desks.get(desk)
        if place is None:
            return not_found(request, lang, t)
        language = language_of(lang)
        spot = content.desks.get(desk)
        plan = content.plans[spot.plan] if spot is not None else None
        robot = content.robot if content.robot and plan and content.robot.plan == plan.id else None
        return page(
            request,
            "route",
            lang,
            t,
            desk=place.name[language],
            location=place.location[language],
            spot=spot,
            plan=plan,
            plan_name=plan.name.get(language, "") if plan else "",
            robot=robot,
        )

    @router.get("/colleague", response_class=HTMLResponse)
    async def colleague(request: Request, lang: Lang = None, t: Key = None) -> HTMLResponse:
        return page(request, "colleague", lang, t)

    @router.get("/closed", response_class=HTMLResponse)
    async def closed(request: Request, lang: Lang = None, t: Key = None) -> HTMLResponse:
        language = language_of(lang)
        return page(
            request,
            "closed",
            lang,
            t,
            next_open=engine.next_open(language),
            today=engine.day_hours(language),
        )

    @router.get("/emergency", response_class=HTMLResponse)
    async def emergency(request: Request, lang: Lang = None, t: Key = None) -> HTMLResponse:
        language = language_of(lang)
        notices: list[dict[str, str]] = []
        for showing in core.snapshot().showing.values():
            message = showing.message if showing.emergency else None
            if message is None or message.id in {n["id"] for n in notices}:
                continue
            item = message.content.get(language) or next(iter(message.content.values()))  # type: ignore[call-overload]
            notices.append({"id": message.id, "title": item.title, "body": item.body})
        return page(request, "emergency", lang, t, notices=notices)

    @router.get("/picture/{name}")
    async def picture(name: str) -> FileResponse:
        file = content.pictures.get(name)
        if file is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no picture {name!r}")
        return FileResponse(file, media_type=PICTURE_TYPES[file.suffix.lower()])

    @router.get("/static/{name}")
    async def static(name: str) -> FileResponse:
        if name not in ("tablet.css", "tablet.js"):
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no file {name!r}")
        media = "text/css" if name.endswith(".css") else "text/javascript"
        return FileResponse(HERE / "static" / name, media_type=media)

    # -- what comes back from the tablet --------------------------------------------------

    async def tablet_key(
        x_tablet_key: Annotated[str | None, Header(max_length=64)] = None,
    ) -> None:
        if not key or x_tablet_key is None or not hmac.compare_digest(x_tablet_key, key):
            raise HTTPException(status.HTTP_403_FORBIDDEN, "not the robot's tablet")

    async def limited(request: Request) -> None:
        limit.check(request.client.host if request.client else "?")

    # (As route dependencies: an annotation naming a local function cannot be resolved.)
    # The caption is read twice a second and costs nothing; taps and questions reach
    # the robot, so they are limited.
    keyed = [Depends(tablet_key)]
    keyed_and_limited = [Depends(tablet_key), Depends(limited)]

    @router.get("/caption", dependencies=keyed)
    async def caption() -> JSONResponse:
        said = core.snapshot().robot.caption
        body = (
            {"number": said.number, "text": said.text, "lang": said.language,
             "speaking": said.speaking}
            if said is not None
            else {"number": 0, "text": "", "lang": None, "speaking": False}
        )  # fmt: skip
        return JSONResponse(body, headers={"Cache-Control": "no-store"})

    @router.post("/tap", status_code=status.HTTP_202_ACCEPTED, dependencies=keyed_and_limited)
    async def tap(data: TapIn) -> dict[str, str]:
        kind, _sep, value = data.element.partition("-")
        known = (kind == "lang" and value in languages) or (kind == "topic" and value in kb.intents)
        if not known:
            raise HTTPException(
                status.HTTP_422_UNPROCESSABLE_CONTENT,
                f"element: {data.element!r} is neither lang-<language> nor topic-<intent>",
            )
        core.tablet(TabletTouched(element=data.element))
        return {"status": "tapped"}

    @router.post("/question", status_code=status.HTTP_202_ACCEPTED, dependencies=keyed_and_limited)
    async def question(data: QuestionIn) -> dict[str, str]:
        if data.lang not in languages:
            raise HTTPException(
                status.HTTP_422_UNPROCESSABLE_CONTENT,
                f"lang: {data.lang!r} is not one of {', '.join(languages)}",
            )
        text = " ".join(data.text.split())
        if not text:
            raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "text: empty question")
        # Typed, so nothing was misheard: full confidence, in the page's language.
        core.tablet(UtteranceHeard(text, data.lang, 1.0))  # type: ignore[arg-type]
        return {"status": "heard"}

    return router

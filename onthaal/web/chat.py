"""The website chatbot: the robot's knowledge for citizens on the municipality's site.

``GET /chat`` is a page of its own; ``GET /chat/widget.js`` is one script tag for the
municipality's website that adds a button and a chat panel; both talk to ``POST
/api/v1/chat`` over the same engine and knowledge base as the robot. Anyone may ask,
within a per-address limit. A conversation (language, topic, misunderstandings) lives in
memory only, under a random id the page keeps, and is forgotten after
:data:`IDLE_SECONDS`: nothing anyone types is written anywhere, not even to the log.
When the robot would call a colleague, the chat gives the contact details and today's
hours instead. Pages on the origins in ``[chat] origins`` may call the API (CORS).
"""

from __future__ import annotations

import asyncio
import json
import secrets
import tomllib
from collections import OrderedDict, deque
from pathlib import Path
from typing import Any, Literal

from fastapi import APIRouter, HTTPException, Request, Response, status
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates
from pydantic import BaseModel, ConfigDict, Field, field_validator

from beacons.content import check_text
from clock import Clock
from dialogue.engine import Conversation, DialogueEngine, Reply, ReplyKind

HERE = Path(__file__).parent
MAX_TEXT = 500  # characters of one question
IDLE_SECONDS = 30 * 60  # a conversation nobody continued for this long is forgotten
MAX_CONVERSATIONS = 5000  # at most this many in memory (the oldest go first)
WINDOW = 60.0  # seconds the per-address limit counts over
TEXT_KEYS = (
    "title", "intro", "privacy", "label", "placeholder", "send", "open", "close", "busy",
    "unreachable", "not_understood", "handover",
)  # fmt: skip

ChatLanguage = Literal["nl", "fr", "en", "de"]


class ChatTextsError(Exception):
    """The chat texts file cannot be used; ``problems`` says why, one line each."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


def load_chat_texts(path: Path, languages: tuple[str, ...]) -> dict[str, dict[str, str]]:
    """The chatbot's words (``[chat] texts``): every key in every site language."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise ChatTextsError([f"{path}: cannot be read ({exc})"]) from None
    except tomllib.TOMLDecodeError as exc:
        raise ChatTextsError([f"{path}: not valid TOML: {exc}"]) from None
    problems = []
    texts: dict[str, dict[str, str]] = {}
    for key in TEXT_KEYS:
        entry = data.get(key)
        if not isinstance(entry, dict):
            problems.append(f"{path}: {key}: missing")
            continue
        for language in languages:
            if not isinstance(entry.get(language), str) or not entry[language].strip():
                problems.append(f"{path}: {key}: missing language {language!r}")
        texts[key] = {str(k): str(v) for k, v in entry.items()}
    if problems:
        raise ChatTextsError(problems)
    return texts


class ChatIn(BaseModel):
    """A question from the website."""

    model_config = ConfigDict(extra="forbid")

    conversation: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z0-9_-]{22,64}$",
        description="The id the last answer gave; none for a new conversation.",
    )
    text: str = Field(min_length=1, max_length=MAX_TEXT, description="What the citizen asks.")
    language: ChatLanguage | None = Field(
        default=None, description="The page's language; the question's own is detected."
    )

    @field_validator("text")
    @classmethod
    def _readable(cls, value: str) -> str:
        return check_text(value)


class ChatOut(BaseModel):
    """The answer, and the id to send with the next question."""

    conversation: str
    text: str
    language: ChatLanguage
    kind: Literal["answer", "clarify", "no_match", "handover"]
    options: list[str] = Field(description="Topics to choose from, when it asks back.")


class _Conversations:
    """Conversations in memory, by random id: forgotten when idle, bounded in number."""

    def __init__(self, engine: DialogueEngine, clock: Clock) -> None:
        self._engine = engine
        self._clock = clock
        self._open: OrderedDict[str, tuple[Conversation, float]] = OrderedDict()

    def get(self, key: str | None, language: str) -> tuple[str, Conversation]:
        now = self._clock.monotonic()
        while self._open:  # the idle ones first: the dict is in order of last use
            oldest, (_, used) = next(iter(self._open.items()))
            if now - used < IDLE_SECONDS and len(self._open) < MAX_CONVERSATIONS:
                break
            del self._open[oldest]
        if key is not None and key in self._open:
            conversation, _ = self._open.pop(key)
        else:
            key, conversation = secrets.token_urlsafe(24), self._engine.conversation(language)
        self._open[key] = (conversation, now)
        return key, conversation

    def __len__(self) -> int:
        return len(self._open)


class _PerAddress:
    """At most ``per_minute`` questions per address in :data:`WINDOW` seconds."""

    def __init__(self, clock: Clock, per_minute: int) -> None:
        self._clock = clock
        self._per_minute = per_minute
        self._seen: dict[str, deque[float]] = {}

    def allowed(self, address: str) -> bool:
        now = self._clock.monotonic()
        seen = self._seen.setdefault(address, deque())
        while seen and now - seen[0] > WINDOW:
            seen.popleft()
        if len(seen) >= self._per_minute:
            return False
        seen.append(now)
        if len(self._seen) > 10_000:  # forget quiet addresses (bounded memory)
            for quiet in [a for a, s in self._seen.items() if not s]:
                del self._seen[quiet]
        return True


def chat_router(
    engine: DialogueEngine,
    clock: Clock,
    texts: dict[str, dict[str, str]],
    *,
    languages: list[str],
    default_language: str,
    origins: list[str],
    per_minute: int,
) -> APIRouter:
    """``/chat``, ``/chat/widget.js`` and ``POST /api/v1/chat``."""
    router = APIRouter()
    templates = Jinja2Templates(directory=HERE / "templates")
    conversations = _Conversations(engine, clock)
    limit = _PerAddress(clock, per_minute)
    allowed = set(origins)

    def filled(key: str, language: str, *, hours: bool = True) -> str:
        values = {name: engine.kb.variable(name, language) for name in engine.kb.variables}
        today = f"{engine.day_hours(language)} {engine.next_open(language)}" if hours else ""
        return texts[key][language].format(**values, hours=today.strip()).strip()

    def words(language: str) -> dict[str, str]:
        return {key: filled(key, language, hours=False) for key in TEXT_KEYS if key != "handover"}

    # The widget carries its words in every language: the host page needs nothing else.
    code = (HERE / "static" / "chat-widget.js").read_text(encoding="utf-8")
    every = json.dumps({language: words(language) for language in languages}, ensure_ascii=False)
    widget = "(function (WORDS) {\n" + code + "\n})(" + every + ");\n"

    def cors(request: Request, response: Response) -> None:
        origin = request.headers.get("origin")
        if origin and origin in allowed:
            response.headers["Access-Control-Allow-Origin"] = origin
            response.headers["Vary"] = "Origin"

    def language_of(lang: str | None) -> str:
        return lang if lang in languages else default_language

    @router.get("/chat", response_class=HTMLResponse, include_in_schema=False)
    async def chat_page(request: Request, lang: str | None = None) -> HTMLResponse:
        language = language_of(lang)
        return templates.TemplateResponse(
            request,
            "chat.html",
            {"lang": language, "t": words(language), "languages": languages},
        )

    @router.get("/chat/widget.js", include_in_schema=False)
    async def chat_widget() -> Response:
        # Served to other sites' pages: no cookies, nothing of the staff app.
        return Response(
            widget,
            media_type="text/javascript",
            headers={
                "Cache-Control": "max-age=300",
                "Cross-Origin-Resource-Policy": "cross-origin",
            },
        )

    @router.options("/api/v1/chat", include_in_schema=False)
    async def chat_preflight(request: Request) -> Response:
        response = Response(status_code=status.HTTP_204_NO_CONTENT)
        if request.headers.get("origin") in allowed:
            cors(request, response)
            response.headers["Access-Control-Allow-Methods"] = "POST"
            response.headers["Access-Control-Allow-Headers"] = "Content-Type"
            response.headers["Access-Control-Max-Age"] = "600"
        return response

    @router.post(
        "/api/v1/chat",
        response_model=ChatOut,
        responses={429: {"description": "Too many questions from this address; wait."}},
    )
    async def chat(request: Request, response: Response, data: ChatIn) -> ChatOut:
        """Ask the municipality a question; the answer, and the conversation's id."""
        cors(request, response)
        origin = request.headers.get("origin")
        if origin and origin not in allowed and origin != _own_origin(request):
            raise HTTPException(status.HTTP_403_FORBIDDEN, "this site may not use the chat")
        address = request.client.host if request.client else "?"
        if not limit.allowed(address):
            raise HTTPException(
                status.HTTP_429_TOO_MANY_REQUESTS,
                "too many questions; wait a moment",
                headers={"Retry-After": str(int(WINDOW))},
            )
        language = language_of(data.language)
        key, conversation = conversations.get(data.conversation, language)
        meaning = None
        if engine.semantic is not None and engine.semantic.ready:
            meaning = await asyncio.to_thread(engine.meaning_of, data.text)  # ~20 ms of C
        reply = conversation.respond(data.text, heard_with=None, meaning=meaning)
        return _out(key, reply, engine, filled)

    return router


def _own_origin(request: Request) -> str:
    return f"{request.url.scheme}://{request.url.netloc}"


def _out(key: str, reply: Reply, engine: DialogueEngine, filled: Any) -> ChatOut:
    language = reply.language
    text = reply.text
    kind = reply.kind
    if kind is ReplyKind.HANDOVER:
        text = filled("handover", language)  # nobody walks over to a website
    elif kind is ReplyKind.NO_MATCH:
        text = filled("not_understood", language)  # no tablet to type on either
    labels = [engine.kb.intents[option].label[language] for option in reply.options]
    return ChatOut(
        conversation=key,
        text=text,
        language=language,  # type: ignore[arg-type]
        kind=kind.value,
        options=labels,
    )

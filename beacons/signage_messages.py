"""The signage wire format: what travels on ``onthaal/<site>/signage/<display>/...``.

``content`` (Onthaal → display, retained, QoS 1), ``ack`` (display → Onthaal, QoS 1) and
``state`` (``online`` / ``offline``, retained, the display's last will); and Onthaal's own
``onthaal/<site>/availability`` (retained, its last will). Documented for third-party
players in ``docs/signage-protocol.md``; bump :data:`SCHEMA` on any change a player would
notice. Version 2 adds the look-ahead (``ahead``, ``items``, ``default``,
``planned_until``) so a player that loses the broker keeps showing the right thing;
version 1 payloads (without it) are still made for players configured with
``protocol = 1``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal, Self

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from beacons.content import Language, LocalizedContent

SCHEMA: Literal[2] = 2
SCHEMAS = (1, 2)  # what Onthaal still publishes and reads
TOPIC_ROOT = "onthaal"
MAX_AHEAD = 48  # slots in a look-ahead: bounds the payload whatever the schedule
MAX_ITEMS = 12  # distinct contents a look-ahead carries

ContentId = str
_CONTENT_ID = r"^[A-Za-z0-9._:-]+$"


class Item(BaseModel):
    """One content a player may have to show: its words, and how to render them."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    content: dict[Language, LocalizedContent] = Field(min_length=1)
    priority: int = Field(default=0, ge=0, le=1000)
    emergency: bool = False


class DefaultItem(Item):
    """The display's own default, shown when nothing is scheduled (or known)."""

    content_id: ContentId = Field(min_length=1, max_length=128, pattern=_CONTENT_ID)


class Slot(BaseModel):
    """A stretch of time in which a player shows ``content_id`` (an entry of ``items``)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    starts: AwareDatetime
    ends: AwareDatetime | None = None  # None: until further notice
    content_id: ContentId = Field(min_length=1, max_length=128, pattern=_CONTENT_ID)


class ContentMessage(BaseModel):
    """What a display should show (payload of ``.../content``).

    Version 2 also says what comes next (``ahead``) and the display's ``default``, so a
    player shows the right thing while Onthaal or the broker is away
    (:func:`showing_at`).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    schema_version: Literal[1, 2] = Field(default=SCHEMA, alias="schema")
    content_id: ContentId = Field(min_length=1, max_length=128, pattern=_CONTENT_ID)
    content: dict[Language, LocalizedContent] = Field(min_length=1)
    valid_until: AwareDatetime | None = None
    priority: int = Field(default=0, ge=0, le=1000)
    emergency: bool = False
    ahead: list[Slot] | None = Field(default=None, max_length=MAX_AHEAD)
    items: dict[ContentId, Item] | None = Field(default=None, max_length=MAX_ITEMS)
    default: DefaultItem | None = None
    planned_until: AwareDatetime | None = None
    #: Ed25519 over the payload's canonical JSON without this field (beacons/signing.py).
    signature: str | None = Field(default=None, max_length=200)

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.schema_version == 1 and any(
            v is not None for v in (self.ahead, self.items, self.default, self.planned_until)
        ):
            raise ValueError("schema 1 has no ahead, items, default or planned_until")
        known = set(self.items or {}) | {self.content_id}
        if self.default is not None:
            known.add(self.default.content_id)
        for slot in self.ahead or []:
            if slot.content_id not in known:
                raise ValueError(f"ahead names {slot.content_id!r}, which items do not hold")
        return self

    def to_json(self) -> bytes:
        """The payload as published (UTF-8 JSON, with ``schema``)."""
        return self.model_dump_json(by_alias=True, exclude_none=True).encode()

    def content_of(self, content_id: ContentId) -> Item | None:
        """The item ``content_id`` names in this payload (the current one too)."""
        if content_id == self.content_id:
            return Item(content=self.content, priority=self.priority, emergency=self.emergency)
        if self.default is not None and content_id == self.default.content_id:
            return self.default
        return (self.items or {}).get(content_id)


def showing_at(message: ContentMessage, at: datetime) -> ContentId | None:
    """What a player that received ``message`` shows at ``at`` on its own.

    In order: a slot of ``ahead`` that covers ``at``; the current content until its
    ``valid_until``; else the display's default (nothing, for a version 1 payload).
    After ``planned_until`` only the default is known. None: show nothing.
    """
    default = message.default.content_id if message.default is not None else None
    if message.planned_until is not None and at >= message.planned_until:
        return default
    for slot in message.ahead or []:
        if slot.starts <= at and (slot.ends is None or at < slot.ends):
            return slot.content_id
    if message.valid_until is None or at < message.valid_until:
        return message.content_id
    return default


def next_turn(message: ContentMessage, after: datetime) -> datetime | None:
    """The first instant after ``after`` at which :func:`showing_at` may change."""
    moments = [message.valid_until, message.planned_until]
    for slot in message.ahead or []:
        moments += [slot.starts, slot.ends]
    later = [m for m in moments if m is not None and m > after]
    return min(later, default=None)


class AckMessage(BaseModel):
    """A display's confirmation of what it now shows (payload of ``.../ack``)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    schema_version: Literal[1, 2] = Field(default=SCHEMA, alias="schema")
    content_id: ContentId = Field(min_length=1, max_length=128)
    shown_at: AwareDatetime | None = None

    def to_json(self) -> bytes:
        """The payload as published."""
        return self.model_dump_json(by_alias=True, exclude_none=True).encode()


class Topics:
    """Topic names for one site."""

    def __init__(self, site: str) -> None:
        """Topics under ``onthaal/<site>/``."""
        self.site = site
        self.signage = f"{TOPIC_ROOT}/{site}/signage"

    def content(self, display: str) -> str:
        """Where a display's content is published."""
        return f"{self.signage}/{display}/content"

    def ack(self, display: str) -> str:
        """Where a display acknowledges content."""
        return f"{self.signage}/{display}/ack"

    def state(self, display: str) -> str:
        """Where a display announces ``online`` / ``offline``."""
        return f"{self.signage}/{display}/state"

    def availability(self) -> str:
        """Where Onthaal says ``online`` / ``offline`` (retained, its last will)."""
        return f"{TOPIC_ROOT}/{self.site}/availability"

    def fleet(self, device: str) -> str:
        """Where a device's health is published (retained JSON; Home Assistant reads it)."""
        return f"{TOPIC_ROOT}/{self.site}/fleet/{device}"

    def handover(self) -> str:
        """Where the robot asks staff for help."""
        return f"{TOPIC_ROOT}/{self.site}/staff/handover"

    def parse(self, topic: str) -> tuple[str, str] | None:
        """``(display, kind)`` for a signage topic of this site, else None."""
        prefix = self.signage + "/"
        if not topic.startswith(prefix):
            return None
        parts = topic[len(prefix) :].split("/")
        if len(parts) != 2 or not parts[0]:
            return None
        return parts[0], parts[1]


def utc_iso(moment: datetime) -> str:
    """An aware datetime as ISO 8601 text."""
    return moment.isoformat()

"""The signage wire format: what travels on ``onthaal/<site>/signage/<display>/...``.

``content`` (Onthaal → display, retained, QoS 1), ``ack`` (display → Onthaal, QoS 1) and
``state`` (``online`` / ``offline``, retained, the display's last will). Documented for
third-party players in ``docs/signage-protocol.md``; bump :data:`SCHEMA` on any change
a player would notice.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from beacons.content import Language, LocalizedContent

SCHEMA: Literal[1] = 1
TOPIC_ROOT = "onthaal"

ContentId = str


class ContentMessage(BaseModel):
    """What a display should show (payload of ``.../content``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    schema_version: Literal[1] = Field(default=SCHEMA, alias="schema")
    content_id: ContentId = Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9._:-]+$")
    content: dict[Language, LocalizedContent] = Field(min_length=1)
    valid_until: AwareDatetime | None = None
    priority: int = Field(default=0, ge=0, le=1000)
    emergency: bool = False
    #: Ed25519 over the payload's canonical JSON without this field (beacons/signing.py).
    signature: str | None = Field(default=None, max_length=200)

    def to_json(self) -> bytes:
        """The payload as published (UTF-8 JSON, with ``schema``)."""
        return self.model_dump_json(by_alias=True, exclude_none=True).encode()


class AckMessage(BaseModel):
    """A display's confirmation of what it now shows (payload of ``.../ack``)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    schema_version: Literal[1] = Field(default=SCHEMA, alias="schema")
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

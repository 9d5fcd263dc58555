"""What a screen or beacon shows: a title and a body per language, a link, an image.

The same model serves the config (a device's default content), the scheduler and the
signage wire format, so content validated once is valid everywhere.
"""

from __future__ import annotations

from typing import Literal

from pydantic import AnyHttpUrl, BaseModel, ConfigDict, Field, field_validator

Language = Literal["nl", "fr", "en", "de"]

TITLE_MAX = 120
BODY_MAX = 2000


#: Characters no screen text may hold: they are invisible or change what is shown, so a
#: notice could read differently from what staff approved (bidi overrides turn text
#: around, zero-width characters hide inside words, NUL ends strings in some players).
_HIDDEN = {
    *range(0x200B, 0x2010),  # zero-width space/joiners, left-to-right/right-to-left marks
    *range(0x202A, 0x202F),  # bidi embeddings and overrides
    *range(0x2060, 0x2065),  # word joiner, invisible operators
    *range(0x2066, 0x206A),  # bidi isolates
    0xFEFF,  # zero-width no-break space (byte order mark)
}


def check_text(value: str, *, lines: bool = False) -> str:
    """``value`` if a person can read all of it as written; else ValueError saying why.

    Refused: control characters (a line break only where ``lines``), invisible and
    direction-changing characters, and lone surrogates (not text at all).
    """
    for position, character in enumerate(value):
        code = ord(character)
        if 0xD800 <= code <= 0xDFFF:
            raise ValueError(f"character {position + 1} is not text (a lone surrogate)")
        if lines and character in "\n\t":
            continue
        if code < 0x20 or 0x7F <= code < 0xA0:
            raise ValueError(
                f"character {position + 1} is a control character (U+{code:04X})"
                + ("" if lines else "; a single line, please")
            )
        if code in _HIDDEN:
            raise ValueError(
                f"character {position + 1} (U+{code:04X}) is invisible or turns text around"
            )
    return value


class LocalizedContent(BaseModel):
    """The content in one language."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    title: str = Field(min_length=1, max_length=TITLE_MAX, description="Headline, large type.")
    body: str = Field(default="", max_length=BODY_MAX, description="Text under the title.")

    @field_validator("title")
    @classmethod
    def _readable_title(cls, value: str) -> str:
        return check_text(value)

    @field_validator("body")
    @classmethod
    def _readable_body(cls, value: str) -> str:
        return check_text(value, lines=True)

    image_url: AnyHttpUrl | None = Field(default=None, description="Optional picture (http/https).")
    link: AnyHttpUrl | None = Field(default=None, description="Optional link (http/https).")


class Content(BaseModel):
    """Content in one or more languages (the site's first language comes first)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    languages: dict[Language, LocalizedContent] = Field(
        min_length=1, description="The content per language."
    )

    def best_link(self, preferred: list[str]) -> str | None:
        """The link in the first of ``preferred`` languages that has one."""
        for language in [*preferred, *self.languages]:
            item = self.languages.get(language)  # type: ignore[call-overload]
            if item is not None and item.link is not None:
                return str(item.link)
        return None

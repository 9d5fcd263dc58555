"""What a screen or beacon shows: a title and a body per language, a link, an image.

The same model serves the config (a device's default content), the scheduler and the
signage wire format, so content validated once is valid everywhere.
"""

from __future__ import annotations

from typing import Literal

from pydantic import AnyHttpUrl, BaseModel, ConfigDict, Field

Language = Literal["nl", "fr", "en", "de"]

TITLE_MAX = 120
BODY_MAX = 2000


class LocalizedContent(BaseModel):
    """The content in one language."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    title: str = Field(min_length=1, max_length=TITLE_MAX, description="Headline, large type.")
    body: str = Field(default="", max_length=BODY_MAX, description="Text under the title.")
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

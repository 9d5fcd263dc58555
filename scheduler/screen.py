"""What an info screen shows of a message, and whether it fits. Pure.

A screen shows its languages side by side (``[[displays]] languages``). For a language
the message lacks it shows the text in the site's first language the message has (the
fallback order is the site's languages), once: a column is never shown twice. Staff are
told before saving (:func:`warnings`).

Whether a text fits is estimated from the display page's own proportions
(``onthaal/web/templates/display.html``: sizes in viewport units, so they scale with the
screen) and the average width of a character of its font, wrapping word by word;
``tests/test_web_browser.py`` holds the estimate to what Chromium really lays out.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from beacons.content import LocalizedContent

# The display page, in fractions of the screen's height (vh) and width (vw).
PADDING_VH, PADDING_VW = 0.04, 0.04
TAG_VH = 0.025 * 1.2  # the language tag and its line
TITLE_VH, TITLE_LINE, TITLE_GAP_VH = 0.07, 1.2, 0.03
BODY_VH, BODY_LINE = 0.045, 1.3
BODY_MARGINS = 2.0  # a paragraph's margin above and below: 1em each
#: Average advance of a character, in ems (DejaVu Sans, Debian's default sans-serif; the
#: bold title runs wider).
CHAR_EM, TITLE_CHAR_EM = 0.56, 0.64


@dataclass(frozen=True)
class Column:
    """One language column on a screen."""

    language: str  # the screen's language this column stands for
    shown: str  # the language whose text it shows (another one: a fallback)
    item: LocalizedContent


def columns(
    content: Mapping[Any, LocalizedContent],
    screen_languages: Sequence[str],
    site_languages: Sequence[str],
) -> list[Column]:
    """The columns a screen shows for ``content``, in the screen's order."""
    order = [*site_languages, *content]
    found: list[Column] = []
    for language in screen_languages:
        shown = language if language in content else next((c for c in order if c in content), None)
        if shown is None or any(c.shown == shown for c in found):
            continue
        found.append(Column(language, shown, content[shown]))
    if not found and content:  # none of the screen's languages: show what there is
        first = next(c for c in order if c in content)
        found.append(Column(first, first, content[first]))
    return found


def _lines(text: str, width_px: float, char_px: float) -> int:
    """How many lines ``text`` takes in a column ``width_px`` wide."""
    if not text.strip():
        return 0
    per_line = max(1, int(width_px // char_px))
    lines, used = 1, 0
    for word in text.split():
        length = len(word)
        while length > per_line:  # a word longer than a line breaks where it must
            lines += 1 if used else 0
            length -= per_line
            used = 0
        if used and used + 1 + length > per_line:
            lines += 1
            used = length
        else:
            used += (1 if used else 0) + length
    return lines


def filling(item: LocalizedContent, width: int, height: int, count: int) -> float:
    """How much of a column's height the text takes (over 1.0: it overflows)."""
    # Each column: the screen's width shared, less its padding (in vw) and its border.
    column = width / max(1, count) - 2 * PADDING_VW * width - 2
    title_px, body_px = TITLE_VH * height, BODY_VH * height
    needed = TAG_VH * height
    needed += _lines(item.title, column, title_px * TITLE_CHAR_EM) * title_px * TITLE_LINE
    needed += TITLE_GAP_VH * height
    if item.body.strip():
        needed += body_px * BODY_MARGINS
        needed += _lines(item.body, column, body_px * CHAR_EM) * body_px * BODY_LINE
    available = height * (1 - 2 * PADDING_VH)
    return needed / available


def warnings(
    content: Mapping[Any, LocalizedContent],
    screen: str,
    screen_languages: Sequence[str],
    site_languages: Sequence[str],
    width: int,
    height: int,
) -> list[str]:
    """What staff should know before saving: missing languages and text that overflows."""
    found: list[str] = []
    shown = columns(content, screen_languages, site_languages)
    for language in screen_languages:
        if language in content:
            continue
        column = next((c for c in shown if c.language == language), None)
        if column is not None:
            found.append(
                f"{screen}: shows {language}, the message has no {language}: "
                f"its {column.shown} text is shown instead"
            )
        else:
            found.append(
                f"{screen}: shows {language}, the message has no {language}: that column is "
                "left out (its fallback is shown already)"
            )
    for column in shown:
        share = filling(column.item, width, height, len(shown))
        if share > 1.0:
            found.append(
                f"{screen}: the {column.shown} text does not fit "
                f"({width}x{height}, {len(shown)} column(s)): about {round((share - 1) * 100)}% "
                "too long"
            )
    return found

"""What the robot *says*, beside what a screen shows.

An answer of 40-50 words with a phone number and a web address reads well on the tablet
or in the chat, and is long to listen to. The spoken version is at most
:data:`SPOKEN_WORDS` words: an intent's own ``[spoken]`` text where the municipality
wrote one, else the answer's sentences in order while they fit, leaving out those that
carry a phone number, a web or e-mail address (they are on the screen). Times are said
the way people say them ("half negen", "Viertel nach zehn", "half past one"), from the
patterns in ``_phrases.toml`` ``[time_spoken]``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import time

#: The most words the robot says in one answer.
SPOKEN_WORDS = 25

# A phone number (Belgian forms: 09 325 75 00, 050/12.34.56, +32 ...), a web or mail
# address: read out, they are noise; on the screen, they are the point.
_ON_SCREEN = re.compile(
    r"\+\d{2}\s?\d|\b0\d{1,3}[\s./]?\d{2,3}[\s./]?\d{2}[\s./]?\d{2}\b"
    r"|https?://|\bwww\.|\S+@\S+\.\w+|\b[\w-]+\.(?:be|com|eu|org|net)\b"
)
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-ZÀ-Ý0-9«\"'])")


def words(text: str) -> int:
    """How many words ``text`` has, as a listener counts them."""
    return len(text.split())


def sentences(text: str) -> list[str]:
    """``text`` cut into sentences."""
    return [part.strip() for part in _SENTENCE_END.split(text.strip()) if part.strip()]


def shorten(text: str, limit: int = SPOKEN_WORDS) -> tuple[str, bool]:
    """The sentences of ``text`` that fit in ``limit`` words, and whether any were left out.

    Sentences with something to read rather than hear (a phone number, an address) are
    left out; the first sentence that remains is kept even if it is longer (the
    knowledge base check asks for a ``[spoken]`` text then).
    """
    kept: list[str] = []
    left_out = False
    for sentence in sentences(text):
        if _ON_SCREEN.search(sentence):
            left_out = True
            sentence = _without_screen_clauses(sentence)
            if not sentence:
                continue
        if kept and words(" ".join(kept)) + words(sentence) > limit:
            left_out = True
            continue  # a later, shorter sentence may still fit
        kept.append(sentence)
    return " ".join(kept), left_out


def _without_screen_clauses(sentence: str) -> str:
    """``sentence`` without its clauses that carry a number or address, or ''.

    "De prijs hangt af van de procedure; de tarieven vindt u op www.aalter.be." is said
    as "De prijs hangt af van de procedure."
    """
    for separator in ("; ", ", "):
        clauses = sentence.rstrip(".!?").split(separator)
        kept = [c for c in clauses if not _ON_SCREEN.search(c)]
        if len(clauses) > 1 and kept and kept[0] == clauses[0] and words(kept[0]) >= 3:
            return separator.join(kept).rstrip(",;:") + "."
    return ""


def has_screen_only(text: str) -> bool:
    """Whether ``text`` carries a phone number or an address (better read than heard)."""
    return bool(_ON_SCREEN.search(text))


def spoken_time(moment: time, patterns: Mapping[str, str]) -> str:
    """``moment`` as people say it, from one language's ``[time_spoken]`` patterns.

    Patterns (each optional but ``other``): ``hour`` (on the hour), ``half``,
    ``quarter_past``, ``quarter_to``, ``other``; fields ``{h}`` (0-23), ``{h12}`` (1-12),
    ``{next12}`` (the next hour, 1-12), ``{next}`` (0-23), ``{mm}``, ``{ampm}``.
    """
    h, m = moment.hour, moment.minute
    if moment == time(23, 59, 59):  # the calendar's "until midnight"
        h, m = 24, 0
    values = {
        "h": str(h),
        "h12": str((h - 1) % 12 + 1),
        "next": str((h + 1) % 24),
        "next12": str(h % 12 + 1),
        "mm": f"{m:02d}",
        "ampm": "am" if h < 12 or h == 24 else "pm",
    }
    key = {0: "hour", 30: "half", 15: "quarter_past", 45: "quarter_to"}.get(m, "other")
    return patterns.get(key, patterns["other"]).format(**values)

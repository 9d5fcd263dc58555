"""How the simulated Pepper hears: NAOqi 2.5's word spotting over a fixed vocabulary.

ALSpeechRecognition does not transcribe. It is fed a list of phrases
(``setVocabulary(phrases, wordSpotting)``) and, while someone is subscribed and the
engine is not paused, writes ``WordRecognized`` as ``[phrase_1, confidence_1, …]``,
best first; with word spotting each phrase comes back as ``<...> phrase <...>``. It
recognises its own language only, and one phrase per stretch of speech; more
hypotheses (``NbHypotheses``) are alternatives for that stretch, less likely. :func:`spot`
is that model: the vocabulary phrases a visitor's sentence contains, longest first (the
best hypothesis, then the alternatives); :class:`Recogniser` adds the language, the
confidences (seeded), the misses of a noisy hall and the result's shape.
"""

from __future__ import annotations

import random
import re
import unicodedata
from collections.abc import Sequence

from rapidfuzz import fuzz, process

GARBAGE = "<...>"


def fold(text: str) -> str:
    """Lower case, no accents, words separated by single spaces."""
    plain = unicodedata.normalize("NFKD", text.lower())
    plain = "".join(c for c in plain if not unicodedata.combining(c))
    return " ".join(re.findall(r"[a-z0-9]+", plain))


def spot(text: str, phrases: Sequence[str], limit: int = 3) -> list[str]:
    """The vocabulary phrases ``text`` contains as whole words, longest first.

    Phrases that overlap one already spotted are left out (the recogniser explains a
    stretch of speech once).
    """
    words = fold(text).split()
    taken = [False] * len(words)
    found: list[str] = []
    for phrase in sorted({p for p in phrases if fold(p)}, key=lambda p: (-len(fold(p)), p)):
        wanted = fold(phrase).split()
        for start in range(len(words) - len(wanted) + 1):
            span = range(start, start + len(wanted))
            if words[start : start + len(wanted)] == wanted and not any(taken[i] for i in span):
                for i in span:
                    taken[i] = True
                found.append(phrase)
                break
        if len(found) == limit:
            break
    return found


def confusable(phrase: str, vocabulary: Sequence[str]) -> str | None:
    """The other vocabulary phrase most like ``phrase`` in writing (a stand-in for sound)."""
    others = [p for p in vocabulary if fold(p) != fold(phrase) and fold(p)]
    if not others:
        return None
    best = process.extractOne(fold(phrase), [fold(p) for p in others], scorer=fuzz.ratio)
    return others[best[2]] if best is not None else None


class Recogniser:
    """The simulated engine: what ``WordRecognized`` carries for a sentence heard."""

    def __init__(self, seed: int, miss_rate: float = 0.0, confusion_rate: float = 0.0) -> None:
        """Seeded confidences; ``miss_rate``: share of sentences the hall's noise swallows;
        ``confusion_rate``: share heard as another phrase of the vocabulary."""
        self._random = random.Random(seed)
        self.miss_rate = miss_rate
        self.confusion_rate = confusion_rate

    def hear(
        self,
        text: str,
        spoken_in: str,
        listening_in: str,
        vocabulary: Sequence[str],
        word_spotting: bool,
        hypotheses: int,
    ) -> list[str | float]:
        """The ``WordRecognized`` value for ``text`` (``[]``: nothing recognised)."""
        if self._random.random() < self.miss_rate:
            return []
        if word_spotting:
            found = spot(text, vocabulary, limit=max(1, hypotheses))
        else:  # "nothing more, nothing less": only a whole phrase is recognised
            found = [p for p in vocabulary if fold(p) == fold(text)][:1]
        if not found:
            return []
        # Another language than the engine's: at best a chance likeness, weakly.
        high, low = (0.9, 0.55) if spoken_in == listening_in else (0.4, 0.2)
        if self.confusion_rate and self._random.random() < self.confusion_rate:
            # A misrecognition: the phrase of the vocabulary that sounds most alike, and
            # the engine is unsure of it (what a real one does with a similar word).
            alike = confusable(found[0], vocabulary)
            if alike is not None:
                found = [alike]
                high, low = min(high, 0.58), min(low, 0.3)
        value: list[str | float] = []
        for rank, phrase in enumerate(found):
            confidence = round(self._random.uniform(low, high) * (0.85**rank), 3)
            value += [f"{GARBAGE} {phrase} {GARBAGE}" if word_spotting else phrase, confidence]
        return value

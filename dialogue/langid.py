"""Language detection for short, lower-case, transcribed or typed questions.

``py3langid`` (restricted to the configured languages) gives a probability per language.
Short questions ("wifi?", "merci") are often ambiguous, so two more kinds of evidence
are folded in: words only one language of the knowledge base uses (``paspoort`` is
Dutch, ``Führerschein`` German), and a prior for the language the robot is speaking,
which decides when the text itself does not.
"""

from __future__ import annotations

import functools
import math

from py3langid.langid import MODEL_FILE, LanguageIdentifier

from dialogue.normalize import fold

#: Multiplier for the robot's current language: wins ties, never overrules clear text.
PRIOR_WEIGHT = 2.0
#: Multiplier per word that only this language's vocabulary has.
LEXICON_WEIGHT = 3.0


@functools.cache
def _identifier(languages: tuple[str, ...]) -> LanguageIdentifier:
    identifier = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
    identifier.set_languages(list(languages))
    return identifier


class LanguageDetector:
    """Detects which of ``languages`` a text is in."""

    def __init__(self, languages: tuple[str, ...], vocabulary: dict[str, set[str]]) -> None:
        """``vocabulary``: per language, the folded words it uses (knowledge base, stop words)."""
        self._languages = languages
        self._identifier = _identifier(tuple(sorted(languages)))
        self._owner: dict[str, str] = {}
        for language, words in vocabulary.items():
            for word in words:
                others = [o for o in languages if o != language and word in vocabulary.get(o, ())]
                if not others:
                    self._owner[word] = language

    def detect(self, text: str, prior: str | None = None) -> tuple[str, float]:
        """The most likely language and its probability (0-1) after all evidence."""
        scores = {language: 1e-6 for language in self._languages}
        folded = fold(text)
        if folded:
            for language, probability in self._identifier.rank(folded):
                if language in scores:
                    scores[language] = max(float(probability), 1e-6)
        for word in folded.split():
            owner = self._owner.get(word)
            if owner is not None:
                scores[owner] *= LEXICON_WEIGHT
        if prior in scores:
            scores[prior] *= PRIOR_WEIGHT
        total = math.fsum(scores.values())
        best = max(scores, key=lambda language: scores[language])
        return best, scores[best] / total

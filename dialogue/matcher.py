"""From an utterance to (intent, confidence), or no match.

Two kinds of evidence, both built once from the knowledge base:

* **concepts**: every keyword and every content word of every example, stemmed, points
  to its intents (keywords count more). Words are weighted by how specific they are
  (inverse document frequency), so "paspoort" says more than "aanvragen". Unknown words
  weigh as much as the most specific known ones: a question made of words the knowledge
  base never uses ("wie won de Ronde") is out of scope, not a weak match. Misspellings
  and compounds are resolved against the vocabulary with rapidfuzz and word splitting.
* **phrasings**: rapidfuzz similarity between the utterance and the intent's examples,
  for the few intents the concepts point to.
"""

from __future__ import annotations

import functools
import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from rapidfuzz import fuzz, process

from dialogue.kb import KnowledgeBase
from dialogue.normalize import Tokens, fold, stem, tokenize

KEYWORD_WEIGHT = 1.0
EXAMPLE_WEIGHT = 0.6
FUZZY_CUTOFF = 84.0  # rapidfuzz ratio for a misspelt word to count as a known one
CANDIDATES = 6  # intents compared phrase by phrase
WHOLE_CUTOFF = 85.0  # rapidfuzz ratio for a question of only function words


@dataclass(frozen=True)
class Scored:
    """An intent with its confidence (0-1)."""

    intent: str
    confidence: float


class _LanguageIndex:
    """Everything the matcher needs for one language."""

    def __init__(self, kb: KnowledgeBase, language: str) -> None:
        links: dict[str, dict[str, float]] = defaultdict(dict)
        self.phrases: dict[tuple[str, ...], dict[str, float]] = defaultdict(dict)
        self.examples: dict[str, list[str]] = {}
        self.whole_examples: list[str] = []  # every example, all words kept
        self.whole_owner: list[str] = []
        for intent in kb.intents.values():
            for keyword in intent.keywords.get(language, ()):
                tokens = tokenize(keyword, language)
                if len(tokens.stems) > 1:
                    # Phrases match on every word: "te doen" is made of stop words.
                    self.phrases[tokens.stems][intent.id] = KEYWORD_WEIGHT
                for s in tokens.content:
                    links[s][intent.id] = KEYWORD_WEIGHT
            texts = []
            for example in intent.examples.get(language, ()):
                tokens = tokenize(example, language)
                self.whole_examples.append(" ".join(tokens.words))
                self.whole_owner.append(intent.id)
                texts.append(" ".join(tokens.content))
                for s in tokens.content:
                    links[s].setdefault(intent.id, EXAMPLE_WEIGHT)
            self.examples[intent.id] = texts
        self.links = dict(links)
        n = max(1, len(kb.intents))
        self.idf = {s: math.log(1 + n / len(owners)) for s, owners in self.links.items()}
        self.unknown_weight = max(self.idf.values(), default=1.0)
        self.vocabulary = list(self.links)

    @functools.lru_cache(maxsize=16384)  # noqa: B019 - one index per language, lives as long
    def resolve(self, word: str, stemmed: str, language: str) -> tuple[tuple[str, float], ...]:
        """Known stems a word stands for, with a factor for how sure we are."""
        if stemmed in self.links:
            return ((stemmed, 1.0),)
        if len(word) >= 7:  # a compound: paspoortaanvraag, Personalausweisverlängerung
            for cut in range(4, len(word) - 3):
                head, tail = stem(word[:cut], language), stem(word[cut:], language)
                if head in self.links and tail in self.links:
                    return ((head, 0.9), (tail, 0.9))
            for cut in range(len(word) - 4, 3, -1):
                head = stem(word[:cut], language)
                if head in self.links and cut >= 5:
                    return ((head, 0.8),)
        if len(stemmed) >= 4:
            found = process.extractOne(
                stemmed, self.vocabulary, scorer=fuzz.ratio, score_cutoff=FUZZY_CUTOFF
            )
            if found is not None:
                return ((found[0], 0.85),)
        return ()


class Matcher:
    """Scores every intent of a knowledge base against an utterance."""

    def __init__(self, kb: KnowledgeBase) -> None:
        """Index ``kb`` for each of its languages."""
        self._kb = kb
        self._index = {language: _LanguageIndex(kb, language) for language in kb.languages}

    def vocabulary(self, language: str) -> set[str]:
        """Folded words of the language's keywords and examples (for language detection)."""
        words: set[str] = set()
        for intent in self._kb.intents.values():
            for text in (*intent.keywords.get(language, ()), *intent.examples.get(language, ())):
                words.update(fold(text).split())
        return words

    def score(
        self, tokens: Tokens, language: str, ignore: frozenset[str] = frozenset()
    ) -> list[Scored]:
        """Intents ranked by confidence; ``ignore`` holds slot words (days) to leave out."""
        index = self._index[language]
        words = [
            (w, s)
            for w, s in zip(tokens.content_words, tokens.content, strict=True)
            if w not in ignore
        ]
        phrase_hits = [
            owners for phrase, owners in index.phrases.items() if _contains(tokens.stems, phrase)
        ]
        if not words and not phrase_hits:
            return self._whole(tokens, index)
        total = index.unknown_weight * 0.5 * len(phrase_hits)
        explained: dict[str, float] = defaultdict(float)
        keyword_hit: set[str] = set()
        for word, stemmed in words:
            resolved = index.resolve(word, stemmed, language)
            weight = max((index.idf[s] for s, _ in resolved), default=index.unknown_weight)
            total += weight
            best: dict[str, float] = {}
            for s, sure in resolved:
                for intent, link in index.links[s].items():
                    best[intent] = max(best.get(intent, 0.0), link * sure)
                    if link == KEYWORD_WEIGHT:
                        keyword_hit.add(intent)
            for intent, value in best.items():
                explained[intent] += weight * value
        stems = [s for _, s in words]
        for owners in phrase_hits:
            for intent in owners:
                explained[intent] += index.unknown_weight * 0.5
                keyword_hit.add(intent)
        if not explained:
            return []
        coverage = {intent: min(1.0, value / total) for intent, value in explained.items()}
        candidates = sorted(coverage, key=lambda i: coverage[i], reverse=True)[:CANDIDATES]
        text = " ".join(stems)
        results = []
        for intent in candidates:
            examples = index.examples.get(intent) or [""]
            similarity = max(fuzz.token_set_ratio(text, e) for e in examples) / 100
            confidence = 0.65 * coverage[intent] + 0.35 * similarity
            if intent not in keyword_hit:
                confidence *= 0.85
            results.append(Scored(intent, round(confidence, 4)))
        results.sort(key=lambda s: s.confidence, reverse=True)
        return results

    def _whole(self, tokens: Tokens, index: _LanguageIndex) -> list[Scored]:
        """A question of function words only ("wie ben jij?"): compare it whole."""
        if not tokens.words or not index.whole_examples:
            return []
        found = process.extractOne(
            " ".join(tokens.words),
            index.whole_examples,
            scorer=fuzz.ratio,
            score_cutoff=WHOLE_CUTOFF,
        )
        if found is None:
            return []
        return [Scored(index.whole_owner[found[2]], round(found[1] / 100, 4))]


def _contains(stems: Sequence[str], phrase: tuple[str, ...]) -> bool:
    n = len(phrase)
    return any(tuple(stems[i : i + n]) == phrase for i in range(len(stems) - n + 1))

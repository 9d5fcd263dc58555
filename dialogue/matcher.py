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
NOT_OURS = "_not_ours"  # another organisation's matter (_not_ours.toml): no match
#: An unknown word counts this much of the most specific known word: a long question
#: with words the knowledge base never uses ("mijn kleindochter verhuist") is not a
#: weak match for that, but a question made only of unknown words is out of scope.
UNKNOWN_FACTOR = 0.3
#: With an unknown noun-like word beside it, an intent found through generic words only
#: ("open", "uren", "kaart") counts this much: "hours of the Delhaize" are not ours.
GENERIC_ONLY = 0.7
WINDOW = 6  # content words a long question's best stretch is judged on
WINDOW_SHARE = 0.9  # what the best stretch counts against the whole question
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
        sources = [
            (intent.id, intent.keywords.get(language, ()), intent.examples.get(language, ()))
            for intent in kb.intents.values()
        ]
        examples, keywords = kb.not_ours.get(language, ((), ()))
        sources.append((NOT_OURS, keywords, examples))
        self.known = frozenset(
            word for _, words, texts in sources for text in (*words, *texts)
            for word in fold(text).split()
        )  # fmt: skip
        # Single-word keywords, which a recogniser may have cut in two ("post kantoor").
        self.keywords = frozenset(
            fold(word) for _, words, _ in sources for word in words if len(fold(word).split()) == 1
        )
        for owner, owner_keywords, owner_examples in sources:
            for keyword in owner_keywords:
                tokens = tokenize(keyword, language)
                if len(tokens.stems) > 1:
                    # Phrases match on every word: "te doen" is made of stop words.
                    self.phrases[tokens.stems][owner] = KEYWORD_WEIGHT
                for s in tokens.content:
                    links[s][owner] = KEYWORD_WEIGHT
            texts = []
            for example in owner_examples:
                tokens = tokenize(example, language)
                self.whole_examples.append(" ".join(tokens.words))
                self.whole_owner.append(owner)
                texts.append(" ".join(tokens.content))
                for s in tokens.content:
                    links[s].setdefault(owner, EXAMPLE_WEIGHT)
            self.examples[owner] = texts
        self.links = dict(links)
        n = max(1, len(kb.intents) + 1)
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
                first, last = stem(word[:cut], language), stem(word[cut:], language)
                if first in self.links and last in self.links:
                    # Both parts count, each as specific as it is: in "treinuren" the
                    # train says whose hours, in "paspoortaanvraag" the passport what.
                    return ((first, 0.9), (last, 0.9))
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

    def known(self, language: str) -> tuple[frozenset[str], frozenset[str]]:
        """Folded words the knowledge base uses in ``language``, and its one-word keywords
        (to rejoin words a recogniser split)."""
        index = self._index[language]
        return index.known, index.keywords

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
        specific: set[str] = set()  # intents found through a word of their own
        unknown_nouns = 0
        spans: list[tuple[float, dict[str, float]]] = []  # per word: its weight, its evidence
        for word, stemmed in words:
            resolved = index.resolve(word, stemmed, language)
            links = index.links
            if not resolved:
                # Code-switching: a Dutch term in an English sentence ("a uittreksel").
                resolved, links, weight_of = self._elsewhere(word, language)
            else:
                weight_of = index.idf
            if not resolved:
                total += index.unknown_weight * UNKNOWN_FACTOR
                spans.append((index.unknown_weight * UNKNOWN_FACTOR, {}))
                unknown_nouns += len(word) >= 5 and not word.isdigit()
                continue
            weight = max(weight_of[s] for s, _ in resolved)
            total += weight
            best: dict[str, float] = {}
            for s, sure in resolved:
                for intent, link in links[s].items():
                    best[intent] = max(best.get(intent, 0.0), link * sure)
                    if link == KEYWORD_WEIGHT:
                        keyword_hit.add(intent)
                    if len(links[s]) <= 2:
                        specific.add(intent)
            for intent, value in best.items():
                explained[intent] += weight * value
            spans.append((weight, {i: weight * v for i, v in best.items()}))
        stems = [s for _, s in words]
        for owners in phrase_hits:
            for intent in owners:
                explained[intent] += index.unknown_weight * 0.5
                keyword_hit.add(intent)
                specific.add(intent)
        if not explained:
            return []
        coverage = {intent: min(1.0, value / total) for intent, value in explained.items()}
        if len(spans) > WINDOW:
            # A long question is judged on its best stretch too: a person hears the clause
            # that asks, not the story around it.
            phrased: dict[str, float] = defaultdict(float)
            for owners in phrase_hits:
                for intent in owners:
                    phrased[intent] += index.unknown_weight * 0.5
            phrases_part = index.unknown_weight * 0.5 * len(phrase_hits)
            for start in range(len(spans) - WINDOW + 1):
                window = spans[start : start + WINDOW]
                weight = sum(w for w, _ in window) + phrases_part
                values: dict[str, float] = defaultdict(float, phrased)
                for _, evidence in window:
                    for intent, value in evidence.items():
                        values[intent] += value
                for intent, value in values.items():
                    share = WINDOW_SHARE * min(1.0, value / weight)
                    if share > coverage.get(intent, 0.0):
                        coverage[intent] = share
        candidates = sorted(coverage, key=lambda i: coverage[i], reverse=True)[:CANDIDATES]
        text = " ".join(stems)
        results = []
        for intent in candidates:
            examples = index.examples.get(intent) or [""]
            similarity = max(fuzz.token_set_ratio(text, e) for e in examples) / 100
            confidence = 0.65 * coverage[intent] + 0.35 * similarity
            if intent not in keyword_hit:
                confidence *= 0.85
            if unknown_nouns and intent not in specific:
                confidence *= GENERIC_ONLY
            results.append(Scored(intent, round(confidence, 4)))
        results.sort(key=lambda s: s.confidence, reverse=True)
        return results

    def _elsewhere(
        self, word: str, language: str
    ) -> tuple[tuple[tuple[str, float], ...], dict[str, dict[str, float]], dict[str, float]]:
        """A word unknown in ``language`` that another language's intents use, exactly."""
        for other, index in self._index.items():
            if other == language or len(word) < 5:
                continue
            stemmed = stem(word, other)
            if stemmed in index.links:
                return ((stemmed, 0.9),), index.links, index.idf
        return (), {}, {}

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

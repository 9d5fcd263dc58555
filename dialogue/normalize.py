"""Text normalisation: what a visitor said, folded to comparable tokens.

Lower case, accents removed, punctuation dropped, regional and colloquial spellings
rewritten (``ge`` -> ``u``, ``'k`` -> ``ik``, ``wc`` -> ``toilet``), and each word reduced
to its Snowball stem, so ``paspoorten`` meets ``paspoort`` and ``aanvragen`` meets
``aanvraag``. Stop words are kept apart: they do not say what the visitor wants.
"""

from __future__ import annotations

import functools
import re
import tomllib
import unicodedata
from dataclasses import dataclass
from importlib import resources

import snowballstemmer

_STEMMERS = {"nl": "dutch", "fr": "french", "en": "english", "de": "german"}
_WORD = re.compile(r"[a-z0-9]+")


@dataclass(frozen=True)
class LanguageData:
    """Per-language word lists from ``languages.toml``."""

    code: str
    stopwords: frozenset[str]
    rewrites: dict[str, str]
    days: tuple[str, ...]  # Monday first
    first: frozenset[str]
    second: frozenset[str]
    yes: frozenset[str]
    no: frozenset[str]


@functools.cache
def language_data() -> dict[str, LanguageData]:
    """The language data shipped with the package, by language code."""
    raw = tomllib.loads(resources.files("dialogue").joinpath("languages.toml").read_text("utf-8"))
    return {
        code: LanguageData(
            code=code,
            stopwords=frozenset(fold(entry["stopwords"]).split()),
            rewrites={fold(k): fold(v) for k, v in entry["rewrites"].items()},
            days=tuple(fold(d) for d in entry["days"]),
            first=frozenset(fold(w) for w in entry["first"]),
            second=frozenset(fold(w) for w in entry["second"]),
            yes=frozenset(fold(w) for w in entry["yes"]),
            no=frozenset(fold(w) for w in entry["no"]),
        )
        for code, entry in raw.items()
    }


def fold(text: str) -> str:
    """Lower case, no accents, words separated by single spaces."""
    decomposed = unicodedata.normalize("NFKD", text.casefold().replace("ß", "ss"))
    bare = "".join(c for c in decomposed if not unicodedata.combining(c))
    return " ".join(_WORD.findall(bare))


@functools.cache
def _stemmer(language: str) -> snowballstemmer.stemmer:
    return snowballstemmer.stemmer(_STEMMERS[language])


@functools.lru_cache(maxsize=65536)
def stem(word: str, language: str) -> str:
    """The Snowball stem of a folded word."""
    return str(_stemmer(language).stemWord(word))


@dataclass(frozen=True)
class Tokens:
    """An utterance as the matcher sees it."""

    words: tuple[str, ...]  # folded, rewritten, stop words included
    content_words: tuple[str, ...]  # the words that are not stop words
    content: tuple[str, ...]  # their stems, in the same order
    stems: tuple[str, ...]  # stems of every word, stop words included (for phrases)


def tokenize(text: str, language: str) -> Tokens:
    """Fold, rewrite regional spellings, drop stop words and stem the rest."""
    data = language_data()[language]
    words: list[str] = []
    for word in fold(text).split():
        words.extend(data.rewrites.get(word, word).split())
    content_words = tuple(w for w in words if w not in data.stopwords)
    return Tokens(
        tuple(words),
        content_words,
        tuple(stem(w, language) for w in content_words),
        tuple(stem(w, language) for w in words),
    )

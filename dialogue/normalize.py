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


def tokenize(
    text: str,
    language: str,
    synonyms: dict[str, str] | None = None,
    known: tuple[frozenset[str], frozenset[str]] | None = None,
) -> Tokens:
    """Fold, rewrite regional spellings, drop stop words and stem the rest.

    ``synonyms``: the knowledge base's regional words (word -> standard word).
    ``known``: the folded words the knowledge base uses and its one-word keywords:
    neighbours that together make one of them are joined ("identiteits kaart", "toi
    letten", "o c m w": how a recogniser splits a word it does not know).
    """
    data = language_data()[language]
    folded = fold(text).split()
    if known is not None:
        folded = _rejoin(folded, *known)
    words: list[str] = []
    for word in folded:
        word = data.rewrites.get(word, word)
        if synonyms:  # a word the knowledge base itself uses keeps its own meaning
            in_kb = known[0] if known is not None else frozenset()
            word = " ".join(
                part if part in in_kb else synonyms.get(part, part) for part in word.split()
            )
        words.extend(word.split())
    content_words = tuple(w for w in words if w not in data.stopwords)
    return Tokens(
        tuple(words),
        content_words,
        tuple(stem(w, language) for w in content_words),
        tuple(stem(w, language) for w in words),
    )


def _rejoin(words: list[str], known: frozenset[str], keywords: frozenset[str]) -> list[str]:
    """Join two or three neighbours that make a known word together.

    Joined when the whole is a keyword, or a known word of which the parts are not all
    known words themselves ("op tijd" stays two words; "rijbe wijs" becomes one).
    """
    joined: list[str] = []
    i = 0
    while i < len(words):
        for size in (3, 2):
            parts = words[i : i + size]
            if len(parts) < size:
                continue
            whole = "".join(parts)
            if whole in keywords or (whole in known and not all(p in known for p in parts)):
                joined.append(whole)
                i += size
                break
        else:
            joined.append(words[i])
            i += 1
    return joined

"""The phrases a robot's word-spotting recogniser listens for, from the knowledge base.

NAOqi 2.5's recogniser does not transcribe: it spots phrases from a list it is given
(``ALSpeechRecognition.setVocabulary``). Per language the list is every intent's keywords
(the words and short phrases that point to it, the thanks and goodbyes included), the
short examples (three words or fewer, said as they are), yes and no (to answer the
robot's check question), and the names of the languages, so that a visitor can switch
by saying one. A municipality widens what the robot hears
by adding keywords to the knowledge base.
"""

from __future__ import annotations

from dialogue.kb import KnowledgeBase
from dialogue.normalize import language_data

#: What a visitor may say to choose a language, in every language the robot listens in.
LANGUAGES_BY_NAME = {
    "nederlands": "nl",
    "vlaams": "nl",
    "néerlandais": "nl",
    "niederländisch": "nl",
    "dutch": "nl",
    "français": "fr",
    "frans": "fr",
    "französisch": "fr",
    "french": "fr",
    "english": "en",
    "engels": "en",
    "anglais": "en",
    "englisch": "en",
    "deutsch": "de",
    "duits": "de",
    "allemand": "de",
    "german": "de",
}
LANGUAGE_NAMES = tuple(LANGUAGES_BY_NAME)
SHORT_EXAMPLE = 3  # words: an example this short is also a phrase to spot


def spotting_vocabulary(kb: KnowledgeBase, language: str) -> list[str]:
    """Every phrase the recogniser should spot in ``language``, sorted, each once."""
    phrases: set[str] = set(LANGUAGE_NAMES)
    words = language_data().get(language)
    if words is not None:  # the answers to "Bedoelt u …?"
        phrases.update(words.yes | words.no)
    for intent in kb.intents.values():
        phrases.update(k.strip().lower() for k in intent.keywords.get(language, ()))
        phrases.update(
            e.strip().lower().rstrip("?!. ")
            for e in intent.examples.get(language, ())
            if len(e.split()) <= SHORT_EXAMPLE
        )
    return sorted(p for p in phrases if p)


def language_named(text: str) -> str | None:
    """The language a visitor chose by naming it ("français"), if that is all they said."""
    return LANGUAGES_BY_NAME.get(text.strip().lower())

"""The dialogue engine: understand a question, answer it, ask back, or hand over.

:meth:`DialogueEngine.understand` is stateless: text in, (intent, confidence, language)
out. A :class:`Conversation` adds what a visitor expects from a person at the desk: it
asks back when two topics are equally likely, keeps the topic for a follow-up ("and on
Saturday?"), offers its tablet after two misunderstandings in a row, hands over to a colleague
after three or when
asked, and forgets everything when the visitor leaves. It keeps no transcript.
"""

from __future__ import annotations

import dataclasses
import enum
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from clock import Clock
from dialogue.calendar import DayHours, OpeningCalendar
from dialogue.kb import CALENDAR_VARIABLES, Desk, Intent, KnowledgeBase, template_fields
from dialogue.langid import LanguageDetector
from dialogue.matcher import NOT_OURS, Matcher, Scored
from dialogue.normalize import fold, language_data, tokenize
from dialogue.semantic import Meaning, SemanticStage, fuse
from dialogue.spoken import SPOKEN_WORDS, shorten, spoken_time, words
from dialogue.when import DayMention, day_words, find_day

#: Below this confidence an utterance is not understood.
THRESHOLD = 0.5
#: When the runner-up is this close to the best, ask which one the visitor meant.
CLARIFY_MARGIN = 0.04
#: Misunderstandings in a row after which the robot offers its tablet (type or tap).
FAILURES_BEFORE_TABLET = 2
#: Misunderstandings in a row before a colleague is called.
FAILURES_BEFORE_HANDOVER = 3
#: Someone else's matter this close to the best intent makes the question not ours.
NOT_OURS_SHARE = 0.75
#: A courtesy (greeting, thanks) gives way to a question this sure (x the threshold).
COURTESY_YIELDS = 1.0
#: A question naming a day with at most this many other content words asks for the hours.
DAY_ONLY_WORDS = 2
#: A fragment (at most this many words) is read in another language more readily: its
#: language is a guess; a sentence's is not, unless a reading in another language is
#: clearly better (a sentence half in Dutch, half in English).
SHORT_WORDS = 3
SENTENCE_MARGIN = 0.15
#: How much better than the threshold a reading in another language must be to be taken.
OTHER_LANGUAGE_MARGIN = 0.05
#: A recogniser's confidence under which the robot checks before it answers (#17).
CHECK_BELOW = 0.6


class ReplyKind(enum.StrEnum):
    """What kind of reply the robot gives."""

    ANSWER = "answer"
    CLARIFY = "clarify"
    NO_MATCH = "no_match"
    HANDOVER = "handover"


@dataclass(frozen=True)
class Understanding:
    """What an utterance most likely means."""

    intent: str | None
    confidence: float
    language: str
    alternatives: tuple[Scored, ...] = ()
    day: date | None = None  # a day the visitor mentioned ("on Saturday", "tomorrow")


@dataclass(frozen=True)
class Reply:
    """What the robot says back, and what else it should do."""

    kind: ReplyKind
    text: str
    language: str
    intent: str | None = None
    confidence: float = 0.0
    desk: Desk | None = None
    tablet: str | None = None
    ends_conversation: bool = False
    options: tuple[str, ...] = ()  # the intents offered when asking back
    offer_tablet: bool = False  # show the "ask" page: type the question or tap a topic
    # What the robot says, when it is shorter than ``text`` (which the tablet and the
    # chat show in full): at most SPOKEN_WORDS words, times said as people say them.
    spoken: str = ""

    @property
    def said(self) -> str:
        """What a robot says for this reply."""
        return self.spoken or self.text


class DialogueEngine:
    """Understands and answers questions from one knowledge base."""

    def __init__(
        self,
        kb: KnowledgeBase,
        calendar: OpeningCalendar,
        clock: Clock,
        *,
        default_language: str,
        threshold: float = THRESHOLD,
        clarify_margin: float = CLARIFY_MARGIN,
        semantic: SemanticStage | None = None,
    ) -> None:
        """Index ``kb``; answers about opening hours use ``calendar`` and ``clock``.

        ``semantic``: the optional second stage (:mod:`dialogue.semantic`); its
        :class:`Meaning` of a question is passed to :meth:`understand` by the caller,
        who computes it off the event loop (:meth:`meaning_of`).
        """
        self.kb = kb
        self.semantic = semantic
        self.calendar = calendar
        self.clock = clock
        self.default_language = default_language
        self.threshold = threshold
        self.clarify_margin = clarify_margin
        self._matcher = Matcher(kb)
        self._languages = language_data()
        vocabulary = {
            language: self._matcher.vocabulary(language) | set(self._languages[language].stopwords)
            for language in kb.languages
        }
        self._detector = LanguageDetector(kb.languages, vocabulary)
        self._day_names = frozenset(
            name
            for code in kb.languages
            for name in (
                *self._languages[code].days,
                *day_words()[code].months,
                *(w for p in day_words()[code].today for w in p if len(p) == 1),
                *(w for p in day_words()[code].tomorrow for w in p if len(p) == 1),
                *(w for p in day_words()[code].after_tomorrow for w in p if len(p) == 1),
            )
        )
        self._courtesy_words = {
            code: frozenset(
                word
                for intent in kb.intents.values()
                if intent.courtesy
                for keyword in intent.keywords.get(code, ())
                for word in fold(keyword).split()
            )
            for code in kb.languages
        }
        self._day_intents = [  # the intents whose answers say the hours of a day
            intent.id
            for intent in kb.intents.values()
            if any(template_fields(a) & CALENDAR_VARIABLES for a in intent.answers.values())
        ]

    def conversation(self, language: str | None = None) -> Conversation:
        """A new conversation, starting in ``language`` (default: the site's)."""
        return Conversation(self, language or self.default_language)

    # -- understanding -------------------------------------------------------------------

    def meaning_of(self, text: str) -> Meaning | None:
        """The semantic stage's reading of ``text`` (None without a ready stage).

        Blocking (one sentence embedding): on an event loop, call it in a thread.
        """
        return self.semantic.meaning(text) if self.semantic is not None else None

    def understand(
        self,
        text: str,
        prior_language: str | None = None,
        *,
        language: str | None = None,
        meaning: Meaning | None = None,
    ) -> Understanding:
        """The intent of ``text``, with the language it is in.

        ``language``: known already (a recogniser hears one language only: what it
        spotted is in that language, however short); otherwise it is detected.
        ``meaning``: the semantic stage's reading of ``text`` (:meth:`meaning_of`), fused
        with the words' evidence; without it, the words decide alone.
        """
        given = language is not None and language in self._languages
        if not given:
            language, _ = self._detector.detect(text, prior_language or self.default_language)
        assert language is not None
        ranked, mention = self._rank(text, language)
        follow_up = mention is not None and not ranked  # "and on Saturday?": a day alone
        if not given and not follow_up and (not ranked or ranked[0].confidence < self.threshold):
            # Unsure of the language ("mariage", "Umzug melden" are short; a sentence may
            # be half in Dutch): the question may make sense in another of its languages.
            short = len(text.split()) <= SHORT_WORDS
            margin = OTHER_LANGUAGE_MARGIN if short else SENTENCE_MARGIN
            words = fold(text).split()
            here = self._matcher.known(language)[0]
            strange = [w for w in words if w not in here]  # words this language does not use
            for other in self.kb.languages:
                if other == language:
                    continue
                there = self._matcher.known(other)[0]
                if not (short and any(w in there for w in words)) and not any(
                    w in there for w in strange
                ):
                    continue  # nothing that language would read differently: not worth a look
                found, said = self._rank(text, other)
                if (
                    found
                    and found[0].confidence >= self.threshold + margin
                    and (not ranked or found[0].confidence > ranked[0].confidence)
                ):
                    ranked, mention, language = found, said, other
        if meaning is not None and not follow_up:
            ranked = fuse(ranked, meaning)
        best = ranked[0] if ranked and ranked[0].confidence >= self.threshold else None
        return Understanding(
            intent=best.intent if best else None,
            confidence=best.confidence if best else (ranked[0].confidence if ranked else 0.0),
            language=language,
            alternatives=tuple(ranked[:3]),
            day=mention.day if mention is not None else None,
        )

    def _rank(self, text: str, language: str) -> tuple[list[Scored], DayMention | None]:
        """Intents for ``text`` read in ``language``, best first; the day it names."""
        tokens = tokenize(
            text, language, self.kb.synonyms.get(language), self._matcher.known(language)
        )
        today = self.calendar.local(self.clock.now()).date()
        mention = find_day(text, language, today, self.calendar.holiday_country)
        # Day words say when, not what: never topic words ("morgen" is no paspoort), in
        # any language (a Dutch "zaterdag" read as French is still a day).
        slot_words = self._day_names
        if mention is not None:
            slot_words |= mention.words
        ranked = self._matcher.score(tokens, language, ignore=slot_words)
        theirs = next((r.confidence for r in ranked if r.intent == NOT_OURS), 0.0)
        ranked = [r for r in ranked if r.intent != NOT_OURS]
        if ranked and theirs >= NOT_OURS_SHARE * ranked[0].confidence:
            # Someone else's matter is in the question as much as ours: "hours of the
            # Delhaize", "train times" are not our opening hours.
            return [], mention
        if ranked and not self.kb.intents[ranked[0].intent].courtesy:
            # A question and a greeting is a question: never "did you mean hello?"
            ranked = [r for r in ranked if not self.kb.intents[r.intent].courtesy]
        if len(ranked) > 1 and self.kb.intents[ranked[0].intent].courtesy:
            # "Guten Morgen, sind Sie am Donnerstag da?": a greeting and a question is a
            # question, if the rest asks one on its own.
            rest = self._matcher.score(
                tokens, language, ignore=slot_words | self._courtesy_words[language]
            )
            asked = [r for r in rest if r.intent != NOT_OURS]
            if (
                asked
                and not self.kb.intents[asked[0].intent].courtesy
                and (asked[0].confidence >= COURTESY_YIELDS * self.threshold)
            ):
                ranked = [r for r in asked if not self.kb.intents[r.intent].courtesy]
        if (
            mention is not None
            and not theirs
            and (not ranked or ranked[0].confidence < self.threshold)
        ):
            # A day and little else ("kan ik zaterdagvoormiddag terecht?", "am 1. Mai
            # zu?"): when are you open, that day.
            # A day alone ("en op zaterdag?") is a follow-up: the conversation's topic
            # decides, or it is not understood.
            others = len(tokens.content) - len(mention.words)
            for intent in self._day_intents:
                if 1 <= others <= DAY_ONLY_WORDS:
                    ranked = [Scored(intent, self.threshold), *ranked]
                    break
        return ranked, mention

    # -- answering -----------------------------------------------------------------------

    def answer(self, intent_id: str, language: str, day: date | None = None) -> Reply:
        """The reply for ``intent_id`` in ``language`` (``day``: for opening hours)."""
        intent = self.kb.intents[intent_id]
        text = self.render(intent, language, day)
        desk = self.kb.desks.get(intent.desk) if intent.desk else None
        return Reply(
            kind=ReplyKind.HANDOVER if intent.handover else ReplyKind.ANSWER,
            text=text,
            language=language,
            intent=intent.id,
            desk=desk,
            tablet=intent.tablet,
            ends_conversation=intent.ends_conversation,
            spoken=self.spoken(intent, language, day),
        )

    def spoken(self, intent: Intent, language: str, day: date | None = None) -> str:
        """What the robot says for ``intent``: its ``[spoken]`` text, or the answer's
        sentences that fit in SPOKEN_WORDS words (and, when the tablet shows the rest,
        that it does)."""
        if language in intent.spoken:
            return self.render(intent, language, day, spoken=True)
        said, left_out = shorten(self.render(intent, language, day, spoken=True))
        pointer = self.kb.phrases.get("more_on_screen", {}).get(language)
        if left_out and intent.tablet and pointer and words(f"{said} {pointer}") <= SPOKEN_WORDS:
            said = f"{said} {pointer}"
        return said

    def render(
        self, intent: Intent, language: str, day: date | None = None, *, spoken: bool = False
    ) -> str:
        """Fill in an intent's answer template (``spoken``: its spoken text, if it has
        one, with times as people say them)."""
        template = intent.answers[language]
        if spoken:
            template = intent.spoken.get(language, template)
        values: dict[str, str] = {
            name: self.kb.variable(name, language) for name in self.kb.variables
        }
        if intent.desk:
            desk = self.kb.desks[intent.desk]
            values["desk"] = desk.name[language]
            values["desk_location"] = desk.location[language]
        if template_fields(template) & CALENDAR_VARIABLES:
            values["day_hours"] = self.day_hours(language, day, spoken=spoken)
            values["next_open"] = self.next_open(language, day, spoken=spoken)
        return " ".join(template.format(**values).split())

    def phrase(self, key: str, language: str, /, **values: str) -> str:
        """One of the engine's own sentences from ``_phrases.toml``."""
        return str(self.kb.phrases[key][language]).format(**values)

    def day_hours(self, language: str, day: date | None = None, *, spoken: bool = False) -> str:
        """'Today we are open from 8.30 to 12.00.' for ``day`` (default today).

        Asked today after the last closing: closed now, and when it was open today.
        ``spoken``: times as people say them ("van half negen tot twaalf uur").
        """
        now = self.calendar.local(self.clock.now())
        today = now.date()
        day = day or today
        hours = self.calendar.hours_on(day, language)
        if hours.open:
            ranges = self._ranges(hours, language, spoken)
            if day == today and all(end <= now.time() for _, end in hours.ranges):
                return self.phrase("closed_now", language, ranges=ranges)
            label = self._day_label(day, today, language)
            return self.phrase("open_on_day", language, day=label, ranges=ranges)
        reason = (
            self.phrase("holiday", language, name=hours.closed_reason)
            if hours.closed_reason
            else ""
        )
        label = self._day_label(day, today, language)
        return self.phrase("closed_on_day", language, day=label, reason=reason)

    def next_open(self, language: str, day: date | None = None, *, spoken: bool = False) -> str:
        """'We open again tomorrow at 8.30.' when closed now, or closed on ``day``.

        Empty when open now (asked about today) or open on ``day``.
        """
        now = self.clock.now()
        today = self.calendar.local(now).date()
        day = day or today
        if day == today:
            if self.calendar.is_open(now):
                return ""
            opening = self.calendar.next_opening(now)
        else:
            if self.calendar.hours_on(day, language).open:
                return ""
            start = datetime.combine(day, time(0), tzinfo=self.calendar.timezone)
            opening = self.calendar.next_opening(start)
        if opening is None:
            return ""
        when = self._when(opening.date(), today, language)
        return self.phrase(
            "next_open", language, when=when, time=self._time(opening.time(), language, spoken)
        )

    def _day_label(self, day: date, today: date, language: str) -> str:
        """'Vandaag', 'Morgen', 'Op zaterdag' (this week), 'Op 24 december' (later)."""
        return self._naming(day, today, language, ("today", "tomorrow", "on_day", "on_date"))

    def _when(self, day: date, today: date, language: str) -> str:
        """The same, inside a sentence: 'vandaag', 'morgen', 'op maandag', 'op 2 januari'."""
        keys = ("when_today", "when_tomorrow", "when_weekday", "when_date")
        return self._naming(day, today, language, keys)

    def _naming(self, day: date, today: date, language: str, keys: tuple[str, ...]) -> str:
        """``day`` said with the phrase for today, tomorrow, a weekday or a date."""
        if day == today:
            return self.phrase(keys[0], language)
        if day == today + timedelta(days=1):
            return self.phrase(keys[1], language)
        if today < day < today + timedelta(days=7):
            weekday = self.kb.phrases["weekdays"][language][day.weekday()]
            return self.phrase(keys[2], language, weekday=weekday)
        month = self.kb.phrases["months"][language][day.month - 1]
        return self.phrase(keys[3], language, day=str(day.day), month=month)

    def _ranges(self, hours: DayHours, language: str, spoken: bool = False) -> str:
        parts = [
            self.phrase(
                "range",
                language,
                start=self._time(s, language, spoken),
                end=self._time(e, language, spoken),
            )
            for s, e in hours.ranges
        ]
        return str(self.kb.phrases["range_join"][language]).join(parts)

    def _time(self, moment: time, language: str, spoken: bool = False) -> str:
        patterns = self.kb.phrases.get("time_spoken", {}).get(language)
        if spoken and isinstance(patterns, dict) and "other" in patterns:
            return spoken_time(moment, patterns)
        return self.phrase("time", language, h=str(moment.hour), mm=f"{moment.minute:02d}")


@dataclass
class Conversation:
    """One visitor's conversation: language, topic, pending question, misunderstandings."""

    engine: DialogueEngine
    language: str
    topic: str | None = None
    failures: int = 0
    options: tuple[str, ...] = field(default=())

    def reset(self, language: str | None = None) -> None:
        """Forget everything (the visitor left)."""
        self.language = language or self.engine.default_language
        self.topic = None
        self.failures = 0
        self.options = ()

    def respond(
        self,
        text: str,
        language: str | None = None,
        heard_with: float | None = None,
        meaning: Meaning | None = None,
    ) -> Reply:
        """The robot's reply to what the visitor just said (in ``language``, if known).

        ``heard_with``: the recogniser's confidence. Heard unsure (under
        :data:`CHECK_BELOW`), an intent is checked first ("Bedoelt u uw paspoort?")
        instead of answered. ``meaning``: the semantic stage's reading of ``text``
        (:meth:`DialogueEngine.meaning_of`, computed off the loop), if there is one.
        """
        engine = self.engine
        understood = engine.understand(
            text, prior_language=self.language, language=language, meaning=meaning
        )
        self.language = understood.language
        if len(self.options) == 1:  # a check question is pending: yes, no, or a new question
            checked, self.options = self.options[0], ()
            said = f" {fold(text)} "
            data = language_data()[self.language]
            if _says(said, data.yes) and understood.intent in (None, checked):
                return self._answer(checked, understood)
            if _says(said, data.no) and understood.intent in (None, checked):
                return self._misunderstood(understood)
        chosen = self._choice(text, understood) if self.options else None
        self.options = ()
        if chosen is not None:
            return self._answer(chosen, understood)
        if (
            heard_with is not None
            and heard_with < CHECK_BELOW
            and understood.intent is not None
            and understood.intent != self.topic
            and not engine.kb.intents[understood.intent].ends_conversation
        ):
            return self._check(understood.intent, understood)

        aspect, rest = self._aspect_asked(text)
        if (
            aspect is not None
            and self.topic is not None
            and (
                understood.intent in (None, self.topic)
                # the words that ask for the aspect ("kost", "meebrengen") point elsewhere
                # too; without them, does the question name another topic?
                or engine.understand(rest, language=self.language).intent in (None, self.topic)
            )
        ):
            # "hoeveel kost dat?", "hoe lang duurt het?": about the topic still on the table
            reply = self._aspect(self.topic, aspect, understood)
            if reply is not None:
                return reply
        if (
            aspect is not None
            and understood.intent is not None
            and aspect in engine.kb.intents[understood.intent].aspects
        ):
            # "hoeveel kost een paspoort?": the answer, and that, if the answer lacks it
            full = self._answer(understood.intent, understood)
            part = self._aspect(understood.intent, aspect, understood)
            if part is not None and part.text not in full.text:
                # Said: what was asked first, then as much of the rest as fits.
                said, _ = shorten(f"{part.text} {full.said}")
                return dataclasses.replace(full, text=f"{full.text} {part.text}", spoken=said)
            return full
        if understood.intent is None:
            if understood.day is not None and self._topic_takes_a_day():
                assert self.topic is not None
                return self._answer(self.topic, understood)
            return self._misunderstood(understood)

        ranked = understood.alternatives
        if (
            len(ranked) > 1
            and ranked[1].confidence >= engine.threshold
            and ranked[0].confidence - ranked[1].confidence < engine.clarify_margin
        ):
            return self._ask_back(ranked[0].intent, ranked[1].intent, understood)
        return self._answer(understood.intent, understood)

    def _answer(self, intent_id: str, understood: Understanding) -> Reply:
        self.failures = 0
        self.topic = intent_id
        reply = self.engine.answer(intent_id, self.language, understood.day)
        return dataclasses.replace(reply, confidence=understood.confidence)

    def _aspect_asked(self, text: str) -> tuple[str | None, str]:
        """Which aspect a follow-up asks about (``_aspects.toml``), and the text without
        the words that asked it."""
        said = f" {fold(text)} "
        for name, phrasings in self.engine.kb.aspect_words.items():
            found = [p for p in phrasings.get(self.language, ()) if f" {p} " in said]
            if found:
                for phrase in found:
                    said = said.replace(f" {phrase} ", " ")
                return name, said.strip()
        return None, text

    def _aspect(self, intent_id: str, aspect: str, understood: Understanding) -> Reply | None:
        """The topic's answer about ``aspect``: its own text, or where its desk is."""
        engine = self.engine
        intent = engine.kb.intents[intent_id]
        desk = engine.kb.desks.get(intent.desk) if intent.desk else None
        values = {name: engine.kb.variable(name, self.language) for name in engine.kb.variables}
        if desk is not None:
            values["desk"] = desk.name[self.language]
            values["desk_location"] = desk.location[self.language]
        if aspect in intent.aspects:
            text = intent.aspects[aspect][self.language].format(**values)
        elif aspect == "where" and desk is not None:
            text = engine.phrase("where_desk", self.language, **values)
        else:
            return None
        self.failures = 0
        return Reply(
            ReplyKind.ANSWER,
            " ".join(text.split()),
            self.language,
            intent=intent_id,
            confidence=understood.confidence,
            desk=desk,
            tablet=intent.tablet,
        )

    def _misunderstood(self, understood: Understanding) -> Reply:
        self.failures += 1
        if self.failures == FAILURES_BEFORE_TABLET:
            return Reply(
                ReplyKind.NO_MATCH,
                self.engine.phrase("type_it", self.language),
                self.language,
                confidence=understood.confidence,
                offer_tablet=True,
            )
        if self.failures >= FAILURES_BEFORE_HANDOVER:
            self.failures = 0
            return Reply(
                ReplyKind.HANDOVER,
                self.engine.phrase("handover", self.language),
                self.language,
                confidence=understood.confidence,
            )
        return Reply(
            ReplyKind.NO_MATCH,
            self.engine.phrase("no_match", self.language),
            self.language,
            confidence=understood.confidence,
        )

    def _check(self, intent_id: str, understood: Understanding) -> Reply:
        self.options = (intent_id,)
        label = self.engine.kb.intents[intent_id].label[self.language]
        return Reply(
            ReplyKind.CLARIFY,
            self.engine.phrase("check", self.language, first=label),
            self.language,
            confidence=understood.confidence,
            options=self.options,
        )

    def _ask_back(self, first: str, second: str, understood: Understanding) -> Reply:
        self.options = (first, second)
        labels = self.engine.kb.intents
        text = self.engine.phrase(
            "clarify",
            self.language,
            first=labels[first].label[self.language],
            second=labels[second].label[self.language],
        )
        return Reply(
            ReplyKind.CLARIFY,
            text,
            self.language,
            confidence=understood.confidence,
            options=self.options,
        )

    def _choice(self, text: str, understood: Understanding) -> str | None:
        """Which of the offered options the visitor picked, if any."""
        if understood.intent in self.options:
            return understood.intent
        data = language_data()[self.language]
        words = set(fold(text).split())
        if words & data.first:
            return self.options[0]
        if words & data.second:
            return self.options[1]
        for option in self.options:
            label = set(fold(self.engine.kb.intents[option].label[self.language]).split())
            if words & (label - data.stopwords):
                return option
        return None

    def _topic_takes_a_day(self) -> bool:
        if self.topic is None:
            return False
        intent = self.engine.kb.intents[self.topic]
        return any(
            template_fields(answer) & CALENDAR_VARIABLES for answer in intent.answers.values()
        )


def _says(said: str, phrases: frozenset[str]) -> bool:
    """Whether ``said`` (folded, padded with spaces) contains one of ``phrases`` whole."""
    return any(f" {phrase} " in said for phrase in phrases)

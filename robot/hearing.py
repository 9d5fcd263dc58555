"""The ``stream`` way of hearing: the robot's microphone, voice activity, an on-premise recogniser.

NAOqi's own recogniser spots phrases of a vocabulary (``naoqi``, the default, in
:class:`robot.naoqi.NaoqiRobot`). With ``[robot] listening = "stream"`` Onthaal takes the
front microphone's audio instead, as ``naoqi_driver`` does: a remote client of
``ALAudioDevice`` (16 kHz, one channel, 16-bit PCM, delivered to the client's own
``processRemote``), finds where someone speaks (WebRTC's voice activity detector), and
has an engine on this machine turn each utterance into text. No audio leaves the
building, none is written anywhere: an utterance lives in memory until it is
recognised, then it is dropped.

Layers, one job each: :class:`Utterances` cuts the stream into utterances,
:class:`SpeechEngine` is any recogniser (one real one here: :class:`PocketSphinx`, with
its bundled US-English model or a model folder a site configures; never a download at
run time), :class:`StreamHearing` joins them and hands over what was heard.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

log = logging.getLogger("onthaal.robot.hearing")

RATE = 16000  # Hz: ALAudioDevice's rate for one channel
FRAME = 480  # samples: 30 ms, a frame size WebRTC's detector accepts
START_FRAMES = 3  # voiced frames in a row that start an utterance (90 ms)
END_FRAMES = 20  # unvoiced frames in a row that end it (600 ms)
LONGEST = 15 * RATE  # samples: an utterance is cut off after 15 s
FRONT = 3  # ALAudioDevice channel configuration: the front microphone
GRAMMAR_CONFIDENCE = 0.7  # see PocketSphinx.recognise
BEAM = 1e-20  # PocketSphinx's search beams (see PocketSphinx.__init__)


class Utterances:
    """Cuts 16 kHz 16-bit mono PCM into utterances with a voice activity detector."""

    def __init__(self, aggressiveness: int = 2) -> None:
        """``aggressiveness`` 0 (lets most through) to 3 (only clear speech)."""
        import webrtcvad

        self._vad = webrtcvad.Vad(aggressiveness)
        self._pending = b""
        self._voiced = 0
        self._unvoiced = 0
        self._speech: list[bytes] = []
        self._lead: list[bytes] = []  # the frames just before speech began

    def feed(self, pcm: bytes) -> list[bytes]:
        """Every utterance that ended within ``pcm`` (usually none)."""
        self._pending += pcm
        done: list[bytes] = []
        size = FRAME * 2
        while len(self._pending) >= size:
            frame, self._pending = self._pending[:size], self._pending[size:]
            ended = self._frame(frame, self._vad.is_speech(frame, RATE))
            if ended is not None:
                done.append(ended)
        return done

    def reset(self) -> None:
        """Forget what was being heard (the robot started speaking, or was paused)."""
        self._pending, self._speech, self._lead = b"", [], []
        self._voiced = self._unvoiced = 0

    def _frame(self, frame: bytes, voiced: bool) -> bytes | None:
        if not self._speech:
            self._lead = [*self._lead, frame][-START_FRAMES - 2 :]
            self._voiced = self._voiced + 1 if voiced else 0
            if self._voiced >= START_FRAMES:
                self._speech, self._lead, self._unvoiced = list(self._lead), [], 0
            return None
        self._speech.append(frame)
        self._unvoiced = 0 if voiced else self._unvoiced + 1
        if self._unvoiced >= END_FRAMES or len(self._speech) * FRAME >= LONGEST:
            utterance = b"".join(self._speech)
            self._speech, self._voiced = [], 0
            return utterance
        return None


@dataclass(frozen=True)
class Heard:
    """What an engine made of one utterance."""

    text: str
    confidence: float  # 0-1


class SpeechEngine(Protocol):
    """Any recogniser that runs here: PCM in, text out (called on a worker thread)."""

    def languages(self) -> set[str]:
        """The languages it has a model for (ISO codes)."""
        ...

    def recognise(self, pcm: bytes, language: str) -> Heard | None:
        """The text of one utterance in ``language``, or None for nothing recognised."""
        ...


class PocketSphinx:
    """CMU PocketSphinx, restricted to what visitors say here.

    Its bundled model is US English; other languages need a model folder (acoustic model
    with ``mdef``, and a pronunciation dictionary ``*.dict``) configured per language.
    Decoding is constrained by a grammar made from the knowledge base's phrases (what
    the robot can answer) and the words around them, which is what keeps a general
    model from hearing nonsense.
    """

    def __init__(
        self, phrases: dict[str, list[str]], models: dict[str, Path] | None = None
    ) -> None:
        """``phrases`` per language (the robot's vocabulary); ``models`` per language."""
        from pocketsphinx import Config, Decoder, get_model_path

        self._decoders: dict[str, Decoder] = {}
        bundled = Path(get_model_path()) / "en-us"
        chosen: dict[str, Path | None] = {"en": None, **(models or {})}  # None: bundled
        for language, folder in chosen.items():
            if language not in phrases:
                continue
            # Narrower beams than PocketSphinx's defaults: with a grammar of hundreds of
            # phrases the default search takes tens of seconds per sentence, this one a
            # few (measured on 2 cores: 3.6 s for a 2.5 s question).
            config = Config(loglevel="FATAL", samprate=RATE, beam=BEAM, pbeam=BEAM)
            if folder is None:
                dictionary = bundled / "cmudict-en-us.dict"
            else:
                dictionary = next(iter(sorted(folder.glob("*.dict"))), folder / "missing.dict")
                config["hmm"], config["dict"] = str(folder), str(dictionary)
            grammar = _grammar(phrases[language], _words_in(dictionary))
            if grammar is None:
                log.warning("no phrase of the %s vocabulary is in the model's dictionary", language)
                continue
            decoder = Decoder(config)
            decoder.add_jsgf_string("onthaal", grammar)
            decoder.activate_search("onthaal")
            self._decoders[language] = decoder

    def languages(self) -> set[str]:
        """Languages with a model and a grammar."""
        return set(self._decoders)

    def recognise(self, pcm: bytes, language: str) -> Heard | None:
        """Decode one utterance (a worker thread: it takes a few hundred milliseconds)."""
        decoder = self._decoders.get(language)
        if decoder is None:
            return None
        decoder.start_utt()
        decoder.process_raw(pcm, full_utt=True)
        decoder.end_utt()
        hypothesis = decoder.hyp()
        if hypothesis is None or not hypothesis.hypstr.strip():
            return None
        # PocketSphinx gives no calibrated confidence (its posterior is tiny for any
        # grammar path), and the grammar only lets through sentences around a phrase of
        # the vocabulary: a fixed "fairly sure", so the robot answers without checking.
        return Heard(hypothesis.hypstr.strip(), GRAMMAR_CONFIDENCE)


def _words_in(dictionary: Path) -> set[str]:
    words = set()
    with dictionary.open(encoding="utf-8", errors="replace") as lines:
        for line in lines:
            word = line.split(" ", 1)[0]
            words.add(re.sub(r"\(\d+\)$", "", word))
    return words


def _grammar(phrases: Iterable[str], known: set[str]) -> str | None:
    """A JSGF grammar: one phrase of the vocabulary, with common words around it.

    What the recogniser may hear is what the robot can answer: a general model left to
    itself hears nonsense in a hall (and in synthesised speech).
    """
    usable = set()
    for phrase in phrases:
        words = re.findall(r"[a-z']+", phrase.lower())
        if words and all(w in known for w in words):
            usable.add(" ".join(words))
    if not usable:
        return None
    fillers = sorted(FILLERS & known)
    return (
        "#JSGF V1.0;\ngrammar onthaal;\n"
        f"public <heard> = [<word>*] ({' | '.join(sorted(usable))}) [<word>*];\n"
        f"<word> = {' | '.join(fillers)};\n"
    )


# Common English words around a question (the phrases' own words are added per site).
_FILLER_TEXT = """a an the i my we you can could where what when how is are do does need want get
new for to of in at on please there here me with this that have find make which who"""
FILLERS = set(_FILLER_TEXT.split())


class StreamHearing:
    """Utterances from the microphone, recognised off the loop, handed to ``heard``."""

    def __init__(
        self, engine: SpeechEngine, heard: Callable[[str, str, float], None] | None = None
    ) -> None:
        """``heard(text, language, confidence)`` receives what was recognised."""
        self.engine = engine
        self.heard = heard or (lambda text, language, confidence: None)
        self.language = "en"
        self._utterances = Utterances()
        self._paused = False
        self._working: set[asyncio.Task[None]] = set()

    def pause(self, paused: bool) -> None:
        """Stop (or start again) listening: not while the robot speaks (it would hear
        itself) and not while nobody may talk to it."""
        self._paused = paused
        if paused:
            self._utterances.reset()

    def feed(self, pcm: bytes) -> None:
        """A chunk of microphone audio (on the loop); recognition runs on a worker."""
        if self._paused:
            return
        for utterance in self._utterances.feed(pcm):
            task = asyncio.get_running_loop().create_task(self._recognise(utterance))
            self._working.add(task)
            task.add_done_callback(self._working.discard)

    async def _recognise(self, utterance: bytes) -> None:
        language = self.language
        heard = await asyncio.to_thread(self.engine.recognise, utterance, language)
        del utterance  # nothing is kept: the audio is gone once it is recognised
        if heard is None:
            self.heard("", language, 0.0)  # someone spoke, nothing was understood
        else:
            self.heard(heard.text, language, heard.confidence)

    def close(self) -> None:
        """Stop whatever is being recognised."""
        for task in self._working:
            task.cancel()

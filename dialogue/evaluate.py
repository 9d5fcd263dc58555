"""Measuring the engine on labelled questions: ``onthaal dialogue eval FILE.jsonl``.

Each line is ``{"text": ..., "lang": ..., "intent": id-or-null, "kind": ...}``; ``null``
marks a question the robot should not claim to understand; ``kind`` (optional) says what
sort of line it is (misheard, dialect, long, code_switched, fragment, day, ...). The
summary breaks the figures down per kind and per language, lists the confusions, and
has a reliability table: per band of confidence, how often the best intent was right,
so the threshold can be read as what it means.
"""

from __future__ import annotations

import itertools
import json
import math
import statistics
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dialogue.engine import DialogueEngine


@dataclass(frozen=True)
class Sample:
    """One labelled question."""

    text: str
    language: str
    intent: str | None
    kind: str = ""


#: Confidence bands of the reliability table.
BANDS = (0.0, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.01)


@dataclass
class Evaluation:
    """How the engine did."""

    in_scope: int = 0
    in_scope_correct: int = 0
    out_of_scope: int = 0
    out_of_scope_correct: int = 0
    language_correct: int = 0
    latencies_ms: list[float] = field(default_factory=list)
    mistakes: list[dict[str, Any]] = field(default_factory=list)
    # (kind, language, in scope, correct) per sample, and (confidence, best was right)
    outcomes: list[tuple[str, str, bool, bool]] = field(default_factory=list)
    ranked: list[tuple[float, bool]] = field(default_factory=list)

    @property
    def total(self) -> int:
        """Questions evaluated."""
        return self.in_scope + self.out_of_scope

    def summary(self) -> dict[str, Any]:
        """The numbers, as printed by ``--json``."""
        ordered = sorted(self.latencies_ms) or [0.0]
        p99 = ordered[max(0, min(len(ordered) - 1, math.ceil(0.99 * len(ordered)) - 1))]
        return {
            "questions": self.total,
            "top1_accuracy_in_scope": _ratio(self.in_scope_correct, self.in_scope),
            "no_match_rate_out_of_scope": _ratio(self.out_of_scope_correct, self.out_of_scope),
            "language_accuracy": _ratio(self.language_correct, self.total),
            "latency_ms_median": round(statistics.median(ordered), 3),
            "latency_ms_p99": round(p99, 3),
            "by_kind": self._breakdown(0),
            "by_language": self._breakdown(1),
            "confusions": self._confusions(),
            "reliability": self._reliability(),
            "mistakes": self.mistakes,
        }

    def _breakdown(self, column: int) -> dict[str, dict[str, Any]]:
        groups: dict[str, list[tuple[bool, bool]]] = {}
        for outcome in self.outcomes:
            group = str(outcome[column]) or "-"
            groups.setdefault(group, []).append((outcome[2], outcome[3]))
        table = {}
        for name, rows in sorted(groups.items()):
            inside = [ok for scope, ok in rows if scope]
            outside = [ok for scope, ok in rows if not scope]
            table[name] = {
                "questions": len(rows),
                "top1_in_scope": _ratio(sum(inside), len(inside)),
                "no_match_out_of_scope": _ratio(sum(outside), len(outside)),
            }
        return table

    def _confusions(self) -> list[dict[str, Any]]:
        pairs: dict[tuple[str, str], int] = {}
        for mistake in self.mistakes:
            if mistake["expected"] != mistake["got"]:
                key = (str(mistake["expected"]), str(mistake["got"]))
                pairs[key] = pairs.get(key, 0) + 1
        ordered = sorted(pairs.items(), key=lambda item: (-item[1], item[0]))
        return [{"expected": e, "got": g, "times": n} for (e, g), n in ordered[:25]]

    def _reliability(self) -> list[dict[str, Any]]:
        """Per confidence band: how many in-scope answers, and how many were right."""
        rows = []
        for low, high in itertools.pairwise(BANDS):
            inside = [right for confidence, right in self.ranked if low <= confidence < high]
            rows.append({
                "confidence": f"{low:.1f}-{min(high, 1.0):.1f}",
                "questions": len(inside),
                "right": _ratio(sum(inside), len(inside)) if inside else None,
            })  # fmt: skip
        return rows


def _ratio(part: int, whole: int) -> float:
    return round(part / whole, 4) if whole else 1.0


def read_samples(path: Path) -> list[Sample]:
    """Read a JSON-lines file; raise ValueError naming the line that is wrong."""
    samples = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            samples.append(
                Sample(
                    str(row["text"]), str(row["lang"]), row.get("intent"), str(row.get("kind", ""))
                )
            )
        except (json.JSONDecodeError, KeyError, TypeError) as exc:
            raise ValueError(f"{path}: line {number}: {exc}") from None
    return samples


def evaluate(
    engine: DialogueEngine,
    samples: Iterable[Sample],
    hear: Callable[[str, str], str] | None = None,
    *,
    semantic: bool = False,
) -> Evaluation:
    """Run every sample through :meth:`DialogueEngine.understand` with no prior language.

    ``hear(text, language)``: what a recogniser makes of the sentence (the phrases a
    word-spotting robot spots), understood in that language, as on the robot.
    ``semantic``: with the engine's (prepared) semantic stage fused in, as the robot
    does for a sentence when one is configured (not for a phrase ``hear`` spotted); its
    time counts in the latencies.
    """
    result = Evaluation()
    for sample in samples:
        started = time.perf_counter()
        if hear is None:
            meaning = engine.meaning_of(sample.text) if semantic else None
            understood = engine.understand(sample.text, meaning=meaning)
        else:
            # A spotted phrase, not a sentence: the robot reads no meaning into it.
            heard = hear(sample.text, sample.language)
            understood = engine.understand(heard, language=sample.language)
        result.latencies_ms.append((time.perf_counter() - started) * 1000)
        if understood.language == sample.language:
            result.language_correct += 1
        if sample.intent is None:
            result.out_of_scope += 1
            correct = understood.intent is None
            result.out_of_scope_correct += correct
        else:
            result.in_scope += 1
            correct = understood.intent == sample.intent
            result.in_scope_correct += correct
        result.outcomes.append((sample.kind, sample.language, sample.intent is not None, correct))
        if sample.intent is not None and understood.alternatives:
            best = understood.alternatives[0]
            result.ranked.append((best.confidence, best.intent == sample.intent))
        if not correct or understood.language != sample.language:
            result.mistakes.append(
                {
                    "text": sample.text,
                    "expected": sample.intent,
                    "got": understood.intent,
                    "confidence": understood.confidence,
                    "lang": sample.language,
                    "detected": understood.language,
                    "kind": sample.kind,
                }
            )
    return result

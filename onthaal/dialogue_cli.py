"""``onthaal chat`` and ``onthaal dialogue eval``: the dialogue engine from the terminal."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path

from clock import RealClock
from dialogue.engine import DialogueEngine
from dialogue.evaluate import evaluate, read_samples
from dialogue.kb import KnowledgeBaseError
from dialogue.vocabulary import spotting_vocabulary
from hw_sim.pepper.recogniser import spot
from onthaal.config import Config
from onthaal.dialogue_setup import build_engine

EXIT_OK, EXIT_FAILURE, EXIT_BAD_INPUT = 0, 1, 2
#: The figures ``dialogue eval`` also reports for the words alone, beside both stages.
STAGE_FIGURES = (
    "top1_accuracy_in_scope",
    "no_match_rate_out_of_scope",
    "language_accuracy",
    "latency_ms_median",
    "latency_ms_p99",
)


def run_dialogue_command(args: argparse.Namespace, config: Config, config_path: Path) -> int:
    """Run ``chat`` or ``dialogue eval``; returns the exit code."""
    try:
        # Not the robot: preparing the examples (the first time) may use every core.
        engine = build_engine(
            config, config_path, RealClock(), semantic=True, semantic_threads=os.cpu_count() or 1
        )
    except KnowledgeBaseError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        return EXIT_BAD_INPUT
    if engine.semantic is not None and not engine.semantic.ready:
        if not engine.semantic.cache_file().is_file():
            print("preparing the semantic stage (once per knowledge base)...", file=sys.stderr)
        engine.semantic.prepare()
    if args.command == "chat":
        if args.json is not None:
            return _chat_once(engine, args.json, args.language)
        return _chat(engine, args.language)
    return _evaluate(engine, Path(args.file), as_json=args.json, through=args.through)


def _chat_once(engine: DialogueEngine, text: str, language: str | None) -> int:
    understood = engine.understand(text, prior_language=language)
    reply = engine.conversation(understood.language).respond(text)
    print(
        json.dumps(
            {
                "intent": understood.intent,
                "confidence": understood.confidence,
                "language": understood.language,
                "answer": reply.text,
                "spoken": reply.said,  # what the robot says of it
            },
            ensure_ascii=False,
        )
    )
    return EXIT_OK


def _chat(engine: DialogueEngine, language: str | None) -> int:
    conversation = engine.conversation(language)
    print("Onthaal chat: type a question (empty line or Ctrl-D to stop, /reset to start over).")
    for line in sys.stdin:
        text = line.strip()
        if not text:
            break
        if text == "/reset":
            conversation.reset()
            print("(conversation reset)")
            continue
        reply = conversation.respond(text)
        detail = f"[{reply.kind} {reply.intent or '-'} {reply.confidence:.2f} {reply.language}]"
        print(f"{detail} {reply.text}", flush=True)
        if reply.ends_conversation:
            conversation.reset()
    return EXIT_OK


def word_spotting(engine: DialogueEngine) -> Callable[[str, str], str]:
    """What the robot hears: the knowledge base's phrases spotted in a sentence.

    The same vocabulary the robot is given and the simulated recogniser's spotting model
    (:func:`hw_sim.pepper.recogniser.spot`), with three hypotheses as Onthaal asks.
    """
    vocabularies = {
        language: spotting_vocabulary(engine.kb, language) for language in engine.kb.languages
    }

    def hear(text: str, language: str) -> str:
        return " ".join(spot(text, vocabularies.get(language, []), limit=1))

    return hear


def _evaluate(engine: DialogueEngine, path: Path, *, as_json: bool, through: str = "text") -> int:
    try:
        samples = read_samples(path)
    except (OSError, ValueError) as exc:
        print(f"{path}: {exc}" if isinstance(exc, OSError) else str(exc), file=sys.stderr)
        return EXIT_BAD_INPUT
    hear = word_spotting(engine) if through == "naoqi" else None
    words = evaluate(engine, samples, hear).summary()
    summary = words
    summary["stage"] = "words"
    if engine.semantic is not None:  # both stages: the configured one, and words alone
        summary = evaluate(engine, samples, hear, semantic=True).summary()
        summary["stage"] = "words+semantic"
        summary["words_only"] = {key: words[key] for key in STAGE_FIGURES}
    summary["through"] = through
    if as_json:
        print(json.dumps(summary, ensure_ascii=False, indent=2))
        return EXIT_OK
    print(f"heard through:                  {through}")
    print(f"stage:                          {summary['stage']}")
    if "words_only" in summary:
        alone = summary["words_only"]
        print(
            f"words alone:                    in scope {alone['top1_accuracy_in_scope']:.1%}, "
            f"out of scope {alone['no_match_rate_out_of_scope']:.1%}, "
            f"p99 {alone['latency_ms_p99']:.2f} ms"
        )
    print(f"questions:                      {summary['questions']}")
    print(f"top-1 accuracy (in scope):      {summary['top1_accuracy_in_scope']:.1%}")
    print(f"'no match' rate (out of scope): {summary['no_match_rate_out_of_scope']:.1%}")
    print(f"language detection:             {summary['language_accuracy']:.1%}")
    print(f"latency median / p99:           {summary['latency_ms_median']:.2f} / ", end="")
    print(f"{summary['latency_ms_p99']:.2f} ms")
    for title, key in (("per kind", "by_kind"), ("per language", "by_language")):
        print(f"{title}:")
        for name, row in summary[key].items():
            print(
                f"  {name:<14} {row['questions']:>4} questions  in scope "
                f"{row['top1_in_scope']:6.1%}  out of scope {row['no_match_out_of_scope']:6.1%}"
            )
    print("reliability (in scope: the best intent's confidence, and how often it was right):")
    for row in summary["reliability"]:
        right = "   -  " if row["right"] is None else f"{row['right']:6.1%}"
        print(f"  {row['confidence']}  {row['questions']:>4} questions  right {right}")
    if summary["confusions"]:
        print("most frequent confusions (expected -> got):")
        for row in summary["confusions"][:10]:
            print(f"  {row['expected']} -> {row['got']}: {row['times']}")
    for mistake in summary["mistakes"]:
        print(
            f"  {mistake['text']!r}: expected {mistake['expected']}, got {mistake['got']} "
            f"({mistake['confidence']:.2f}; {mistake['lang']} detected as {mistake['detected']})"
        )
    return EXIT_OK

"""``onthaal sim --scenario FILE``: exit 0 when every expectation holds, 1 when one fails,
2 on a bad scenario (naming the key), 130 when stopped with Ctrl-C (after writing the
partial report)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
from pathlib import Path

from clock import RealClock
from dialogue.kb import KnowledgeBaseError
from onthaal.config import Config, ConfigError
from onthaal.dialogue_setup import build_engine
from onthaal.scenario.model import load_scenario, site_problems
from onthaal.scenario.options import add_scenario_options
from onthaal.scenario.progress import progress_for
from onthaal.scenario.report import write_report
from onthaal.scenario.runner import RunResult, ScenarioRun, summary_lines, write

__all__ = ["add_scenario_options", "run_scenario_command"]

EXIT_INTERRUPTED = 130  # as a shell reports a command ended by Ctrl-C


def _announce(url: str, user: str, password: str) -> None:
    print(f"staff web app: {url}  (sign in as '{user}', password '{password}';", flush=True)
    print("  a simulation-only account, gone with the next run)", flush=True)


def run_scenario_command(args: argparse.Namespace, config: Config, config_path: Path) -> int:
    """Run the scenario named on the command line; the exit code."""
    try:
        scenario = load_scenario(args.scenario)
        kb = build_engine(config, config_path, RealClock()).kb
    except ConfigError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        return 2
    except KnowledgeBaseError as exc:
        for problem in exc.problems:
            print(f"[dialogue] knowledge_base: {problem}", file=sys.stderr)
        return 2
    problems = site_problems(scenario, config, set(kb.intents))
    if args.report:
        folder = Path(args.report).parent
        if not folder.is_dir():
            problems.append(f"--report: {folder} is not a folder (the report would be lost)")
    for problem in problems:
        print(f"{args.scenario}: {problem}", file=sys.stderr)
    if problems:
        return 2
    seed = config.sim.seed if args.seed is None else args.seed
    with contextlib.ExitStack() as files:
        try:
            journal = (
                files.enter_context(Path(args.journal).open("w", encoding="utf-8"))
                if args.journal
                else None
            )
        except OSError as exc:
            print(f"--journal: cannot write {args.journal}: {exc.strerror}", file=sys.stderr)
            return 2
        run = ScenarioRun(
            scenario,
            config,
            config_path,
            seed=seed,
            speed=args.speed,
            journal=journal,
            progress=lambda total: progress_for(sys.stderr, total),
            state_dir=Path(args.state),
            on_start=_announce,
        )
        result = asyncio.run(_run(run))
    write(summary_lines(result))
    if args.report:
        page = write_report(result, Path(args.report))
        print(f"report: {args.report} and {page}")
    if result.interrupted_at is not None:
        print(
            f"stopped at {result.interrupted_at:%H:%M} (simulated): partial report", file=sys.stderr
        )
        return EXIT_INTERRUPTED
    failed = [e["name"] for e in result.expectations if not e["held"]]
    for name in failed:
        print(f"expectation failed: {name}", file=sys.stderr)
    return 1 if failed else 0


async def _run(run: ScenarioRun) -> RunResult:
    """Run with Ctrl-C (and SIGTERM) stopping the day cleanly instead of a traceback."""
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, run.interrupt)
    try:
        return await run.run()
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.remove_signal_handler(sig)

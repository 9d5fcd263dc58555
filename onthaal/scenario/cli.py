"""``onthaal sim --scenario FILE``: exit 0 when every expectation holds, 1 when one fails,
2 on a bad scenario (naming the key)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
from pathlib import Path

from onthaal.config import Config, ConfigError
from onthaal.scenario.model import load_scenario
from onthaal.scenario.report import write_report
from onthaal.scenario.runner import ScenarioRun, summary_lines, write


def add_scenario_options(sim: argparse.ArgumentParser) -> None:
    """The scenario options of ``onthaal sim``."""
    sim.add_argument("--scenario", metavar="FILE", help="run this scenario (TOML) and exit")
    sim.add_argument("--seed", type=int, default=None, help="seed (default: [sim] seed)")
    pace = sim.add_mutually_exclusive_group()
    pace.add_argument("--speed", type=float, metavar="S", help="simulated seconds per second")
    pace.add_argument("--fast", action="store_true", help="as fast as the machine allows")
    sim.add_argument("--journal", metavar="PATH", help="write the scenario journal (JSONL)")
    sim.add_argument("--report", metavar="PATH", help="write the report (JSON, and HTML beside)")


def run_scenario_command(args: argparse.Namespace, config: Config, config_path: Path) -> int:
    """Run the scenario named on the command line; the exit code."""
    try:
        scenario = load_scenario(args.scenario)
    except ConfigError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        return 2
    if args.speed is not None and args.speed <= 0:
        print("--speed: must be more than 0", file=sys.stderr)
        return 2
    speed = None if args.fast or args.speed is None else args.speed
    seed = config.sim.seed if args.seed is None else args.seed
    with contextlib.ExitStack() as files:
        journal = (
            files.enter_context(Path(args.journal).open("w", encoding="utf-8"))
            if args.journal
            else None
        )
        run = ScenarioRun(
            scenario,
            config,
            config_path,
            seed=seed,
            speed=speed,
            journal=journal,
            progress=sys.stderr if sys.stderr.isatty() else None,
        )
        result = asyncio.run(run.run())
    write(summary_lines(result))
    if args.report:
        page = write_report(result, Path(args.report))
        print(f"report: {args.report} and {page}")
    failed = [e["name"] for e in result.expectations if not e["held"]]
    for name in failed:
        print(f"expectation failed: {name}", file=sys.stderr)
    return 1 if failed else 0

"""The scenario options of ``onthaal sim``: light to import (the parser is built for
every command; the runner and what it pulls in are loaded only to run one)."""

from __future__ import annotations

import argparse


def _speed(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"must be more than 0, got {text}")
    return value


def add_scenario_options(sim: argparse.ArgumentParser) -> None:
    """The scenario options of ``onthaal sim``."""
    sim.add_argument("--scenario", metavar="FILE", help="run this scenario (TOML) and exit")
    sim.add_argument("--seed", type=int, default=None, help="seed (default: [sim] seed)")
    # One destination: the last of --speed/--fast wins (so `make sim ARGS=--fast` works).
    sim.add_argument(
        "--speed", type=_speed, metavar="S", help="at most S simulated seconds per real second"
    )
    sim.add_argument(
        "--fast",
        dest="speed",
        action="store_const",
        const=None,
        help="as fast as the machine allows (the default for --scenario)",
    )
    sim.add_argument("--journal", metavar="PATH", help="write the scenario journal (JSONL)")
    sim.add_argument("--report", metavar="PATH", help="write the report (JSON, and HTML beside)")
    sim.add_argument(
        "--state",
        metavar="DIR",
        default="var/sim",
        help="the run's databases and its sign-in (default var/sim; emptied at start)",
    )

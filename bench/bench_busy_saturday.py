"""Busy Saturday with faults, headless: wall time and peak memory of a whole day.

``onthaal sim --scenario scenarios/busy-saturday-with-faults.toml --fast`` (08:30-17:00,
800+ visitors, every kind of fault) in a child process, measured with ``resource``
(peak resident memory of the child). Targets: under 60 s and under 500 MB.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.common import ROOT, Result

TARGET_SECONDS = 60.0
TARGET_MB = 500.0
LIMIT_SECONDS = 300.0  # give up after this long: the measurement is "more than this"


def run() -> Result:
    """Simulate the day once and measure it."""
    from tests.configs import isolated_config

    result = Result("busy_saturday", "Busy Saturday with faults, --fast")
    with tempfile.TemporaryDirectory() as folder:
        config = isolated_config(Path(folder))
        report = Path(folder) / "report.json"
        started = time.perf_counter()
        command = [
            sys.executable, "-m", "onthaal", "sim", "--config", str(config), "--scenario",
            str(ROOT / "scenarios" / "busy-saturday-with-faults.toml"), "--fast",
            "--seed", "1", "--report", str(report), "--log-level", "error",
        ]  # fmt: skip
        try:
            done = subprocess.run(
                command,
                cwd=ROOT,
                capture_output=True,
                text=True,
                timeout=LIMIT_SECONDS,
                check=False,
            )
            outcome = f"exit code {done.returncode}"
        except subprocess.TimeoutExpired:
            outcome = f"did not finish within {LIMIT_SECONDS:g} s (stopped)"
        wall = time.perf_counter() - started
        peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        data = json.loads(report.read_text()) if report.exists() else {}
    result.add("visitors", data.get("visitors", 0), "count")
    result.add("wall time", wall, "s", target=f"< {TARGET_SECONDS:g} s", met=wall < TARGET_SECONDS)
    result.add("peak memory", peak_mb, "MiB", target=f"< {TARGET_MB:g} MB", met=peak_mb < TARGET_MB)
    result.add("expectations held", sum(e["held"] for e in data.get("expectations", [])), "count")
    result.notes = (
        f"{outcome}. Each visitor is a real conversation with the robot over libqi "
        "(greeting, language choice, questions, goodbye, farewell); visitors who come "
        "while the robot is busy queue. Simulated time jumps at every quiet moment: "
        "nothing runnable on the loop, no unread socket, nothing on its way through "
        "libqi (counted at both ends), so the day is the same on a slow machine. "
        + " | ".join(data.get("summary", [])[:3])
    )
    return result

"""``make stress``: the scenario tests many times in a row beside a CPU hog.

Determinism holes (simulated time moving while something is still on its way) show up
when the machine is slow at the wrong moment; a busy neighbour makes that likely. Runs
``tests/test_scenarios.py`` up to ``--runs`` times (default 200), stops at the first
failure, and never runs past ``--budget`` real seconds. The result goes to
``bench/results/stress.json``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "bench" / "results" / "stress.json"
HOG = "import time\nend = time.monotonic() + {seconds}\nwhile time.monotonic() < end: pass\n"


def main(argv: list[str] | None = None) -> int:
    """Run the stress loop; 0 when every run passed."""
    parser = argparse.ArgumentParser(prog="python -m bench.stress")
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--hogs", type=int, default=1, help="busy processes beside the tests")
    parser.add_argument("--budget", type=float, default=3 * 3600, help="real seconds at most")
    parser.add_argument("tests", nargs="*", default=["tests/test_scenarios.py"])
    args = parser.parse_args(argv)
    hogs = [
        subprocess.Popen([sys.executable, "-c", HOG.format(seconds=args.budget)])
        for _ in range(args.hogs)
    ]
    started = time.monotonic()
    passed, failure = 0, None
    try:
        for run in range(1, args.runs + 1):
            if time.monotonic() - started > args.budget:
                break
            done = subprocess.run(
                [sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", *args.tests],
                cwd=REPO,
                capture_output=True,
                text=True,
                check=False,
            )
            last = (done.stdout.strip().splitlines() or ["?"])[-1]
            print(f"run {run}/{args.runs}: {last}", flush=True)
            if done.returncode != 0:
                failure = done.stdout[-4000:]
                break
            passed += 1
    finally:
        for hog in hogs:
            hog.kill()
    wall = time.monotonic() - started
    result = {
        "tests": args.tests,
        "runs_passed_in_a_row": passed,
        "runs_wanted": args.runs,
        "hogs": args.hogs,
        "wall_seconds": round(wall, 1),
        "failure": failure,
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(f"{passed} of {args.runs} runs passed in a row in {wall:.0f} s with {args.hogs} hog(s)")
    if failure:
        print(failure)
    return 0 if passed == args.runs else 1


if __name__ == "__main__":
    raise SystemExit(main())

"""``make stress``: the scenario tests many times in a row beside a CPU hog.

Determinism holes (simulated time moving while something is still on its way) show up
when the machine is slow at the wrong moment; a busy neighbour makes that likely. Runs
``tests/test_scenarios.py`` up to ``--runs`` times (default 200), stops at the first
failure, and never runs past ``--budget`` real seconds. The result goes to
``bench/results/stress.json``. Pytest arguments go after ``--`` (``-- tests/x.py -k y``).

It tests the code its interpreter imports: the project is installed editable, so run
it from the checkout whose ``.venv`` it is (a second worktree needs a venv of its own),
or edits made during the hour it runs are what it tests.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

from bench.common import Result

REPO = Path(__file__).resolve().parent.parent
HOG = "import time\nend = time.monotonic() + {seconds}\nwhile time.monotonic() < end: pass\n"


def main(argv: list[str] | None = None) -> int:
    """Run the stress loop; 0 when every run passed."""
    parser = argparse.ArgumentParser(prog="python -m bench.stress")
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--hogs", type=int, default=1, help="busy processes beside the tests")
    parser.add_argument("--budget", type=float, default=3 * 3600, help="real seconds at most")
    parser.add_argument(
        "tests",
        nargs="*",
        # The in-process scenario runs: determinism under load. The subprocess tests of
        # the same file (bad input exits 2, a second run) test the CLI, not the clock.
        default=["tests/test_scenarios.py", "-k", "not exits and not second_run"],
    )
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
    result = Result("stress", f"{' '.join(args.tests)} in a row beside {args.hogs} CPU hog(s)")
    result.add(
        "runs passed in a row",
        passed,
        "runs",
        target=f">= {args.runs}",
        met=passed >= args.runs,
    )
    result.add("wall time", wall, "s")
    result.notes = "stopped at the first failure" if failure else "no failure"
    result.write()
    print(f"{passed} of {args.runs} runs passed in a row in {wall:.0f} s with {args.hogs} hog(s)")
    if failure:
        print(failure)
    return 0 if passed == args.runs else 1


if __name__ == "__main__":
    raise SystemExit(main())

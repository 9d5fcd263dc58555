"""Run the benchmarks: ``python -m bench`` (all) or ``python -m bench NAME ...``."""

from __future__ import annotations

import importlib
import pkgutil
import sys
import time

from bench.common import update_summary
from onthaal.process import finish


def main(argv: list[str]) -> int:
    """Run the named benchmarks (default: all ``bench_*`` modules) and update the docs."""
    import bench

    available = sorted(
        m.name.removeprefix("bench_")
        for m in pkgutil.iter_modules(bench.__path__)
        if m.name.startswith("bench_")
    )
    chosen = argv or available
    unknown = sorted(set(chosen) - set(available))
    if unknown:
        print(f"unknown benchmark(s): {', '.join(unknown)}; have: {', '.join(available)}")
        return 2
    for name in chosen:
        module = importlib.import_module(f"bench.bench_{name}")
        print(f"== {name}: {module.__doc__.strip().splitlines()[0] if module.__doc__ else ''}")
        started = time.perf_counter()
        result = module.run()
        path = result.write()
        elapsed = time.perf_counter() - started
        print(f"  -> bench/results/{path.name} ({elapsed:.1f} s)")
    update_summary()
    print("summary: docs/benchmarks.md")
    return 0


finish(main(sys.argv[1:]))

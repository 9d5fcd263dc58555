"""What every benchmark shares: percentiles, the result file, the summary in the docs."""

from __future__ import annotations

import json
import os
import platform
import statistics
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
SUMMARY = ROOT / "docs" / "benchmarks.md"
START, END = "<!-- results:start -->", "<!-- results:end -->"


def percentile(samples: list[float], q: float) -> float:
    """The ``q``-th percentile (0-100) of ``samples``, nearest-rank."""
    ordered = sorted(samples)
    rank = max(0, min(len(ordered) - 1, round(q / 100 * len(ordered) + 0.5) - 1))
    return ordered[rank]


@dataclass
class Metric:
    """One measured number, with its unit and, where the issue sets one, its target."""

    name: str
    value: float
    unit: str
    target: str | None = None
    met: bool | None = None


@dataclass
class Result:
    """One benchmark's outcome, written to ``bench/results/<name>.json``."""

    name: str
    description: str
    metrics: list[Metric] = field(default_factory=list)
    notes: str = ""

    def add(
        self, name: str, value: float, unit: str, target: str | None = None, met: bool | None = None
    ) -> None:
        """Record a metric and print it as it is measured."""
        self.metrics.append(Metric(name, value, unit, target, met))
        verdict = "" if met is None else ("  (target met)" if met else "  (TARGET MISSED)")
        goal = f"  target {target}" if target else ""
        print(f"  {self.name}: {name} = {value:.4g} {unit}{goal}{verdict}")

    def write(self) -> Path:
        """Write the JSON result file and return its path."""
        RESULTS.mkdir(parents=True, exist_ok=True)
        path = RESULTS / f"{self.name}.json"
        payload = {
            "name": self.name,
            "description": self.description,
            "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "machine": {
                "python": platform.python_version(),
                "platform": platform.platform(),
                "cpus": os.cpu_count(),
            },
            "metrics": [vars(m) for m in self.metrics],
            "notes": self.notes,
        }
        path.write_text(json.dumps(payload, indent=2) + "\n")
        return path


def median(samples: list[float]) -> float:
    """The median of ``samples``."""
    return statistics.median(samples)


def update_summary() -> None:
    """Rewrite the results table in docs/benchmarks.md from every result file."""
    rows = ["| benchmark | metric | value | target |", "|---|---|---|---|"]
    for path in sorted(RESULTS.glob("*.json")):
        data = json.loads(path.read_text())
        for m in data["metrics"]:
            target = m["target"] or ""
            if m["met"] is not None:
                target = f"{target} {'✓' if m['met'] else '✗ missed'}"
            rows.append(
                f"| {data['name']} | {m['name']} | {m['value']:.4g} {m['unit']} | {target} |"
            )
    table = "\n".join(rows)
    text = SUMMARY.read_text() if SUMMARY.exists() else f"# Benchmarks\n\n{START}\n{END}\n"
    head, _, rest = text.partition(START)
    _, _, tail = rest.partition(END)
    SUMMARY.write_text(f"{head}{START}\n{table}\n{END}{tail}")

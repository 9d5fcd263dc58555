"""The scenario report: JSON for machines, one HTML page with plots for people."""

from __future__ import annotations

import html
import json
from collections import Counter
from pathlib import Path
from typing import Any

from onthaal.scenario.runner import RunResult, summary_lines


def report_data(result: RunResult) -> dict[str, Any]:
    """Everything the report says, JSON-ready."""
    visits = result.visits
    return {
        "scenario": result.scenario.day.name,
        "date": result.scenario.day.date.isoformat(),
        "seed": result.seed,
        "ok": result.ok,
        "wall_seconds": round(result.wall_seconds, 3),
        "visitors": len(visits),
        "greeted": sum(v.greeted for v in visits),
        "handovers": sum(v.handover for v in visits),
        "walked_on": sum(v.walked_on for v in visits),
        "queue_wait_s": [round(v.waited, 1) for v in visits if not v.walked_on],
        "visitors_per_hour": dict(sorted(Counter(f"{v.arrived:%H}:00" for v in visits).items())),
        "languages": dict(Counter(v.language for v in visits)),
        "answers": dict(Counter(a for v in visits for a in v.answered)),
        "time_to_greet_ms": [round(v.greet_ms, 3) for v in visits if v.greet_ms is not None],
        "faults": result.faults,
        "deliveries": result.deliveries,
        "final": result.final,
        "expectations": result.expectations,
        "warnings": result.warnings(),
        "unanswered": result.unanswered,
        "interrupted_at": result.interrupted_at.isoformat() if result.interrupted_at else None,
        "timezone": result.timezone,
        "summary": summary_lines(result),
    }


def write_report(result: RunResult, path: Path) -> Path:
    """Write ``path`` (JSON) and the HTML page beside it; the HTML path."""
    data = report_data(result)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False), encoding="utf-8")
    page = path.with_suffix(".html")
    page.write_text(_html(data), encoding="utf-8")
    return page


def _bars(title: str, values: dict[str, float], unit: str = "") -> str:
    """A horizontal bar chart as inline SVG (no scripts, no downloads)."""
    if not values:
        return f"<h2>{html.escape(title)}</h2><p>none</p>"
    top = max(values.values()) or 1
    rows = []
    for index, (label, value) in enumerate(values.items()):
        y = index * 22
        width = 360 * value / top
        rows.append(
            f'<text x="0" y="{y + 15}" font-size="12">{html.escape(str(label))}</text>'
            f'<rect x="110" y="{y + 3}" width="{width:.1f}" height="16" fill="#0b4f6c"/>'
            f'<text x="{115 + width:.1f}" y="{y + 15}" font-size="12">{value:g}{unit}</text>'
        )
    height = 22 * len(values) + 4
    return (
        f"<h2>{html.escape(title)}</h2><svg width='560' height='{height}' role='img' "
        f"aria-label='{html.escape(title)}'>{''.join(rows)}</svg>"
    )


WAIT_EDGES = (0, 10, 30, 60, 120, 300)  # seconds in the queue, for the report's histogram


def _histogram(
    samples: list[float],
    edges: tuple[float, ...] = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000),
    unit: str = "ms",
) -> dict[str, float]:
    if not samples:
        return {}
    counts: Counter[str] = Counter()
    for sample in samples:
        bucket = next((f"<= {e:g} {unit}" for e in edges if sample <= e), None)
        counts[bucket or f"> {edges[-1]:g} {unit}"] += 1
    order = [f"<= {e:g} {unit}" for e in edges] + [f"> {edges[-1]:g} {unit}"]
    return {k: counts[k] for k in order if counts[k]}


def _timeline(deliveries: list[dict[str, Any]]) -> str:
    """Deliveries per device over the day, as dots on a line per device."""
    if not deliveries:
        return "<h2>Deliveries</h2><p>none</p>"
    devices = sorted({d["device"] for d in deliveries})
    times = [d["at"][11:16] for d in deliveries]
    first, last = min(times), max(times)

    def x(clock: str) -> float:
        minutes = int(clock[:2]) * 60 + int(clock[3:])
        start = int(first[:2]) * 60 + int(first[3:])
        end = max(start + 1, int(last[:2]) * 60 + int(last[3:]))
        return 120 + 420 * (minutes - start) / (end - start)

    parts = []
    for row, device in enumerate(devices):
        y = row * 20 + 12
        parts.append(
            f'<text x="0" y="{y + 4}" font-size="12">{html.escape(device)}</text>'
            f'<line x1="120" y1="{y}" x2="540" y2="{y}" stroke="#ccc"/>'
        )
        for delivery in deliveries:
            if delivery["device"] == device:
                colour = "#2b7a0b" if delivery["ok"] else "#a4161a"
                parts.append(
                    f'<circle cx="{x(delivery["at"][11:16]):.1f}" cy="{y}" r="4" '
                    f'fill="{colour}"><title>{html.escape(delivery["content"])} '
                    f"{html.escape(delivery['at'])}</title></circle>"
                )
    height = 20 * len(devices) + 20
    return (
        f"<h2>Deliveries per device ({first}-{last}, local time)</h2>"
        f"<svg width='560' height='{height}'>{''.join(parts)}</svg>"
    )


def _html(data: dict[str, Any]) -> str:
    expectations = "".join(
        f"<li class='{'ok' if e['held'] else 'bad'}'>{'✔' if e['held'] else '✘'} "
        f"{html.escape(e['name'])} ({html.escape(str(e['detail']))})</li>"
        for e in data["expectations"]
    )
    summary = "".join(f"<li>{html.escape(line)}</li>" for line in data["summary"])
    warnings = "".join(f"<li class='bad'>{html.escape(w)}</li>" for w in data["warnings"])
    warning_section = f"<h2>Warnings</h2><ul>{warnings}</ul>" if warnings else ""
    unanswered = (
        _bars("Questions not answered (intent)", data["unanswered"])
        if data["unanswered"]
        else "<h2>Questions not answered</h2><p>none</p>"
    )
    if data["interrupted_at"]:
        verdict = f"Stopped at {data['interrupted_at'][11:16]}: a partial day"
    elif data["ok"]:
        verdict = "All expectations held" + (" (see the warnings)" if warnings else "")
    else:
        verdict = "Some expectations failed"
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(data["scenario"])}</title>
<style>body{{font-family:system-ui,sans-serif;margin:2rem;max-width:60rem}}
.ok{{color:#2b7a0b}}.bad{{color:#a4161a;font-weight:600}}</style></head><body>
<h1>{html.escape(data["scenario"])} — {html.escape(data["date"])}</h1>
<p><strong>{html.escape(verdict)}</strong>
 · {data["visitors"]} visitors · {data["greeted"]} greeted · {data["handovers"]} hand-overs
 · {data["walked_on"]} walked on (robot busy)
 · seed {data["seed"]} · {data["wall_seconds"]} s to simulate
 · times in {html.escape(data["timezone"])}</p>
{warning_section}
<h2>Expectations</h2><ul>{expectations}</ul>
{_bars("Visitors per hour", data["visitors_per_hour"])}
{_bars("Time to greet (real ms)", _histogram(data["time_to_greet_ms"]))}
{_bars("Waiting for the robot (simulated s)", _histogram(data["queue_wait_s"], WAIT_EDGES, "s"))}
{_bars("Answers", dict(sorted(data["answers"].items(), key=lambda kv: -kv[1])[:15]))}
{unanswered}
{_timeline(data["deliveries"])}
<h2>Summary</h2><ul>{summary}</ul>
</body></html>
"""

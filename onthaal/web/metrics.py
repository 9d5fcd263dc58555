"""Prometheus metrics (prometheus_client) and the robot's counters for the dashboard.

``ReceptionMetrics`` is also a :class:`robot.stats.Statistics`: the reception reports
greetings, answers and hand-overs to it. It keeps anonymous counts only, in memory.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from datetime import datetime

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client import Counter as PromCounter
from prometheus_client.core import CounterMetricFamily
from prometheus_client.registry import Collector

from onthaal.supervisor import ChildHealth
from scheduler.store import Store


class ReceptionMetrics:
    """Counts what the robot did, for /metrics and the dashboard."""

    def __init__(self, registry: CollectorRegistry) -> None:
        """Register the counters in ``registry``."""
        self.greeted = PromCounter(
            "onthaal_visitors_greeted", "Visitors greeted by the robot.", registry=registry
        )
        self.answered = PromCounter(
            "onthaal_questions_answered",
            "Questions answered, per intent and language.",
            ["intent", "language"],
            registry=registry,
        )
        self.handovers = PromCounter("onthaal_handovers", "Hand-overs to staff.", registry=registry)
        self.today: Counter[tuple[str, str]] = Counter()  # (date, event) -> count

    def count(self, at: datetime, language: str, event: str) -> None:
        """The :class:`robot.stats.Statistics` hook."""
        self.today[(at.date().isoformat(), event)] += 1
        if event == "greeted":
            self.greeted.inc()
        elif event == "handover":
            self.handovers.inc()
        else:
            self.answered.labels(intent=event, language=language).inc()

    def on(self, day: str) -> dict[str, int]:
        """Counts of one day (ISO date)."""
        return {event: n for (date, event), n in self.today.items() if date == day}


class _SystemCollector(Collector):
    """Deliveries per device (from the store) and restarts per child (supervisor)."""

    def __init__(self, store: Store, health: Callable[[], list[ChildHealth]]) -> None:
        self._store = store
        self._health = health

    def collect(self) -> Iterator[CounterMetricFamily]:
        deliveries = CounterMetricFamily(
            "onthaal_deliveries",
            "Content deliveries per device and outcome.",
            labels=["device", "outcome"],
        )
        counts: Counter[tuple[str, str]] = Counter()
        for delivery in self._store.deliveries():
            counts[(delivery.device, "ok" if delivery.ok else "failed")] += 1
        for (device, outcome), n in sorted(counts.items()):
            deliveries.add_metric([device, outcome], n)
        yield deliveries
        restarts = CounterMetricFamily(
            "onthaal_child_restarts", "Restarts per supervised child.", labels=["child"]
        )
        for child in self._health():
            restarts.add_metric([child.name], child.restarts)
        yield restarts


class Metrics:
    """Everything /metrics shows."""

    def __init__(self, store: Store, health: Callable[[], list[ChildHealth]]) -> None:
        """A private registry (no process-global state between tests)."""
        self.registry = CollectorRegistry()
        self.reception = ReceptionMetrics(self.registry)
        self.registry.register(_SystemCollector(store, health))

    def render(self) -> bytes:
        """The Prometheus text exposition."""
        return generate_latest(self.registry)

"""Prometheus metrics (prometheus_client), read from the core's snapshot and the store.

Nothing here counts by itself: the robot's counts are the core's
:class:`~onthaal.web.core.ReceptionCounts` (anonymous, in memory), deliveries are
counted by SQLite, restarts come from the supervisor's health. So /metrics works the
same in the web app's own process as in the robot's.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily
from prometheus_client.registry import Collector

from onthaal.web.core import CoreSnapshot
from scheduler.store import Store


class _SystemCollector(Collector):
    """Visitors, answers, hand-overs, deliveries per device, restarts per child."""

    def __init__(self, store: Store, snapshot: Callable[[], CoreSnapshot]) -> None:
        self._store = store
        self._snapshot = snapshot

    def collect(self) -> Iterator[CounterMetricFamily]:
        snapshot = self._snapshot()
        events = snapshot.reception.events
        greeted = CounterMetricFamily("onthaal_visitors_greeted", "Visitors greeted by the robot.")
        greeted.add_metric([], sum(n for (event, _), n in events.items() if event == "greeted"))
        yield greeted
        answered = CounterMetricFamily(
            "onthaal_questions_answered",
            "Questions answered, per intent and language.",
            labels=["intent", "language"],
        )
        for (event, language), n in sorted(events.items()):
            if event not in ("greeted", "handover"):
                answered.add_metric([event, language], n)
        yield answered
        handovers = CounterMetricFamily("onthaal_handovers", "Hand-overs to staff.")
        handovers.add_metric([], sum(n for (event, _), n in events.items() if event == "handover"))
        yield handovers
        deliveries = CounterMetricFamily(
            "onthaal_deliveries",
            "Content deliveries per device and outcome.",
            labels=["device", "outcome"],
        )
        for (device, ok), n in sorted(self._store.delivery_counts().items()):
            deliveries.add_metric([device, "ok" if ok else "failed"], n)
        yield deliveries
        restarts = CounterMetricFamily(
            "onthaal_child_restarts", "Restarts per supervised child.", labels=["child"]
        )
        for child in snapshot.health:
            restarts.add_metric([child.name], child.restarts)
        yield restarts


class Metrics:
    """Everything /metrics shows."""

    def __init__(self, store: Store, snapshot: Callable[[], CoreSnapshot]) -> None:
        """A private registry (no process-global state between tests)."""
        self.registry = CollectorRegistry()
        self.registry.register(_SystemCollector(store, snapshot))

    def render(self) -> bytes:
        """The Prometheus text exposition."""
        return generate_latest(self.registry)

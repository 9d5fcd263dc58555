"""Whether an MQTT message is still on its way between the simulation's clients.

A virtual clock sees runnable callbacks and readable sockets, not a packet that a peer
has already read into its own buffers and not yet handled: amqtt's stream readers and
handler tasks hold such packets between two steps, and simulated time used to jump
meanwhile (a display's acknowledgement then arrived minutes of simulated time late, and
the day depended on the machine's speed). With QoS 1 every message has an end that
tells: the sender keeps it until the PUBACK comes back. This probe watches both ends of
every hop (each connected client's unsent and unacknowledged messages, and the embedded
broker's queues and in-flight deliveries to connected sessions), so the clock waits
exactly until they are done.

A message whose connection died under it never completes: only connected clients and
sessions count, and anything still unchanged after :data:`PATIENCE` real seconds is
written off (logged), so a lost packet cannot stop time for good.
"""

from __future__ import annotations

import logging
import time
import weakref
from collections.abc import Callable

import aiomqtt

log = logging.getLogger("onthaal.sim.mqtt")

PATIENCE = 2.0  # real seconds without any change before what is pending counts as lost

Snapshot = tuple[int, ...]


class MqttInFlight:
    """A ``VirtualClock.watch_outside`` probe over the simulation's aiomqtt clients."""

    def __init__(
        self, broker: Callable[[], Snapshot] | None = None, *, patience: float = PATIENCE
    ) -> None:
        """Watch the clients given to :meth:`track`, and ``broker()`` (its pending counts)."""
        self._clients: weakref.WeakSet[aiomqtt.Client] = weakref.WeakSet()
        self._broker = broker
        self._patience = patience
        self._last: Snapshot | None = None
        self._since = 0.0
        self._written_off: Snapshot | None = None

    def track(self, client: aiomqtt.Client) -> None:
        """Count ``client``'s messages from now on (until it is garbage)."""
        self._clients.add(client)

    def pending(self) -> Snapshot:
        """What is on its way: per connected client and in the broker (all zero: nothing)."""
        counts: list[int] = []
        for client in list(self._clients):
            paho = client._client  # aiomqtt keeps the paho client here
            if paho.is_connected():
                counts.append(len(paho._out_packet) + len(paho._out_messages))
        if self._broker is not None:
            counts.extend(self._broker())
        return tuple(sorted(counts))

    def __call__(self) -> bool:
        """Whether a message is written but not yet acknowledged, anywhere."""
        pending = self.pending()
        if not any(pending):
            self._last = self._written_off = None
            return False
        if self._written_off is not None:
            if pending == self._written_off:
                return False
            self._written_off = None  # something moved: count again
        now = time.monotonic()  # clock-ok: real time, what the probe waits for is real
        if pending != self._last:
            self._last, self._since = pending, now
            return True
        if now - self._since < self._patience:
            return True
        log.info("writing off MQTT messages that made no progress: %s", pending)
        self._written_off = pending
        return False

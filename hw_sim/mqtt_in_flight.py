"""Whether an MQTT message is still on its way between the simulation's clients.

A virtual clock sees runnable callbacks and readable sockets, not a packet that a peer
has already read into its own buffers and not yet handled: amqtt's stream readers and
handler tasks hold such packets between two steps, and simulated time used to jump
meanwhile (a display's acknowledgement then arrived minutes of simulated time late, and
the day depended on the machine's speed). With QoS 1 every message has an end that
tells: the sender keeps it until the PUBACK comes back. This probe watches both ends of
every hop (each client's unsent and unacknowledged messages, and the embedded broker's
queues and in-flight deliveries), so the clock waits exactly until they are done.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable

import aiomqtt


class MqttInFlight:
    """A ``VirtualClock.watch_outside`` probe over the simulation's aiomqtt clients."""

    def __init__(self, broker: Callable[[], bool] | None = None) -> None:
        """Watch the clients given to :meth:`track`, and ``broker()`` if given."""
        self._clients: weakref.WeakSet[aiomqtt.Client] = weakref.WeakSet()
        self._broker = broker

    def track(self, client: aiomqtt.Client) -> None:
        """Count ``client``'s messages from now on (until it is garbage)."""
        self._clients.add(client)

    def __call__(self) -> bool:
        """Whether a message is written but not yet acknowledged, anywhere."""
        for client in list(self._clients):
            paho = client._client  # aiomqtt keeps the paho client here
            if paho._out_packet or paho._out_messages or paho._in_messages:
                return True
        return self._broker is not None and self._broker()

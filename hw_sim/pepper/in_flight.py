"""Whether anything is still on its way through libqi between Onthaal and the simulated Pepper.

A virtual clock only sees the event loop. A qi call, its reply, or an ALMemory event
spends a little real time on libqi's threads before it reaches the loop; if simulated
time jumped meanwhile, the day would depend on how fast the machine is. This probe
compares both ends (the client's :class:`robot.qi_bridge.Traffic` and the events the
simulated robot emitted) so the clock can wait exactly as long as needed.

A message lost on the way (the connection dropped under it) would keep the probe busy
for ever; after :data:`PATIENCE` real seconds without any progress it is written off.
"""

from __future__ import annotations

import logging
import time

from hw_sim.pepper.world import PepperWorld
from robot.qi_bridge import Traffic

log = logging.getLogger("onthaal.sim.pepper")

PATIENCE = 0.25  # real seconds without progress before a message counts as lost


class LibqiInFlight:
    """A ``VirtualClock`` outside-work probe for one robot client and one simulated Pepper."""

    def __init__(self, world: PepperWorld, traffic: Traffic, *, patience: float = PATIENCE) -> None:
        """Watch ``traffic`` (the client's side) against ``world`` (the robot's side)."""
        self._world = world
        self._traffic = traffic
        self._patience = patience
        self._written_off = (0, 0)  # (calls, events) given up on
        self._last: tuple[int, int] | None = None  # what was pending at the last look
        self._since = 0.0  # real time since when it has been pending unchanged

    def pending(self) -> tuple[int, int]:
        """Calls and events on their way through libqi (sent, not yet on the other loop side).

        A call the simulated robot is carrying out (speaking for simulated seconds) is
        not on its way: it waits for time to move.
        """
        return (
            self._traffic.calls_in_flight - self._world.serving,
            self._world.events_sent - self._traffic.events_received,
        )

    def __call__(self) -> bool:
        """Whether something is still on its way (time should not jump yet)."""
        pending = self.pending()
        # Written-off messages that arrive after all no longer count as written off.
        self._written_off = (
            min(self._written_off[0], pending[0]),
            min(self._written_off[1], pending[1]),
        )
        if pending[0] <= self._written_off[0] and pending[1] <= self._written_off[1]:
            self._last = None
            return False
        now = time.monotonic()  # clock-ok: real time, libqi's threads do not know ours
        if pending != self._last:
            self._last, self._since = pending, now
            return True
        if now - self._since < self._patience:
            return True
        log.info("writing off %s lost on the robot link (calls, events)", pending)
        self._written_off, self._last = pending, None
        return False

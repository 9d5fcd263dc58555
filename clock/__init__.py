"""Injected time for every part of Onthaal.

Domain code never reads the wall clock or calls ``asyncio.sleep`` directly: it receives a
:class:`Clock`. Production passes a :class:`RealClock`; tests and the simulator pass a
:class:`VirtualClock`, on which a whole day of timers runs in well under a second.

This package sits below every other one (robot, dialogue, scheduler, beacons, hw_sim and
onthaal may all import it) and imports nothing of the project.
"""

from clock.base import Clock, Timer
from clock.real import RealClock
from clock.virtual import VirtualClock

__all__ = ["Clock", "RealClock", "Timer", "VirtualClock"]

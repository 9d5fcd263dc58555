"""Staff notifications: the robot asks a colleague to take over.

Anything may subscribe (the composition root logs them, the simulator journals them, the
MQTT link will publish them on ``onthaal/<site>/staff/handover``). Notifications carry
no personal data: when, in which language, why, and about which topic.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

log = logging.getLogger("onthaal.robot.staff")


@dataclass(frozen=True)
class HandoverRequest:
    """A visitor needs a person."""

    at: datetime
    language: str
    reason: str  # "asked" (the visitor asked for a person) or "not-understood"
    intent: str | None = None


class StaffNotifier:
    """Publishes hand-over requests to whoever subscribed."""

    def __init__(self) -> None:
        """No subscribers yet."""
        self._subscribers: list[Callable[[HandoverRequest], None]] = []

    def subscribe(self, callback: Callable[[HandoverRequest], None]) -> None:
        """Call ``callback(request)`` for every hand-over from now on."""
        self._subscribers.append(callback)

    def publish(self, request: HandoverRequest) -> None:
        """Tell every subscriber; a failing subscriber does not stop the others."""
        log.info(
            "hand-over requested", extra={"reason": request.reason, "language": request.language}
        )
        for callback in list(self._subscribers):
            try:
                callback(request)
            except Exception:
                log.exception("a hand-over subscriber failed")

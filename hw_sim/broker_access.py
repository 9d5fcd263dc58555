"""Who may use the embedded broker, and the take-overs it saw: shared by both brokers.

An account reaches only its own topics, and connects only under its own name as client
id; a client id that connects again while connected closes the older connection (MQTT
3.1.1 section 3.1.4), which the broker records here so health can report it.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections import Counter, deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from hw_sim.mqtt_connect import IDENTIFIER_REJECTED, NOT_AUTHORIZED, Connect

log = logging.getLogger("onthaal.sim.broker")

TAKEOVER_MEMORY = 600.0  # real seconds a take-over stays in the broker's health report


@dataclass(frozen=True)
class BrokerAccess:
    """Who may connect (a password file) and what each may publish and subscribe to.

    ``passwords`` (account: password) lets the broker vet a CONNECT before amqtt reads
    it; amqtt checks the password file again.
    """

    password_file: Path
    publish: dict[str, list[str]]
    subscribe: dict[str, list[str]]
    passwords: Mapping[str, str] = field(default_factory=dict)

    def refusal(self, connect: Connect) -> tuple[int, str] | None:
        """Why ``connect`` is refused (CONNACK code, reason), or None if it may go on."""
        expected = self.passwords.get(connect.username or "")
        given = connect.password or b""
        if expected is None or not secrets.compare_digest(given, expected.encode()):
            return NOT_AUTHORIZED, f"bad credentials for {connect.username!r}"
        if connect.client_id != connect.username:
            return IDENTIFIER_REJECTED, (
                f"client id {connect.client_id!r} is not the account's name {connect.username!r}"
            )
        return None


@dataclass(frozen=True)
class Takeover:
    """A connection that took a connected client's id: the older one was closed."""

    client_id: str
    older: str  # the peer address of the connection closed
    newer: str
    at: float  # time.monotonic()


class Takeovers:
    """The take-overs a broker saw lately, and the health problem they make."""

    def __init__(self) -> None:
        """None seen yet."""
        self._seen: deque[Takeover] = deque(maxlen=100)

    def record(self, client_id: str, older: str = "?", newer: str = "?") -> None:
        """A connection took ``client_id`` from a connected client; log it as a warning."""
        self._seen.append(Takeover(client_id, older, newer, time.monotonic()))  # clock-ok
        log.warning(
            "MQTT client id %r connected again (from %s); the broker closed its older "
            "connection (from %s). Two clients with one id take turns: give each device "
            "its own account",
            client_id,
            newer,
            older,
        )

    def recent(self) -> list[Takeover]:
        """Take-overs within the last :data:`TAKEOVER_MEMORY` seconds."""
        since = time.monotonic() - TAKEOVER_MEMORY  # clock-ok: the broker's real time
        return [t for t in self._seen if t.at >= since]

    def problem(self) -> str | None:
        """None unless a client id was taken over twice lately: two clients share it.

        Once is what a device that restarts before the broker noticed it gone looks
        like; the connection it left is closed, and that is all.
        """
        counts = Counter(t.client_id for t in self.recent())
        fought = sorted(client_id for client_id, count in counts.items() if count >= 2)
        if not fought:
            return None
        return (
            f"client id(s) {', '.join(fought)} taken over again and again in the last "
            f"{TAKEOVER_MEMORY / 60:g} min: two clients share an id"
        )

"""Before starting: are the ports the config asks for free?

A port another program holds would otherwise surface as uvicorn's "address already in
use" (and exit code 3) or amqtt's traceback, halfway through start-up. One clear line
naming the port and the key to change is better.
"""

from __future__ import annotations

import errno
import socket

from onthaal.config import Config


def _taken(host: str, port: int) -> str | None:
    """Why ``host:port`` cannot be listened on, or None when it can."""
    if port == 0:
        return None
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        # As uvicorn and asyncio servers do: a port in TIME_WAIT is not "in use".
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                return "is already in use"
            return f"cannot be used ({exc.strerror})"
    return None


def port_problems(config: Config, *, web_flag: str, mqtt_flag: str) -> list[str]:
    """One line per port that is taken, naming the key (and flag) that changes it."""
    wanted = [(config.web.host, config.web.port, "[web] port", web_flag)]
    if config.mqtt.embedded:
        wanted.append((config.mqtt.host, config.mqtt.port, "[mqtt] port", mqtt_flag))
    problems = []
    for host, port, key, flag in wanted:
        reason = _taken(host, port)
        if reason is not None:
            problems.append(
                f"port {port} on {host} {reason}: stop what uses it, or change {key} "
                f"in the config (or pass {flag})"
            )
    return problems

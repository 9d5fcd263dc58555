"""MQTT brokers for tests and benchmarks: a mosquitto process and the embedded broker.

Both listen on a free loopback port and can be stopped and started again on the same
port, which is how the tests cut the broker away mid-push.
"""

from __future__ import annotations

import asyncio
import shutil
import socket
from pathlib import Path
from typing import Protocol

from hw_sim.mqtt_broker import EmbeddedBroker


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nobody listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class BrokerUnderTest(Protocol):
    """A broker the tests can start, kill and restart."""

    host: str
    port: int

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


class Mosquitto:
    """A mosquitto process without persistence: a restart forgets retained messages."""

    def __init__(self, workdir: Path) -> None:
        """Configure mosquitto in ``workdir`` on a free port."""
        executable = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
        if not Path(executable).exists():
            raise FileNotFoundError("mosquitto is not installed (apt-get install mosquitto)")
        self.executable = executable
        self.host = "127.0.0.1"
        self.port = free_port()
        self.config = workdir / "mosquitto.conf"
        self.config.write_text(
            f"listener {self.port} {self.host}\nallow_anonymous true\npersistence false\n"
            "max_queued_messages 10000\nlog_dest none\n",
            encoding="utf-8",
        )
        self._process: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        """Start mosquitto and wait until it accepts connections."""
        self._process = await asyncio.create_subprocess_exec(
            self.executable, "-c", str(self.config)
        )
        await wait_listening(self.host, self.port)

    async def stop(self) -> None:
        """Kill it (SIGKILL: no goodbye to its clients)."""
        if self._process is not None:
            process, self._process = self._process, None
            process.kill()
            await process.wait()


class Embedded:
    """The embedded amqtt broker."""

    def __init__(self) -> None:
        """On a free port."""
        self.host = "127.0.0.1"
        self.port = free_port()
        self._broker: EmbeddedBroker | None = None

    async def start(self) -> None:
        """Start amqtt."""
        self._broker = EmbeddedBroker(self.host, self.port)
        await self._broker.start()
        await wait_listening(self.host, self.port)

    async def stop(self) -> None:
        """Shut it down; its retained messages are gone with it."""
        if self._broker is not None:
            broker, self._broker = self._broker, None
            await broker.stop()


async def wait_listening(host: str, port: int, timeout: float = 10.0) -> None:
    """Return once ``host:port`` accepts a TCP connection."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        try:
            _, writer = await asyncio.open_connection(host, port)
        except OSError:
            if loop.time() > deadline:
                raise TimeoutError(f"nothing listens on {host}:{port}") from None
            await asyncio.sleep(0.02)
        else:
            writer.close()
            await writer.wait_closed()
            return

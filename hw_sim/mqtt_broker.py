"""An embedded MQTT broker (amqtt), so the simulator needs nothing installed.

Other MQTT clients (a test tool, a real display on the LAN) may connect to it too.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import warnings
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from amqtt.broker import Broker
from amqtt.contexts import BrokerConfig, ListenerConfig

from beacons.tasks import cancel_all

log = logging.getLogger("onthaal.sim.broker")

SHUTDOWN_LIMIT = 5.0  # real seconds amqtt's shutdown may take


def _client_transports(broker: Broker) -> list[asyncio.Transport]:
    """The connections of the clients amqtt knows about right now."""
    found = []
    for _session, handler in list(getattr(broker, "_sessions", {}).values()):
        stream = getattr(getattr(handler, "writer", None), "_writer", None)
        transport = getattr(stream, "transport", None)
        if isinstance(transport, asyncio.Transport):
            found.append(transport)
    return found


@dataclass(frozen=True)
class BrokerAccess:
    """Who may connect (a password file) and what each may publish and subscribe to."""

    password_file: Path
    publish: dict[str, list[str]]
    subscribe: dict[str, list[str]]


class EmbeddedBroker:
    """amqtt listening on ``host:port`` (TCP), as an async context manager.

    With ``access``, only its accounts connect and each reaches only its topics (amqtt's
    file authentication and topic ACL plugins); without, anyone may (tests of the wire).
    """

    def __init__(
        self, host: str = "127.0.0.1", port: int = 1883, access: BrokerAccess | None = None
    ) -> None:
        """A broker for ``host:port``; started by :meth:`start` or ``async with``."""
        self.host = host
        self.port = port
        self._access = access
        self._broker: Broker | None = None
        self.started = asyncio.Event()

    def _plugins(self) -> dict[str, Any]:
        access = self._access
        if access is None:
            return {"amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True}}
        return {
            "amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": False},
            "amqtt.plugins.authentication.FileAuthPlugin": {
                "password_file": str(access.password_file)
            },
            "amqtt.plugins.topic_checking.TopicAccessControlListPlugin": {
                "publish_acl": access.publish,
                "acl": access.subscribe,  # amqtt's name for the subscribe list
            },
        }

    async def start(self) -> None:
        """Start listening."""
        config = BrokerConfig(
            listeners={"default": ListenerConfig(bind=f"{self.host}:{self.port}")},
            plugins=self._plugins(),
        )
        with warnings.catch_warnings():
            # amqtt 0.12 reads the subscribe list only under its old name, 'acl', and
            # warns that the name is old; it has no other.
            warnings.filterwarnings("ignore", "The 'acl' option", DeprecationWarning)
            self._broker = Broker(config)
            await self._broker.start()
        self.started.set()
        log.info("embedded MQTT broker on %s:%d", self.host, self.port)

    async def stop(self) -> None:
        """Stop listening and drop every client (their last wills are not sent)."""
        if self._broker is not None:
            broker, self._broker = self._broker, None
            self.started.clear()
            # amqtt closes its listening sockets only after it has dropped every client,
            # so a client reconnecting at once is accepted and then left hanging on a
            # dead broker. A real broker going down stops accepting first; so do we.
            for server in getattr(broker, "_servers", {}).values():
                instance = getattr(server, "instance", None)
                if isinstance(instance, asyncio.Server):
                    instance.close()
            transports = _client_transports(broker)
            try:
                # amqtt's shutdown hung about once in 140 fault scenarios (make stress,
                # stopping a session handler): a broker going down must not hang.
                async with asyncio.timeout(SHUTDOWN_LIMIT):
                    await broker.shutdown()
            except TimeoutError:
                log.warning(
                    "the embedded broker did not shut down within %g s; dropping its %d "
                    "connections",
                    SHUTDOWN_LIMIT,
                    len(transports),
                )
            for transport in transports:  # as a real broker going down does
                transport.abort()
            # Whatever amqtt left running (a session handler that outlived the bound):
            # cancelled until it has ended, or it outlives the event loop and its
            # closing waits on it for good.
            leftovers = [t for t in asyncio.all_tasks() if _is_amqtt(t) and not t.done()]
            if leftovers:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(SHUTDOWN_LIMIT):
                        await cancel_all(leftovers)

    def in_flight(self) -> tuple[int, ...]:
        """Messages on their way through the broker: queued, or awaiting an ack.

        Counts for a ``VirtualClock`` probe (hw_sim.mqtt_in_flight): amqtt hands messages
        between tasks that park on its own waits, which an event loop cannot see as
        runnable. Only connected sessions count: a dropped one never completes.
        """
        broker = self._broker
        if broker is None:
            return ()
        counts = [broker._broadcast_queue.qsize()]
        for session, _handler in list(broker._sessions.values()):
            if session.transitions.state != "connected":
                continue
            counts.append(
                len(session.inflight_out)
                + len(session.inflight_in)
                + session.delivered_message_queue.qsize()
            )
        return tuple(counts)

    async def run_until_cancelled(self) -> None:
        """Run as a supervised child: start, wait forever, stop when cancelled."""
        await self.start()
        try:
            await asyncio.Event().wait()
        finally:
            await self.stop()

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.stop()


def _is_amqtt(task: asyncio.Task[object]) -> bool:
    """Whether ``task`` runs amqtt's code (its coroutine was defined in amqtt)."""
    code = getattr(task.get_coro(), "cr_code", None)
    return code is not None and "/amqtt/" in code.co_filename

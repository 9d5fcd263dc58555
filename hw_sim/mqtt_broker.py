"""An embedded MQTT broker (amqtt), so the simulator needs nothing installed.

Other MQTT clients (a test tool, a real display on the LAN) may connect to it too.

amqtt 0.12 has two faults a site cannot live with, worked around here:

- It handles a CONNECT's client id before it checks the credentials: a client with no
  password and a display's client id deleted that display's session (its subscriptions)
  and left its socket open, so the display was cut off for good without noticing. And a
  second connection with the same id took the session over the same silent way. Here
  every CONNECT is read and vetted first (:mod:`hw_sim.mqtt_connect`): wrong
  credentials, or a client id that is not the account's name, are refused before amqtt
  sees them; a second connection with the id of a connected client closes the older one
  (as MQTT 3.1.1 section 3.1.4 and mosquitto do), so the older client notices and
  reconnects, and the take-over is logged and reported by :meth:`EmbeddedBroker.problem`.
- When a client connects, it sends it every retained message that matches anybody's
  subscription, not the client's own, and without asking the access rules: a display
  connecting got the content of every other display that was connected (and showed
  it). Here a client gets the retained messages of its own subscriptions only, each
  checked against the rules as a live message is.
- It loops over its subscriptions with awaits inside the loop, so clients connecting or
  subscribing at once broke each other with ``dictionary changed size during
  iteration`` and were left connected but never served. Its subscription table is
  replaced by one whose loops run over a copy.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import warnings
from collections.abc import Iterator
from types import TracebackType
from typing import Any, Self

from amqtt.adapters import StreamReaderAdapter, StreamWriterAdapter
from amqtt.broker import Broker
from amqtt.contexts import Action, BrokerConfig, ListenerConfig
from amqtt.session import Session

from beacons.tasks import cancel_all
from hw_sim.broker_access import BrokerAccess, Takeovers
from hw_sim.mqtt_connect import (
    BadConnect,
    connack,
    read_connect,
)

log = logging.getLogger("onthaal.sim.broker")

SHUTDOWN_LIMIT = 5.0  # real seconds amqtt's shutdown may take
CONNECT_WAIT = 10.0  # real seconds a new connection has to send its CONNECT
GOODBYE_WAIT = 0.5  # real seconds an older connection may take to end by itself
HANDOVER_WAIT = 5.0  # real seconds an older connection has to end when its id is reused


def _client_transports(broker: Broker) -> list[asyncio.Transport]:
    """The connections of the clients amqtt knows about right now."""
    found = []
    for _session, handler in list(getattr(broker, "_sessions", {}).values()):
        stream = getattr(getattr(handler, "writer", None), "_writer", None)
        transport = getattr(stream, "transport", None)
        if isinstance(transport, asyncio.Transport):
            found.append(transport)
    return found


class _Subscriptions(dict[str, Any]):
    """amqtt's subscription table, whose loops run over a copy of it.

    amqtt awaits inside loops over this table (retained messages for a new client, a
    broadcast to every matching session): another client subscribing meanwhile changed
    the table under the loop. Over a copy, the loop sees the table as it began, which is
    what a broadcast needs; a session added meanwhile gets its retained messages from
    its own subscription.
    """

    def __iter__(self) -> Iterator[str]:
        return iter(list(super().keys()))

    def items(self) -> Any:  # a copy, lists and all, as the loops read it
        return [(key, list(value)) for key, value in super().items()]


class _Connection:
    """One client connection the guard passed on to amqtt."""

    def __init__(self, client_id: str, peer: str, writer: asyncio.StreamWriter) -> None:
        self.client_id = client_id
        self.peer = peer
        self.writer = writer
        self.ended = asyncio.Event()


class _Replayed(StreamReaderAdapter):  # type: ignore[misc]  # untyped amqtt
    """A stream whose first bytes (the CONNECT the guard read) are read again."""

    def __init__(self, reader: asyncio.StreamReader, first: bytes) -> None:
        super().__init__(reader)
        self._stream = reader
        self._first = first

    async def read(self, n: int = -1) -> bytes:
        head = b""
        if self._first:
            cut = len(self._first) if n == -1 else n
            head, self._first = self._first[:cut], self._first[cut:]
        if n == -1:
            return head + await self._stream.read(-1)
        if len(head) < n:  # as amqtt's own reader: exactly n bytes
            head += await self._stream.readexactly(n - len(head))
        return head


class _GuardedBroker(Broker):  # type: ignore[misc]  # amqtt has no type information
    """amqtt, with every CONNECT vetted before amqtt handles it (see the module text)."""

    def __init__(
        self, config: BrokerConfig, access: BrokerAccess | None, takeovers: Takeovers
    ) -> None:
        super().__init__(config)
        self._subscriptions: dict[str, Any] = _Subscriptions(self._subscriptions)
        self._access = access
        self._connections: dict[str, _Connection] = {}
        self._takeovers = takeovers

    async def _publish_retained_messages_for_subscription(
        self, subscription: tuple[str, int], session: Session
    ) -> None:
        """The retained messages for one of ``session``'s own subscriptions (see above)."""
        topic_filter = subscription[0]
        granted = [
            qos
            for holder, qos in self._subscriptions.get(topic_filter, ())
            if holder.client_id == session.client_id
        ]
        handler = self._get_handler(session)
        if not granted or handler is None:
            return  # somebody else's subscription
        for topic, retained in list(self._retained_messages.items()):
            if not self._matches(topic, topic_filter):
                continue
            if not await self._topic_filtering(session, topic=topic, action=Action.RECEIVE):
                continue
            qos = min(granted[0], retained.qos or granted[0])
            await handler.mqtt_publish(retained.topic, retained.data, qos, retain=True)

    async def stream_connected(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, listener_name: str
    ) -> None:
        """A client connected: vet its CONNECT, then let amqtt serve it."""
        peer = _peer(writer)
        try:
            async with asyncio.timeout(CONNECT_WAIT):
                connect = await read_connect(reader)
        except (TimeoutError, asyncio.IncompleteReadError, ConnectionError):
            writer.close()
            return
        except BadConnect as refused:
            log.warning("refused MQTT client %s: %s", peer, refused)
            await _refuse(writer, refused.code)
            return
        refusal = self._access.refusal(connect) if self._access is not None else None
        if refusal is not None:
            code, reason = refusal
            log.warning("refused MQTT client %s: %s", peer, reason)
            await _refuse(writer, code)
            return
        mine = _Connection(connect.client_id, peer, writer)
        if connect.client_id:
            await self._take_over(mine)
        try:
            await self._client_connected(
                listener_name, _Replayed(reader, connect.raw), StreamWriterAdapter(writer)
            )
        finally:
            mine.ended.set()
            if self._connections.get(connect.client_id) is mine:
                del self._connections[connect.client_id]

    async def _take_over(self, newer: _Connection) -> None:
        """Close the connection that holds ``newer``'s client id, and wait till it ended.

        Waiting lets amqtt finish the older session (its last will included) before the
        newer one begins, so the will cannot overwrite what the newer client says.
        """
        older = self._connections.get(newer.client_id)
        self._connections[newer.client_id] = newer
        if older is None:
            return
        with contextlib.suppress(TimeoutError):
            # A client that said goodbye and came straight back: its older connection
            # is ending by itself (amqtt handles the DISCONNECT a moment later).
            async with asyncio.timeout(GOODBYE_WAIT):
                await older.ended.wait()
        if older.ended.is_set():
            return
        self._takeovers.record(newer.client_id, older.peer, newer.peer)
        transport = older.writer.transport
        if transport is not None:
            transport.abort()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(HANDOVER_WAIT):
                await older.ended.wait()


def _peer(writer: asyncio.StreamWriter) -> str:
    address = writer.get_extra_info("peername")
    if isinstance(address, tuple) and len(address) >= 2:
        return f"{address[0]}:{address[1]}"
    return "?"


async def _refuse(writer: asyncio.StreamWriter, code: int) -> None:
    with contextlib.suppress(ConnectionError):
        writer.write(connack(code))
        async with asyncio.timeout(1.0):
            await writer.drain()
    writer.close()


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
        self._broker: _GuardedBroker | None = None
        self.started = asyncio.Event()
        self.takeovers = Takeovers()  # one record across restarts

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
            self._broker = _GuardedBroker(config, self._access, self.takeovers)
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

    def problem(self) -> str | None:
        """None when healthy; else the client ids two connections have been fighting over."""
        return self.takeovers.problem()

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

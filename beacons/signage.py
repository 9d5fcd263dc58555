"""Digital info screens over MQTT (aiomqtt): delivered, acknowledged, never lost.

``Signage`` is the driver. Content accepted by :meth:`Signage.push` is written to the
:class:`~beacons.outbox.Outbox` first, then published retained with QoS 1 on
``onthaal/<site>/signage/<display>/content``. It stays pending until the display
acknowledges that content id on ``.../ack``. Pending content is published again after
every (re)connect to the broker, and again when a display that is online has not
acknowledged it within ``ack_timeout``; a display that was offline gets the retained
message from the broker when it subscribes again. After every (re)connect each
display's current content is published again, acknowledged or not, so the broker's
retained messages are right even after it restarted without persistence. Displays
de-duplicate by content id, so a republish never shows the same content twice.

:meth:`Signage.run` owns the MQTT connection: it reconnects with exponential back-off
on the injected clock and reports its health through :meth:`Signage.problem`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import aiomqtt
from pydantic import ValidationError
from tenacity import AsyncRetrying, retry_if_exception_type, wait_exponential

from beacons.outbox import Outbox
from beacons.signage_messages import AckMessage, ContentMessage, Topics
from beacons.signing import Signer
from beacons.tasks import run_together
from clock import Clock, Timer

log = logging.getLogger("onthaal.beacons.signage")
MAX_DISPLAY_MESSAGE = 4096  # bytes of an ack or state Onthaal reads; more is refused

NOTICE_BACKLOG = 1000
PUBLISH_CONCURRENCY = 64
OFFLINE_WITHIN = 1.0  # real seconds a stop waits to tell players Onthaal is going


class SignageError(Exception):
    """Base of the signage driver's errors."""


class UnknownDisplay(SignageError):
    """Content was pushed to a display the configuration does not know."""


@dataclass(frozen=True)
class BrokerSettings:
    """Where the MQTT broker is and how to log in (secrets come from the environment)."""

    host: str = "127.0.0.1"
    port: int = 1883
    tls: bool = False
    ca_file: Path | None = None
    username: str | None = None
    password: str | None = None
    keepalive: int = 30
    timeout: float = 10.0  # real seconds to wait for the broker's answer to one request
    # Told of every client made (a simulation counts their messages in flight).
    on_client: Callable[[aiomqtt.Client], None] | None = field(default=None, compare=False)

    def tls_context(self) -> ssl.SSLContext | None:
        """An SSL context verifying the broker against ``ca_file`` (or the system CAs)."""
        if not self.tls:
            return None
        return ssl.create_default_context(cafile=str(self.ca_file) if self.ca_file else None)

    def client(self, identifier: str, **options: object) -> aiomqtt.Client:
        """A new aiomqtt client for this broker."""
        client = aiomqtt.Client(
            self.host,
            self.port,
            identifier=identifier,
            username=self.username,
            password=self.password,
            tls_context=self.tls_context(),
            keepalive=self.keepalive,
            timeout=self.timeout,
            **options,  # type: ignore[arg-type]
        )
        # aiomqtt warns above 10 publishes in flight; the driver bounds them itself.
        client.pending_calls_threshold = PUBLISH_CONCURRENCY * 2
        if self.on_client is not None:
            self.on_client(client)
        return client


async def close_client(client: aiomqtt.Client, timeout: float = 2.0) -> None:
    """Disconnect politely, but never wait more than ``timeout`` (real) seconds.

    A shutdown must stay bounded even if the broker or the socket no longer answers.
    """
    with contextlib.suppress(Exception):
        async with asyncio.timeout(timeout):
            await client.__aexit__(None, None, None)


@dataclass
class DisplayState:
    """What the driver knows about one display."""

    display: str
    online: bool = False
    last_state: datetime | None = None  # when it last said online/offline (None: never)
    wanted: str | None = None
    acknowledged: str | None = None
    last_ack: datetime | None = None
    published_at: datetime | None = None
    attempts: int = 0

    @property
    def up_to_date(self) -> bool:
        """Whether the display acknowledged the content it should show."""
        return self.wanted is not None and self.wanted == self.acknowledged


@dataclass(frozen=True)
class Delivery:
    """A display acknowledged content: the proof that it shows it."""

    display: str
    content_id: str
    at: datetime


@dataclass
class _Link:
    client: aiomqtt.Client
    dirty: set[str] = field(default_factory=set)
    wake: asyncio.Event = field(default_factory=asyncio.Event)


class Signage:
    """The signage driver for one site's displays."""

    def __init__(
        self,
        broker: BrokerSettings,
        site: str,
        displays: Iterable[str],
        outbox: Outbox,
        clock: Clock,
        *,
        ack_timeout: float = 30.0,
        backoff_initial: float = 0.5,
        backoff_max: float = 30.0,
        publish_concurrency: int = PUBLISH_CONCURRENCY,
        client_id: str | None = None,
        signer: Signer | None = None,
    ) -> None:
        """Drive ``displays`` of ``site`` through ``broker``; ``outbox`` keeps content."""
        self._broker = broker
        self._signer = signer  # every content payload signed with the site's key
        self._topics = Topics(site)
        self._outbox = outbox
        self._clock = clock
        self._ack_timeout = ack_timeout
        self._backoff_initial = backoff_initial
        self._backoff_max = backoff_max
        self._publishing = asyncio.Semaphore(publish_concurrency)
        self._client_id = client_id or f"onthaal-{site}"
        self._states = {d: DisplayState(d) for d in displays}
        self._link: _Link | None = None
        self._timers: dict[str, Timer] = {}
        self._listeners: list[Callable[[Delivery], None]] = []
        self._problem: str | None = "not connected yet"
        # Staff notices (hand-overs) wait here while the broker is away; oldest first.
        self._notices: deque[tuple[str, bytes]] = deque(maxlen=NOTICE_BACKLOG)
        # Retained state Onthaal keeps on the broker (the fleet for Home Assistant): the
        # newest per topic, published again after every connect.
        self._retained: dict[str, bytes] = {}
        self._retained_dirty: set[str] = set()
        self._notice_ready = asyncio.Event()
        for item in outbox.last_acked().values():
            if item.display in self._states:
                self._states[item.display].acknowledged = item.content_id
                self._states[item.display].wanted = item.content_id
        for item in outbox.pending():
            if item.display in self._states:
                self._states[item.display].wanted = item.content_id

    # -- what staff and the scheduler use ----------------------------------------------

    @property
    def topics(self) -> Topics:
        """The site's topic names."""
        return self._topics

    @property
    def connected(self) -> bool:
        """Whether the driver is connected to the broker right now."""
        return self._link is not None

    def problem(self) -> str | None:
        """None when healthy, else why not (for the supervisor's health view)."""
        return self._problem

    def states(self) -> Mapping[str, DisplayState]:
        """Per display: online, wanted and acknowledged content, last ack."""
        return self._states

    def on_delivery(self, callback: Callable[[Delivery], None]) -> None:
        """Call ``callback(delivery)`` whenever a display acknowledges its wanted content."""
        self._listeners.append(callback)

    def _payload(self, message: ContentMessage) -> bytes:
        payload = message.to_json()
        return self._signer.sign(payload) if self._signer is not None else payload

    def push(self, display: str, message: ContentMessage) -> None:
        """Accept content for one display (see :meth:`push_many`)."""
        self.push_many({display: message})

    def push_many(self, messages: Mapping[str, ContentMessage]) -> None:
        """Accept content for several displays: stored durably, then published.

        Raises :class:`UnknownDisplay` (and stores nothing) if a display is not known.
        Returns once the content is in the outbox; delivery happens in :meth:`run`.
        """
        unknown = sorted(set(messages) - set(self._states))
        if unknown:
            raise UnknownDisplay(f"unknown display(s): {', '.join(unknown)}")
        self._outbox.accept(
            ((d, m.content_id, self._payload(m)) for d, m in messages.items()), self._clock.now()
        )
        for display, message in messages.items():
            state = self._states[display]
            state.wanted = message.content_id
            state.attempts = 0
        self._mark_dirty(messages)

    def notify_handover(self, payload: bytes) -> None:
        """Publish a hand-over request on ``onthaal/<site>/staff/handover`` (QoS 1).

        Kept (up to :data:`NOTICE_BACKLOG`) while the broker is unreachable.
        """
        if len(self._notices) == self._notices.maxlen:
            log.warning("hand-over backlog full; dropping the oldest notice")
        self._notices.append((self._topics.handover(), payload))
        self._notice_ready.set()

    def retain(self, topic: str, payload: bytes) -> None:
        """Keep ``payload`` retained on ``topic`` (under ``onthaal/<site>/`` or the Home
        Assistant prefix); only the newest per topic is sent, again after a reconnect."""
        if self._retained.get(topic) == payload:
            return
        self._retained[topic] = payload
        self._retained_dirty.add(topic)
        self._notice_ready.set()

    def pending(self) -> dict[str, str]:
        """Per display, the content id still waiting for its ack."""
        return {item.display: item.content_id for item in self._outbox.pending()}

    # -- the connection -----------------------------------------------------------------

    async def run(self) -> None:
        """Stay connected forever: connect with back-off, deliver, reconnect when lost."""
        try:
            while True:
                client = await self._connect()
                try:
                    await self._session(client)
                except aiomqtt.MqttError as exc:
                    self._problem = f"broker connection lost: {exc}"
                    log.warning("MQTT link lost: %s", exc)
                finally:
                    self._link = None
                    self._cancel_timers()
                    await self._say_offline(client)
                    await close_client(client)
        finally:
            self._problem = "stopped"

    async def _say_offline(self, client: aiomqtt.Client) -> None:
        """On a stop, say ``offline`` (a will is only sent when the link breaks)."""
        with contextlib.suppress(aiomqtt.MqttError, asyncio.TimeoutError):
            async with asyncio.timeout(OFFLINE_WITHIN):  # clock-ok: a real socket's bound
                await client.publish(self._topics.availability(), b"offline", qos=1, retain=True)

    async def _connect(self) -> aiomqtt.Client:
        async for attempt in AsyncRetrying(
            wait=wait_exponential(multiplier=self._backoff_initial, max=self._backoff_max),
            sleep=self._clock.sleep,
            retry=retry_if_exception_type(aiomqtt.MqttError),
            before_sleep=self._note_failure,
        ):
            with attempt:
                # Players learn that Onthaal is away from its last will (retained).
                will = aiomqtt.Will(self._topics.availability(), b"offline", qos=1, retain=True)
                client = self._broker.client(self._client_id, clean_session=True, will=will)
                await client.__aenter__()
                return client
        raise AssertionError("unreachable: AsyncRetrying retries forever")

    def _note_failure(self, state: object) -> None:
        outcome = getattr(state, "outcome", None)
        reason = outcome.exception() if outcome is not None else "?"
        where = f"{self._broker.host}:{self._broker.port}"
        self._problem = f"broker {where} unreachable: {reason}"
        log.warning(
            "cannot reach MQTT broker %s (attempt %s): %s",
            where,
            getattr(state, "attempt_number", "?"),
            reason,
        )

    async def _session(self, client: aiomqtt.Client) -> None:
        link = _Link(client)
        await client.subscribe(f"{self._topics.signage}/+/ack", qos=1)
        await client.subscribe(f"{self._topics.signage}/+/state", qos=1)
        await client.publish(self._topics.availability(), b"online", qos=1, retain=True)
        self._link = link
        self._problem = None
        log.info("MQTT link up", extra={"broker": f"{self._broker.host}:{self._broker.port}"})
        # After every (re)connect, every display's current content is published again:
        # what is unacknowledged must go out, and a broker that restarted without
        # persistence has lost the retained messages displays fetch when they reboot.
        self._mark_dirty(self._states)
        await run_together(
            self._receive(client), self._publish_dirty(link), self._publish_notices(link)
        )

    async def _publish_notices(self, link: _Link) -> None:
        self._retained_dirty = set(self._retained)  # a new session: all of it again
        self._notice_ready.set()
        while True:
            await self._notice_ready.wait()
            self._notice_ready.clear()
            while self._notices:
                topic, payload = self._notices[0]
                await link.client.publish(topic, payload, qos=1)
                self._notices.popleft()
            while self._retained_dirty:
                topic = self._retained_dirty.pop()
                try:
                    await link.client.publish(topic, self._retained[topic], qos=1, retain=True)
                except BaseException:
                    self._retained_dirty.add(topic)  # sent again on the next session
                    raise

    def _mark_dirty(self, displays: Iterable[str]) -> None:
        link = self._link
        if link is None:
            return
        link.dirty.update(displays)
        link.wake.set()

    async def _publish_dirty(self, link: _Link) -> None:
        while True:
            await link.wake.wait()
            link.wake.clear()
            displays, link.dirty = link.dirty, set()
            items = [item for d in sorted(displays) if (item := self._outbox.current(d))]
            await run_together(
                *(self._publish(link, item.seq, item.display, item.payload) for item in items)
            )

    async def _publish(self, link: _Link, seq: int, display: str, payload: bytes) -> None:
        async with self._publishing:
            await link.client.publish(self._topics.content(display), payload, qos=1, retain=True)
        now = self._clock.now()
        self._outbox.mark_published(seq, now)
        state = self._states[display]
        state.published_at = now
        state.attempts += 1
        self._recheck_later(display)

    def _recheck_later(self, display: str) -> None:
        """If ``display`` is online and has not acked within ``ack_timeout``, publish again."""
        previous = self._timers.pop(display, None)
        if previous is not None:
            previous.cancel()

        def recheck() -> None:
            self._timers.pop(display, None)
            state = self._states[display]
            if state.online and self._outbox.pending(display):
                log.info("display %s did not acknowledge; publishing again", display)
                self._mark_dirty([display])

        self._timers[display] = self._clock.call_later(self._ack_timeout, recheck)

    def _cancel_timers(self) -> None:
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()

    # -- what the displays say ----------------------------------------------------------

    async def _receive(self, client: aiomqtt.Client) -> None:
        async for message in client.messages:
            topic = str(message.topic)
            try:
                self._handle(topic, bytes(message.payload))
            except (ValueError, TypeError) as exc:
                log.warning("ignored a message on %s: %s", topic, exc)

    def _handle(self, topic: str, payload: bytes) -> None:
        if len(payload) > MAX_DISPLAY_MESSAGE:  # an ack or a state is a few dozen bytes
            raise ValueError(f"{len(payload)} bytes (a display says at most {MAX_DISPLAY_MESSAGE})")
        parsed = self._topics.parse(topic)
        if parsed is None:
            raise ValueError("not a signage topic")
        display, kind = parsed
        state = self._states.get(display)
        if state is None:
            raise ValueError(f"unknown display {display!r}")
        if kind == "ack":
            self._acknowledged(state, payload)
        elif kind == "state":
            self._presence(state, payload)
        else:
            raise ValueError(f"unexpected topic kind {kind!r}")

    def _acknowledged(self, state: DisplayState, payload: bytes) -> None:
        try:
            ack = AckMessage.model_validate_json(payload)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(map(str, e['loc'])) or 'payload'}: {e['msg']}" for e in exc.errors()
            )
            raise ValueError(f"malformed ack: {problems}") from None
        now = self._clock.now()
        state.acknowledged = ack.content_id
        state.last_ack = now
        if self._outbox.acknowledge(state.display, ack.content_id, now):
            timer = self._timers.pop(state.display, None)
            if timer is not None:
                timer.cancel()
            delivery = Delivery(state.display, ack.content_id, now)
            for listener in list(self._listeners):
                try:
                    listener(delivery)
                except Exception:
                    log.exception("a delivery listener failed")

    def _presence(self, state: DisplayState, payload: bytes) -> None:
        text = payload.decode("utf-8", "replace").strip()
        if text not in ("online", "offline"):
            raise ValueError(f"presence must be 'online' or 'offline', not {text[:40]!r}")
        was_online, state.online = state.online, text == "online"
        state.last_state = self._clock.now()
        if state.online and not was_online:
            log.info("display %s online", state.display)
            if self._outbox.pending(state.display):
                # The broker hands it the retained content; check that it acknowledges.
                self._recheck_later(state.display)
        elif was_online and not state.online:
            log.info("display %s offline", state.display)

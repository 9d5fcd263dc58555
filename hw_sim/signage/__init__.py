"""Simulated info screens: real MQTT clients that speak the signage protocol.

Each :class:`SimulatedDisplay` connects to the broker with a last will (``offline`` on
``.../state``, retained), announces ``online``, subscribes to its ``.../content`` topic,
"renders" what it receives (records it in the journal as ``show``) and acknowledges the
content id on ``.../ack``. Content it already shows is acknowledged again but not shown
twice. It can be switched off and on, made to drop acks, or made slow.

It is the reference player of signage protocol v2: it follows the payload's plan on its
own clock (``showing_at``), so at the end of a window it switches to what comes next or
to its default even while the broker or Onthaal is away (journal ``show`` with
``by="plan"``); it reads only its own content topic and Onthaal's availability.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Callable, Iterable

import aiomqtt
from pydantic import ValidationError

from beacons.signage import BrokerSettings, close_client
from beacons.signage_messages import AckMessage, ContentMessage, Topics, next_turn, showing_at
from beacons.signing import Unsigned, Verifier
from beacons.tasks import cancel_all, run_together
from clock import Clock
from hw_sim.journal import Journal

log = logging.getLogger("onthaal.sim.display")

RECONNECT_DELAY = 0.5  # seconds of the clock between attempts to reach the broker


class SimulatedDisplay:
    """One info screen."""

    def __init__(
        self,
        display: str,
        site: str,
        broker: BrokerSettings,
        clock: Clock,
        journal: Journal,
        verifier: Verifier | None = None,
    ) -> None:
        """A screen called ``display`` at ``site``; switched on.

        With ``verifier`` (the site's public key) it shows only content signed by it,
        as the reference player does (docs/signage-protocol.md).
        """
        self.display = display
        self._verifier = verifier
        self._topics = Topics(site)
        self._broker = broker
        self._clock = clock
        self._journal = journal
        self.current: ContentMessage | None = None  # the last payload taken
        self.on_screen: str | None = None  # the content id it shows (None: nothing)
        self.onthaal_online: bool | None = None  # what Onthaal's availability says
        self.shown: list[str] = []
        self.drop_acks = False
        self.slow = 0.0  # seconds (of the clock) between receiving content and showing it
        self._powered = asyncio.Event()
        self._powered.set()
        self._off = asyncio.Event()
        self._replanned = asyncio.Event()
        self.connected = asyncio.Event()

    @property
    def device(self) -> str:
        """Its name in the journal."""
        return f"display:{self.display}"

    def switch_off(self) -> None:
        """Power off: announce ``offline`` and leave the broker until switched on."""
        self._powered.clear()
        self._off.set()

    def switch_on(self) -> None:
        """Power on: reconnect and take the (retained) content again."""
        self._off.clear()
        self._powered.set()

    async def run(self) -> None:
        """Run the screen forever, reconnecting whenever the broker goes away."""
        await run_together(self._stay_connected(), self._follow_plan())

    async def _stay_connected(self) -> None:
        while True:
            await self._powered.wait()
            try:
                await self._session()
            except aiomqtt.MqttError as exc:
                log.debug("display %s lost the broker: %s", self.display, exc)
                self.connected.clear()
                await self._clock.sleep(RECONNECT_DELAY)

    async def _session(self) -> None:
        will = aiomqtt.Will(self._topics.state(self.display), b"offline", qos=1, retain=True)
        client = self._broker.client(f"display-{self.display}", will=will, clean_session=True)
        await client.__aenter__()
        receiver: asyncio.Task[None] | None = None
        switched_off: asyncio.Task[bool] | None = None
        try:
            await client.subscribe(self._topics.content(self.display), qos=1)
            await client.subscribe(self._topics.availability(), qos=1)
            await client.publish(self._topics.state(self.display), b"online", qos=1, retain=True)
            self.connected.set()
            self._journal.record(self.device, "online")
            receiver = asyncio.create_task(self._receive(client))
            switched_off = asyncio.create_task(self._off.wait())
            done, _ = await asyncio.wait(
                {receiver, switched_off}, return_when=asyncio.FIRST_COMPLETED
            )
            if receiver in done:
                receiver.result()  # re-raise the MqttError that ended it
            await client.publish(self._topics.state(self.display), b"offline", qos=1, retain=True)
            self._journal.record(self.device, "offline")
        finally:
            self.connected.clear()
            await cancel_all([t for t in (receiver, switched_off) if t is not None])
            await close_client(client)

    async def _follow_plan(self) -> None:
        """Show what the last payload's plan says, at each of its turns, on its own."""
        while True:
            self._replanned.clear()
            now = self._clock.now()
            turn = next_turn(self.current, now) if self.current is not None else None
            waits: list[asyncio.Future[object]] = [asyncio.ensure_future(self._replanned.wait())]
            if turn is not None:
                waits.append(asyncio.ensure_future(self._clock.sleep_until(turn)))
            try:
                await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
            finally:
                await cancel_all(waits)
            if self.current is not None and self._powered.is_set() and not self._replanned.is_set():
                self._render(showing_at(self.current, self._clock.now()), by="plan")

    def _render(self, content_id: str | None, by: str) -> None:
        """Put ``content_id`` of the current payload on screen (once)."""
        if content_id == self.on_screen or self.current is None:
            return
        self.on_screen = content_id
        item = self.current.content_of(content_id) if content_id is not None else None
        if content_id is None or item is None:
            log.info("display %s shows nothing", self.display)
            self._journal.record(self.device, "blank", by=by)
            return
        self.shown.append(content_id)
        first = next(iter(item.content.values()))
        log.info("display %s shows %r", self.display, first.title)
        details = {"by": by} if by != "broker" else {}
        self._journal.record(
            self.device, "show", content_id=content_id, title=first.title, **details
        )

    async def _receive(self, client: aiomqtt.Client) -> None:
        own = self._topics.content(self.display)
        async for message in client.messages:
            payload = bytes(message.payload)
            topic = str(message.topic)
            if topic == self._topics.availability():
                self.onthaal_online = payload == b"online"
                self._journal.record(self.device, "onthaal", state=payload.decode(errors="replace"))
                continue
            if topic != own:  # never show what was meant for another screen
                self._journal.record(self.device, "ignored", topic=topic)
                continue
            try:
                if self._verifier is not None:
                    self._verifier.verify(payload)
                content = ContentMessage.model_validate_json(payload)
            except Unsigned as exc:
                self._journal.record(self.device, "rejected", reason=str(exc))
                continue
            except ValidationError as exc:
                self._journal.record(self.device, "rejected", reason=str(exc.errors()[0]["msg"]))
                continue
            wanted = showing_at(content, self._clock.now())
            if wanted != self.on_screen and self.slow:
                await self._clock.sleep(self.slow)
            self.current = content
            self._replanned.set()  # its plan replaces the last one
            self._render(showing_at(content, self._clock.now()), by="broker")
            if self.drop_acks:
                continue
            ack = AckMessage(content_id=content.content_id, shown_at=self._clock.now())
            await client.publish(self._topics.ack(self.display), ack.to_json(), qos=1)


class SimulatedDisplays:
    """A fleet of simulated screens run together."""

    def __init__(
        self,
        displays: Iterable[str],
        site: str,
        broker: BrokerSettings,
        clock: Clock,
        journal: Journal,
        credentials: Callable[[str], tuple[str, str]] | None = None,
        public_key: str | None = None,
    ) -> None:
        """One :class:`SimulatedDisplay` per id (``credentials(id)``: its own login;
        ``public_key``: shows only content signed with the site's key)."""
        verifier = Verifier(public_key) if public_key is not None else None

        def login(display: str) -> BrokerSettings:
            if credentials is None:
                return broker
            username, password = credentials(display)
            return dataclasses.replace(broker, username=username, password=password)

        self.screens = {
            d: SimulatedDisplay(d, site, login(d), clock, journal, verifier) for d in displays
        }

    def __getitem__(self, display: str) -> SimulatedDisplay:
        return self.screens[display]

    async def run(self) -> None:
        """Run every screen until cancelled."""
        await run_together(*(screen.run() for screen in self.screens.values()))

    async def all_connected(self) -> None:
        """Return once every powered screen is connected."""
        for screen in self.screens.values():
            if screen._powered.is_set():
                await screen.connected.wait()

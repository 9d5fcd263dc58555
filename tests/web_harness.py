"""The web app served by uvicorn on a free port, with real stores, for API and browser tests."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import ClassVar
from zoneinfo import ZoneInfo

from beacons.alert_log import AlertLog
from beacons.outbox import Outbox
from beacons.signage import BrokerSettings, Signage
from beacons.tasks import cancel_all
from clock import VirtualClock
from hw_sim.brokers import Embedded, free_port, wait_listening
from hw_sim.journal import Journal
from hw_sim.signage import SimulatedDisplays
from onthaal.alert_channels import channels_of
from onthaal.config import Config, load_config
from onthaal.fleet_stack import FleetSources, FleetWatch, known_devices
from onthaal.scheduler_stack import LOOP_BUSY_TIMEOUT, build_dispatcher, open_store
from onthaal.web.app import WebServices, create_app, serve
from onthaal.web.core import LocalCore, SimControls
from onthaal.web.users_stack import open_users
from scheduler.dispatch import Dispatcher
from tests.configs import isolated_config

PASSWORD = "correct horse battery"
T0 = datetime(2026, 11, 24, 8, 0, tzinfo=UTC)  # Tuesday 09:00 in Brussels


@dataclass
class Site:
    """A running web app and the handles a test needs."""

    url: str
    services: WebServices
    clock: VirtualClock
    dispatcher: Dispatcher
    staff_token: str
    admin_token: str
    heard: list[tuple[str, str]] = field(default_factory=list)
    visitors: list[tuple[int, int]] = field(default_factory=list)
    desk_token: str = ""  # the reception desk: staff, and emergencies
    fleet: FleetWatch | None = None  # the fleet watcher (its look runs as time moves)
    screens: SimulatedDisplays | None = None  # the simulated displays (with ``screens``)
    journal: Journal | None = None  # what the simulated displays did (with ``screens``)

    async def advance_to(self, moment: datetime) -> None:
        """Let simulated time run until ``moment``, then hold it there again."""
        hold = _Hold.of[self.clock]
        hold.release()
        try:
            await self.clock.sleep_until(moment)
        finally:
            hold.take()

    @property
    def config(self) -> Config:
        """The site's configuration."""
        return self.services.config

    @property
    def tz(self) -> ZoneInfo:
        """The site's time zone."""
        return ZoneInfo(self.config.site.timezone)


class _Hold:
    """A hold on a clock that a test can release and take again."""

    of: ClassVar[dict[VirtualClock, _Hold]] = {}

    def __init__(self, clock: VirtualClock) -> None:
        self._clock = clock
        self._held: contextlib.AbstractContextManager[None] | None = None

    def take(self) -> None:
        self._held = self._clock.held()
        self._held.__enter__()

    def release(self) -> None:
        if self._held is not None:
            self._held.__exit__(None, None, None)
            self._held = None

    def __enter__(self) -> _Hold:
        _Hold.of[self._clock] = self
        self.take()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
        _Hold.of.pop(self._clock, None)


@contextlib.asynccontextmanager
async def running_site(
    tmp_path: Path, *, simulate: bool = True, screens: bool = False, **replace: str
) -> AsyncIterator[Site]:
    """Serve the web app for a copy of the default config in ``tmp_path``.

    ``replace``: config values to change, as for :func:`tests.configs.isolated_config`.

    With ``screens``, the embedded broker, simulated displays, the signage driver and
    the dispatcher run too, so what staff schedule is really delivered.
    """
    # Each look of the fleet watcher is a step of simulated time: looks every 30 s make
    # "72 hours later" thousands of steps. Tests of the fleet ask for their pace.
    replace.setdefault("fleet__check_seconds", "600")
    config_path = isolated_config(tmp_path, **replace)
    config = load_config(config_path)
    async with contextlib.AsyncExitStack() as stack:
        clock = await stack.enter_async_context(VirtualClock(T0, settle=0.002))
        # Simulated time stands still unless a test moves it (Site.advance_to): a browser
        # or an HTTP round trip takes "forever" for a clock that jumps when idle.
        stack.enter_context(_Hold(clock))
        store = open_store(config, config_path, busy_timeout=LOOP_BUSY_TIMEOUT)  # as in run
        users = open_users(config, config_path)
        users.add("staff", PASSWORD, "staff", "en")
        users.add("admin", PASSWORD, "admin", "nl")
        users.add("desk", PASSWORD, "desk", "nl")
        background: list[asyncio.Task[None]] = []
        signage = None
        fleet = None
        journal = Journal(clock)
        if screens:
            broker = Embedded()
            await broker.start()
            stack.push_async_callback(broker.stop)
            settings = BrokerSettings(broker.host, broker.port)
            signage = Signage(
                settings,
                config.site.id,
                [d.id for d in config.displays],
                Outbox(tmp_path / "outbox.sqlite"),
                clock,
            )
            fleet = SimulatedDisplays(
                [d.id for d in config.displays], config.site.id, settings, clock, journal
            )
            background += [asyncio.create_task(fleet.run()), asyncio.create_task(signage.run())]
        dispatcher = build_dispatcher(
            config, store, clock, displays=signage, beacons=None, config_path=config_path
        )
        background.append(asyncio.create_task(dispatcher.run()))
        heard: list[tuple[str, str]] = []
        visitors: list[tuple[int, int]] = []
        watch = FleetWatch(
            config,
            clock,
            FleetSources(
                devices=known_devices(config),
                displays=signage.states if signage is not None else dict,
                status=dispatcher.status,
            ),
            AlertLog(tmp_path / "alerts.sqlite"),
            channels_of(config.alerts.email, config.alerts.webhook),
        )
        background.append(asyncio.create_task(watch.run()))
        core = LocalCore(
            clock,
            dispatcher,
            fleet=watch.fleet,
            signage=signage,
            sim=SimControls(
                approach=lambda track, zone: visitors.append((track, zone)),
                leave=lambda track: None,
                hear=lambda text, language: heard.append((text, language)),
            )
            if simulate
            else None,
        )
        services = WebServices(
            config=config,
            config_path=config_path,
            clock=clock,
            users=users,
            store=store,
            core=core,
            alerts=watch.log,
        )
        port = free_port()
        server = asyncio.create_task(serve(create_app(services), "127.0.0.1", port))
        try:
            await wait_listening("127.0.0.1", port)
            yield Site(
                f"http://127.0.0.1:{port}",
                services,
                clock,
                dispatcher,
                users.create_token("tests", "staff", T0),
                users.create_token("tests-admin", "admin", T0),
                heard,
                visitors,
                desk_token=users.create_token("tests-desk", "desk", T0),
                fleet=watch,
                screens=fleet,
                journal=journal if screens else None,
            )
        finally:
            await cancel_all([server, *background])

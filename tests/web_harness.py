"""The web app served by uvicorn on a free port, with real stores, for API and browser tests."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from clock import VirtualClock
from hw_sim.brokers import free_port, wait_listening
from onthaal.config import Config, load_config
from onthaal.scheduler_stack import build_dispatcher, open_store
from onthaal.web.app import SimControls, WebServices, create_app, serve
from onthaal.web.metrics import Metrics
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
    dispatcher: Dispatcher
    staff_token: str
    admin_token: str
    heard: list[tuple[str, str]] = field(default_factory=list)
    visitors: list[tuple[int, int]] = field(default_factory=list)

    @property
    def config(self) -> Config:
        """The site's configuration."""
        return self.services.config

    @property
    def tz(self) -> ZoneInfo:
        """The site's time zone."""
        return ZoneInfo(self.config.site.timezone)


@contextlib.asynccontextmanager
async def running_site(
    tmp_path: Path, *, simulate: bool = True, dispatch: bool = False
) -> AsyncIterator[Site]:
    """Serve the web app for a copy of the default config in ``tmp_path``."""
    config_path = isolated_config(tmp_path)
    config = load_config(config_path)
    async with VirtualClock(T0, settle=0.002) as clock:
        store = open_store(config, config_path)
        users = open_users(config, config_path)
        users.add("staff", PASSWORD, "staff", "en")
        users.add("admin", PASSWORD, "admin", "nl")
        dispatcher = build_dispatcher(config, store, clock, displays=None, beacons=None)
        heard: list[tuple[str, str]] = []
        visitors: list[tuple[int, int]] = []
        services = WebServices(
            config=config,
            config_path=config_path,
            clock=clock,
            users=users,
            store=store,
            dispatcher=dispatcher,
            metrics=Metrics(store, list),
            health=list,
            sim=SimControls(
                approach=lambda track, zone: visitors.append((track, zone)),
                leave=lambda track: None,
                hear=lambda text, language: heard.append((text, language)),
            )
            if simulate
            else None,
        )
        port = free_port()
        server = asyncio.create_task(serve(create_app(services), "127.0.0.1", port))
        runner = asyncio.create_task(dispatcher.run()) if dispatch else None
        try:
            await wait_listening("127.0.0.1", port)
            yield Site(
                f"http://127.0.0.1:{port}",
                services,
                dispatcher,
                users.create_token("tests", "staff", T0),
                users.create_token("tests-admin", "admin", T0),
                heard,
                visitors,
            )
        finally:
            tasks = [t for t in (server, runner) if t is not None]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

"""Home Assistant gets the fleet for free: discovery configs and states, read-only.

Against the embedded broker with its accounts: Onthaal's driver publishes, retained,
every device's health and a discovery config for it; a client logged in as the
``home-assistant`` account reads them (and Onthaal's availability), and may publish
nothing. The fleet's states follow the devices.
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from pathlib import Path

import aiomqtt

from beacons.fleet import Health, State
from beacons.home_assistant import discovery, state_payload
from beacons.outbox import Outbox
from beacons.signage import BrokerSettings, Signage
from beacons.signage_messages import Topics
from clock import RealClock
from hw_sim.mqtt_broker import EmbeddedBroker
from onthaal.config import load_config
from onthaal.mqtt_accounts import HOME_ASSISTANT
from onthaal.signage_stack import embedded_access
from tests.configs import isolated_config

SEEN = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def fleet(door: State) -> tuple[Health, ...]:
    return (
        Health("hall-info", "display", "online", "ok", "hall", "Infozuil", SEEN),
        Health("hall-door", "beacon", door, "not heard for 12 min", "hall", "Deur", SEEN, 64),
    )


async def test_home_assistant_reads_the_fleet_and_may_write_nothing(tmp_path: Path) -> None:
    config_path = isolated_config(tmp_path, mqtt__home_assistant="true")
    config = load_config(config_path)
    access, accounts = embedded_access(config, config_path)
    site, host, port = config.site.id, config.mqtt.host, config.mqtt.port
    topics = Topics(site)
    settings = BrokerSettings(
        host, port, username="onthaal", password=accounts.passwords["onthaal"]
    )
    async with EmbeddedBroker(host, port, access):
        driver = Signage(
            settings, site, [d.id for d in config.displays], Outbox(tmp_path / "o.db"),
            RealClock(), client_id="onthaal",
        )  # fmt: skip
        for topic, payload in discovery(topics, "homeassistant", fleet("online")):
            driver.retain(topic, payload)
        for health in fleet("online"):
            driver.retain(topics.fleet(health.device), state_payload(health))
        running = asyncio.create_task(driver.run())
        try:
            async with aiomqtt.Client(
                host, port, identifier=HOME_ASSISTANT, username=HOME_ASSISTANT,
                password=accounts.passwords[HOME_ASSISTANT],
            ) as ha:  # fmt: skip
                await ha.subscribe("homeassistant/sensor/+/config", qos=1)
                await ha.subscribe(f"onthaal/{site}/fleet/+", qos=1)
                await ha.subscribe(topics.availability(), qos=1)
                refused = await ha.subscribe(f"onthaal/{site}/signage/+/content", qos=1)
                code = refused[0]
                assert not isinstance(code, int) and code.is_failure  # not the screens
                got = await _gather(ha, 6)  # 3 configs, 2 states, availability
                configs = {t: json.loads(p) for t, p in got.items() if t.endswith("/config")}
                door = configs[f"homeassistant/sensor/onthaal_{site}_hall_door/config"]
                assert door["state_topic"] == f"onthaal/{site}/fleet/hall-door"
                assert door["availability_topic"] == topics.availability()
                assert door["device"]["suggested_area"] == "hall"
                battery = configs[f"homeassistant/sensor/onthaal_{site}_hall_door_battery/config"]
                assert battery["device_class"] == "battery"
                assert json.loads(got[f"onthaal/{site}/fleet/hall-door"])["state"] == "online"
                assert got[topics.availability()] == b"online"
                # The door goes stale: the new state reaches Home Assistant.
                driver.retain(topics.fleet("hall-door"), state_payload(fleet("stale")[1]))
                changed = await _gather(ha, 1)
                assert json.loads(changed[f"onthaal/{site}/fleet/hall-door"])["state"] == "stale"
                # Read-only: what it publishes is dropped (a forged state, a fake config).
                await ha.publish(f"onthaal/{site}/fleet/hall-door", b'{"state":"online"}', qos=1)
            async with aiomqtt.Client(
                host, port, identifier=HOME_ASSISTANT, username=HOME_ASSISTANT,
                password=accounts.passwords[HOME_ASSISTANT],
            ) as again:  # fmt: skip
                await again.subscribe(f"onthaal/{site}/fleet/hall-door", qos=1)
                still = await _gather(again, 1)
                assert json.loads(still[f"onthaal/{site}/fleet/hall-door"])["state"] == "stale"
        finally:
            running.cancel()
            await asyncio.gather(running, return_exceptions=True)


def test_without_home_assistant_there_is_no_such_account(tmp_path: Path) -> None:
    config_path = isolated_config(tmp_path)
    _, accounts = embedded_access(load_config(config_path), config_path)
    assert HOME_ASSISTANT not in accounts.passwords


async def _gather(client: aiomqtt.Client, count: int) -> dict[str, bytes]:
    found: dict[str, bytes] = {}

    async def take() -> None:
        async for message in client.messages:
            found[str(message.topic)] = bytes(message.payload)
            if len(found) >= count:
                return

    await asyncio.wait_for(take(), 10)
    return found

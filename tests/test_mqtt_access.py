"""The embedded broker admits only its accounts, each to its own topics (#19).

The same set-up ``onthaal run`` makes (``onthaal.signage_stack.embedded_access``): a
client without credentials is refused; a display's credentials reach its own content
only, and cannot acknowledge for another display; only Onthaal publishes content.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from pathlib import Path

import aiomqtt
import pytest

from beacons.signage import BrokerSettings
from hw_sim.mqtt_broker import EmbeddedBroker
from onthaal.config import load_config
from onthaal.mqtt_accounts import MqttAccounts
from onthaal.signage_stack import embedded_access
from tests.configs import isolated_config


async def _received(client: aiomqtt.Client, seconds: float = 0.5) -> list[tuple[str, bytes]]:
    got: list[tuple[str, bytes]] = []

    async def read() -> None:
        async for message in client.messages:
            got.append((str(message.topic), bytes(message.payload)))  # type: ignore[arg-type]

    reader = asyncio.create_task(read())
    await asyncio.sleep(seconds)  # clock-ok: a real broker over TCP
    reader.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await reader
    return got


async def _traffic(
    host: str,
    port: int,
    accounts: MqttAccounts,
    root: str,
    first: str,
    second: str,
    *,
    suback_refuses: bool,
) -> tuple[list[tuple[str, bytes]], list[tuple[str, bytes]]]:
    """Display ``first`` and Onthaal try their own and each other's topics: what each got.

    ``suback_refuses``: the broker answers a forbidden subscription with a failure code
    (amqtt); mosquitto grants it and delivers nothing, which the result shows as well.
    """
    user, password = accounts.credentials(first)
    async with (
        aiomqtt.Client(host, port, identifier="o", username="onthaal",
                       password=accounts.passwords["onthaal"]) as onthaal,
        aiomqtt.Client(host, port, identifier="d", username=user, password=password) as shown,
    ):  # fmt: skip
        await shown.subscribe(f"{root}/{first}/content", qos=1)
        for forbidden in (f"{root}/{second}/content", "onthaal/#", f"{root}/+/ack"):
            granted = await shown.subscribe(forbidden, qos=1)
            assert granted[0].is_failure or not suback_refuses, forbidden
        await onthaal.subscribe(f"{root}/+/ack", qos=1)
        await shown.publish(f"{root}/{second}/ack", b"forged", qos=1)  # dropped
        await shown.publish(f"{root}/{first}/content", b"fake content", qos=1)  # dropped
        await shown.publish(f"{root}/{first}/ack", b"mine", qos=1)
        await onthaal.publish(f"{root}/{first}/content", b"real", qos=1)
        await onthaal.publish(f"{root}/{second}/content", b"not yours", qos=1)
        return await _received(shown), await _received(onthaal)


async def test_only_accounts_connect_and_each_reaches_only_its_own_topics(tmp_path: Path) -> None:
    config_path = isolated_config(tmp_path)
    config = load_config(config_path)
    access, accounts = embedded_access(config, config_path)
    site, (first, second) = config.site.id, [d.id for d in config.displays][:2]
    root = f"onthaal/{site}/signage"
    assert (tmp_path / "var" / "mqtt-accounts.json").stat().st_mode & 0o777 == 0o600
    assert access.password_file.stat().st_mode & 0o777 == 0o600
    host, port = config.mqtt.host, config.mqtt.port
    async with EmbeddedBroker(host, port, access):
        with pytest.raises(aiomqtt.MqttError, match="Not authorized"):
            async with aiomqtt.Client(host, port, identifier="anonymous"):
                pass
        with pytest.raises(aiomqtt.MqttError, match="Not authorized"):
            async with aiomqtt.Client(host, port, username="onthaal", password="guess"):
                pass
        seen_by_display, seen_by_onthaal = await _traffic(
            host, port, accounts, root, first, second, suback_refuses=True
        )
    assert seen_by_display == [(f"{root}/{first}/content", b"real")]
    assert seen_by_onthaal == [(f"{root}/{first}/ack", b"mine")]
    _, reread = embedded_access(config, config_path)
    assert reread.passwords == accounts.passwords, "a display keeps its credentials"


async def test_a_display_shows_only_content_signed_with_the_sites_key(tmp_path: Path) -> None:
    """#19: even a client allowed to publish cannot make a display show forged content."""
    from beacons.content import LocalizedContent
    from beacons.signage_messages import ContentMessage
    from beacons.signing import Signer
    from clock import RealClock
    from hw_sim.brokers import free_port
    from hw_sim.journal import Journal
    from hw_sim.signage import SimulatedDisplays

    site, host, port = "hall", "127.0.0.1", free_port()
    signer = Signer.load_or_create(tmp_path / "var" / "signing.key")
    assert (tmp_path / "var" / "signing.key").stat().st_mode & 0o777 == 0o600
    other = Signer.load_or_create(tmp_path / "other.key")  # someone else's key
    clock = RealClock()
    journal = Journal(clock)
    message = ContentMessage(content_id="kerst.v1", content={"nl": LocalizedContent(title="Kerst")})
    forged = ContentMessage(content_id="fake.v1", content={"nl": LocalizedContent(title="Dicht")})
    settings = BrokerSettings(host, port)
    async with EmbeddedBroker(host, port):
        screens = SimulatedDisplays(["info"], site, settings, clock, journal,
                                    public_key=signer.public_key)  # fmt: skip
        running = asyncio.create_task(screens.run())
        try:
            await asyncio.wait_for(screens.all_connected(), 10)
            async with aiomqtt.Client(host, port, identifier="publisher") as publisher:
                topic = f"onthaal/{site}/signage/info/content"
                for payload in (
                    forged.to_json(),
                    other.sign(forged.to_json()),
                    signer.sign(message.to_json()).replace(b"Kerst", b"Dicht"),
                ):
                    await publisher.publish(topic, payload, qos=1)  # fmt: skip
                await publisher.publish(topic, signer.sign(message.to_json()), qos=1)
                deadline = asyncio.get_running_loop().time() + 10
                while screens["info"].shown != ["kerst.v1"]:
                    assert asyncio.get_running_loop().time() < deadline, screens["info"].shown
                    await asyncio.sleep(0.05)  # clock-ok: a real broker
        finally:
            running.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await running
    rejected = [e["reason"] for e in journal.find("display:info", "rejected")]
    assert rejected == [
        "no signature",
        "the signature does not match the site's key",
        "the signature does not match the site's key",
    ]


async def test_the_generated_mosquitto_files_give_a_site_broker_the_same_rules(
    tmp_path: Path,
) -> None:
    """#19: `onthaal mqtt-config` for a real mosquitto: no anonymous, each to its own."""
    from hw_sim.brokers import free_port, wait_listening
    from onthaal.cli import main
    from tests.system_deps import require

    mosquitto = require("mosquitto")
    config_path = isolated_config(tmp_path)
    config = load_config(config_path)
    assert main(["mqtt-config", str(tmp_path / "mosquitto"), "--config", str(config_path)]) == 0
    for name in ("passwd", "acl", "onthaal.conf"):
        assert (tmp_path / "mosquitto" / name).stat().st_mode & 0o777 == 0o600
    port = free_port()
    conf = tmp_path / "mosquitto.conf"
    # As root mosquitto would switch to its own user, who cannot read the 0600 files
    # (on a site: chown them to the broker's user, as the command says).
    owner = "user root\n" if os.getuid() == 0 else ""
    conf.write_text(
        f"listener {port} 127.0.0.1\npersistence false\nlog_dest none\n{owner}"
        f"include_dir {tmp_path / 'mosquitto'}\n"
    )
    process = await asyncio.create_subprocess_exec(mosquitto, "-c", str(conf))
    try:
        await wait_listening("127.0.0.1", port)
        _, accounts = embedded_access(config, config_path)
        site, (first, second) = config.site.id, [d.id for d in config.displays][:2]
        root = f"onthaal/{site}/signage"
        with pytest.raises(aiomqtt.MqttError):
            async with aiomqtt.Client("127.0.0.1", port, identifier="anonymous"):
                pass
        seen_by_display, seen_by_onthaal = await _traffic(
            "127.0.0.1", port, accounts, root, first, second, suback_refuses=False
        )
        assert seen_by_display == [(f"{root}/{first}/content", b"real")]
        assert seen_by_onthaal == [(f"{root}/{first}/ack", b"mine")]
    finally:
        process.kill()
        await process.wait()

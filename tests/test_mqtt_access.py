"""The embedded broker admits only its accounts, each to its own topics (#19).

The same set-up ``onthaal run`` makes (``onthaal.signage_stack.embedded_access``): a
client without credentials is refused; a display's credentials reach its own content
only, and cannot acknowledge for another display; only Onthaal publishes content.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

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
        aiomqtt.Client(host, port, identifier="onthaal", username="onthaal",
                       password=accounts.passwords["onthaal"]) as onthaal,
        aiomqtt.Client(host, port, identifier=user, username=user, password=password) as shown,
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


# -- the embedded brokers: mosquitto when installed, amqtt otherwise (#19) -------------------


@contextlib.asynccontextmanager
async def _embedded(kind: str, tmp_path: Path) -> AsyncIterator[tuple[Any, MqttAccounts, str]]:
    """The embedded broker ``kind`` as ``onthaal run`` starts it: (broker, accounts, root)."""
    from hw_sim.brokers import wait_listening
    from hw_sim.mosquitto_broker import MosquittoBroker
    from tests.system_deps import require

    config_path = isolated_config(tmp_path)
    config = load_config(config_path)
    access, accounts = embedded_access(config, config_path)
    host, port = config.mqtt.host, config.mqtt.port
    root = f"onthaal/{config.site.id}/signage"
    if kind == "amqtt":
        async with EmbeddedBroker(host, port, access) as broker:
            yield broker, accounts, root
        return
    mosquitto = MosquittoBroker(host, port, access, require("mosquitto"))
    running = asyncio.create_task(mosquitto.run_until_cancelled())
    try:
        await asyncio.wait_for(mosquitto.started.wait(), 10)
        await wait_listening(host, port)
        assert mosquitto.folder is not None
        for name in ("mosquitto.conf", "passwd", "acl"):
            assert (mosquitto.folder / name).stat().st_mode & 0o777 == 0o600
        assert mosquitto.folder.stat().st_mode & 0o777 == 0o700
        yield mosquitto, accounts, root
    finally:
        running.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await running


def _display_client(broker: Any, accounts: MqttAccounts, display: str) -> aiomqtt.Client:
    user, password = accounts.credentials(display)
    return aiomqtt.Client(broker.host, broker.port, identifier=user, username=user,
                          password=password)  # fmt: skip


def _onthaal_client(broker: Any, accounts: MqttAccounts) -> aiomqtt.Client:
    return aiomqtt.Client(broker.host, broker.port, identifier="onthaal", username="onthaal",
                          password=accounts.passwords["onthaal"])  # fmt: skip


BROKERS = ["amqtt", "mosquitto"]


@pytest.mark.parametrize("kind", BROKERS)
async def test_nobody_without_a_displays_password_can_cut_it_off(kind: str, tmp_path: Path) -> None:
    """amqtt dropped a display's session for a CONNECT with its id before checking the
    password, and left it connected to nothing; every such CONNECT is now refused first."""
    async with _embedded(kind, tmp_path) as (broker, accounts, root):
        display, other = "hall-info", "hall-entrance"
        victim_id = accounts.credentials(display)[0]
        async with _display_client(broker, accounts, display) as victim:
            await victim.subscribe(f"{root}/{display}/content", qos=1)
            other_user, other_password = accounts.credentials(other)
            attempts: list[dict[str, Any]] = [
                {"identifier": victim_id},  # anonymous
                {"identifier": victim_id, "username": victim_id, "password": "guess"},
                # another display's valid account, under the victim's id
                {"identifier": victim_id, "username": other_user, "password": other_password},
            ]
            for attempt in attempts:
                with contextlib.suppress(aiomqtt.MqttError):  # refused, or given its own id
                    async with aiomqtt.Client(broker.host, broker.port, **attempt):
                        await asyncio.sleep(0.2)  # clock-ok: a real broker over TCP
            async with _onthaal_client(broker, accounts) as onthaal:
                await onthaal.publish(f"{root}/{display}/content", b"still here", qos=1)
            assert await _received(victim) == [(f"{root}/{display}/content", b"still here")]
        assert broker.problem() is None, "no client took the display's place"


@pytest.mark.parametrize("kind", BROKERS)
async def test_a_second_client_with_a_displays_account_closes_the_first_and_health_says_so(
    kind: str, tmp_path: Path
) -> None:
    """Two devices given one account: the broker closes the older connection, so that
    device notices and reconnects (amqtt used to leave it connected to nothing), and the
    broker's health names the account until the fight has been over for a while."""
    async with _embedded(kind, tmp_path) as (broker, accounts, root):
        display, topic = "hall-info", f"{root}/hall-info/content"
        async with _display_client(broker, accounts, display) as first:
            await first.subscribe(topic, qos=1)
            async with _display_client(broker, accounts, display) as second:
                await second.subscribe(topic, qos=1)
                with pytest.raises(aiomqtt.MqttError):  # the first is told: disconnected
                    async with asyncio.timeout(5):
                        async for _ in first.messages:
                            pass
                async with _onthaal_client(broker, accounts) as onthaal:
                    await onthaal.publish(topic, b"new", qos=1)
                assert await _received(second) == [(topic, b"new")]
                assert broker.problem() is None, "once is a device that restarted"
                async with _display_client(broker, accounts, display) as first_again:
                    await first_again.subscribe(topic, qos=1)
                    deadline = asyncio.get_running_loop().time() + 5
                    while broker.problem() is None:  # mosquitto's log is read as it comes
                        assert asyncio.get_running_loop().time() < deadline, "not reported"
                        await asyncio.sleep(0.05)  # clock-ok: a real broker
        assert f"display-{display}" in broker.problem()


@pytest.mark.parametrize("kind", BROKERS)
async def test_a_display_connecting_gets_its_own_retained_content_only(
    kind: str, tmp_path: Path
) -> None:
    """amqtt sent a connecting client every retained message matching anybody's
    subscription: one display got (and showed) the content of every connected one."""
    async with _embedded(kind, tmp_path) as (broker, accounts, root):
        async with _onthaal_client(broker, accounts) as onthaal:
            for display in ("hall-info", "hall-entrance", "waiting-room-1"):
                await onthaal.publish(f"{root}/{display}/content", display.encode(), qos=1,
                                      retain=True)  # fmt: skip
        async with (
            _display_client(broker, accounts, "hall-entrance") as entrance,
            _display_client(broker, accounts, "waiting-room-1") as waiting,
        ):
            await entrance.subscribe(f"{root}/hall-entrance/content", qos=1)
            await waiting.subscribe(f"{root}/waiting-room-1/content", qos=1)
            async with _display_client(broker, accounts, "hall-info") as info:
                await info.subscribe(f"{root}/hall-info/content", qos=1)
                assert await _received(info) == [(f"{root}/hall-info/content", b"hall-info")]


async def test_many_clients_connecting_at_once_are_all_served_by_amqtt() -> None:
    """amqtt 0.12 failed clients that connected while others subscribed ('dictionary
    changed size during iteration') and left them connected but never served."""
    from hw_sim.brokers import free_port

    host, port, count = "127.0.0.1", free_port(), 150
    failures: list[str] = []
    loop = asyncio.get_running_loop()
    loop.set_exception_handler(lambda _, context: failures.append(str(context.get("exception"))))
    try:
        async with EmbeddedBroker(host, port):
            async with aiomqtt.Client(host, port, identifier="onthaal") as publisher:
                for number in range(count):
                    await publisher.publish(f"t/{number}/content", b"%d" % number, qos=1,
                                            retain=True)  # fmt: skip

            async def display(number: int) -> bytes:
                for round_ in range(3):  # connect, subscribe, go, and again: churn
                    async with aiomqtt.Client(host, port, identifier=f"d{number}") as client:
                        await client.subscribe(f"t/{number}/content", qos=1)
                        await client.subscribe(f"t/{number}/extra{round_}", qos=1)
                        async with asyncio.timeout(20):
                            async for message in client.messages:
                                payload = bytes(message.payload)  # type: ignore[arg-type]
                                break
                return payload

            got = await asyncio.gather(*(display(n) for n in range(count)))
    finally:
        loop.set_exception_handler(None)
    assert failures == []
    assert got == [b"%d" % n for n in range(count)]


def test_onthaal_run_embeds_mosquitto_with_the_accounts_and_takes_it_down_with_it(
    tmp_path: Path,
) -> None:
    """`onthaal run` with mosquitto installed: mosquitto is the embedded broker, with the
    same rules; killed with SIGKILL, Onthaal leaves no broker behind on the port."""
    import json
    import signal
    import time

    from hw_sim.brokers import free_port
    from tests.system_deps import require
    from tests.test_cli import onthaal

    require("mosquitto")
    config_path = isolated_config(
        tmp_path,
        robot__backend='"naoqi"',
        robot__url=f'"tcp://127.0.0.1:{free_port()}"',  # no robot: signage alone
        web__public_url='"http://192.0.2.20:8080"',
    )
    config = load_config(config_path)
    host, port = config.mqtt.host, config.mqtt.port
    root = f"onthaal/{config.site.id}/signage"
    proc = onthaal("run", "--config", str(config_path))

    async def check() -> bytes:
        from hw_sim.brokers import wait_listening

        await wait_listening(host, port, timeout=20)
        with pytest.raises(aiomqtt.MqttError, match="Not authorized"):
            async with aiomqtt.Client(host, port, identifier="anonymous"):
                pass
        passwords = json.loads((tmp_path / "var" / "mqtt-accounts.json").read_text())
        user = "display-hall-info"
        async with aiomqtt.Client(
            host, port, identifier=user, username=user, password=passwords[user]
        ) as display:
            await display.subscribe(f"{root}/hall-info/content", qos=1)
            async with asyncio.timeout(15):
                async for message in display.messages:
                    return bytes(message.payload)  # type: ignore[arg-type]
        raise AssertionError("no content")

    try:
        content = asyncio.run(check())
        assert b'"signature"' in content, "the content Onthaal published, signed"
    finally:
        proc.send_signal(signal.SIGKILL)
        _, err = proc.communicate(timeout=10)
    assert f"embedded MQTT broker (mosquitto) on {host}:{port}" in err
    deadline = time.monotonic() + 5
    while True:  # the kernel ends mosquitto with its parent
        try:
            socket.create_connection((host, port), timeout=0.5).close()
        except OSError:
            break
        assert time.monotonic() < deadline, "mosquitto outlived onthaal"
        time.sleep(0.05)


def _certificates(folder: Path) -> tuple[Path, Path, Path]:
    """A site CA and a server certificate for 127.0.0.1 it signed: (ca, cert, key) PEMs."""
    import datetime as dt
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = dt.datetime.now(dt.UTC)

    def name(text: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, text)])

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder().subject_name(name("Onthaal test CA")).issuer_name(
            name("Onthaal test CA")).public_key(ca_key.public_key()).serial_number(1)
        .not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )  # fmt: skip
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder().subject_name(name("broker")).issuer_name(ca.subject)
        .public_key(key.public_key()).serial_number(2)
        .not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=2))
        .add_extension(x509.SubjectAlternativeName(
            [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]),
            critical=False)
        .sign(ca_key, hashes.SHA256())
    )  # fmt: skip
    paths = folder / "ca.pem", folder / "server.pem", folder / "server.key"
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))  # fmt: skip
    paths[2].chmod(0o600)
    return paths


async def test_signage_reaches_a_site_mosquitto_over_tls_with_its_own_account(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """#19: a site broker with TLS and the files of `onthaal mqtt-config`, as
    docs/signage-protocol.md describes: content goes out and the ack comes back over
    TLS; a client that does not trust the site's CA, or speaks plain TCP, gets nothing."""
    import ssl

    from beacons.content import LocalizedContent
    from beacons.signage_messages import ContentMessage
    from clock import RealClock
    from hw_sim.brokers import free_port, wait_listening
    from hw_sim.journal import Journal
    from hw_sim.signage import SimulatedDisplays
    from onthaal.cli import main
    from onthaal.signage_stack import broker_settings, build_signage, content_signer
    from tests.system_deps import require

    mosquitto = require("mosquitto")
    ca, cert, key = _certificates(tmp_path)
    port = free_port()
    monkeypatch.setenv("TEST_MQTT_USER", "onthaal")
    monkeypatch.setenv("TEST_MQTT_PASSWORD", "")  # set below, once the accounts exist
    config_path = isolated_config(
        tmp_path,
        mqtt__embedded="false",
        mqtt__port=str(port),
        mqtt__tls=f'{{ enabled = true, ca_file = "{ca}" }}',
        mqtt__username_env='"TEST_MQTT_USER"',
        mqtt__password_env='"TEST_MQTT_PASSWORD"',
    )
    assert main(["mqtt-config", str(tmp_path / "mosquitto"), "--config", str(config_path)]) == 0
    accounts = MqttAccounts.load_or_create(tmp_path / "var" / "mqtt-accounts.json", [])
    monkeypatch.setenv("TEST_MQTT_PASSWORD", accounts.passwords["onthaal"])
    owner = "user root\n" if os.getuid() == 0 else ""
    conf = tmp_path / "mosquitto.conf"
    conf.write_text(
        f"listener {port} 127.0.0.1\ncafile {ca}\ncertfile {cert}\nkeyfile {key}\n"
        f"persistence false\nlog_dest none\n{owner}include_dir {tmp_path / 'mosquitto'}\n"
    )
    process = await asyncio.create_subprocess_exec(mosquitto, "-c", str(conf))
    config = load_config(config_path)
    clock = RealClock()
    driver = build_signage(config, config_path, clock)
    screens = SimulatedDisplays(
        ["hall-info"], config.site.id, broker_settings(config, config_path), clock,
        Journal(clock), credentials=accounts.credentials,
        public_key=content_signer(config, config_path).public_key,
    )  # fmt: skip
    acknowledged = asyncio.Event()
    driver.on_delivery(lambda d: acknowledged.set() if d.content_id == "tls.v1" else None)
    tasks = []
    try:
        await wait_listening("127.0.0.1", port)
        tasks = [asyncio.create_task(driver.run()), asyncio.create_task(screens.run())]
        driver.push("hall-info", ContentMessage(
            content_id="tls.v1", content={"nl": LocalizedContent(title="Veilig")}))  # fmt: skip
        await asyncio.wait_for(acknowledged.wait(), 15)
        assert screens["hall-info"].shown[-1] == "tls.v1"
        user, password = accounts.credentials("hall-entrance")
        untrusting = ssl.create_default_context()  # the system's CAs, not the site's
        with pytest.raises(aiomqtt.MqttError):
            async with aiomqtt.Client("127.0.0.1", port, identifier=user, username=user,
                                      password=password, tls_context=untrusting):  # fmt: skip
                pass
        with pytest.raises(aiomqtt.MqttError):  # plain TCP on the TLS port
            async with aiomqtt.Client("127.0.0.1", port, identifier=user, username=user,
                                      password=password, timeout=3):  # fmt: skip
                pass
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        process.kill()
        await process.wait()

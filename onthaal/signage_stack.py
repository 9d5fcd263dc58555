"""The signage part of the system: broker settings and the driver."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import aiomqtt

from beacons.outbox import Outbox
from beacons.signage import BrokerSettings, Signage
from beacons.signing import Signer
from clock import Clock
from hw_sim.broker_access import BrokerAccess
from onthaal.config import Config
from onthaal.mqtt_accounts import ONTHAAL, MqttAccounts
from onthaal.scheduler_stack import LOOP_BUSY_TIMEOUT
from scheduler.store import check_database_file


def broker_settings(
    config: Config,
    config_path: Path,
    on_client: Callable[[aiomqtt.Client], None] | None = None,
) -> BrokerSettings:
    """Broker address and credentials (read from the environment variables named).

    ``on_client`` is told of every client made (a simulation counts their messages).
    """
    mqtt = config.mqtt
    ca_file = (config_path.parent / mqtt.tls.ca_file) if mqtt.tls.ca_file else None
    username = os.environ.get(mqtt.username_env) if mqtt.username_env else None
    password = os.environ.get(mqtt.password_env) if mqtt.password_env else None
    if mqtt.embedded and username is None:
        # The embedded broker admits only its accounts: Onthaal's own (mqtt_accounts).
        username, password = ONTHAAL, mqtt_accounts(config, config_path).passwords[ONTHAAL]
    return BrokerSettings(
        host=mqtt.host,
        port=mqtt.port,
        tls=mqtt.tls.enabled,
        ca_file=ca_file,
        username=username,
        password=password,
        keepalive=mqtt.keepalive,
        timeout=mqtt.timeout,
        on_client=on_client,
    )


def mqtt_accounts(config: Config, config_path: Path) -> MqttAccounts:
    """The embedded broker's accounts (``[mqtt] accounts``), made once."""
    path = config_path.parent / config.mqtt.accounts
    prefix = config.mqtt.home_assistant_prefix if config.mqtt.home_assistant else None
    return MqttAccounts.load_or_create(path, [d.id for d in config.displays], prefix)


def embedded_access(config: Config, config_path: Path) -> tuple[BrokerAccess, MqttAccounts]:
    """Who may use the embedded broker, and for what (a password file beside the accounts)."""
    accounts = mqtt_accounts(config, config_path)
    password_file = (config_path.parent / config.mqtt.accounts).with_suffix(".passwd")
    accounts.write_password_file(password_file)
    return accounts.access(config.site.id, [d.id for d in config.displays], password_file), accounts


def build_signage(
    config: Config,
    config_path: Path,
    clock: Clock,
    on_client: Callable[[aiomqtt.Client], None] | None = None,
) -> Signage:
    """The signage driver for every configured display, with its outbox opened."""
    path = config_path.parent / config.mqtt.outbox
    check_database_file(path)  # never take an empty or foreign file for a new outbox
    # On the robot's loop: a write waits briefly for a busy file; the dispatcher retries.
    outbox = Outbox(path, busy_timeout=LOOP_BUSY_TIMEOUT)
    settings = broker_settings(config, config_path, on_client)
    return Signage(
        settings,
        config.site.id,
        [d.id for d in config.displays],
        outbox,
        clock,
        ack_timeout=config.mqtt.ack_timeout,
        backoff_initial=config.supervisor.backoff_initial,
        backoff_max=config.supervisor.backoff_max,
        signer=content_signer(config, config_path),
        # The embedded broker admits a client only under its account's name.
        client_id=settings.username if config.mqtt.embedded else None,
    )


def content_signer(config: Config, config_path: Path) -> Signer:
    """The site's content-signing key (``[mqtt] signing_key``), made once."""
    return Signer.load_or_create(config_path.parent / config.mqtt.signing_key)

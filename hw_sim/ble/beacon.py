"""A simulated BLE info beacon: a real Bumble device on the shared LocalLink.

It advertises a real Eddystone-URL, Eddystone-UID or iBeacon frame at its interval,
interleaved with an Eddystone-TLM frame (battery, temperature, counters) as real
beacons do, and runs the Eddystone GATT Configuration Service with lock / unlock. The
battery drains with the simulated clock. Faults for tests and scenarios: out of range
(stops advertising and drops connections), failing writes (the link drops in the middle
of writing the slot data), and slowness (every GATT request takes longer).
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import struct
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from bumble import att, hci
from bumble.core import UUID, AdvertisingData
from bumble.device import Connection, Device
from bumble.gatt import Characteristic, CharacteristicValue, Service
from bumble.host import Host
from bumble.link import LocalLink
from bumble.transport.common import AsyncPipeSink

from beacons import eddystone_gatt as gatt
from beacons.frames import (
    APPLE_COMPANY_ID,
    EDDYSTONE_SERVICE_UUID,
    FRAME_TLM,
    FRAME_UID,
    FRAME_URL,
    FrameError,
    decode_url,
    encode_eddystone_tlm,
    encode_eddystone_uid,
    encode_url,
)
from beacons.tasks import cancel_all
from clock import Clock
from hw_sim.ble.controller import SimController
from hw_sim.journal import Journal

_Writer = Callable[[Connection, bytes], Awaitable[None] | None]

TLM_EVERY = 10  # one TLM frame after this many frames of the main content
# Bumble's radio keeps real time; a simulated day runs faster. So that a scanner hears a
# beacon in range as often in simulated time as it would in a building (and one out of
# range goes quiet), it also advertises once every this many seconds of the clock.
HEARD_EVERY = 60.0


@dataclass
class Radio:
    """What the beacon's radio does: interval, power, and how it is heard."""

    interval_ms: int = 100
    tx_power: int = -20  # advertised, dBm at 0 m
    rssi: int = -60  # what the central hears


class SimulatedBeacon:
    """One beacon. Create inside a running event loop; ``await start()`` to power it."""

    def __init__(
        self,
        link: LocalLink,
        address: str,
        name: str,
        clock: Clock,
        journal: Journal,
        *,
        frame: bytes,
        lock_key: bytes | None = None,
        battery_mv: int = 3000,
        drain_mv_per_hour: float = 0.5,
        radio: Radio | None = None,
        seed: int = 0,
    ) -> None:
        """A beacon at ``address`` advertising ``frame`` (Eddystone service data, or
        iBeacon manufacturer data when it starts with 0x02 0x15)."""
        self.address = address
        self.name = name
        self.radio = radio or Radio()
        self.lock_key = lock_key
        self.locked = lock_key is not None
        self.frame = frame
        self.writes = 0
        self.in_range = True
        self.fail_writes = 0  # the next N slot-data writes drop the link half-way
        self.slow = 0.0  # extra real seconds per GATT request
        self._clock = clock
        self._journal = journal
        self._battery_start = battery_mv
        self._drain = drain_mv_per_hour
        self._born = clock.monotonic()
        self._adv_count = 0
        self._rng = random.Random(seed)
        self._challenge = b""
        self._rotation: asyncio.Task[None] | None = None
        self._pulse: asyncio.Task[None] | None = None
        self.controller = SimController(name, link=link)
        self.device = Device(
            name=name,
            address=hci.Address(address),
            host=Host(self.controller, AsyncPipeSink(self.controller)),
        )
        self.device.add_service(self._configuration_service())
        self.device.on(
            "connection",
            lambda connection: connection.on("disconnection", self._on_disconnection),
        )

    @property
    def journal_name(self) -> str:
        """Its name in the journal."""
        return f"beacon:{self.name}"

    # -- power, range, advertising -------------------------------------------------------

    async def start(self) -> None:
        """Power on and start advertising."""
        await self.device.power_on()
        await self._advertise(self.frame)
        self._rotation = asyncio.create_task(self._interleave_telemetry())
        self._pulse = asyncio.create_task(self._advertise_in_simulated_time())

    async def stop(self) -> None:
        """Power off."""
        for task in (self._rotation, self._pulse):
            if task is not None:
                # Bumble's HCI commands use asyncio.wait_for, which on Python 3.11 can
                # swallow a single cancel(): cancel_all repeats it until it has ended.
                await cancel_all([task])
        self._rotation = self._pulse = None
        with contextlib.suppress(Exception):
            await self.device.stop_advertising()
        with contextlib.suppress(Exception):
            await self.device.power_off()

    async def go_out_of_range(self) -> None:
        """Nobody hears it any more: no advertisements, connections dropped."""
        self.in_range = False
        self._journal.record(self.journal_name, "out-of-range")
        await self.device.stop_advertising()
        for connection in list(self.device.connections.values()):
            with contextlib.suppress(Exception):
                await connection.disconnect()

    async def come_back(self) -> None:
        """In range again."""
        self.in_range = True
        self._journal.record(self.journal_name, "in-range")
        await self._advertise(self.frame)

    def battery_mv(self) -> int:
        """The battery voltage now (it drains with the simulated clock)."""
        hours = (self._clock.monotonic() - self._born) / 3600
        return max(2000, round(self._battery_start - self._drain * hours))

    def advertising_data(self, frame: bytes) -> bytes:
        """The advertisement carrying ``frame``."""
        flags = (AdvertisingData.FLAGS, bytes([0x06]))
        if frame[:2] == b"\x02\x15":
            company = struct.pack("<H", APPLE_COMPANY_ID)
            return bytes(
                AdvertisingData(
                    [flags, (AdvertisingData.MANUFACTURER_SPECIFIC_DATA, company + frame)]
                )
            )
        service = struct.pack("<H", EDDYSTONE_SERVICE_UUID)
        return bytes(
            AdvertisingData(
                [
                    flags,
                    (AdvertisingData.COMPLETE_LIST_OF_16_BIT_SERVICE_CLASS_UUIDS, service),
                    (AdvertisingData.SERVICE_DATA_16_BIT_UUID, service + frame),
                ]
            )
        )

    async def _advertise(self, frame: bytes) -> None:
        if not self.in_range:
            return
        await self.device.start_advertising(
            advertising_data=self.advertising_data(frame),
            auto_restart=True,
            advertising_interval_min=self.radio.interval_ms,
            advertising_interval_max=self.radio.interval_ms,
        )

    async def _set_advertised(self, frame: bytes) -> None:
        """Change what is on the air without interrupting advertising."""
        advertising = self.device.legacy_advertising_set
        if advertising is not None and self.in_range:
            # Also while a central is connected: advertising resumes with this data.
            await advertising.set_advertising_data(self.advertising_data(frame))

    async def _advertise_in_simulated_time(self) -> None:
        """One advertisement every :data:`HEARD_EVERY` seconds of the clock, in range."""
        controller = self.controller
        while True:
            await self._clock.sleep(HEARD_EVERY)
            if not self.in_range:
                continue
            # Bumble advertises with extended commands (legacy PDUs) when it can.
            for advertising_set in list(controller.advertising_sets.values()):
                if advertising_set.enabled:
                    advertising_set.send_extended_advertising_data()
            if controller.le_legacy_advertiser.enabled:
                controller.le_legacy_advertiser.send_advertising_data()

    async def _interleave_telemetry(self) -> None:
        """Every :data:`TLM_EVERY` frames, one TLM frame (real time: the radio's pace)."""
        interval = self.radio.interval_ms / 1000
        while True:
            await asyncio.sleep(interval * TLM_EVERY)  # clock-ok: radio time
            self._adv_count += TLM_EVERY
            if self.frame[:2] == b"\x02\x15":
                continue  # iBeacon hardware has no TLM
            with contextlib.suppress(Exception):
                await self._set_advertised(self.telemetry())
                await asyncio.sleep(interval)  # clock-ok: radio time
                await self._set_advertised(self.frame)

    def telemetry(self) -> bytes:
        """The current Eddystone-TLM frame."""
        uptime = self._clock.monotonic() - self._born
        return encode_eddystone_tlm(self.battery_mv(), 21.5, self._adv_count, uptime)

    # -- the Eddystone GATT configuration service ----------------------------------------

    def _configuration_service(self) -> Service:
        handlers: dict[str, tuple[Callable[[], bytes], _Writer | None]] = {
            gatt.CAPABILITIES: (self._read_capabilities, None),
            gatt.ACTIVE_SLOT: (lambda: b"\x00", self._write_active_slot),
            gatt.ADVERTISING_INTERVAL: (
                lambda: struct.pack(">H", self.radio.interval_ms),
                self._write_interval,
            ),
            gatt.RADIO_TX_POWER: (lambda: struct.pack(">b", self.radio.tx_power), None),
            gatt.ADVERTISED_TX_POWER: (lambda: struct.pack(">b", self.radio.tx_power), None),
            gatt.LOCK_STATE: (self._read_lock_state, self._write_lock_state),
            gatt.UNLOCK: (self._read_challenge, self._write_unlock),
            gatt.ADV_SLOT_DATA: (lambda: self.frame, self._write_slot_data),
        }
        characteristics: list[Characteristic[bytes]] = []
        for uuid in gatt.ALL_CHARACTERISTICS:
            read, write = handlers.get(uuid, (lambda: b"", None))
            properties = Characteristic.Properties.READ
            permissions = Characteristic.READABLE
            if write is not None:
                properties |= Characteristic.Properties.WRITE
                permissions |= Characteristic.WRITEABLE
            characteristics.append(
                Characteristic(
                    uuid,
                    properties,
                    permissions,
                    CharacteristicValue(
                        read=self._guarded_read(uuid, read),
                        write=self._guarded_write(uuid, write),
                    ),
                )
            )
        return Service(UUID(gatt.SERVICE), characteristics)

    def _guarded_read(
        self, uuid: str, read: Callable[[], bytes]
    ) -> Callable[[Connection], Awaitable[bytes]]:
        async def handler(connection: Connection) -> bytes:
            await self._pace()
            self._check_unlocked(uuid)
            return read()

        return handler

    def _guarded_write(
        self, uuid: str, write: _Writer | None
    ) -> Callable[[Connection, bytes], Awaitable[None]]:
        async def handler(connection: Connection, value: bytes) -> None:
            await self._pace()
            if write is None:
                raise att.ATT_Error(att.ErrorCode.WRITE_NOT_PERMITTED)
            self._check_unlocked(uuid)
            result = write(connection, bytes(value))
            if asyncio.iscoroutine(result):
                await result

        return handler

    async def _pace(self) -> None:
        if self.slow:
            await asyncio.sleep(self.slow)  # clock-ok: radio time

    def _check_unlocked(self, uuid: str) -> None:
        if self.locked and uuid not in gatt.OPEN_WHEN_LOCKED:
            raise att.ATT_Error(att.ErrorCode.INSUFFICIENT_AUTHORIZATION)

    def _read_capabilities(self) -> bytes:
        # version 0, 1 slot, 0 EID slots, variable interval + tx power, UID|URL|TLM, one power
        return (
            bytes([0x00, 0x01, 0x00, 0x03])
            + struct.pack(">H", 0x0007)
            + struct.pack(">b", self.radio.tx_power)
        )

    def _write_active_slot(self, connection: Connection, value: bytes) -> None:
        if value != b"\x00":
            raise att.ATT_Error(att.ErrorCode.INVALID_ATTRIBUTE_LENGTH)

    def _write_interval(self, connection: Connection, value: bytes) -> None:
        if len(value) != 2:
            raise att.ATT_Error(att.ErrorCode.INVALID_ATTRIBUTE_LENGTH)
        self.radio.interval_ms = max(20, struct.unpack(">H", value)[0])

    def _read_lock_state(self) -> bytes:
        return bytes([gatt.LockState.LOCKED if self.locked else gatt.LockState.UNLOCKED])

    def _write_lock_state(self, connection: Connection, value: bytes) -> None:
        if value[:1] == b"\x00" and len(value) == 1 and self.lock_key is not None:
            self.locked = True
            return
        raise att.ATT_Error(att.ErrorCode.INVALID_ATTRIBUTE_LENGTH)

    def _read_challenge(self) -> bytes:
        self._challenge = self._rng.randbytes(gatt.KEY_LENGTH)
        return self._challenge

    def _write_unlock(self, connection: Connection, value: bytes) -> None:
        if self.lock_key is None:
            return
        if not self._challenge or value != gatt.unlock_token(self.lock_key, self._challenge):
            self._journal.record(self.journal_name, "unlock-refused")
            raise att.ATT_Error(att.ErrorCode.INSUFFICIENT_AUTHORIZATION)
        self.locked = False
        self._journal.record(self.journal_name, "unlocked")

    async def _write_slot_data(self, connection: Connection, value: bytes) -> None:
        if self.fail_writes > 0:
            self.fail_writes -= 1
            self._journal.record(self.journal_name, "write-dropped")
            await connection.disconnect()
            raise att.ATT_Error(att.ErrorCode.UNLIKELY_ERROR)
        frame = self._frame_from_slot_write(value)
        self.frame = frame
        self.writes += 1
        await self._set_advertised(frame)
        self._journal.record(self.journal_name, "slot-written", frame=frame.hex())

    def _frame_from_slot_write(self, value: bytes) -> bytes:
        """The service data to advertise for a slot-data write (spec: type + payload)."""
        tx = struct.pack(">b", self.radio.tx_power)
        try:
            if value[:1] == bytes([FRAME_URL]) and len(value) >= 2:
                url = decode_url(value[1:])
                encoded = encode_url(url)
                if len(encoded) - 1 > 17:
                    raise FrameError("too long")
                return bytes([FRAME_URL]) + tx + encoded
            if value[:1] == bytes([FRAME_UID]) and len(value) == 17:
                return encode_eddystone_uid(value[1:11], value[11:17], self.radio.tx_power)
            if value[:1] == bytes([FRAME_TLM]) and len(value) == 1:
                return self.telemetry()
        except FrameError:
            pass
        raise att.ATT_Error(att.ErrorCode.INVALID_ATTRIBUTE_LENGTH)

    def _on_disconnection(self, reason: int) -> None:
        # A beacon locks itself again when the configuring central leaves.
        if self.lock_key is not None:
            self.locked = True

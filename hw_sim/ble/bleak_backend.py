"""A bleak backend on a Bumble central, so bleak's public API runs against the simulator.

``make_backend(adapter)`` returns a ``BaseBleakScanner`` and a ``BaseBleakClient``
subclass bound to one simulated adapter; hand them to ``BleakScanner(backend=...)`` and
``BleakClient(backend=...)``. Application code (``beacons/ble.py``) stays unchanged.

What the simulated adapter mimics from BlueZ: one connection attempt at a time,
connect timeouts, ATT errors as ``BleakGATTProtocolError``, and (as a fault to inject)
"Operation already in progress" on connect.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid as uuid_module
from collections.abc import Callable, Iterator
from typing import Any, ClassVar

from bleak import BleakScanner
from bleak.assigned_numbers import CHARACTERISTIC_PROPERTIES, CharacteristicPropertyName
from bleak.backends.characteristic import BleakGATTCharacteristic
from bleak.backends.client import BaseBleakClient, NotifyCallback
from bleak.backends.descriptor import BleakGATTDescriptor
from bleak.backends.device import BLEDevice
from bleak.backends.scanner import AdvertisementData, AdvertisementDataCallback, BaseBleakScanner
from bleak.backends.service import BleakGATTService, BleakGATTServiceCollection
from bleak.exc import BleakDeviceNotFoundError, BleakError, BleakGATTProtocolError
from bumble import att, core, hci
from bumble.core import AdvertisingData
from bumble.device import Advertisement, Connection, Device, Peer


def bleak_uuid(value: core.UUID) -> str:
    """A Bumble UUID as bleak writes it (128-bit, lower case)."""
    return str(uuid_module.UUID(bytes=bytes(reversed(value.to_bytes(force_128=True)))))


def advertisement_data(adv: Advertisement) -> AdvertisementData:
    """What bleak reports for one Bumble advertisement."""
    data = adv.data
    name = data.get(AdvertisingData.COMPLETE_LOCAL_NAME) or data.get(
        AdvertisingData.SHORTENED_LOCAL_NAME
    )
    manufacturer = {
        company: bytes(value)
        for company, value in data.get_all(AdvertisingData.MANUFACTURER_SPECIFIC_DATA)
    }
    service_data: dict[str, bytes] = {}
    for kind in (
        AdvertisingData.SERVICE_DATA_16_BIT_UUID,
        AdvertisingData.SERVICE_DATA_32_BIT_UUID,
        AdvertisingData.SERVICE_DATA_128_BIT_UUID,
    ):
        for service, value in data.get_all(kind):
            service_data[bleak_uuid(service)] = bytes(value)
    services: list[str] = []
    for kind in (
        AdvertisingData.COMPLETE_LIST_OF_16_BIT_SERVICE_CLASS_UUIDS,
        AdvertisingData.INCOMPLETE_LIST_OF_16_BIT_SERVICE_CLASS_UUIDS,
        AdvertisingData.COMPLETE_LIST_OF_128_BIT_SERVICE_CLASS_UUIDS,
        AdvertisingData.INCOMPLETE_LIST_OF_128_BIT_SERVICE_CLASS_UUIDS,
    ):
        for listed in data.get_all(kind):
            for service_uuid in listed:  # type: ignore[union-attr]
                if bleak_uuid(service_uuid) not in services:  # type: ignore[arg-type]
                    services.append(bleak_uuid(service_uuid))  # type: ignore[arg-type]
    return AdvertisementData(
        local_name=name if isinstance(name, str) else None,
        manufacturer_data=manufacturer,
        service_data=service_data,
        service_uuids=services,
        tx_power=data.get(AdvertisingData.TX_POWER_LEVEL),
        rssi=adv.rssi,
        platform_data=(adv,),
    )


class SimulatedAdapter:
    """The central's side: one Bumble device, shared by every scanner and client."""

    def __init__(self, device: Device) -> None:
        """Wrap a powered-on Bumble ``device``."""
        self.device = device
        self.busy_connects = 0  # fault: the next N connects fail "already in progress"
        self.connects = 0  # connections made so far
        self.active = 0  # connections open now
        self.most_active = 0  # the most ever open at once
        self._scanners = 0
        self._scan_lock = asyncio.Lock()
        # BlueZ (and the emulated controller) allow one pending LE connection at a time.
        self.connect_lock = asyncio.Lock()

    async def scan_start(self) -> None:
        """One more scanner wants advertisements."""
        async with self._scan_lock:
            self._scanners += 1
            if self._scanners == 1:
                await self.device.start_scanning(filter_duplicates=False)

    async def scan_stop(self) -> None:
        """One scanner less."""
        async with self._scan_lock:
            self._scanners -= 1
            if self._scanners == 0 and self.device.is_scanning:
                await self.device.stop_scanning()


class SimulatedScanner(BaseBleakScanner):
    """``BaseBleakScanner`` over :class:`SimulatedAdapter`."""

    adapter: ClassVar[SimulatedAdapter]

    def __init__(
        self,
        detection_callback: AdvertisementDataCallback | None,
        service_uuids: list[str] | None,
        scanning_mode: str = "active",
        **kwargs: Any,
    ) -> None:
        """As bleak constructs every scanner backend."""
        super().__init__(detection_callback, service_uuids)
        self._listening = False

    def _on_advertisement(self, adv: Advertisement) -> None:
        if adv.is_scan_response:  # the emulated controller echoes the data as a response
            return
        data = advertisement_data(adv)
        if not self.is_allowed_uuid(data.service_uuids):
            return
        address = adv.address.to_string(False)
        device = self.create_or_update_device(address, address, data.local_name, adv.address, data)
        self.call_detection_callbacks(device, data)

    async def start(self) -> None:
        """Start receiving advertisements."""
        self.seen_devices = {}
        self.adapter.device.on("advertisement", self._on_advertisement)
        self._listening = True
        await self.adapter.scan_start()

    async def stop(self) -> None:
        """Stop receiving advertisements."""
        if self._listening:
            self.adapter.device.remove_listener("advertisement", self._on_advertisement)
            self._listening = False
            await self.adapter.scan_stop()


class SimulatedClient(BaseBleakClient):
    """``BaseBleakClient`` over :class:`SimulatedAdapter`."""

    adapter: ClassVar[SimulatedAdapter]
    scanner: ClassVar[type[SimulatedScanner]]

    def __init__(
        self,
        address_or_ble_device: BLEDevice | str,
        *,
        disconnected_callback: Callable[[], None] | None = None,
        timeout: float = 10.0,
        **kwargs: Any,
    ) -> None:
        """As bleak constructs every client backend."""
        super().__init__(
            address_or_ble_device, disconnected_callback=disconnected_callback, timeout=timeout
        )
        self._ble_device = (
            address_or_ble_device if isinstance(address_or_ble_device, BLEDevice) else None
        )
        self._connection: Connection | None = None
        self._peer: Peer | None = None
        self._closing = False

    @property
    def name(self) -> str:
        """The device's advertised name, or its address."""
        return (self._ble_device.name if self._ble_device else None) or self.address

    @property
    def mtu_size(self) -> int:
        """The ATT MTU."""
        return self._connection.att_mtu if self._connection else 23

    @property
    def is_connected(self) -> bool:
        """Whether the link is up."""
        return self._connection is not None

    async def connect(self, pair: bool, **kwargs: Any) -> None:
        """Find the device if given an address, connect, discover its services."""
        if self._connection is not None:
            raise BleakError("Client is already connected")
        timeout = float(kwargs.get("timeout", self._timeout))
        if self._ble_device is None:
            self._ble_device = await BleakScanner.find_device_by_address(
                self.address, timeout=timeout, backend=self.scanner
            )
            if self._ble_device is None:
                raise BleakDeviceNotFoundError(
                    self.address, f"Device with address {self.address} was not found."
                )
        if self.adapter.busy_connects > 0:
            self.adapter.busy_connects -= 1
            raise BleakError("[org.bluez.Error.InProgress] Operation already in progress")
        address: hci.Address = self._ble_device.details
        async with self.adapter.connect_lock:
            try:
                connection = await self.adapter.device.connect(address, timeout=timeout)
            except core.TimeoutError as exc:  # not a subclass of the built-in TimeoutError
                raise TimeoutError(f"connecting to {self.address} timed out") from exc
        self.adapter.connects += 1
        self.adapter.active += 1
        self.adapter.most_active = max(self.adapter.most_active, self.adapter.active)
        self._connection = connection
        connection.on("disconnection", self._on_disconnection)
        try:
            async with asyncio.timeout(timeout):
                self._peer = Peer(connection)
                self.services = await self._discover(self._peer)
        except BaseException:
            await self.disconnect()
            raise

    def _on_disconnection(self, reason: int) -> None:
        if self._connection is not None:
            self.adapter.active -= 1
        self._connection = None
        self._peer = None
        if not self._closing and self._disconnected_callback is not None:
            self._disconnected_callback()

    async def _discover(self, peer: Peer) -> BleakGATTServiceCollection:
        collection = BleakGATTServiceCollection()
        await peer.discover_services()
        for service in peer.services:
            bleak_service = BleakGATTService(service, service.handle, bleak_uuid(service.uuid))
            collection.add_service(bleak_service)
            await service.discover_characteristics()
            for characteristic in service.characteristics:
                properties: list[CharacteristicPropertyName] = [
                    name
                    for bit, name in CHARACTERISTIC_PROPERTIES.items()
                    if characteristic.properties & bit
                ]
                collection.add_characteristic(
                    BleakGATTCharacteristic(
                        characteristic,
                        characteristic.handle,
                        bleak_uuid(characteristic.uuid),
                        properties,
                        lambda: self.mtu_size - 3,
                        bleak_service,
                    )
                )
        return collection

    async def disconnect(self) -> None:
        """Close the link (no disconnected callback: we asked for it)."""
        connection = self._connection
        if connection is None:
            return
        self._closing = True
        try:
            await connection.disconnect()
        except (core.BaseBumbleError, hci.HCI_Error):
            pass  # already gone
        finally:
            self._closing = False
            if self._connection is not None:
                self.adapter.active -= 1
            self._connection = None
            self._peer = None

    def _require_peer(self) -> Peer:
        if self._peer is None:
            raise BleakError("Not connected")
        return self._peer

    async def read_gatt_char(
        self, characteristic: BleakGATTCharacteristic, *, use_cached: bool = False, **kwargs: Any
    ) -> bytearray:
        """Read a characteristic's value."""
        peer = self._require_peer()
        with self._as_bleak_errors("read"):
            return bytearray(await peer.read_value(characteristic.obj))
        raise AssertionError("unreachable")  # a context manager may swallow, so mypy asks

    async def write_gatt_char(
        self, characteristic: BleakGATTCharacteristic, data: Any, response: bool
    ) -> None:
        """Write a characteristic's value."""
        peer = self._require_peer()
        with self._as_bleak_errors("write"):
            await peer.write_value(characteristic.obj, bytes(data), with_response=response)

    @contextlib.contextmanager
    def _as_bleak_errors(self, what: str) -> Iterator[None]:
        """Bumble's errors as bleak raises them: ATT errors, timeouts, a dropped link.

        Bumble cancels a pending request when the link drops; bleak raises an error.
        """
        try:
            yield
        except att.ATT_Error as exc:
            raise BleakGATTProtocolError(exc.error_code) from exc
        except core.TimeoutError as exc:
            raise TimeoutError(f"GATT {what} timed out") from exc
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if self._connection is None and task is not None and task.cancelling() == 0:
                raise BleakError(f"Not connected: the link dropped during a GATT {what}") from None
            raise

    async def read_gatt_descriptor(
        self, descriptor: BleakGATTDescriptor, *, use_cached: bool = False, **kwargs: Any
    ) -> bytearray:
        """Descriptors are not simulated."""
        raise BleakError("descriptors are not simulated")

    async def write_gatt_descriptor(self, descriptor: BleakGATTDescriptor, data: Any) -> None:
        """Descriptors are not simulated."""
        raise BleakError("descriptors are not simulated")

    async def start_notify(
        self, characteristic: BleakGATTCharacteristic, callback: NotifyCallback, **kwargs: Any
    ) -> None:
        """Notifications are not part of the Eddystone configuration service."""
        raise BleakError("notifications are not simulated")

    async def stop_notify(self, characteristic: BleakGATTCharacteristic) -> None:
        """Notifications are not part of the Eddystone configuration service."""
        raise BleakError("notifications are not simulated")

    async def pair(self, *args: Any, **kwargs: Any) -> None:
        """Beacons are configured without pairing."""
        raise BleakError("pairing is not simulated")

    async def unpair(self) -> None:
        """Beacons are configured without pairing."""
        raise BleakError("pairing is not simulated")


def make_backend(
    adapter: SimulatedAdapter,
) -> tuple[type[SimulatedScanner], type[SimulatedClient]]:
    """Scanner and client backend classes bound to ``adapter`` (bleak wants classes)."""
    scanner = type("SimulatedScanner", (SimulatedScanner,), {"adapter": adapter})
    client = type("SimulatedClient", (SimulatedClient,), {"adapter": adapter, "scanner": scanner})
    return scanner, client

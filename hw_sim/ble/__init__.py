"""Simulated BLE: beacons and a central adapter on one Bumble ``LocalLink``.

``BeaconField`` is the building's radio space. Its beacons are real Bumble devices that
advertise and serve the Eddystone GATT Configuration Service; its adapter is a Bumble
central, and :meth:`BeaconField.backend` gives bleak backend classes on it, so the
driver in ``beacons/ble.py`` runs unchanged through bleak's public API. No BlueZ, no
D-Bus, no root. Everything is created inside the running event loop (Bumble needs it).
"""

from __future__ import annotations

import asyncio
from types import TracebackType
from typing import Self

from bumble import hci
from bumble.device import Device
from bumble.host import Host
from bumble.link import LocalLink
from bumble.transport.common import AsyncPipeSink

from clock import Clock
from hw_sim.ble.beacon import Radio, SimulatedBeacon
from hw_sim.ble.bleak_backend import (
    SimulatedAdapter,
    SimulatedClient,
    SimulatedScanner,
    make_backend,
)
from hw_sim.ble.controller import SimController
from hw_sim.journal import Journal

__all__ = ["BeaconField", "Radio", "SimulatedBeacon", "beacon_address"]

CENTRAL_ADDRESS = "C0:00:00:00:00:01"


def beacon_address(number: int) -> str:
    """A random static address for the ``number``-th simulated beacon."""
    return f"D0:00:00:00:{number // 256:02X}:{number % 256:02X}"


class BeaconField:
    """Beacons and one central adapter sharing a simulated radio link."""

    def __init__(self, clock: Clock, journal: Journal) -> None:
        """An empty field; add beacons, then ``await start()`` (or ``async with``)."""
        self._clock = clock
        self._journal = journal
        self._link: LocalLink | None = None
        self._adapter: SimulatedAdapter | None = None
        self._backend: tuple[type[SimulatedScanner], type[SimulatedClient]] | None = None
        self.beacons: dict[str, SimulatedBeacon] = {}
        self._pending: list[tuple[str, str, bytes, bytes | None, Radio | None, int]] = []
        self.started = asyncio.Event()

    def add(
        self,
        name: str,
        address: str,
        frame: bytes,
        *,
        lock_key: bytes | None = None,
        radio: Radio | None = None,
        battery_mv: int = 3000,
    ) -> None:
        """A beacon ``name`` at ``address`` advertising ``frame``, created on start."""
        self._pending.append((name, address, frame, lock_key, radio, battery_mv))

    @property
    def adapter(self) -> SimulatedAdapter:
        """The central adapter (faults: ``busy_connects``)."""
        assert self._adapter is not None, "start the field first"
        return self._adapter

    def backend(self) -> tuple[type[SimulatedScanner], type[SimulatedClient]]:
        """bleak backend classes for ``BleakScanner(backend=)`` / ``BleakClient(backend=)``."""
        assert self._backend is not None, "start the field first"
        return self._backend

    async def start(self) -> None:
        """Create the link, the adapter and every beacon, and power them on."""
        self._link = LocalLink()  # type: ignore[no-untyped-call]
        controller = SimController("adapter", link=self._link)
        controller.rssi_of = self._rssi_of
        central = Device(
            name="onthaal",
            address=hci.Address(CENTRAL_ADDRESS),
            host=Host(controller, AsyncPipeSink(controller)),
        )
        await central.power_on()
        self._adapter = SimulatedAdapter(central)
        self._backend = make_backend(self._adapter)
        for seed, (name, address, frame, key, radio, battery) in enumerate(self._pending):
            beacon = SimulatedBeacon(
                self._link,
                address,
                name,
                self._clock,
                self._journal,
                frame=frame,
                lock_key=key,
                radio=radio,
                battery_mv=battery,
                seed=seed,
            )
            self.beacons[name] = beacon
            await beacon.start()
        self.started.set()

    async def stop(self) -> None:
        """Power everything off."""
        for beacon in self.beacons.values():
            await beacon.stop()
        if self._adapter is not None:
            await self._adapter.device.power_off()
        self.started.clear()

    async def run(self) -> None:
        """Run as a supervised child: start, wait to be cancelled, stop."""
        await self.start()
        try:
            await asyncio.Event().wait()
        finally:
            await self.stop()

    def _rssi_of(self, address: hci.Address) -> int | None:
        text = address.to_string(False)
        for beacon in self.beacons.values():
            if beacon.address == text:
                return beacon.radio.rssi
        return None

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.stop()

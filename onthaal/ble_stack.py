"""The BLE part of the system: beacon specs from the config, the simulated field."""

from __future__ import annotations

from beacons.ble import BeaconSpec, BleBeacons, Settings
from beacons.frames import EddystoneUid, encode_eddystone_uid, encode_eddystone_url
from clock import Clock
from hw_sim.ble import BeaconField, beacon_address
from hw_sim.journal import Journal
from onthaal.config import BeaconConfig, Config


def beacon_uid(beacon: BeaconConfig) -> EddystoneUid | None:
    """The Eddystone-UID an 'id'-mode beacon keeps."""
    if not (beacon.namespace and beacon.instance):
        return None
    return EddystoneUid(bytes.fromhex(beacon.namespace), bytes.fromhex(beacon.instance))


def beacon_specs(config: Config) -> list[BeaconSpec]:
    """How the driver recognises and unlocks each configured beacon."""
    return [
        BeaconSpec(
            b.id,
            address=b.address or None,
            uid=beacon_uid(b),
            mode=b.mode,
            lock_key=b.lock_key(),
        )
        for b in config.beacons
    ]


def build_ble(config: Config, clock: Clock, specs: list[BeaconSpec]) -> BleBeacons:
    """The driver for ``specs`` with the limits from ``[ble]``."""
    ble = config.ble
    return BleBeacons(
        specs,
        clock,
        Settings(
            max_connections=ble.max_connections,
            attempts=ble.attempts,
            backoff_initial=config.supervisor.backoff_initial,
            backoff_max=config.supervisor.backoff_max,
            connect_timeout=ble.connect_timeout,
            verify_timeout=ble.verify_timeout,
        ),
    )


def simulated_field(config: Config, clock: Clock, journal: Journal) -> BeaconField:
    """A simulated beacon for every configured one, advertising its default content.

    A beacon without a configured address gets ``beacon_address(n)``;
    :func:`simulated_specs` gives the driver the same addresses.
    """
    field = BeaconField(clock, journal)
    for number, beacon in enumerate(config.beacons):
        uid = beacon_uid(beacon)
        frame = (
            encode_eddystone_uid(uid.namespace, uid.instance)
            if beacon.mode == "id" and uid is not None
            else encode_eddystone_url(beacon.url)
        )
        field.add(
            beacon.id,
            beacon.address or beacon_address(number),
            frame,
            lock_key=beacon.lock_key(),
        )
    return field


def simulated_specs(config: Config) -> list[BeaconSpec]:
    """Specs for the simulator: beacons without an address get the simulated one."""
    specs = beacon_specs(config)
    return [
        BeaconSpec(s.id, s.address or beacon_address(n), s.uid, s.mode, s.lock_key)
        for n, s in enumerate(specs)
    ]

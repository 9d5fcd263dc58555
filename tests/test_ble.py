"""BLE beacons through bleak's public API against Bumble beacons on a LocalLink."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest

from beacons.ble import BeaconSpec, BleBeacons, Settings
from beacons.frames import (
    EddystoneUid,
    UrlTooLong,
    encode_eddystone_uid,
    encode_eddystone_url,
    encode_ibeacon,
)
from clock import VirtualClock
from hw_sim.ble import BeaconField, Radio, beacon_address
from hw_sim.journal import Journal

T0 = datetime(2026, 11, 24, 8, 0, tzinfo=UTC)
KEY = bytes.fromhex("00112233445566778899aabbccddeeff")
OLD = "https://aalter.be/"
NEW = "https://aalter.be/kerst"


@dataclass
class Rig:
    """A field of simulated beacons and the driver on its adapter."""

    field: BeaconField
    driver: BleBeacons
    journal: Journal
    clock: VirtualClock


@contextlib.asynccontextmanager
async def rig(
    beacons: int = 0,
    *,
    extra: Sequence[tuple[BeaconSpec, bytes, bytes | None]] = (),
    settings: Settings | None = None,
    rssi: int = -60,
) -> AsyncIterator[Rig]:
    """``beacons`` plain URL beacons ``b00``…, plus ``extra`` (spec, frame, beacon's key)."""
    async with VirtualClock(T0, settle=0.003) as clock:
        journal = Journal(clock)
        field = BeaconField(clock, journal)
        specs = []
        for n in range(beacons):
            spec = BeaconSpec(f"b{n:02d}", address=beacon_address(n))
            specs.append(spec)
            field.add(
                spec.id,
                beacon_address(n),
                encode_eddystone_url(OLD),
                radio=Radio(interval_ms=20, rssi=rssi - n),
            )
        for n, (spec, frame, key) in enumerate(extra, start=100):
            specs.append(spec)
            field.add(
                spec.id,
                spec.address or beacon_address(n),
                frame,
                lock_key=key,
                radio=Radio(interval_ms=20),
                battery_mv=2950,
            )
        async with field:
            scanner, client = field.backend()
            driver = BleBeacons(
                specs,
                clock,
                settings or Settings(connect_timeout=1.0, verify_timeout=2.0, backoff_initial=0.2),
                scanner_backend=scanner,
                client_backend=client,
            )
            yield Rig(field, driver, journal, clock)


async def test_discovery_sees_every_kind_of_beacon_with_rssi_and_frame() -> None:
    uid = EddystoneUid(bytes.fromhex("6f6e746861616c000001"), bytes.fromhex("000000000003"))
    ibeacon_id = uuid.UUID("e2c56db5-dffb-48d2-b060-d0f5a71096e0")
    extra = [
        # found by its advertised UID, not by address
        (
            BeaconSpec("stairs", uid=uid, mode="id"),
            encode_eddystone_uid(uid.namespace, uid.instance),
            None,
        ),
        (BeaconSpec("desk", address=beacon_address(101)), encode_ibeacon(ibeacon_id, 1, 7), None),
    ]
    async with rig(2, extra=extra) as r:
        states = await r.driver.scan(0.6)
    assert states["b00"].frame == OLD and states["b00"].rssi == -60
    assert states["b01"].rssi == -61
    assert states["stairs"].frame == f"uid:{uid.id}"
    assert states["stairs"].address == beacon_address(100)
    assert states["desk"].frame == f"ibeacon:{ibeacon_id}/1/7"
    assert all(s.last_seen is not None for s in states.values())


async def test_tlm_battery_and_temperature_show_in_status() -> None:
    extra = [(BeaconSpec("hall", address=beacon_address(100)), encode_eddystone_url(OLD), None)]
    async with rig(0, extra=extra) as r:
        states = await r.driver.scan(0.8)
    hall = states["hall"].as_dict()
    assert 2900 <= hall["battery_mv"] <= 2950
    assert hall["battery_percent"] == 94
    assert hall["temperature_c"] == 21.5


async def test_a_url_pushed_to_20_beacons_lands_and_is_seen_on_the_air() -> None:
    async with rig(20) as r:
        await r.driver.scan(0.3)
        results = await r.driver.push_urls({f"b{n:02d}": NEW for n in range(20)})
        assert all(res.ok and res.changed for res in results.values()), results
        assert len(r.journal.find(action="slot-written")) == 20
        for beacon in r.field.beacons.values():
            assert beacon.frame == encode_eddystone_url(NEW, beacon.radio.tx_power)
        states = await r.driver.scan(0.2)
        assert {s.frame for s in states.values()} == {NEW}
        assert r.field.adapter.most_active <= 3, "at most 3 connections at once by default"

        # Idempotent: already advertising it, so no beacon is connected to again.
        connects = r.field.adapter.connects
        again = await r.driver.push_urls({f"b{n:02d}": NEW for n in range(20)})
        assert all(res.ok and not res.changed for res in again.values())
        assert r.field.adapter.connects == connects


async def test_a_locked_beacon_opens_with_the_right_key_and_refuses_a_wrong_one() -> None:
    extra = [
        (
            BeaconSpec("good", address=beacon_address(100), lock_key=KEY),
            encode_eddystone_url(OLD),
            KEY,
        ),
        (
            BeaconSpec("bad", address=beacon_address(101), lock_key=bytes(16)),
            encode_eddystone_url(OLD),
            KEY,
        ),
    ]
    async with rig(2, extra=extra) as r:
        await r.driver.scan(0.3)
        results = await r.driver.push_urls({"good": NEW, "bad": NEW, "b00": NEW, "b01": NEW})
        assert results["good"].ok
        assert not results["bad"].ok
        assert results["bad"].error == "the beacon refused the lock key"
        assert results["bad"].attempts == 1, "a wrong key is not retried"
        assert results["b00"].ok and results["b01"].ok, "the others are still updated"
        assert r.driver.states()["bad"].status == "failed"
        assert r.field.beacons["bad"].frame == encode_eddystone_url(OLD)
        assert r.field.beacons["good"].locked, "locked again after the update"
        assert [e["action"] for e in r.journal.find("beacon:bad")] == ["unlock-refused"]


async def test_an_out_of_range_beacon_fails_after_the_attempts_then_updates_on_return() -> None:
    settings = Settings(attempts=3, connect_timeout=0.5, verify_timeout=1.0, backoff_initial=0.1)
    async with rig(3, settings=settings) as r:
        await r.driver.scan(0.3)
        await r.field.beacons["b01"].go_out_of_range()
        results = await r.driver.push_urls({"b00": NEW, "b01": NEW, "b02": NEW})
        assert results["b00"].ok and results["b02"].ok
        failed = results["b01"]
        assert not failed.ok and failed.attempts == 3
        assert "timed out" in (failed.error or "") or "not found" in (failed.error or "")
        assert r.driver.problem() == "push failed for b01"

        runner = asyncio.create_task(r.driver.run())
        try:
            await r.field.beacons["b01"].come_back()
            deadline = asyncio.get_running_loop().time() + 10
            while r.driver.states()["b01"].status != "ok":
                assert asyncio.get_running_loop().time() < deadline, r.driver.states()["b01"]
                await asyncio.sleep(0.02)
        finally:
            runner.cancel()
            await asyncio.gather(runner, return_exceptions=True)
        assert r.driver.states()["b01"].frame == NEW
        assert r.driver.problem() is None


async def test_transient_bluez_errors_are_retried() -> None:
    async with rig(2) as r:
        await r.driver.scan(0.3)
        r.field.adapter.busy_connects = 1  # "Operation already in progress"
        r.field.beacons["b01"].fail_writes = 1  # the link drops in the middle of the write
        results = await r.driver.push_urls({"b00": NEW, "b01": NEW})
        assert all(res.ok for res in results.values()), results
        assert results["b00"].attempts == 2, "the first connect found the adapter busy"
        assert results["b01"].attempts == 2, "the first write was cut off"
        assert r.journal.find("beacon:b01", "write-dropped")


async def test_an_over_long_url_is_refused_before_any_connection() -> None:
    async with rig(1) as r:
        await r.driver.scan(0.2)
        with pytest.raises(UrlTooLong, match=r"is \d+ bytes too long"):
            await r.driver.push_urls({"b00": "https://www.aalter.be/burgerzaken/identiteitskaart"})
        assert r.field.adapter.connects == 0

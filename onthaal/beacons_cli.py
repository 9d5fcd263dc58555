"""``onthaal beacons scan|status|push``: what the BLE driver sees, and pushing a URL.

With ``[ble] backend = "sim"`` the commands run against simulated beacons built from
the config (in this process); with ``"bluez"`` against the host's adapter.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING

from onthaal.config import Config

if TYPE_CHECKING:  # the BLE stack (Bumble, bleak) is loaded only to run a command
    from beacons.ble import BeaconState, BleBeacons

EXIT_OK, EXIT_FAILURE, EXIT_BAD_INPUT = 0, 1, 2


def add_parser(commands: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:  # type: ignore[type-arg]
    """Add ``beacons`` and its subcommands."""
    beacons = commands.add_parser("beacons", help="BLE beacons: scan, status, push a URL")
    sub = beacons.add_subparsers(dest="beacons_command", required=True)
    for name, text in (
        ("scan", "listen and print every configured beacon heard"),
        ("status", "listen and print each beacon's state, battery and last push"),
    ):
        command = sub.add_parser(name, parents=[common], help=text)
        command.add_argument("--seconds", type=float, default=3.0, help="how long to listen")
        command.add_argument("--json", action="store_true", help="print JSON")
    push = sub.add_parser("push", parents=[common], help="make a beacon advertise a URL")
    push.add_argument("beacon", help="beacon id from robot.toml")
    push.add_argument("url", help="http(s) URL; at most 17 bytes once Eddystone-encoded")


def run_beacons_command(args: argparse.Namespace, config: Config) -> int:
    """Run ``onthaal beacons ...``; the exit code."""
    if args.beacons_command == "push":
        return asyncio.run(_with_driver(config, lambda d: _push(d, args.beacon, args.url)))
    listen = float(args.seconds)
    if listen <= 0:
        print("--seconds: must be more than 0", file=sys.stderr)
        return EXIT_BAD_INPUT
    show = _print_scan if args.beacons_command == "scan" else _print_status

    async def scan(driver: BleBeacons) -> int:
        states = await driver.scan(listen)
        if args.json:
            print(json.dumps([s.as_dict() for s in states.values()], indent=2))
        else:
            show(states)
        return EXIT_OK if any(s.last_seen for s in states.values()) else EXIT_FAILURE

    return asyncio.run(_with_driver(config, scan))


async def _with_driver(config: Config, body: Callable[[BleBeacons], Awaitable[int]]) -> int:
    from clock import RealClock
    from hw_sim.journal import Journal
    from onthaal.ble_stack import beacon_specs, build_ble, simulated_field, simulated_specs

    clock = RealClock()
    if config.ble.backend != "sim":
        return await body(build_ble(config, clock, beacon_specs(config)))
    async with simulated_field(config, clock, Journal(clock)) as field:
        driver = build_ble(config, clock, simulated_specs(config))
        driver.attach(*field.backend())
        return await body(driver)


async def _push(driver: BleBeacons, beacon: str, url: str) -> int:
    from beacons.ble import BeaconError
    from beacons.frames import FrameError

    try:
        result = await driver.push_url(beacon, url)
    except (BeaconError, FrameError) as exc:
        print(f"{beacon}: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    if result.ok:
        what = "written and seen on the air" if result.changed else "already advertised it"
        print(f"{beacon}: {url} ({what}, {result.attempts} attempt(s))")
        return EXIT_OK
    print(f"{beacon}: failed after {result.attempts} attempt(s): {result.error}", file=sys.stderr)
    return EXIT_FAILURE


def _print_scan(states: Mapping[str, BeaconState]) -> None:
    print(f"{'beacon':<16} {'address':<18} {'rssi':>5}  frame")
    for state in states.values():
        if state.last_seen is None:
            print(f"{state.id:<16} {'-':<18} {'-':>5}  not heard")
            continue
        print(f"{state.id:<16} {state.address or '-':<18} {state.rssi:>5}  {state.frame or '-'}")


def _print_status(states: Mapping[str, BeaconState]) -> None:
    print(f"{'beacon':<16} {'seen':<5} {'battery':>9} {'temp':>6}  {'status':<8} frame")
    for state in states.values():
        battery = f"{state.battery_mv} mV" if state.battery_mv else "-"
        temperature = f"{state.temperature_c:g}°C" if state.temperature_c is not None else "-"
        seen = "yes" if state.last_seen else "no"
        line = f"{state.id:<16} {seen:<5} {battery:>9} {temperature:>6}  {state.status:<8} "
        print(line + (state.frame or "-") + (f"  ({state.last_error})" if state.last_error else ""))

"""The web app's view of the core (#15): one contract for both sides of the boundary.

``LocalCore`` (one process) and ``RemoteCore`` (the web process, fed over the bridge's
socket) must behave alike: the snapshot follows the parts, previews come from the
dispatcher, "the schedule changed" wakes it, the simulator's controls reach the world.
Then the real thing: ``onthaal run`` serves the web app from a child process, which the
supervisor restarts when it dies and which never outlives the core.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from beacons.tasks import cancel_all
from clock import RealClock
from hw_sim.brokers import free_port
from onthaal.config import load_config
from onthaal.web.bridge import FollowingClock, RemoteCore, WebProcess, WebStart, _receive
from onthaal.web.core import Core, CoreUnavailable, LocalCore, RobotLink, SimControls
from scheduler.dispatch import DeviceStatus
from scheduler.resolve import Showing
from tests.configs import isolated_config

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


@dataclass
class FakeParts:
    """Stand-ins for the dispatcher and the world, recording what the core was asked."""

    connected: bool = False
    wakes: int = 0
    visitors: list[tuple[int, int]] = field(default_factory=list)
    status: dict[str, DeviceStatus] = field(default_factory=dict)
    fail_previews: bool = False

    # -- the dispatcher's side
    def showing_now(self) -> Mapping[str, Showing]:
        return {"hall-info": Showing("hall-info", None)}

    async def preview_soon(self, at: datetime) -> dict[str, Showing]:
        if self.fail_previews:
            raise RuntimeError("the schedule database is locked")
        return {"hall-info": Showing("hall-info", None), f"at-{at.hour}": Showing("x", None)}

    def wake(self) -> None:
        self.wakes += 1


class _Dispatcher:
    def __init__(self, parts: FakeParts) -> None:
        self._parts = parts
        self.showing_now = parts.showing_now
        self.preview_soon = parts.preview_soon
        self.wake = parts.wake

    def status(self) -> Mapping[str, DeviceStatus]:
        return self._parts.status


def _local(parts: FakeParts) -> LocalCore:
    return LocalCore(
        RealClock(),
        _Dispatcher(parts),
        robot=RobotLink(connected=lambda: parts.connected, present=True),
        sim=SimControls(
            approach=lambda track, zone: parts.visitors.append((track, zone)),
            leave=lambda track: None,
            hear=lambda text, language: None,
        ),
    )


@pytest.fixture(params=["local", "bridged"])
async def core(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[tuple[Core, FakeParts]]:
    """The same parts behind a LocalCore, or behind the bridge's socket."""
    parts = FakeParts()
    local = _local(parts)
    if request.param == "local":
        yield local, parts
        return
    config_path = isolated_config(tmp_path)
    start = WebStart(load_config(config_path), config_path, "human", "info", True, 1.0, "")
    ours, theirs = socket.socketpair()
    serving = asyncio.create_task(WebProcess(local, start).serve(ours))
    reader, writer = await asyncio.open_unix_connection(sock=theirs)
    assert isinstance(await _receive(reader), WebStart)
    remote = RemoteCore(reader, writer, FollowingClock(1.0), simulate=True)
    listening = asyncio.create_task(remote.run())
    await asyncio.wait_for(remote.first_snapshot(), 5)
    try:
        yield remote, parts
    finally:
        writer.close()
        await cancel_all([serving, listening])


async def _eventually(check: Callable[[], bool], within: float = 2.0) -> None:
    deadline = time.monotonic() + within
    while not check():
        assert time.monotonic() < deadline, "not within the time a snapshot takes"
        await asyncio.sleep(0.02)


async def test_the_snapshot_follows_the_parts(core: tuple[Core, FakeParts]) -> None:
    view, parts = core
    assert view.snapshot().robot.present
    assert not view.snapshot().robot.connected
    assert view.snapshot().showing["hall-info"].content_id == "default"
    parts.connected = True
    parts.status["hall-info"] = DeviceStatus("hall-info", wanted="kerst.v1")
    await _eventually(lambda: view.snapshot().robot.connected)
    await _eventually(lambda: "hall-info" in view.snapshot().status)
    assert view.snapshot().status["hall-info"].wanted == "kerst.v1"


async def test_previews_come_from_the_dispatcher(core: tuple[Core, FakeParts]) -> None:
    view, parts = core
    showing = await view.preview(T0.replace(hour=14))
    assert set(showing) == {"hall-info", "at-14"}
    parts.fail_previews = True
    with pytest.raises(CoreUnavailable, match="locked"):  # the web app answers 503
        await view.preview(T0)


async def test_a_schedule_change_wakes_the_dispatcher_from_any_thread(
    core: tuple[Core, FakeParts],
) -> None:
    view, parts = core
    await asyncio.to_thread(view.schedule_changed)  # a worker thread wrote the schedule
    await _eventually(lambda: parts.wakes == 1)


async def test_the_simulators_controls_reach_the_world(core: tuple[Core, FakeParts]) -> None:
    view, parts = core
    assert view.sim is not None
    view.sim.approach(7, 1)
    await _eventually(lambda: parts.visitors == [(7, 1)])


# -- the real process ----------------------------------------------------------------------


def _web_children(pid: int) -> list[int]:
    """Processes whose parent is ``pid`` and that run the web app."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            command = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        if parent == pid and b"onthaal.web.bridge" in command:
            found.append(int(entry.name))
    return found


def _healthz(port: int, within: float, token: str = "") -> httpx.Response:
    deadline = time.monotonic() + within
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    while True:
        try:
            return httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1, headers=headers)
        except httpx.HTTPError:
            assert time.monotonic() < deadline, "the web app did not answer"
            time.sleep(0.1)


def _token(tmp_path: Path) -> str:
    """An API token for the site in ``tmp_path`` (health details are for staff)."""
    config = tmp_path / "robot.toml"
    return subprocess.run(
        [sys.executable, "-m", "onthaal", "users", "token", "probe", "--config", str(config)],
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip


def _run(tmp_path: Path, port: int) -> subprocess.Popen[str]:
    config = isolated_config(tmp_path, web__port=str(port))
    return subprocess.Popen(
        [sys.executable, "-m", "onthaal", "run", "--config", str(config)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def test_onthaal_run_serves_the_web_app_from_its_own_process_and_restarts_it(
    tmp_path: Path,
) -> None:
    port = free_port()
    proc = _run(tmp_path, port)
    token = _token(tmp_path)
    try:
        assert _healthz(port, 20, token).json()["children"]
        (web,) = _web_children(proc.pid)
        assert web != proc.pid
        os.kill(web, signal.SIGKILL)  # the web app dies; the robot's side does not
        time.sleep(0.3)
        assert proc.poll() is None
        answer = _healthz(port, 10, token)
        assert answer.status_code in (200, 503)
        web_child = next(c for c in answer.json()["children"] if c["name"] == "web")
        assert web_child["restarts"] >= 1
        assert _web_children(proc.pid) not in ([], [web])
    finally:
        os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C reaches the whole process group
        _, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, err[-3000:]
    assert "Traceback" not in err, err[-3000:]
    assert "onthaal stopped" in err


def test_the_web_process_never_outlives_the_core(tmp_path: Path) -> None:
    port = free_port()
    proc = _run(tmp_path, port)
    try:
        _healthz(port, 20)
        (web,) = _web_children(proc.pid)
    finally:
        os.kill(proc.pid, signal.SIGKILL)  # no chance to stop its children
        proc.communicate(timeout=10)
    deadline = time.monotonic() + 5
    while Path(f"/proc/{web}").exists() and b"onthaal.web.bridge" in _cmdline(web):
        assert time.monotonic() < deadline, "the web process outlived the core"
        time.sleep(0.05)


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""

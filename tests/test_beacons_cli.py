"""``onthaal beacons`` as a person runs it, against the simulated beacons of robot.toml."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from onthaal.cli import main
from tests.configs import isolated_config

REPO = Path(__file__).resolve().parent.parent


@dataclass
class Done:
    """What a run of the command printed, and its exit code."""

    returncode: int
    stdout: str
    stderr: str


@pytest.fixture
def onthaal(capsys: pytest.CaptureFixture[str]) -> object:
    """Run ``onthaal beacons ...`` as its entry point does, in this process (the CLI's
    own process start is tested in tests/test_cli.py; here it would cost a second each)."""

    def run(config: Path, *args: str) -> Done:
        code = main(["beacons", *args, "--config", str(config)])
        out, err = capsys.readouterr()
        return Done(code, out, err)

    return run


def test_scan_lists_every_configured_beacon_with_its_frame(tmp_path: Path, onthaal: Any) -> None:
    done = onthaal(isolated_config(tmp_path), "scan", "--seconds", "1", "--json")
    assert done.returncode == 0, done.stderr
    seen = {b["id"]: b for b in json.loads(done.stdout)}
    assert set(seen) == {
        "hall-door",
        "hall-desk",
        "hall-stairs",
        "waiting-room-a",
        "waiting-room-b",
    }
    assert seen["hall-desk"]["frame"] == "https://aalter.be/uren"
    assert seen["hall-stairs"]["frame"] == "uid:6f6e746861616c000001-000000000003"
    assert all(b["rssi"] is not None for b in seen.values())


def test_status_shows_battery_from_telemetry(tmp_path: Path, onthaal: Any) -> None:
    done = onthaal(isolated_config(tmp_path), "status", "--seconds", "1.5")
    assert done.returncode == 0, done.stderr
    assert "3000 mV" in done.stdout and "21.5°C" in done.stdout


def test_push_writes_a_url_and_refuses_bad_input_with_exit_2(tmp_path: Path, onthaal: Any) -> None:
    config = isolated_config(tmp_path)
    done = onthaal(config, "push", "hall-door", "https://aalter.be/kerst")
    assert done.returncode == 0, done.stderr
    assert "written and seen on the air" in done.stdout

    too_long = onthaal(config, "push", "hall-door", "https://www.aalter.be/kerstmarkt-2026")
    assert too_long.returncode == 2
    assert "8 bytes too long" in too_long.stderr

    unknown = onthaal(config, "push", "attic", "https://aalter.be/")
    assert unknown.returncode == 2 and "unknown beacon 'attic'" in unknown.stderr

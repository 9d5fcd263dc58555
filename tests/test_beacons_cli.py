"""``onthaal beacons`` as a person runs it, against the simulated beacons of robot.toml."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.configs import isolated_config

REPO = Path(__file__).resolve().parent.parent


def onthaal(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "onthaal", "beacons", *args, "--config", str(config)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_scan_lists_every_configured_beacon_with_its_frame(tmp_path: Path) -> None:
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


def test_status_shows_battery_from_telemetry(tmp_path: Path) -> None:
    done = onthaal(isolated_config(tmp_path), "status", "--seconds", "1.5")
    assert done.returncode == 0, done.stderr
    assert "3000 mV" in done.stdout and "21.5°C" in done.stdout


def test_push_writes_a_url_and_refuses_bad_input_with_exit_2(tmp_path: Path) -> None:
    config = isolated_config(tmp_path)
    done = onthaal(config, "push", "hall-door", "https://aalter.be/kerst")
    assert done.returncode == 0, done.stderr
    assert "written and seen on the air" in done.stdout

    too_long = onthaal(config, "push", "hall-door", "https://www.aalter.be/kerstmarkt-2026")
    assert too_long.returncode == 2
    assert "8 bytes too long" in too_long.stderr

    unknown = onthaal(config, "push", "attic", "https://aalter.be/")
    assert unknown.returncode == 2 and "unknown beacon 'attic'" in unknown.stderr

"""#22's acceptance through the whole system: ``onthaal sim``, a desk token, the API.

An emergency started with the reception desk's permission: the simulated robot says it
within 2 s, every screen and every beacon confirms it in the live panel, and stopping it
puts every device back on what it showed before.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

from onthaal.config import load_config
from tests.configs import REPO, isolated_config


def _until(what: Callable[[], Any], seconds: float, why: str) -> Any:
    deadline = time.monotonic() + seconds
    while True:
        found = what()
        if found:
            return found
        assert time.monotonic() < deadline, why
        time.sleep(0.1)


def test_an_emergency_from_the_desk_reaches_robot_screens_and_beacons_and_ends(
    tmp_path: Path,
) -> None:
    journal = tmp_path / "journal.jsonl"
    config = isolated_config(tmp_path, sim__journal=f'"{journal}"')
    made = subprocess.run(
        [sys.executable, "-m", "onthaal", "users", "token", "desk-app", "--role", "desk",
         "--config", str(config)],
        cwd=REPO, capture_output=True, text=True, check=True,
    )  # fmt: skip
    desk = {"Authorization": f"Bearer {made.stdout.strip()}"}
    port = load_config(config).web.port
    process = subprocess.Popen(
        [sys.executable, "-m", "onthaal", "sim", "--config", str(config), "--log-format", "json"],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert process.stderr is not None
        for line in process.stderr:
            if "health web: running" in line:
                break
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10, headers=desk) as http:

            def listening() -> bool:
                try:
                    return http.get("/api/v1/robot").json().get("connected") is True
                except httpx.HTTPError:
                    return False

            _until(listening, 20, "the robot never connected")

            def settled() -> dict[str, str] | None:
                shown = {d["id"]: d["delivered"] for d in http.get("/api/v1/devices").json()}
                return shown if all(shown.values()) else None

            before = _until(settled, 20, "the devices never showed their defaults")
            notice = {
                "content": {
                    "nl": {"title": "Evacuatie", "body": "Verlaat het gebouw via de uitgang"},
                    "en": {"title": "Evacuation", "body": "Leave by the nearest exit"},
                }
            }
            started = http.post("/api/v1/emergency", json=notice)
            assert started.status_code == 201, started.text
            raised = started.json()

            def confirmed() -> dict[str, Any] | None:
                (panel,) = [n["panel"] for n in http.get("/api/v1/emergency").json()["notices"]]
                screens, beacons = panel["screens"], panel["beacons"]
                everything = (screens["confirmed"], beacons["confirmed"]) == (
                    screens["total"],
                    beacons["total"],
                )
                return panel if everything and screens["total"] and beacons["total"] else None

            panel = _until(confirmed, 30, "not every screen and beacon confirmed")
            assert panel["failed"] == {} and panel["waiting"] == []

            def said() -> dict[str, Any] | None:
                for line in journal.read_text(encoding="utf-8").splitlines():
                    entry = json.loads(line)
                    if entry.get("action") in ("say", "animated-say") and entry.get("text") == (
                        "Evacuatie."
                    ):
                        return entry
                return None

            spoken = _until(said, 10, "the robot never said the notice")
            heard_after = datetime.fromisoformat(spoken["t"]) - datetime.fromisoformat(
                raised["starts"]
            )
            assert heard_after.total_seconds() <= 2.0, heard_after

            ended = http.delete(f"/api/v1/emergency/{raised['id']}")
            assert ended.status_code == 200, ended.text

            def restored() -> bool:
                now = {d["id"]: d for d in http.get("/api/v1/devices").json()}
                return all(
                    now[device]["delivered"] == shown and now[device]["wanted"] == shown
                    for device, shown in before.items()
                )

            _until(restored, 30, "the devices did not go back to what they showed")
    finally:
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=20)
    assert process.returncode == 0, err[-2000:]

"""``onthaal sim`` and the site commands as a newcomer meets them: real processes."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
from pathlib import Path

from onthaal.cli import build_parser
from tests.configs import isolated_config

REPO = Path(__file__).resolve().parent.parent

LONG_DAY = """
[day]
name = "Long"
date = "2026-12-01"
opens = "08:30"
closes = "17:00"

[visitors]
per_hour = 6

[[expect]]
kind = "no-message-lost"
"""


def onthaal(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "onthaal", *args],
        cwd=cwd, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def test_fast_after_speed_wins_so_make_sim_args_fast_works() -> None:
    parser = build_parser()
    assert parser.parse_args(["sim", "--scenario", "x", "--speed", "30", "--fast"]).speed is None
    assert parser.parse_args(["sim", "--scenario", "x", "--fast", "--speed", "9"]).speed == 9


def test_a_taken_web_port_is_one_line_naming_the_key_and_exit_2(tmp_path: Path) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        done = onthaal("sim", "--config", str(isolated_config(tmp_path)), "--web-port", str(port))
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert f"port {port} on 127.0.0.1 is already in use" in lines[0]
    assert "[web] port" in lines[0] and "--web-port" in lines[0]


def test_ctrl_c_stops_the_day_writes_a_partial_report_and_no_traceback(tmp_path: Path) -> None:
    scenario = tmp_path / "long.toml"
    scenario.write_text(LONG_DAY, encoding="utf-8")
    report = tmp_path / "report.json"
    process = subprocess.Popen(
        [sys.executable, "-m", "onthaal", "sim", "--config", str(isolated_config(tmp_path)),
         "--scenario", str(scenario), "--speed", "20", "--report", str(report),
         "--state", str(tmp_path / "state")],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert process.stdout is not None
    first = process.stdout.readline()
    assert first.startswith("staff web app: http://127.0.0.1:"), first
    assert "password" in first
    login = (tmp_path / "state" / "sim-login.txt").stat()
    assert login.st_mode & 0o077 == 0, "the sign-in file is private"
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 130, err
    assert "Traceback" not in err and "KeyboardInterrupt" not in err
    data = json.loads(report.read_text(encoding="utf-8"))
    assert data["interrupted_at"] is not None and not data["ok"]
    assert any("stopped" in warning for warning in data["warnings"])


def test_init_makes_a_site_that_check_config_accepts_and_a_broken_one_is_named(
    tmp_path: Path,
) -> None:
    site = tmp_path / "site"
    done = onthaal("init", str(site))
    assert done.returncode == 0, done.stderr
    assert (site / "content" / "kb").is_dir() and (site / "content" / "behaviours.toml").is_file()
    assert (site / "var").stat().st_mode & 0o777 == 0o700
    assert onthaal("check-config", str(site / "robot.toml")).stdout.strip() == "ok"
    assert onthaal("init", str(site)).returncode == 2, "an existing site is not overwritten"

    (site / "var" / "schedule.sqlite").mkdir()
    (site / "content" / "behaviours.toml").unlink()
    broken = onthaal("check-config", str(site / "robot.toml"))
    assert broken.returncode == 2
    assert "[scheduler] database" in broken.stderr and "is a folder" in broken.stderr
    assert "[behaviours] texts" in broken.stderr

"""``onthaal sim`` and the site commands as a newcomer meets them: real processes."""

from __future__ import annotations

import contextlib
import json
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from onthaal.cli import build_parser, main
from onthaal.config import load_config
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
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    site = tmp_path / "site"
    assert main(["init", str(site)]) == 0, capsys.readouterr().err
    assert (site / "content" / "kb").is_dir() and (site / "content" / "behaviours.toml").is_file()
    assert (site / "var").stat().st_mode & 0o777 == 0o700
    capsys.readouterr()
    assert main(["check-config", str(site / "robot.toml")]) == 0
    assert capsys.readouterr().out.strip() == "ok"
    assert main(["init", str(site)]) == 2, "an existing site is not overwritten"

    (site / "var" / "schedule.sqlite").mkdir()
    (site / "content" / "behaviours.toml").unlink()
    capsys.readouterr()
    assert main(["check-config", str(site / "robot.toml")]) == 2
    err = capsys.readouterr().err
    assert "[scheduler] database" in err and "is a folder" in err
    assert "[behaviours] texts" in err


def test_after_hostile_requests_the_process_still_stops_on_sigterm_in_time(
    tmp_path: Path,
) -> None:
    """#15: costly rules, a 40 MB body and a sign-in flood leave SIGTERM working."""
    config = isolated_config(tmp_path)
    token = onthaal("users", "token", "probe", "--config", str(config)).stdout.strip()
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
        headers = {"Authorization": f"Bearer {token}"}
        rule = {
            "id": "costly", "title": "x", "content": {"nl": {"title": "x"}},
            "targets": {"everything": True}, "starts": "2026-12-01T09:00",
        }  # fmt: skip
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as http:
            # The child is "running" once started; under load uvicorn binds a moment later.
            deadline = time.monotonic() + 10
            while True:
                try:
                    http.get("/healthz")
                    break
                except httpx.ConnectError:
                    assert time.monotonic() < deadline, "the web app never listened"
                    time.sleep(0.05)
            for text in ("FREQ=DAILY;INTERVAL=0", "FREQ=SECONDLY"):
                body = {**rule, "recurrence": {"rrule": text, "dayparts": ["09:00-10:00"]}}
                assert http.post("/api/v1/messages", json=body, headers=headers).status_code == 422
            for n in range(30):
                http.post("/login", data={"name": f"flood-{n}", "password": "x", "csrf": "x"})
            with contextlib.suppress(httpx.HTTPError):  # refused while still sending
                http.post("/api/v1/messages", content=b"x" * 40_000_000, headers=headers)
            assert http.get("/healthz").status_code in (200, 503)
    except BaseException:
        process.kill()  # a failed check must not leave the process behind
        process.communicate()
        raise
    started = time.monotonic()
    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=20)
    assert process.returncode == 0, err[-2000:]
    assert time.monotonic() - started < 10.0


def test_a_zero_byte_database_is_refused_by_name_and_left_untouched(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """#20: an empty schedule.sqlite used to be taken as a new empty database."""
    config = isolated_config(tmp_path)
    database = tmp_path / "var" / "schedule.sqlite"
    database.parent.mkdir(parents=True, exist_ok=True)
    database.write_bytes(b"")
    for command in (["sim", "--duration", "5"], ["schedule", "list"]):
        assert main([*command, "--config", str(config)]) == 2
        err = capsys.readouterr().err
        assert f"{database}: is empty (0 bytes), not a database" in err
        assert "Traceback" not in err
    assert database.stat().st_size == 0, "never replaced"
    assert main(["check-config", str(config)]) == 2
    assert "[scheduler] database" in capsys.readouterr().err

"""The ``onthaal`` command as a user runs it: a real process, real signals, exit codes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from onthaal import __version__
from onthaal.cli import main
from tests.configs import isolated_config

REPO = Path(__file__).resolve().parent.parent


def onthaal(*args: str, **kwargs: object) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "onthaal", *args],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **kwargs,  # type: ignore[call-overload]
    )


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["--version"])
    assert info.value.code == 0
    assert capsys.readouterr().out.strip() == f"onthaal {__version__}"


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["fly"],
        ["sim", "--duration", "soon"],
        ["sim", "--duration", "-1"],
        ["run", "--bogus"],
        ["sim", "--duration", "inf"],
        ["sim", "--duration", "nan"],
    ],
    ids=[
        "no command",
        "unknown command",
        "bad duration",
        "negative duration",
        "unknown flag",
        "endless duration",
        "not-a-number duration",
    ],
)
def test_bad_arguments_exit_2_with_usage(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
    assert "usage: onthaal" in capsys.readouterr().err


def test_sim_runs_for_its_duration_and_stops_cleanly(tmp_path: Path) -> None:
    config = isolated_config(tmp_path)
    proc = onthaal("sim", "--config", str(config), "--duration", "3", "--log-format", "json")
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    lines = [json.loads(line) for line in err.splitlines()]
    messages = [(line["child"], line["msg"]) for line in lines]
    assert ("health", "child started") in messages
    # the simulated Pepper is up and the robot link reached it over libqi
    assert ("sim-pepper", "simulated Pepper listening") in messages
    assert ("robot-link", "robot link up") in messages
    # the embedded broker runs, the driver reached it, every screen shows its default
    assert ("signage", "MQTT link up") in messages
    shows = {m for child, m in messages if child == "sim-displays" and " shows " in m}
    assert shows == {
        "display hall-entrance shows 'Welkom in het gemeentehuis'",
        "display hall-info shows 'Openingsuren'",
        "display waiting-room-1 shows 'Burgerzaken'",
    }
    assert (tmp_path / "var" / "signage-outbox.sqlite").exists()
    assert "terminate called" not in err
    # The web app is a process of its own writing to the same stderr: its goodbye may
    # land after the core's. The core's own last word is that it stopped.
    core = [line for line in lines if line["child"] != "web"]
    assert core[-1]["msg"] == "onthaal stopped"
    assert all({"ts", "level", "logger", "child", "msg"} <= line.keys() for line in lines)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_stops_onthaal_sim_cleanly_and_quickly(
    signum: signal.Signals, tmp_path: Path
) -> None:
    proc = onthaal("sim", "--config", str(isolated_config(tmp_path)), "--log-format", "json")
    # wait until it is up: the first health line
    assert proc.stderr is not None
    deadline = time.monotonic() + 20
    for line in proc.stderr:
        if "health health: running" in line:
            break
        assert time.monotonic() < deadline, "onthaal sim did not start"
    started = time.monotonic()
    os.kill(proc.pid, signum)
    _, err = proc.communicate(timeout=10)
    assert proc.returncode == 0, err
    assert time.monotonic() - started < 5.0, err[-3000:]
    assert "onthaal stopped" in err
    assert "received " + signum.name in err


def test_with_the_robot_unreachable_healthz_says_so_within_5_s(tmp_path: Path) -> None:
    import httpx

    from hw_sim.brokers import free_port

    web_port = free_port()
    config = isolated_config(
        tmp_path,
        robot__backend='"naoqi"',
        robot__url=f'"tcp://127.0.0.1:{free_port()}"',  # nothing listens there
        web__port=str(web_port),
        web__public_url='"http://192.0.2.20:8080"',
    )
    token = subprocess.run(
        [sys.executable, "-m", "onthaal", "users", "token", "probe", "--config", str(config)],
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    staff = {"Authorization": f"Bearer {token}"}
    proc = onthaal("run", "--config", str(config))
    try:
        # The web app's own start (another process, slower on a loaded machine) is not
        # what is measured: from its first answer, health must say "degraded" within 5 s.
        up = time.monotonic() + 30
        while True:
            try:
                httpx.get(f"http://127.0.0.1:{web_port}/healthz", timeout=1)
                break
            except httpx.HTTPError:
                assert time.monotonic() < up, "the web app never answered"
                time.sleep(0.1)
        started = time.monotonic()
        body: dict[str, object] = {}
        while time.monotonic() - started < 5.0:
            try:
                answer = httpx.get(f"http://127.0.0.1:{web_port}/healthz", timeout=1, headers=staff)
            except httpx.HTTPError:
                time.sleep(0.1)
                continue
            body = answer.json()
            if answer.status_code == 503:
                break
            time.sleep(0.1)
        assert body.get("status") == "degraded", body
        assert body["robot"] == {"connected": False, "last_seen": None}
        # Anonymous: the verdict only (#19), no addresses or errors.
        anonymous = httpx.get(f"http://127.0.0.1:{web_port}/healthz", timeout=1)
        assert anonymous.status_code == 503 and anonymous.json() == {"status": "degraded"}
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, err
    assert "cannot reach robot" in err


def test_api_tokens_are_listed_and_revoked_from_the_command_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """#19: `users tokens` shows ids (never secrets), `users revoke ID` ends one."""
    config = str(isolated_config(tmp_path))
    assert main(["users", "token", "city-app", "--days", "30", "--config", config]) == 0
    secret = capsys.readouterr().out.strip()
    assert main(["users", "tokens", "--config", config]) == 0
    listed = capsys.readouterr().out
    assert "city-app" in listed and secret not in listed
    token_id = listed.split()[0]
    assert main(["users", "revoke", token_id, "--config", config]) == 0
    assert main(["users", "revoke", token_id, "--config", config]) == 2
    assert "no token with id" in capsys.readouterr().err
    with pytest.raises(SystemExit) as refused:  # argparse: usage and the reason, exit 2
        main(["users", "token", "x", "--days", "0", "--config", config])
    assert refused.value.code == 2
    assert "days must be between 1 and 3650" in capsys.readouterr().err


def test_rotating_the_session_key_ends_every_session_at_once(tmp_path: Path) -> None:
    """#19: the session key lives in its own 0600 file; rotating it ends all sessions."""
    from onthaal.config import load_config
    from onthaal.web.users_stack import open_users, session_key

    path = isolated_config(tmp_path)
    config = load_config(path)
    first = session_key(config, path)
    key_file = tmp_path / "var" / "session.key"
    assert key_file.stat().st_mode & 0o777 == 0o600
    assert session_key(config, path) == first, "made once"
    users = open_users(config, path)
    users.add("an", "a long password, 2026", "admin")
    before = users.get("an")
    assert before is not None
    assert main(["users", "rotate-session-key", "--config", str(path)]) == 0
    after = users.get("an")
    assert after is not None and after.epoch == before.epoch + 1, "every session ended now"
    assert session_key(config, path) != first
    assert users.security_log()[0]["action"] == "session-key-rotated"
    users.close()


def test_users_add_refuses_look_alike_names_and_a_missing_password_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """#20: a full-width 'ａｄｍ' passed as a name; no terminal gave an EOFError traceback."""
    import getpass
    import io

    config = str(isolated_config(tmp_path))
    monkeypatch.setattr("sys.stdin", io.StringIO("long enough, 2026\n"))
    assert main(["users", "add", "ａｄｍ", "--password-stdin", "--config", config]) == 2
    assert "a user name is" in capsys.readouterr().err

    def no_terminal(prompt: str = "") -> str:
        raise EOFError  # what getpass does with nothing to read

    monkeypatch.setattr(getpass, "getpass", no_terminal)
    assert main(["users", "add", "carla", "--config", config]) == 2
    err = capsys.readouterr().err
    assert "no password typed (no terminal?)" in err and "Traceback" not in err

"""``onthaal sim-robot`` serves a simulated Pepper that any plain qi client can use."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from hw_sim.pepper import libqi_available
from robot.naoqi import SERVICES
from tests.conftest import IN_CI

REPO = Path(__file__).resolve().parent.parent

if not libqi_available() and not IN_CI:
    pytest.skip("no qi wheel for this platform (CI=true fails)", allow_module_level=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def sim_robot(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    url = f"tcp://127.0.0.1:{free_port()}"
    journal = tmp_path / "journal.jsonl"
    proc = subprocess.Popen(
        [sys.executable, "-m", "onthaal", "sim-robot", "--listen", url, "--journal", str(journal)],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert line.strip() == f"simulated Pepper listening on {url}", proc.stderr.read()
    try:
        yield url, journal
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=10)
        assert proc.returncode == 0, err
        assert "terminate called" not in err


def test_a_plain_qi_client_sees_the_services_speaks_and_finds_it_in_the_journal(
    sim_robot: tuple[str, Path],
) -> None:
    import qi  # no Onthaal code on this side of the wire

    qi.logging.setLevel(qi.logging.SILENT)

    url, journal_file = sim_robot
    session = qi.Session()
    session.connect(url)
    try:
        services = {s["name"] for s in session.services()}
        for name in (*SERVICES, "ALPeoplePerception", "ALEngagementZones", "OnthaalSimulator"):
            assert name in services, f"{name} not offered"

        tts = session.service("ALTextToSpeech")
        tts.setLanguage("English")
        tts.say("Hello from an independent client")

        simulator = session.service("OnthaalSimulator")
        entries = [json.loads(e) for e in simulator.journal(0)]
        said = [e for e in entries if e["device"] == "pepper" and e["action"] == "say"]
        assert said[-1]["text"] == "Hello from an independent client"
        assert said[-1]["language"] == "English"
        assert {"t", "device", "action"} <= said[-1].keys()

        # the control surface drives the simulated world: events reach ALMemory subscribers
        memory = session.service("ALMemory")
        subscriber = memory.subscriber("EngagementZones/PersonEnteredZone1")
        seen: list[int] = []
        link = subscriber.signal.connect(seen.append)
        simulator.approach(12, 1)
        deadline = time.monotonic() + 5
        while not seen and time.monotonic() < deadline:
            time.sleep(0.01)
        assert seen == [12]
        subscriber.signal.disconnect(link)
        # a qi client can raise the real key itself too
        memory.raiseEvent("EngagementZones/PersonEnteredZone1", 13)
        assert memory.getData("EngagementZones/PersonEnteredZone1") == 13
    finally:
        session.close()
    # the journal file mirrors what the service returned
    lines = [json.loads(line) for line in journal_file.read_text().splitlines()]
    assert any(e["action"] == "say" for e in lines)


def test_sim_robot_refuses_a_bad_listen_url() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "onthaal", "sim-robot", "--listen", "tcp//x"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert proc.returncode == 2
    assert "--listen: invalid URL 'tcp//x'" in proc.stderr

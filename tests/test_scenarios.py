"""Headless scenarios: deterministic journals, faults recovered, expectations, bad files."""

from __future__ import annotations

import io
import logging
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from onthaal.config import load_config
from onthaal.scenario.model import load_scenario
from onthaal.scenario.runner import ScenarioRun, summary_lines
from tests.configs import isolated_config

REPO = Path(__file__).resolve().parent.parent

SMALL = """
[day]
name = "Small"
date = "2026-12-01"
opens = "08:30"
closes = "10:00"

[visitors]
arrivals = ["08:40", "08:50", "09:10", "09:20"]
languages = { nl = 0.5, fr = 0.5 }
questions = { min = 1, max = 2 }

[[staff]]
at = "09:00"
action = "schedule"
id = "loket-3"
text = { nl = "Loket 3 sluit om 11 uur" }
targets = "group:hall"

[[expect]]
kind = "greeted-within"
ratio = 1.0
seconds = 1.0

[[expect]]
kind = "display-shows"
display = "hall-info"
at = "09:30"
content = "loket-3"

[[expect]]
kind = "no-message-lost"
"""

FAULTS = """
[day]
name = "Every fault"
date = "2026-12-05"
opens = "09:00"
closes = "10:30"

[visitors]
arrivals = ["09:05", "09:25", "09:45", "10:05"]

[[staff]]
at = "09:10"
action = "schedule"
id = "kerstmarkt"
text = { nl = "Kerstmarkt op het plein" }
targets = "everything"

[[faults]]
at = "09:02"
kind = "robot-disconnect"
duration = 20

[[faults]]
at = "09:11"
kind = "broker-down"
duration = 60

[[faults]]
at = "09:20"
kind = "beacon-out-of-range"
target = "hall-door"
duration = 120

[[faults]]
at = "09:30"
kind = "display-off"
target = "hall-info"
duration = 300

[[expect]]
kind = "display-shows"
display = "hall-info"
at = "10:00"
content = "kerstmarkt"

[[expect]]
kind = "no-message-lost"
"""


def prepare(folder: Path, text: str) -> tuple[Path, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    scenario_file = folder / "scenario.toml"
    scenario_file.write_text(text, encoding="utf-8")
    return scenario_file, isolated_config(folder)


async def run(
    tmp_path: Path, text: str, seed: int, speed: float | None = None
) -> tuple[ScenarioRun, str]:
    scenario_file, config_path = prepare(tmp_path, text)
    journal = io.StringIO()
    runner = ScenarioRun(
        load_scenario(scenario_file),
        load_config(config_path),
        config_path,
        seed=seed,
        speed=speed,
        journal=journal,
    )
    await runner.run()
    return runner, journal.getvalue()


async def test_the_same_seed_gives_a_byte_identical_journal_at_any_speed(tmp_path: Path) -> None:
    first, journal = await run(tmp_path / "a", SMALL, seed=7)  # as fast as it goes
    _, again = await run(tmp_path / "b", SMALL, seed=7, speed=4000.0)  # paced
    assert journal == again
    assert journal.count('"event": "visit-done"') == 4
    assert first.result.ok, first.result.expectations
    _, other = await run(tmp_path / "c", SMALL, seed=8)
    assert other != journal, "another seed, another day"


async def test_every_kind_of_fault_is_injected_and_recovered_and_nothing_is_lost(
    tmp_path: Path,
) -> None:
    runner, _ = await run(tmp_path, FAULTS, seed=3)
    result = runner.result
    kinds = {(f["kind"], f["event"]) for f in result.faults}
    for kind in ("robot-disconnect", "broker-down", "beacon-out-of-range", "display-off"):
        assert (kind, "fault") in kinds and (kind, "recovered") in kinds, kind
    assert result.ok, result.expectations
    assert all(state["shows"] == "kerstmarkt" for state in result.final.values()), result.final
    assert sum(v.greeted for v in result.visits) >= 3


ROBOT_FAULTS = """
[day]
name = "A pushed and a blocked robot"
date = "2026-12-01"
opens = "08:30"
closes = "12:00"

[visitors]
arrivals = ["09:05", "09:15", "09:25", "09:35", "09:45", "09:55", "10:05", "10:15"]
questions = { min = 2, max = 2 }

[[faults]]
at = "09:00"
kind = "robot-pushed"
duration = 60

[[faults]]
at = "09:10"
kind = "robot-blocked"
duration = 7200
"""


async def test_a_push_mid_conversation_and_a_blocked_guide_are_handled(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    runner, journal = await run(tmp_path, ROBOT_FAULTS, seed=5)
    assert '"event": "robot-pushed"' in journal
    messages = [r.getMessage() for r in caplog.records]
    assert any("Autonomous Life is now safeguard" in m for m in messages)
    assert any("page re-applied" in m for m in messages), "language and page put back"
    assert any("guide move blocked" in m for m in messages), "a guide met the obstacle"
    assert all(v.greeted for v in runner.result.visits)


def sim(config: Path, scenario: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "onthaal", "sim", "--config", str(config),
         "--scenario", str(scenario), "--fast", "--log-level", "error", *extra],
        cwd=REPO, capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def test_a_second_run_with_a_config_elsewhere_starts_from_an_empty_state(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The state folder is relative to where sim runs; the config's own paths to its folder."""
    from onthaal.cli import main

    scenario = tmp_path / "small.toml"
    scenario.write_text(SMALL)
    config = isolated_config(tmp_path)
    state = Path("var") / f"test-state-{tmp_path.name}"  # relative to the repository
    try:
        for _ in range(2):
            code = main(["sim", "--config", str(config), "--scenario", str(scenario), "--fast",
                         "--log-level", "error", "--state", str(state)])  # fmt: skip
            err = capsys.readouterr().err
            assert code == 0, err[-2000:]
            assert "Traceback" not in err
    finally:
        shutil.rmtree(REPO / state, ignore_errors=True)


def test_a_page_the_robot_shows_that_does_not_load_fails_the_run(tmp_path: Path) -> None:
    """#18: the tablet is told to show pages that do not exist: the run says so, exit 1."""
    scenario = tmp_path / "small.toml"
    scenario.write_text(SMALL)
    config = isolated_config(tmp_path)
    port = load_config(config).web.port
    wrong = f'"http://127.0.0.1:{port}/no-such-tablet"'  # the web app, but no such pages
    config = isolated_config(tmp_path, behaviours__tablet_url=wrong, web__port=str(port))
    done = sim(config, scenario)
    assert done.returncode == 1, done.stderr[-2000:]
    assert "expectation failed: every page the robot showed loaded" in done.stderr
    assert "FAIL every page the robot showed loaded" in done.stdout
    assert "/no-such-tablet/welcome" in done.stdout and "(404)" in done.stdout


def test_a_failing_expectation_exits_1_and_names_itself(tmp_path: Path) -> None:
    scenario = tmp_path / "wrong.toml"
    scenario.write_text(SMALL.replace('content = "loket-3"', 'content = "kerstmarkt"'))
    report = tmp_path / "report.json"
    done = sim(isolated_config(tmp_path), scenario, "--report", str(report))
    assert done.returncode == 1, done.stderr
    assert "expectation failed: hall-info shows 'kerstmarkt' at 09:30" in done.stderr
    assert "FAIL hall-info shows 'kerstmarkt'" in done.stdout
    assert report.exists() and report.with_suffix(".html").exists()
    assert "<svg" in report.with_suffix(".html").read_text()


@pytest.mark.parametrize(
    ("change", "named"),
    [
        (
            ('arrivals = ["08:40", "08:50", "09:10", "09:20"]', "per_hour = -3"),
            "visitors.per_hour: input should be greater than or equal to 0",
        ),
        (("[day]", '[day]\ncolour = "blue"'), "day.colour: unknown key"),
        (('opens = "08:30"', 'opens = "8.30"'), "day.opens: invalid time '8.30'"),
        (('at = "09:00"', 'at = "19:00"'), "staff.0.at: 19:00 is outside the day"),
    ],
)
def test_a_malformed_scenario_exits_2_naming_the_key(
    tmp_path: Path, change: tuple[str, str], named: str
) -> None:
    scenario = tmp_path / "bad.toml"
    old, new = change
    text = (
        SMALL.replace(old, new, 1)
        if old in SMALL
        else SMALL.replace("arrivals = [", f"{new}\narrivals = [", 1)
    )
    scenario.write_text(text)
    done = sim(isolated_config(tmp_path), scenario)
    assert done.returncode == 2
    assert named in done.stderr, done.stderr


def test_the_sample_scenarios_are_valid() -> None:
    for name in ("quiet-tuesday", "busy-saturday-with-faults"):
        scenario = load_scenario(REPO / "scenarios" / f"{name}.toml")
        assert scenario.expect


QUEUE = """
[day]
name = "A queue"
date = "2026-12-01"
opens = "08:30"
closes = "09:30"

[visitors]
arrivals = ["08:40", "08:40", "08:40"]
questions = { min = 1, max = 1 }
linger = { min = 5, max = 5 }
say_goodbye = 0.0
patience = 50
"""


async def test_visitors_who_come_while_the_robot_is_busy_queue_and_walk_on_after_their_patience(
    tmp_path: Path,
) -> None:
    runner, _ = await run(tmp_path, QUEUE, seed=3)
    first, second, third = runner.result.visits
    assert first.greeted and first.waited == 0
    # One conversation (greeting, a question, 5 s lingering) takes about half a minute.
    assert second.greeted and 20 < second.waited <= 50
    assert third.walked_on and not third.greeted and third.waited > 50
    summary = "\n".join(summary_lines(runner.result))
    assert "queue: 1 walked on" in summary
    assert "WARNING 1 of 3 visitors walked on" in summary, "the report says so even when ok"


def _with(extra: str = "", replace: tuple[str, str] | None = None) -> str:
    text = SMALL if replace is None else SMALL.replace(*replace, 1)
    return text + extra


#: #20: broken scenario files that gave tracebacks, failed mid-run, or were taken silently.
BROKEN = {
    "an unknown intent": (
        _with(replace=("questions = {", 'intents = ["no-such-intent"]\nquestions = {')),
        "visitors.intents: unknown intent 'no-such-intent'",
    ),
    "a display-off fault at no display": (
        _with('\n[[faults]]\nat = "09:05"\nkind = "display-off"\ntarget = "attic"\n'),
        "faults.0.target: no display 'attic'",
    ),
    "a beacon fault at no beacon": (
        _with('\n[[faults]]\nat = "09:05"\nkind = "beacon-out-of-range"\ntarget = "nope"\n'),
        "faults.0.target: no beacon 'nope'",
    ),
    "every language weight 0": (
        _with(replace=("languages = { nl = 0.5, fr = 0.5 }", "languages = { nl = 0, fr = 0 }")),
        "at least one weight must be above 0",
    ),
    "a day in 9999": (
        _with(replace=('date = "2026-12-01"', 'date = "9999-12-31"')),
        "day.date: input should be less than 2100-01-01",
    ),
    "staff text over 120 characters": (
        _with(replace=('"Loket 3 sluit om 11 uur"', '"' + "x" * 121 + '"')),
        "staff.0.text: nl: at most 120 characters",
    ),
    "empty staff text": (
        _with(replace=('"Loket 3 sluit om 11 uur"', '" "')),
        "staff.0.text: nl: empty text",
    ),
    "until before at": (
        _with(replace=('targets = "group:hall"', 'targets = "group:hall"\nuntil = "08:45"')),
        "staff.0: until (08:45) is not after at (09:00)",
    ),
    "two staff actions with one id": (
        _with(
            '\n[[staff]]\nat = "09:10"\naction = "schedule"\nid = "loket-3"\n'
            'text = { nl = "Nog eens" }\n'
        ),
        "staff.1.id: 'loket-3' is used twice",
    ),
    "display-shows at no display": (
        _with(replace=('display = "hall-info"', 'display = "attic"')),
        "expect.1.display: no display 'attic'",
    ),
    "an arrival outside the day": (
        _with(replace=('"09:20"]', '"23:00"]')),
        "visitors.arrivals.3: 23:00 is outside the day",
    ),
    "staff targets no display": (
        _with(replace=('targets = "group:hall"', 'targets = "display:nope"')),
        "staff.0.targets: unknown display 'nope'",
    ),
    "a check after closing": (
        _with(replace=('at = "09:30"', 'at = "23:10"')),
        "expect.1.at: 23:10 is outside the day",
    ),
    "nested thousands deep": ("x = " + "[" * 100_000 + "]" * 100_000, "nested too deeply"),
}


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_a_broken_scenario_is_refused_before_the_day_starts_naming_the_key(
    tmp_path: Path, case: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from onthaal.cli import main

    text, named = BROKEN[case]
    scenario = tmp_path / "broken.toml"
    scenario.write_text(text, encoding="utf-8")
    config = isolated_config(tmp_path)
    assert main(["sim", "--config", str(config), "--scenario", str(scenario), "--fast"]) == 2
    err = capsys.readouterr().err
    assert named in err and "Traceback" not in err, err
    assert not (tmp_path / "var" / "sim").exists() or not any(
        (tmp_path / "var" / "sim").iterdir()
    ), "nothing ran"


@pytest.mark.parametrize(
    ("what", "says"),
    [("folder", "is a directory, not a scenario file"), ("latin-1", "not UTF-8 text")],
)
def test_a_scenario_that_is_no_text_file_is_one_line_and_exit_2(
    tmp_path: Path, what: str, says: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from onthaal.cli import main

    scenario = tmp_path / "s"
    if what == "folder":
        scenario.mkdir()
    else:
        scenario.write_bytes(SMALL.replace("Small", "Caf\xe9").encode("latin-1"))
    config = isolated_config(tmp_path)
    assert main(["sim", "--config", str(config), "--scenario", str(scenario)]) == 2
    assert says in capsys.readouterr().err
    report = tmp_path / "missing" / "report.json"
    scenario = tmp_path / "ok.toml"
    scenario.write_text(SMALL)
    assert main(["sim", "--config", str(config), "--scenario", str(scenario),
                 "--report", str(report)]) == 2  # fmt: skip
    assert "--report: " in capsys.readouterr().err


EVACUATION = """
[day]
name = "An evacuation"
date = "2026-12-01"
opens = "09:00"
closes = "10:00"

[visitors]
arrivals = ["09:05", "09:12", "09:15", "09:40"]

[[staff]]
at = "09:10"
action = "emergency-start"
text = { nl = "Verlaat het gebouw", en = "Leave the building" }

[[staff]]
at = "09:30"
action = "emergency-stop"

[[expect]]
kind = "greeted-within"
ratio = 1.0
seconds = 1.0
"""


async def test_visitors_who_come_during_an_evacuation_leave_instead_of_queueing(
    tmp_path: Path,
) -> None:
    runner, journal = await run(tmp_path, EVACUATION, seed=1)
    result = runner.result
    assert [v.evacuated for v in result.visits] == [False, True, True, False]
    assert result.ok, result.expectations  # those who left are not "not greeted"
    assert journal.count('"evacuated": true') == 2
    assert any("2 visitors came during an emergency" in line for line in summary_lines(result))
    assert not any("not greeted" in w for w in result.warnings())

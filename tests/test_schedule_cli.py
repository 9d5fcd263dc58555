"""``onthaal schedule`` and ``onthaal emergency`` as staff and scripts use them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from onthaal.cli import main
from scheduler.parse import parse_every
from tests.configs import isolated_config


@pytest.fixture
def config(tmp_path: Path) -> str:
    return str(isolated_config(tmp_path))


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


KERST = [
    "--title", "Kerstmarkt", "--text", "nl=Kerstmarkt|Zaterdag op het plein",
    "--text", "en=Christmas market", "--targets", "group:hall",
    "--from", "2026-12-19 08:00", "--until", "2026-12-20 18:00", "--every", "daily 09:00-17:00",
]  # fmt: skip


def test_add_list_preview_edit_delete(config: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "schedule", "add", "kerst", "--config", config, *KERST)
    assert code == 0 and "every day from 9.00 to 17.00" in out
    code, out, _ = run(
        capsys, "schedule", "preview", "--at", "2026-12-19 10:00", "--json", "--config", config
    )
    shown = json.loads(out)
    assert shown["hall-info"] == "kerst.v1" and shown["waiting-room-1"] == "default"
    code, out, _ = run(
        capsys, "schedule", "preview", "--at", "2026-12-19 08:30", "--json", "--config", config
    )
    assert json.loads(out)["hall-info"] == "default", "before the daypart opens"
    code, out, _ = run(
        capsys, "schedule", "edit", "kerst", "--priority", "80", "--actor", "an", "--config", config
    )
    assert code == 0 and "kerst v2" in out
    code, out, _ = run(capsys, "schedule", "show", "kerst", "--config", config)
    assert "create" in out and "an" in out and "update" in out
    code, out, _ = run(capsys, "schedule", "delete", "kerst", "--config", config)
    code, out, _ = run(capsys, "schedule", "list", "--json", "--config", config)
    assert json.loads(out) == []


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (["--targets", "display:attic"], "unknown display 'attic'"),
        (["--text", "es=Hola"], "unknown language 'es'"),
        (["--until", "2026-12-18 08:00"], "ends (2026-12-18T08:00:00+01:00) is not after starts"),
        (["--every", "sun 09:00-10:00", "--until", "2026-12-19 20:00"], "never falls"),
        (
            ["--text", "nl=x", "--link", "nl=https://www.aalter.be/kerstmarkt-2026"],
            "8 bytes too long",
        ),
        (["--every", "fortnightly 09:00"], "not understood"),
    ],
)
def test_bad_input_is_refused_with_the_reason_and_exit_2(
    config: str, capsys: pytest.CaptureFixture[str], change: list[str], reason: str
) -> None:
    argv = list(KERST)
    for option, value in zip(change[::2], change[1::2], strict=True):
        if option in argv and option not in ("--text", "--link"):
            argv[argv.index(option) + 1] = value
        else:
            argv += [option, value]
    code, _, err = run(capsys, "schedule", "add", "bad", "--config", config, *argv)
    assert code == 2
    assert reason in err


def test_an_emergency_takes_over_everything_until_stopped(
    config: str, capsys: pytest.CaptureFixture[str]
) -> None:
    run(capsys, "schedule", "add", "kerst", "--config", config, *KERST)
    code, out, _ = run(capsys, "emergency", "start", "--text", "nl=Evacuatie", "--config", config)
    assert code == 0
    code, out, _ = run(
        capsys, "schedule", "preview", "--at", "2030-01-01 10:00", "--json", "--config", config
    )
    assert all(v.startswith("emergency-") for v in json.loads(out).values())
    code, out, _ = run(capsys, "emergency", "stop", "--config", config)
    assert "1 emergency notice(s) ended" in out
    code, out, _ = run(
        capsys, "schedule", "preview", "--at", "2026-12-19 10:00", "--json", "--config", config
    )
    assert json.loads(out)["hall-info"] == "kerst.v1"


def test_plain_words_become_rrules() -> None:
    assert parse_every("weekdays 08:30-12:00").rrule == "FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR"
    both = parse_every("mon,wed 08:30-12:00 13:30-16:30")
    assert both.rrule == "FREQ=WEEKLY;BYDAY=MO,WE"
    assert [str(p) for p in both.dayparts] == ["08:30-12:00", "13:30-16:30"]


@pytest.mark.parametrize(
    ("argv", "reason"),
    [
        (
            ["--from", "0001-01-01T00:00+14:00"],
            "--from 0001-01-01T00:00:00+14:00: must lie between",
        ),
        (["--from", "9999-12-31 23:59", "--until", ""], "--from"),
        (["--until", "9999-12-31 23:59"], "--until 9999-12-31T23:59:00: must lie between"),
        (["--targets", ","], "--targets ',': name at least one target"),
        (["--targets", " "], "--targets ' ': name at least one target"),
        (["--title", "Kerst\x00markt"], "title: character 6 is a control character"),
        (["--rrule", "FREQ=DAILY"], "--every and --rrule: give one of the two"),
    ],
)
def test_out_of_range_input_is_one_line_and_exit_2(
    config: str, capsys: pytest.CaptureFixture[str], argv: list[str], reason: str
) -> None:
    """#20: these used to save the message and then crash printing it, or crash at once."""
    full = list(KERST)
    for option, value in zip(argv[::2], argv[1::2], strict=True):
        if option in full:
            at = full.index(option)
            full[at : at + 2] = [option, value] if value else []
        else:
            full += [option, value]
    code, _, err = run(capsys, "schedule", "add", "odd", "--config", config, *full)
    assert code == 2, err
    assert reason in err and "Traceback" not in err
    code, out, _ = run(capsys, "schedule", "list", "--json", "--config", config)
    assert code == 0 and json.loads(out) == [], "nothing was saved"


@pytest.mark.parametrize("at", ["9999-12-31 23:00", "0001-01-01 00:00", "soon"])
def test_a_preview_at_an_impossible_time_is_exit_2(
    config: str, capsys: pytest.CaptureFixture[str], at: str
) -> None:
    code, _, err = run(capsys, "schedule", "preview", "--at", at, "--config", config)
    assert code == 2 and err.startswith("--at ") and "Traceback" not in err


def test_emergencies_in_the_same_second_and_a_link_in_one_language(
    config: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """#20: a link no longer needs text in every site language; two notices raised in one
    second are two notices, not a conflict."""
    for zone in ("hall", "waiting"):
        code, out, err = run(
            capsys, "emergency", "start", "--text", f"nl=Brand in {zone}",
            "--link", "https://a.be", "--config", config,
        )  # fmt: skip
        assert code == 0, err
    code, out, _ = run(capsys, "schedule", "list", "--json", "--config", config)
    notices = json.loads(out)
    assert len(notices) == 2 and len({n["id"] for n in notices}) == 2
    assert all(n["content"]["nl"]["link"] == "https://a.be/" for n in notices)
    code, _, err = run(capsys, "emergency", "start", "--text", "nl=x", "--targets", ",",
                       "--config", config)  # fmt: skip
    assert code == 2 and "--targets" in err


def test_a_locked_database_is_one_line_and_exit_1(
    config: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """#20: another program holding the schedule: a runtime failure, said plainly."""
    import sqlite3

    run(capsys, "schedule", "list", "--config", config)  # creates the database
    holder = sqlite3.connect(Path(config).parent / "var" / "schedule.sqlite", timeout=0)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        code, _, err = run(capsys, "schedule", "add", "kerst", "--config", config, *KERST)
    finally:
        holder.rollback()
        holder.close()
    assert code == 1, err
    assert "busy" in err and "Traceback" not in err and len(err.strip().splitlines()) == 1

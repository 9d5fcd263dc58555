"""``onthaal schedule`` and ``onthaal emergency`` as staff and scripts use them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from onthaal.cli import main
from onthaal.schedule_cli import parse_every
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
    assert code == 0 and "every day 09:00-17:00" in out
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
        (["--every", "fortnightly 09:00"], "unknown day"),
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

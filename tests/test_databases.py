"""#20: a site's databases: damaged or foreign files refused by name and left untouched;
a backup taken while Onthaal runs and writes restores to exactly what it held."""

from __future__ import annotations

import hashlib
import re
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from beacons.content import LocalizedContent
from beacons.outbox import Outbox
from onthaal.backup import BackupError, site_lock
from onthaal.cli import main
from onthaal.config import load_config
from scheduler.model import Message, Targets
from scheduler.store import DatabaseUnusable, Store, check_database_file
from tests.configs import REPO, isolated_config

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def _message(number: int) -> Message:
    return Message(
        id=f"m{number}",
        title=f"Bericht {number}",
        content={"nl": LocalizedContent(title=f"Bericht {number}")},
        targets=Targets(everything=True),
        starts=T0,
        ends=T0 + timedelta(days=1),
    )


def _make(kind: str, path: Path) -> None:
    """A real database of ``kind`` at ``path``, with some rows in it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if kind == "schedule":
        store = Store(path)
        for number in range(60):  # several pages
            store.add(_message(number), "test", T0)
        store.close()
    elif kind == "outbox":
        outbox = Outbox(path)
        outbox.accept(((f"d{n}", f"c{n}.v1", b"x" * 500) for n in range(200)), T0)
        outbox.close()
    else:
        from onthaal.web.users import Users

        users = Users(path)
        users.add("staff", "long enough, 2026", "staff")  # one hash: they are slow on purpose
        for number in range(150):  # pages of the security log
            users.note("sign-in-failed", "test", f"someone-{number}", "127.0.0.1", T0)
    with sqlite3.connect(path) as db:  # one self-contained file, as on a stopped site
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")


def _garbage_pages(path: Path) -> None:
    data = bytearray(path.read_bytes())
    page = int.from_bytes(data[16:18], "big")
    data[page : page * 3] = bytes(range(256)) * (page * 2 // 256)
    path.write_bytes(bytes(data))


def _cut_mid_page(path: Path) -> None:
    data = path.read_bytes()
    page = int.from_bytes(data[16:18], "big")
    path.write_bytes(data[: page * 2 + page // 2])


def _garbage_header(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(b"\x13" * 100 + data[100:])


def _foreign(path: Path) -> None:
    path.unlink()
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE invoices (id INTEGER PRIMARY KEY, amount REAL)")


DAMAGE: dict[str, tuple[Callable[[Path], None], str]] = {
    "garbage pages": (_garbage_pages, "is damaged"),
    "cut off mid-page": (_cut_mid_page, "is damaged"),
    "garbage header": (_garbage_header, "is not an SQLite database"),
    "zero bytes": (lambda p: p.write_bytes(b""), "is empty (0 bytes)"),
    "another program's database": (_foreign, "is another program's SQLite database"),
}
FILES = {"schedule": "schedule.sqlite", "users": "users.sqlite", "outbox": "signage-outbox.sqlite"}


@pytest.mark.parametrize("damage", sorted(DAMAGE))
@pytest.mark.parametrize("kind", sorted(FILES))
def test_a_damaged_or_foreign_database_is_refused_by_name_and_left_untouched(
    tmp_path: Path, kind: str, damage: str, capsys: pytest.CaptureFixture[str]
) -> None:
    config = isolated_config(tmp_path)
    path = tmp_path / "var" / FILES[kind]
    _make(kind, path)
    harm, says = DAMAGE[damage]
    harm(path)
    before = hashlib.sha256(path.read_bytes()).hexdigest()
    with pytest.raises(DatabaseUnusable, match=re.escape(says)):
        check_database_file(path)
    if damage in ("garbage pages", "another program's database") or kind == "schedule":
        # check-config applies the same rule (loading everything takes a moment: once
        # per kind of file and a few kinds of damage is enough to show it)
        assert main(["check-config", str(config)]) == 2
        err = capsys.readouterr().err
        assert str(path) in err and says in err and "Traceback" not in err
    if kind == "schedule":  # every command that opens it says the same, in one line
        assert main(["schedule", "list", "--config", str(config)]) == 2
        assert says in capsys.readouterr().err
    assert hashlib.sha256(path.read_bytes()).hexdigest() == before, "never changed"


def test_run_refuses_a_damaged_schedule_at_once_instead_of_a_crash_loop(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = isolated_config(tmp_path)
    path = tmp_path / "var" / "schedule.sqlite"
    _make("schedule", path)
    _garbage_pages(path)
    started = time.monotonic()
    assert main(["sim", "--config", str(config), "--duration", "20"]) == 2
    err = capsys.readouterr().err
    assert f"{path}: is damaged" in err and "Traceback" not in err
    assert time.monotonic() - started < 10, "refused at once, not after restarts"


def _rows(folder: Path) -> tuple[list[tuple[str, str]], list[tuple[object, ...]]]:
    with sqlite3.connect(folder / "schedule.sqlite") as db:
        messages = db.execute("SELECT id, body FROM messages ORDER BY id").fetchall()
        audit = db.execute("SELECT * FROM audit ORDER BY seq").fetchall()
    return messages, audit


def test_a_backup_taken_while_onthaal_runs_and_writes_restores_to_identical_data(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A plain copy of the live file held half the messages; the backup is a snapshot."""
    site = tmp_path / "site"
    site.mkdir()
    config = isolated_config(site)
    running = subprocess.Popen(
        [sys.executable, "-m", "onthaal", "sim", "--config", str(config)],
        cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    stop = threading.Event()
    written = 0

    def staff_at_work() -> None:  # another program writing all the while
        nonlocal written
        store = None
        while store is None:  # the running Onthaal may still be creating the file
            try:
                store = Store(site / "var" / "schedule.sqlite", busy_timeout=10)
            except DatabaseUnusable:
                time.sleep(0.05)
        while not stop.is_set():
            store.add(_message(written), "staff", T0)
            written += 1
        store.close()

    try:
        deadline = time.monotonic() + 30
        while not (site / "var" / "schedule.sqlite").exists():
            assert time.monotonic() < deadline and running.poll() is None, "sim did not start"
            time.sleep(0.1)
        writer = threading.Thread(target=staff_at_work)
        writer.start()
        time.sleep(0.5)
        assert main(["backup", str(tmp_path / "backup"), "--config", str(config)]) == 0
        time.sleep(0.3)
        stop.set()
        writer.join()
        with (
            pytest.raises(BackupError, match="another Onthaal runs"),
            site_lock(load_config(config), config),
        ):
            pass
        assert main(["restore", str(tmp_path / "backup"), "--config", str(config)]) == 2
        assert "another Onthaal runs on this site's data" in capsys.readouterr().err
    finally:
        running.terminate()
        running.communicate(timeout=20)
    messages, audit = _rows(tmp_path / "backup")
    assert 0 < len(messages) < written, "a snapshot taken while writes went on"
    assert len(audit) == len(messages), "each message with its audit entry: consistent"
    for item in (tmp_path / "backup").iterdir():
        assert item.stat().st_mode & 0o777 == 0o600, item
    assert (tmp_path / "backup").stat().st_mode & 0o777 == 0o700

    other = tmp_path / "other"
    other.mkdir()
    other_config = isolated_config(other)
    assert main(["restore", str(tmp_path / "backup"), "--config", str(other_config)]) == 0
    assert _rows(other / "var") == (messages, audit)
    assert main(["schedule", "list", "--json", "--config", str(other_config)]) == 0

    capsys.readouterr()
    assert main(["restore", str(tmp_path / "backup"), "--config", str(config)]) == 0
    assert _rows(site / "var") == (messages, audit), "the live site back to the snapshot"
    kept = list((site / "var").glob("schedule.sqlite.before-restore-*"))
    assert len(kept) == 1, "what it replaced is kept"
    assert main(["backup", str(tmp_path / "backup"), "--config", str(config)]) == 2
    assert "is not an empty folder" in capsys.readouterr().err
    (tmp_path / "backup" / "schedule.sqlite").write_bytes(b"SQLite format 3\x00tampered")
    assert main(["restore", str(tmp_path / "backup"), "--config", str(config)]) == 2
    assert "changed since the backup was made" in capsys.readouterr().err

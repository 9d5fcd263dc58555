"""#20: every bad input gets a clear 4xx (or exit 2) naming the field, and loses nothing.

The inputs are those a careless user and a hostile one sent (issue #20's probe): dates
at the ends of the calendar, numbers that are not finite, text with control characters,
lone surrogates, huge bodies; after each, the message list still works for everyone.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.test_web_api import bearer, kerst
from tests.web_harness import Site, running_site


@pytest.fixture
async def site(tmp_path: Path) -> AsyncIterator[Site]:
    async with running_site(tmp_path) as running:
        yield running


def _problems(response: httpx.Response) -> list[dict[str, Any]]:
    body = response.json()
    detail = body["detail"]
    return detail if isinstance(detail, list) else [{"loc": [], "msg": str(detail)}]


async def _list_still_works(http: httpx.AsyncClient) -> None:
    listed = await http.get("/api/v1/messages")
    assert listed.status_code == 200, listed.text[:300]
    page = await http.get("/messages")
    assert page.status_code in (200, 303), page.status_code


RAW_BODIES = {
    # name: (raw JSON text with a placeholder body, the field named in the answer)
    "priority not finite (1e309)": ('"priority": 1e309', "priority"),
    "priority NaN": ('"priority": NaN', "priority"),
    "priority Infinity": ('"priority": -Infinity', "priority"),
    "a lone surrogate in the title": ('"title": "abc\\ud800"', "title"),
    "a 5,000-digit priority": ('"priority": ' + "9" * 5000, "body"),  # not JSON Python reads
}


@pytest.mark.parametrize("name", sorted(RAW_BODIES))
async def test_raw_json_that_python_reads_oddly_gets_422_naming_the_field(
    site: Site, name: str
) -> None:
    fragment, field = RAW_BODIES[name]
    base = json.dumps(kerst())
    body = base[:-1] + ", " + fragment + "}"
    async with httpx.AsyncClient(base_url=site.url, headers=bearer(site.admin_token)) as http:
        answer = await http.post(
            "/api/v1/messages", content=body, headers={"content-type": "application/json"}
        )
        assert answer.status_code == 422, answer.text[:500]
        assert any(field in map(str, p["loc"]) for p in _problems(answer)), answer.text[:500]
        await _list_still_works(http)


BAD_FIELDS = {
    "starts in year 1 east of UTC": (
        {"starts": "0001-01-01T00:30+14:00", "ends": "0001-01-01T01:00+14:00", "every": None},
        "starts",
    ),
    "starts in 9998": ({"starts": "9998-12-31T00:00", "ends": None, "every": None}, "starts"),
    "starts at the last second": (
        {"starts": "9999-12-31T23:59:59+00:00", "ends": None, "every": None},
        "starts",
    ),
    "ends at the end of time": ({"ends": "9999-12-31T23:59:59.999999Z"}, "ends"),
    "recurring from 9999": ({"starts": "9999-06-01T00:00", "ends": None}, "starts"),
    "NUL in the title": ({"title": "Kerst\x00markt"}, "title"),
    "a bidi override in the content": (
        {"content": {"nl": {"title": "Kerst\u202emarkt"}}},
        "title",
    ),
    "a zero-width space in the body": (
        {"content": {"nl": {"title": "Kerst", "body": "op\u200bhet plein"}}},
        "body",
    ),
    "COUNT and UNTIL together": (
        {
            "every": None,
            "recurrence": {
                "rrule": "FREQ=DAILY;COUNT=3;UNTIL=20261231T000000Z",
                "dayparts": [{"start": "09:00", "end": "10:00"}],
            },
        },
        "recurrence",
    ),
    "every and recurrence together": (
        {"recurrence": {"rrule": "FREQ=DAILY", "dayparts": [{"start": "09:00", "end": "10:00"}]}},
        "every",
    ),
}


@pytest.mark.parametrize("name", sorted(BAD_FIELDS))
async def test_a_value_out_of_its_range_gets_422_naming_the_field(site: Site, name: str) -> None:
    changes, field = BAD_FIELDS[name]
    body = {k: v for k, v in kerst(**changes).items() if v is not None}
    async with httpx.AsyncClient(base_url=site.url, headers=bearer(site.admin_token)) as http:
        answer = await http.post("/api/v1/messages", json=body)
        assert answer.status_code == 422, answer.text[:500]
        assert any(field in ".".join(map(str, p["loc"])) + " " + p["msg"]
                   for p in _problems(answer)), answer.text[:500]  # fmt: skip
        await _list_still_works(http)


@pytest.mark.parametrize(
    ("path", "field"),
    [
        ("/api/v1/preview?at=9999-12-31T23:00", "at"),
        ("/api/v1/preview?at=0001-01-01T00:00", "at"),
        ("/api/v1/messages?active_at=9999-12-31T23:59:59", "active_at"),
        ("/api/v1/messages?active_at=0001-01-01T00:00%2B14:00", "active_at"),
    ],
)
async def test_query_times_at_the_ends_of_the_calendar_get_422(
    site: Site, path: str, field: str
) -> None:
    async with httpx.AsyncClient(base_url=site.url, headers=bearer(site.admin_token)) as http:
        answer = await http.get(path)
    assert answer.status_code == 422, answer.text[:500]
    assert any(field in map(str, p["loc"]) for p in _problems(answer)), answer.text


async def test_an_error_never_echoes_a_large_input(site: Site) -> None:
    big = "x" * 500_000
    async with httpx.AsyncClient(base_url=site.url, headers=bearer(site.admin_token)) as http:
        answer = await http.post("/api/v1/messages", json=kerst(title=big))
    assert answer.status_code in (413, 422)
    assert len(answer.content) < 5_000, len(answer.content)


async def test_malformed_json_gets_422_as_documented(site: Site) -> None:
    async with httpx.AsyncClient(base_url=site.url, headers=bearer(site.admin_token)) as http:
        for raw in (b'{"id": ', b"\xff\xfe not utf-8", b"[" * 10_000 + b"]" * 10_000):
            answer = await http.post(
                "/api/v1/messages", content=raw, headers={"content-type": "application/json"}
            )
            assert answer.status_code == 422, (raw[:20], answer.status_code, answer.text[:200])
            assert len(answer.content) < 5_000


async def test_a_stored_message_that_fails_todays_rules_does_not_break_the_list(
    site: Site, caplog: pytest.LogCaptureFixture
) -> None:
    """A row written by an older version (or by hand) with a time at the end of the
    calendar made every list a 500 for everyone; it is now left out, logged, deletable."""
    async with httpx.AsyncClient(base_url=site.url, headers=bearer(site.admin_token)) as http:
        for message_id in ("kerst", "broken"):
            assert (
                await http.post("/api/v1/messages", json=kerst(id=message_id))
            ).status_code == 201
        store = site.services.store
        body = json.loads(
            store._db.execute("SELECT body FROM messages WHERE id='broken'").fetchone()[0]
        )
        body["starts"], body["ends"] = "0001-01-01T00:30:00+14:00", "0001-01-01T01:00:00+14:00"
        store._db.execute("UPDATE messages SET body = ? WHERE id = 'broken'", (json.dumps(body),))
        listed = await http.get("/api/v1/messages")
        assert listed.status_code == 200 and [m["id"] for m in listed.json()] == ["kerst"]
        assert (await http.get("/messages")).status_code in (200, 303)
        assert (await http.get("/api/v1/messages/broken")).status_code == 404
        assert (await http.delete("/api/v1/messages/broken")).status_code == 204
        assert (await http.get("/api/v1/messages?limit=10")).status_code == 200
    assert any(
        "'broken'" in r.getMessage() and "left out" in r.getMessage() for r in caplog.records
    )


async def test_a_form_with_a_file_or_a_word_for_a_number_is_refused_not_stored(site: Site) -> None:
    from tests.test_web_api import csrf_of, login

    async with httpx.AsyncClient(base_url=site.url) as http:
        await login(http, "staff")
        csrf = csrf_of(await http.get("/messages/new"))
        fields = {"csrf": csrf, "id": "upload", "title_nl": "Kerst",
                  "target:group:hall": "group:hall", "starts": "2026-12-19T08:00"}  # fmt: skip
        uploaded = await http.post("/messages", data=fields,
                                   files={"body_nl": ("x.txt", b"5" * 5000)})  # fmt: skip
        assert uploaded.status_code == 422 and "a file cannot be sent here" in uploaded.text
        worded = await http.post("/messages", data={**fields, "priority": "high"})
        assert worded.status_code == 422 and "priority" in worded.text
        late = await http.post("/messages", data={**fields, "starts": "9999-12-31T23:59"})
        assert late.status_code == 422 and "must lie between" in late.text
    async with httpx.AsyncClient(base_url=site.url, headers=bearer(site.admin_token)) as http:
        assert (await http.get("/api/v1/messages/upload")).status_code == 404


# -- schemathesis over the served API, and properties of the domain's parsers ----------------


async def test_schemathesis_finds_no_server_error_and_no_schema_violation(
    site: Site, tmp_path: Path
) -> None:
    """#20: generated requests (a fixed seed, a bounded number per operation) against the
    served API with an admin token: every answer a documented status with a documented
    body and content type; no 5xx; requests the schema forbids are refused.

    One check is left out, positive_data_acceptance: the schema cannot say that an end
    comes after a start, that a rule falls between them, or that a target exists, so a
    schema-valid message can rightly be refused (422, naming the rule).
    """
    import asyncio
    import shutil
    import sys

    command = shutil.which("schemathesis") or str(Path(sys.executable).parent / "schemathesis")
    process = await asyncio.create_subprocess_exec(
        command, "run", f"{site.url}/openapi.json",
        "-H", f"Authorization: Bearer {site.admin_token}",
        "--checks", "all", "--exclude-checks", "positive_data_acceptance",
        "--max-examples", "5", "--seed", "20", "--no-color", "--workers", "1",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        cwd=tmp_path,  # its cache of findings goes there, not into the repository
    )  # fmt: skip
    output, _ = await asyncio.wait_for(process.communicate(), 240)
    report = output.decode("utf-8", "replace")
    assert process.returncode == 0, report[-6000:]
    assert "Tested: " in report and " passed" in report, report[-2000:]


@given(st.text(max_size=80))
def test_the_parsers_refuse_any_text_with_an_input_error_only(text: str) -> None:
    from zoneinfo import ZoneInfo

    from beacons.content import check_text
    from scheduler.parse import InputError, parse_every, parse_targets, site_time

    for parse in (parse_every, parse_targets, lambda t: site_time(t, ZoneInfo("Europe/Brussels"))):
        try:
            parse(text)
        except InputError as exc:
            assert len(str(exc)) < 400, "an error never quotes much input"
    try:
        check_text(text)
    except ValueError as exc:
        assert "character" in str(exc)


@given(st.datetimes(timezones=st.timezones() | st.none()))
def test_any_moment_is_in_the_window_or_refused_plainly(moment: Any) -> None:
    from zoneinfo import ZoneInfo

    from scheduler.model import EARLIEST, LATEST
    from scheduler.parse import InputError, site_time

    try:
        got = site_time(moment, ZoneInfo("Pacific/Kiritimati"))  # UTC+14, the far edge
    except InputError as exc:
        assert "must lie between" in str(exc)
    else:
        assert EARLIEST <= got < LATEST

"""#22: recurrence as staff say it, in four languages, and back to the same schedule."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scheduler.model import Daypart, Message, Targets
from scheduler.parse import InputError, parse_every
from scheduler.recurrence import WEEKDAYS, Pattern, describe, parse, pattern_of

TZ = ZoneInfo("Europe/Brussels")
LANGUAGES = ("nl", "fr", "en", "de")


def _daypart(start: time, end: time) -> Daypart:
    return Daypart(start=start, end=end)


times = st.builds(time, st.integers(0, 23), st.sampled_from([0, 5, 15, 30, 45, 59]))
dayparts = (
    st.tuples(times, times)
    .filter(lambda pair: pair[0] != pair[1])
    .map(lambda pair: _daypart(*pair))
)
skips = st.lists(st.dates(date(2026, 1, 1), date(2028, 12, 31)), max_size=3, unique=True)


@st.composite
def patterns(draw: st.DrawFn) -> Pattern:
    unit = draw(st.sampled_from(["day", "week", "month"]))
    every = draw(st.integers(1, 12))
    windows = tuple(draw(st.lists(dayparts, min_size=1, max_size=3)))
    skip = tuple(sorted(draw(skips)))
    if unit == "day":
        return Pattern("day", every, windows=windows, skip=skip)
    if unit == "week":
        days = draw(st.lists(st.sampled_from(WEEKDAYS), min_size=1, max_size=7, unique=True))
        return Pattern(
            "week", every, tuple(d for d in WEEKDAYS if d in days), windows=windows, skip=skip
        )
    day = draw(st.sampled_from(WEEKDAYS))
    ordinal = draw(st.sampled_from([1, 2, 3, 4, -1]))
    return Pattern("month", every, (day,), ordinal, windows=windows, skip=skip)


@settings(max_examples=150, deadline=None, derandomize=True)
@given(patterns(), st.sampled_from(LANGUAGES))
def test_every_recurrence_described_reads_back_as_the_same_schedule(
    pattern: Pattern, language: str
) -> None:
    recurrence = pattern.recurrence()
    assert pattern_of(recurrence) == pattern, "the form shows what it saved"
    said = describe(recurrence, language, 2026)
    assert parse(said, 2026) == recurrence, said
    assert parse(said, 2026, language) == recurrence, said


@pytest.mark.parametrize(
    ("text", "rule", "windows", "skipped"),
    [
        ("werkdagen 08:30-12:00", "FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR", ["08:30-12:00"], []),
        ("elke dag 9:00-12:00 13:30-16:00", "FREQ=DAILY", ["09:00-12:00", "13:30-16:00"], []),
        ("mon,wed 14:00-16:00", "FREQ=WEEKLY;BYDAY=MO,WE", ["14:00-16:00"], []),
        ("tous les jours 9h-12h", "FREQ=DAILY", ["09:00-12:00"], []),
        ("om de 2 weken op vrijdag 22:00-06:00", "FREQ=WEEKLY;INTERVAL=2;BYDAY=FR",
         ["22:00-06:00"], []),
        ("jeden ersten Dienstag im Monat von 9.00 bis 11.00 Uhr", "FREQ=MONTHLY;BYDAY=1TU",
         ["09:00-11:00"], []),
        ("every last Friday of the month 16:00-17:00", "FREQ=MONTHLY;BYDAY=-1FR",
         ["16:00-17:00"], []),
        ("elke maandag en woensdag van 8.30 tot 12.00, niet op 11 november",
         "FREQ=WEEKLY;BYDAY=MO,WE", ["08:30-12:00"], [date(2026, 11, 11)]),
        ("weekdays 08:00-09:00 except 24/12 and 2027-01-02", "FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR",
         ["08:00-09:00"], [date(2026, 12, 24), date(2027, 1, 2)]),
    ],
)  # fmt: skip
def test_what_people_type_is_read(
    text: str, rule: str, windows: list[str], skipped: list[date]
) -> None:
    recurrence = parse_every(text, 2026)
    assert recurrence.rrule == rule
    assert [str(p) for p in recurrence.dayparts] == windows
    assert recurrence.exdates == skipped


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("fortnightly 09:00-10:00", "not understood"),
        ("elke maandag", "time window"),
        ("every Monday 25:00-26:00", "not a time of day"),
        ("09:00-10:00", "which days"),
        ("weekdays 09:00-10:00 not on 31 february", "day is out of range"),
        ("every first 09:00-10:00", "monthly message needs one day"),
    ],
)
def test_what_cannot_be_read_says_why(text: str, reason: str) -> None:
    with pytest.raises(InputError, match=reason):
        parse_every(text, 2026)


def test_a_skipped_date_is_skipped_and_an_overnight_window_ends_the_next_day() -> None:
    said = "elke maandag en woensdag van 8.30 tot 12.00, niet op 11 november"
    monday_wednesday = Message(
        id="loket-3",
        title="Loket 3",
        content={"nl": {"title": "Loket 3 is open", "body": ""}},
        targets=Targets(everything=True),
        starts=datetime(2026, 11, 1, tzinfo=UTC),
        recurrence=parse_every(said, 2026),
    )
    shown = monday_wednesday.occurrences(
        TZ, datetime(2026, 11, 9, tzinfo=UTC), datetime(2026, 11, 17, tzinfo=UTC)
    )
    days = [start.astimezone(TZ).date() for start, _ in shown]
    assert days == [date(2026, 11, 9), date(2026, 11, 16)], "not Wednesday 11 November"
    assert shown[0][0].astimezone(TZ).time() == time(8, 30)

    night = monday_wednesday.model_copy(
        update={"recurrence": parse_every("every Friday 22:00-06:00", 2026)}
    )
    (start, end), *_ = night.occurrences(
        TZ, datetime(2026, 11, 13, tzinfo=UTC), datetime(2026, 11, 15, tzinfo=UTC)
    )
    assert start.astimezone(TZ) == datetime(2026, 11, 13, 22, 0, tzinfo=TZ)
    assert end.astimezone(TZ) == datetime(2026, 11, 14, 6, 0, tzinfo=TZ)


def test_a_rule_the_form_cannot_show_is_described_as_it_is() -> None:
    from scheduler.model import Recurrence

    odd = Recurrence(rrule="FREQ=MONTHLY;BYMONTHDAY=15", dayparts=[Daypart.parse("09:00-10:00")])
    assert pattern_of(odd) is None
    assert describe(odd, "nl") == "FREQ=MONTHLY;BYMONTHDAY=15 van 9.00 tot 10.00"


def test_a_message_follows_the_buildings_calendar_when_told_to() -> None:
    """#22: "only while the building is open / closed", holidays and closing days too."""
    from onthaal.config import load_config
    from onthaal.dialogue_setup import opening_calendar
    from scheduler.resolve import windows_of
    from tests.configs import REPO

    hours = opening_calendar(load_config(REPO / "robot.toml"))
    closed_sign = Message(
        id="gesloten",
        title="Gesloten",
        content={"nl": {"title": "Nu gesloten", "body": "Kom terug tijdens de openingsuren"}},
        targets=Targets(everything=True),
        starts=datetime(2026, 11, 1, tzinfo=UTC),
        recurrence=parse_every("elke dag van 7.00 tot 20.00", 2026),
        building="closed",
    )

    def local(day: date) -> list[tuple[str, str]]:
        begin = datetime.combine(day, time(0), tzinfo=TZ)
        found = windows_of(closed_sign, TZ, begin, begin + timedelta(days=1), hours)
        return [(f"{a.astimezone(TZ):%H:%M}", f"{b.astimezone(TZ):%H:%M}") for a, b in found]

    tuesday = date(2026, 11, 24)  # open 8.30-12.00
    assert local(tuesday) == [("07:00", "08:30"), ("12:00", "20:00")]
    assert local(date(2026, 11, 11)) == [("07:00", "20:00")], "Armistice Day: closed all day"
    assert local(date(2026, 12, 24)) == [("07:00", "20:00")], "a closing day in robot.toml"
    while_open = closed_sign.model_copy(update={"building": "open"})
    begin = datetime.combine(tuesday, time(0), tzinfo=TZ)
    (window,) = windows_of(while_open, TZ, begin, begin + timedelta(days=1), hours)
    assert [f"{w.astimezone(TZ):%H:%M}" for w in window] == ["08:30", "12:00"]

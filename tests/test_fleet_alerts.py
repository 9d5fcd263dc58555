"""Fleet health and alerts: states with reasons, both edges once, real SMTP and webhook.

The acceptance run: in a simulated day, a beacon taken out of range shows "stale"
within the configured minutes, and exactly one alert goes out (to an SMTP server and a
webhook receiver on loopback), then exactly one "recovered".
"""

from __future__ import annotations

import io
import json
from datetime import datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from beacons.alert_log import AlertLog
from beacons.alerts import Alerter, AlertRules, release
from beacons.ble import BeaconState
from beacons.fleet import FleetRules, Health, Observation, assess, days_left
from beacons.signage import DisplayState
from clock import VirtualClock
from onthaal.alert_channels import (
    Channel,
    ChannelError,
    EmailChannel,
    WebhookChannel,
    signature_ok,
)
from onthaal.config import EmailConfig, WebhookConfig, load_config
from onthaal.fleet_stack import FleetSources, FleetWatch, Known
from onthaal.scenario.model import load_scenario
from onthaal.scenario.runner import ScenarioRun
from scheduler.dispatch import DeviceStatus
from tests.configs import isolated_config
from tests.receivers import SmtpReceiver, WebhookReceiver

BRUSSELS = ZoneInfo("Europe/Brussels")
SITE_NAME = load_config(Path(__file__).resolve().parent.parent / "robot.toml").site.name
T0 = datetime(2026, 12, 1, 9, 0, tzinfo=BRUSSELS)
RULES = FleetRules(
    stale_after={
        "beacon": timedelta(minutes=3),
        "robot": timedelta(days=1),
        "display": timedelta(days=1),
    }
)


def beacon(last_seen: datetime | None, **more: object) -> Observation:
    return Observation("hall-door", "beacon", "hall", "Inkomhal, deur", last_seen, **more)  # type: ignore[arg-type]


# -- judging ------------------------------------------------------------------------------


def test_a_beacon_not_heard_for_longer_than_allowed_is_stale_and_says_why() -> None:
    assert assess(beacon(T0), T0 + timedelta(minutes=3), RULES).state == "online"
    late = assess(beacon(T0), T0 + timedelta(minutes=4), RULES)
    assert late.state == "stale" and late.down
    assert late.reason == "not heard for 4 min (allowed 3 min)"
    dutch = {"stale": "{ago} niet gehoord (toegestaan: {allowed})"}
    assert late.reason_in(dutch) == "4 min niet gehoord (toegestaan: 3 min)"
    assert assess(beacon(None), T0, RULES).state == "unknown"


def test_gone_beats_failing_beats_wrong_content_beats_low_battery() -> None:
    stale_and_failing = beacon(T0 - timedelta(hours=1), failed="lock key refused")
    assert assess(stale_and_failing, T0, RULES).state == "stale"
    failing = assess(beacon(T0, failed="lock key refused", battery_percent=5), T0, RULES)
    assert (failing.state, failing.reason) == ("failing", "lock key refused")
    unconfirmed = beacon(
        T0,
        wanted="kerst.v1",
        confirmed="default",
        wanted_since=T0 - timedelta(minutes=6),
        battery_percent=5,
    )
    assert assess(unconfirmed, T0, RULES).state == "wrong-content"
    low = assess(beacon(T0, battery_percent=15), T0, RULES, days_left=12.4)
    assert (low.state, low.reason) == ("low-battery", "battery 15 %, about 12 days left")
    screen = Observation("hall-info", "display", online=False, last_seen=T0 - timedelta(minutes=2))
    assert assess(screen, T0, RULES).reason == "it reports offline (last sign 2 min ago)"


def test_days_left_comes_from_the_trend_not_from_one_reading() -> None:
    draining = [(T0 + timedelta(days=d), 60 - 2 * d) for d in range(10)]  # 2 % a day
    assert days_left(draining) == pytest.approx(21.0)
    assert days_left(draining[:2]) is None  # too little to tell
    assert days_left([(T0 + timedelta(days=d), 80) for d in range(5)]) is None  # not draining


# -- alerting ------------------------------------------------------------------------------


def health(state: str, device: str = "hall-door") -> Health:
    return Health(device, "beacon", state, state)  # type: ignore[arg-type]


def test_each_edge_once_and_a_blip_within_the_grace_period_raises_nothing() -> None:
    rules = AlertRules(after={"down": timedelta(minutes=2), "wrong-content": timedelta(0),
                              "low-battery": timedelta(0)})  # fmt: skip
    alerter = Alerter(rules)
    minute = timedelta(minutes=1)
    assert alerter.observe([health("stale")], T0) == []
    assert alerter.observe([health("online")], T0 + minute) == []  # back within 2 min
    assert alerter.observe([health("stale")], T0 + 2 * minute) == []
    raised = alerter.observe([health("stale")], T0 + 4 * minute)
    assert [(a.condition, a.edge) for a in raised] == [("down", "problem")]
    assert alerter.observe([health("offline")], T0 + 5 * minute) == []  # still down: quiet
    back = alerter.observe([health("online")], T0 + 9 * minute)
    assert [(a.edge, a.since) for a in back] == [("recovered", T0 + 2 * minute)]
    assert alerter.observe([health("online")], T0 + 10 * minute) == []


def test_a_restart_neither_repeats_an_open_problem_nor_forgets_its_recovery(
    tmp_path: Path,
) -> None:
    log = AlertLog(tmp_path / "alerts.sqlite")
    first = Alerter(AlertRules())
    (problem,) = first.observe([health("stale")], T0)
    assert log.add(problem, "pending") and not log.add(problem, "pending")  # one row per edge
    log.close()
    log = AlertLog(tmp_path / "alerts.sqlite")
    again = Alerter(AlertRules(), log.open_problems())
    assert again.observe([health("stale")], T0 + timedelta(minutes=5)) == []
    (recovered,) = again.observe([health("online")], T0 + timedelta(minutes=6))
    assert (recovered.edge, recovered.since) == ("recovered", T0)
    assert (tmp_path / "alerts.sqlite").stat().st_mode & 0o777 == 0o600


def test_quiet_hours_hold_alerts_and_what_is_over_by_morning_goes_to_the_digest() -> None:
    rules = AlertRules(quiet=(time(22, 0), time(7, 0)), tz=BRUSSELS)
    night = datetime(2026, 12, 1, 23, 30, tzinfo=BRUSSELS)
    assert rules.quiet_at(night) and rules.quiet_at(night + timedelta(hours=6))
    assert not rules.quiet_at(night + timedelta(hours=8))
    assert rules.quiet_ends(night) == datetime(2026, 12, 2, 7, 0, tzinfo=BRUSSELS)
    alerter = Alerter(rules)
    held = [
        *alerter.observe([health("stale", "a"), health("stale", "b")], night),
        *alerter.observe([health("online", "a"), health("stale", "b")], night + timedelta(hours=1)),
    ]
    assert release(held, night + timedelta(hours=2), rules) == ([], [])  # still quiet
    send, digest = release(held, night + timedelta(hours=8), rules)
    assert [(a.device, a.edge) for a in send] == [("b", "problem")]
    assert sorted((a.device, a.edge) for a in digest) == [("a", "problem"), ("a", "recovered")]


# -- channels, against real peers ---------------------------------------------------------


def test_an_alert_by_email_reaches_a_real_smtp_server() -> None:
    server = SmtpReceiver()
    try:
        config = EmailConfig(
            host="127.0.0.1", port=server.port, security="none",
            sender="onthaal@aalter.be", to=["ict@aalter.be"],
        )  # fmt: skip
        EmailChannel(config).send("Onthaal: hall-door down", "Sinds: 09:00\n", {})
        (mail,) = server.mails
        assert mail.recipients == ["ict@aalter.be"] and mail.subject == "Onthaal: hall-door down"
        assert "Sinds: 09:00" in mail.text
        server.refuse = True
        with pytest.raises(ChannelError, match="451"):
            EmailChannel(config).send("again", "x", {})
    finally:
        server.close()
    with pytest.raises(ChannelError, match=r"SMTP 127\.0\.0\.1"):  # nobody listens any more
        EmailChannel(config).send("gone", "x", {})


def test_a_webhook_is_signed_and_a_receiver_can_check_it() -> None:
    receiver = WebhookReceiver()
    try:
        channel = WebhookChannel(
            WebhookConfig(url=receiver.url, secret_env="HOOK_SECRET"),
            env={"HOOK_SECRET": "s3cret"},
            wall=lambda: 1_780_000_000.0,
        )
        channel.send("subject", "text", {"device": "hall-door", "edge": "problem"})
        (call,) = receiver.calls
        assert call.json["device"] == "hall-door" and call.json["subject"] == "subject"
        stamp = call.headers["X-Onthaal-Timestamp"]
        assert stamp == "1780000000"
        assert signature_ok(b"s3cret", stamp, call.body, call.headers["X-Onthaal-Signature"])
        assert not signature_ok(b"other", stamp, call.body, call.headers["X-Onthaal-Signature"])
        receiver.status = 500
        with pytest.raises(ChannelError, match="HTTP 500"):
            channel.send("subject", "text", {})
    finally:
        receiver.close()


async def test_a_failed_send_is_kept_tried_again_and_never_sent_twice(tmp_path: Path) -> None:
    server, hook = SmtpReceiver(), WebhookReceiver()
    config_path = isolated_config(tmp_path, alerts__digest_at='""')
    config = load_config(config_path)
    channels: list[Channel] = [
        EmailChannel(EmailConfig(host="127.0.0.1", port=server.port, security="none",
                                 sender="o@aalter.be", to=["ict@aalter.be"])),
        WebhookChannel(WebhookConfig(url=hook.url)),
    ]  # fmt: skip
    seen = {"at": T0}
    sources = FleetSources(
        devices=[Known("hall-door", "beacon", "hall", "Inkomhal, deur")],
        beacons=lambda: {},
        status=lambda: {"hall-door": DeviceStatus("hall-door")},
    )
    sources.beacons = lambda: {"hall-door": _beacon_seen(seen["at"])}
    try:
        async with VirtualClock(T0, settle=0.001) as clock:
            watch = FleetWatch(config, clock, sources, AlertLog(":memory:"), channels)
            await watch.look()
            assert watch.fleet()[0].state == "online"
            hook.status = 503  # the webhook receiver is down; e-mail works
            await clock.sleep(11 * 60)
            raised = await watch.look()
            assert [(a.device, a.edge) for a in raised] == [("hall-door", "problem")]
            assert len(server.mails) == 1 and hook.calls == []
            hook.status = 204
            await watch.look()  # too early: the retry waits a minute
            assert hook.calls == []
            await clock.sleep(61)
            await watch.look()
            assert len(hook.calls) == 1 and len(server.mails) == 1  # e-mail not sent again
            assert "Inkomhal, deur" in server.mails[0].subject
    finally:
        server.close()
        hook.close()


def _beacon_seen(at: datetime) -> BeaconState:
    return BeaconState("hall-door", last_seen=at)


async def test_the_daily_digest_lists_what_is_not_fine_once_a_day(tmp_path: Path) -> None:
    server = SmtpReceiver()
    config = load_config(isolated_config(tmp_path, alerts__digest_at='"08:00"'))
    channel = EmailChannel(EmailConfig(host="127.0.0.1", port=server.port, security="none",
                                       sender="o@aalter.be", to=["ict@aalter.be"]))  # fmt: skip
    sources = FleetSources(
        devices=[Known("hall-info", "display", "hall", "Infozuil")],
        displays=lambda: {
            "hall-info": DisplayState("hall-info", online=False, last_state=T0 - timedelta(hours=3))
        },
    )
    start = datetime(2026, 12, 2, 7, 59, tzinfo=BRUSSELS)
    try:
        async with VirtualClock(start, settle=0.001) as clock:
            watch = FleetWatch(config, clock, sources, AlertLog(":memory:"), [channel])
            await watch.look()  # 07:59: the display's offline alert, no digest yet
            assert [m.subject for m in server.mails] == [f"{SITE_NAME}: Infozuil — offline"]
            await clock.sleep(120)
            await watch.look()
            await watch.look()
            digests = [m for m in server.mails if "dagoverzicht" in m.subject]
            assert len(digests) == 1
            assert "Infozuil: offline" in digests[0].text
            assert "Meldingen van de voorbije 24 uur:" in digests[0].text
    finally:
        server.close()


# -- the acceptance run --------------------------------------------------------------------

OUT_OF_RANGE = """
[day]
name = "A beacon goes missing"
date = "2026-12-01"
opens = "09:00"
closes = "10:00"

[visitors]
arrivals = ["09:05", "09:40"]

[[faults]]
at = "09:20"
kind = "beacon-out-of-range"
target = "hall-door"
duration = 600

[[expect]]
kind = "device-state"
device = "hall-door"
at = "09:19"
state = "online"

[[expect]]
kind = "device-state"
device = "hall-door"
at = "09:24"
state = "stale"

[[expect]]
kind = "device-state"
device = "hall-door"
at = "09:45"
state = "online"
"""


async def test_a_beacon_out_of_range_is_stale_in_time_and_alerts_once_each_way(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    server, hook = SmtpReceiver(), WebhookReceiver()
    monkeypatch.setenv("TEST_HOOK_SECRET", "gedeeld-geheim")
    email = (
        f'{{ host = "127.0.0.1", port = {server.port}, security = "none", '
        f'sender = "onthaal@aalter.be", to = ["ict@aalter.be"] }}'
    )
    config_path = isolated_config(
        tmp_path,
        fleet__beacon_stale_minutes="3",
        fleet__check_seconds="15",
        alerts__digest_at='""',
        alerts__email=email,
        alerts__webhook=f'{{ url = "{hook.url}", secret_env = "TEST_HOOK_SECRET" }}',
    )
    scenario_file = tmp_path / "day.toml"
    scenario_file.write_text(OUT_OF_RANGE, encoding="utf-8")
    try:
        runner = ScenarioRun(
            load_scenario(scenario_file),
            load_config(config_path),
            config_path,
            seed=1,
            speed=None,
            journal=io.StringIO(),
        )
        await runner.run()
        result = runner.result
        assert result.ok, result.expectations
        about = [m.subject for m in server.mails]
        assert len(about) == 2, about
        assert "Inkomhal" in about[0] and "niet meer gehoord" in about[0]
        assert "werkt weer" in about[1]
        edges = [(c.json["device"], c.json["edge"]) for c in hook.calls]
        assert edges == [("hall-door", "problem"), ("hall-door", "recovered")]
        for call in hook.calls:
            assert signature_ok(
                b"gedeeld-geheim", call.headers["X-Onthaal-Timestamp"], call.body,
                call.headers["X-Onthaal-Signature"],
            )  # fmt: skip
        since = datetime.fromisoformat(hook.calls[0].json["since"])
        stale_at = since.astimezone(BRUSSELS)
        # Out of range at 09:20 and last heard up to a minute before (the simulated
        # radio's pulse): stale 3 minutes after that, noticed at the next look (15 s).
        assert datetime(2026, 12, 1, 9, 22, 0, tzinfo=BRUSSELS) <= stale_at
        assert stale_at <= datetime(2026, 12, 1, 9, 23, 15, tzinfo=BRUSSELS)
        assert json.loads(hook.calls[1].body)["since"] == hook.calls[0].json["since"]
    finally:
        server.close()
        hook.close()


@pytest.mark.parametrize(
    ("setting", "named"),
    [
        ({"alerts__email": '{ host = "smtp.aalter.be" }'}, "alerts.email"),
        ({"alerts__email": '{ host = "x", sender = "a", to = ["ict@aalter.be"] }'}, "'a' is not"),
        ({"alerts__webhook": '{ url = "ftp://x" }'}, "alerts.webhook.url"),
        ({"alerts__quiet_hours": '"22:00-7"'}, "alerts.quiet_hours"),
        ({"fleet__beacon_stale_minutes": "0"}, "fleet.beacon_stale_minutes"),
    ],
)
def test_bad_alert_settings_are_refused_naming_the_key(
    tmp_path: Path, setting: dict[str, str], named: str
) -> None:
    from onthaal.config import ConfigError

    with pytest.raises(ConfigError, match=named.replace(".", r"\.")):
        load_config(isolated_config(tmp_path, **setting))

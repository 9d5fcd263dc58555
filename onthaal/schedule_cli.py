"""``onthaal schedule ...`` and ``onthaal emergency ...``: the schedule for staff and scripts.

Times are read and printed in the site's time zone. Every change is written to the
schedule database with the acting person in the audit trail; a running Onthaal picks it
up within seconds. Bad input exits 2 with the reason.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import ValidationError

from beacons.content import LocalizedContent
from clock import RealClock
from onthaal.config import Config
from onthaal.scheduler_stack import build_dispatcher, devices, open_store, url_beacons
from scheduler.model import (
    Daypart,
    Kind,
    Message,
    Recurrence,
    Targets,
    describe_recurrence,
    emergency_notice,
)
from scheduler.store import Store, StoreError
from scheduler.validate import problems

EXIT_OK, EXIT_FAILURE, EXIT_BAD_INPUT = 0, 1, 2

_DAYS = {"mon": "MO", "tue": "TU", "wed": "WE", "thu": "TH", "fri": "FR", "sat": "SA", "sun": "SU"}
_EVERY = re.compile(r"^\s*(?P<days>[a-z, ]+?)\s+(?P<parts>\d.*)$", re.IGNORECASE)


class BadInput(ValueError):
    """Input a person must correct; the message says how."""


def parse_every(text: str) -> Recurrence:
    """Plain words to a recurrence: "weekdays 08:30-12:00", "daily 09:00-10:00",
    "mon,wed 14:00-16:00", "weekends 10:00-12:00"."""
    match = _EVERY.match(text)
    if match is None:
        raise BadInput(f"--every {text!r}: expected e.g. 'weekdays 08:30-12:00'")
    days = match["days"].strip().lower()
    if days in ("daily", "every day", "day", "days"):
        rule = "FREQ=DAILY"
    elif days in ("weekdays", "weekday"):
        rule = "FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR"
    elif days in ("weekends", "weekend"):
        rule = "FREQ=WEEKLY;BYDAY=SA,SU"
    else:
        names = [d.strip()[:3] for d in days.split(",") if d.strip()]
        unknown = [n for n in names if n not in _DAYS]
        if unknown or not names:
            raise BadInput(f"--every {text!r}: unknown day(s) {', '.join(unknown) or days!r}")
        rule = "FREQ=WEEKLY;BYDAY=" + ",".join(_DAYS[n] for n in names)
    try:
        parts = [Daypart.parse(p) for p in re.split(r"[,\s]+", match["parts"].strip()) if p]
        return Recurrence(rrule=rule, dayparts=parts)
    except (ValueError, ValidationError) as exc:
        raise BadInput(f"--every {text!r}: {_first_error(exc)}") from None


def add_parsers(commands: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:  # type: ignore[type-arg]
    """Add ``schedule`` and ``emergency``."""
    schedule = commands.add_parser("schedule", help="scheduled messages for screens and beacons")
    sub = schedule.add_subparsers(dest="schedule_command", required=True)
    for name in ("add", "edit"):
        command = sub.add_parser(name, parents=[common], help=f"{name} a message")
        command.add_argument("id", help="message id (lower case, digits, '-')")
        _message_options(command, required=name == "add")
    sub.add_parser("list", parents=[common], help="list messages").add_argument(
        "--json", action="store_true"
    )
    show = sub.add_parser("show", parents=[common], help="one message and its audit trail")
    show.add_argument("id")
    delete = sub.add_parser("delete", parents=[common], help="delete a message")
    delete.add_argument("id")
    delete.add_argument("--actor", default="cli", help="who does this (audit trail)")
    preview = sub.add_parser("preview", parents=[common], help="what every device shows then")
    preview.add_argument("--at", required=True, help='local time, e.g. "2026-12-24 10:00"')
    preview.add_argument("--json", action="store_true")

    emergency = commands.add_parser("emergency", help="raise or clear an emergency notice")
    esub = emergency.add_subparsers(dest="emergency_command", required=True)
    start = esub.add_parser("start", parents=[common], help="show a notice everywhere now")
    start.add_argument("--text", action="append", required=True, metavar="LANG=TEXT")
    start.add_argument("--targets", default="everything", help="default: everything")
    start.add_argument("--link", help="link for beacons (short)")
    start.add_argument("--actor", default="cli")
    stop = esub.add_parser("stop", parents=[common], help="end every active emergency")
    stop.add_argument("--actor", default="cli")


def _message_options(command: argparse.ArgumentParser, *, required: bool) -> None:
    command.add_argument("--title", required=required, help="for staff lists")
    command.add_argument(
        "--text",
        action="append",
        required=required,
        metavar="LANG=TITLE[|BODY]",
        help='per language, e.g. --text "nl=Kerstmarkt|Zaterdag op het plein"',
    )
    command.add_argument("--link", action="append", default=[], metavar="LANG=URL")
    command.add_argument(
        "--targets",
        required=required,
        help="everything, or e.g. display:hall-info,group:hall,beacon:hall-door",
    )
    command.add_argument("--from", dest="starts", required=required, help="local start time")
    command.add_argument("--until", dest="ends", help="local end time")
    command.add_argument("--every", help="e.g. 'weekdays 08:30-12:00'")
    command.add_argument("--rrule", help="an RFC 5545 RRULE (with --daypart)")
    command.add_argument("--daypart", action="append", default=[], help="HH:MM-HH:MM")
    command.add_argument("--priority", type=int, help="0-100 (default 50)")
    command.add_argument("--actor", default="cli", help="who does this (audit trail)")


def run_schedule_command(args: argparse.Namespace, config: Config, config_path: Any) -> int:
    """Run ``schedule ...`` or ``emergency ...``; the exit code."""
    tz = ZoneInfo(config.site.timezone)
    store = open_store(config, config_path)
    try:
        if args.command == "emergency":
            return _emergency(args, config, store, tz)
        return _schedule(args, config, store, tz)
    except BadInput as exc:
        print(str(exc), file=sys.stderr)
        return EXIT_BAD_INPUT
    except StoreError as exc:
        print(str(exc), file=sys.stderr)
        return EXIT_BAD_INPUT
    finally:
        store.close()


def _schedule(args: argparse.Namespace, config: Config, store: Store, tz: ZoneInfo) -> int:
    now = RealClock().now()
    command = args.schedule_command
    if command in ("add", "edit"):
        base = store.get(args.id).model_dump() if command == "edit" else {"id": args.id}
        message = _build(base, args, config, tz)
        found = problems(message, devices(config), url_beacons(config), tz)
        if found:
            raise BadInput("\n".join(found))
        saved = (
            store.add(message, args.actor, now)
            if command == "add"
            else store.update(message, args.actor, now)
        )
        print(f"{saved.id} v{saved.version} saved: {_summary(saved, tz)}")
        return EXIT_OK
    if command == "list":
        messages = store.messages()
        if args.json:
            print(json.dumps([m.model_dump(mode="json") for m in messages], indent=2))
        for message in [] if args.json else messages:
            print(f"{message.id:<24} {_summary(message, tz)}")
        return EXIT_OK
    if command == "show":
        message = store.get(args.id)
        print(json.dumps(message.model_dump(mode="json"), indent=2, ensure_ascii=False))
        for entry in store.audit(args.id):
            print(f"  {entry.at}  {entry.actor:<12} {entry.action}")
        return EXIT_OK
    if command == "delete":
        store.delete(args.id, args.actor, now)
        print(f"{args.id} deleted")
        return EXIT_OK
    at = _local_time(args.at, "--at", tz)
    dispatcher = build_dispatcher(config, store, RealClock(), displays=None, beacons=None)
    showing = dispatcher.preview(at)
    if args.json:
        print(json.dumps({d: s.content_id for d, s in showing.items()}, indent=2))
    else:
        print(f"at {at:%Y-%m-%d %H:%M %Z}:")
        for device, item in showing.items():
            title = item.message.title if item.message else "(default)"
            print(f"  {device:<18} {title}")
    return EXIT_OK


def _emergency(args: argparse.Namespace, config: Config, store: Store, tz: ZoneInfo) -> int:
    now = RealClock().now()
    if args.emergency_command == "stop":
        ended = store.end_emergencies(args.actor, now)
        print(f"{ended} emergency notice(s) ended" if ended else "no emergency active")
        return EXIT_OK
    content = _content(
        args.text,
        [f"{lang}={args.link}" for lang in config.site.languages] if args.link else [],
        config,
    )
    try:
        localized = {lang: LocalizedContent.model_validate(c) for lang, c in content.items()}
    except ValidationError as exc:
        raise BadInput("\n".join(_describe(e) for e in exc.errors())) from None
    message = emergency_notice(localized, parse_targets(args.targets), now, tz)  # type: ignore[arg-type]
    found = problems(message, devices(config), url_beacons(config), tz)
    if found:
        raise BadInput("\n".join(found))
    store.add(message, args.actor, now)
    print(f"emergency {message.id} started")
    return EXIT_OK


def _build(base: dict[str, Any], args: argparse.Namespace, config: Config, tz: ZoneInfo) -> Message:
    data = dict(base)
    if args.title is not None:
        data["title"] = args.title
    if args.text:
        data["content"] = _content(args.text, args.link, config)
    if args.targets is not None:
        data["targets"] = parse_targets(args.targets)
    if args.starts is not None:
        data["starts"] = _local_time(args.starts, "--from", tz)
    if args.ends is not None:
        data["ends"] = _local_time(args.ends, "--until", tz)
    if args.every:
        data["recurrence"] = parse_every(args.every)
    elif args.rrule:
        try:
            data["recurrence"] = Recurrence(
                rrule=args.rrule,
                dayparts=[Daypart.parse(p) for p in args.daypart or ["00:00-23:59"]],
            )
        except (ValueError, ValidationError) as exc:
            raise BadInput(f"--rrule: {_first_error(exc)}") from None
    if args.priority is not None:
        data["priority"] = args.priority
    return _validated(data)


def _validated(data: dict[str, Any]) -> Message:
    try:
        return Message.model_validate(data)
    except ValidationError as exc:
        raise BadInput("\n".join(_describe(e) for e in exc.errors())) from None


def _describe(error: Any) -> str:
    where = ".".join(str(part) for part in error["loc"]) or "message"
    return f"{where}: {str(error['msg']).removeprefix('Value error, ')}"


def _first_error(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        return _describe(exc.errors()[0])
    return str(exc)


def _content(texts: list[str], links: list[str], config: Config) -> dict[str, dict[str, Any]]:
    content: dict[str, dict[str, Any]] = {}
    for text in texts:
        language, title, body = _split_language(text, "--text", config)
        headline, _, rest = title.partition("|")
        content[language] = {"title": headline.strip(), "body": (rest or body).strip()}
    for link in links:
        language, url, _ = _split_language(link, "--link", config)
        if language not in content:
            raise BadInput(f"--link {link!r}: no --text for language {language!r}")
        content[language]["link"] = url
    return content


def _split_language(text: str, option: str, config: Config) -> tuple[str, str, str]:
    language, sep, value = text.partition("=")
    language = language.strip()
    if not sep or not value.strip():
        raise BadInput(f"{option} {text!r}: expected LANG=VALUE, e.g. nl=Kerstmarkt")
    if language not in config.site.languages:
        offered = ", ".join(config.site.languages)
        raise BadInput(f"{option} {text!r}: unknown language {language!r} (site: {offered})")
    return language, value, ""


def parse_targets(text: str) -> Targets:
    """``everything`` or ``display:ID,beacon:ID,group:NAME``; raises :class:`BadInput`."""
    if text.strip() == "everything":
        return Targets(everything=True)
    found: dict[str, list[str]] = {"displays": [], "beacons": [], "groups": []}
    for item in (part.strip() for part in text.split(",") if part.strip()):
        kind, sep, name = item.partition(":")
        key = {"display": "displays", "beacon": "beacons", "group": "groups"}.get(kind)
        if not sep or key is None or not name:
            raise BadInput(
                f"targets {item!r}: expected display:ID, beacon:ID, group:NAME or everything"
            )
        found[key].append(name)
    return Targets(displays=found["displays"], beacons=found["beacons"], groups=found["groups"])


def _local_time(text: str, option: str, tz: ZoneInfo) -> datetime:
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise BadInput(
            f'{option} {text!r}: expected a local time like "2026-12-24 10:00"'
        ) from None
    return moment.replace(tzinfo=tz) if moment.tzinfo is None else moment


def _summary(message: Message, tz: ZoneInfo) -> str:
    until = f" until {message.ends.astimezone(tz):%Y-%m-%d %H:%M}" if message.ends else ""
    kind = " EMERGENCY" if message.kind is Kind.EMERGENCY else ""
    return (
        f"{message.title!r}{kind} from {message.starts.astimezone(tz):%Y-%m-%d %H:%M}{until}, "
        f"{describe_recurrence(message.recurrence)}, priority {message.priority}"
    )

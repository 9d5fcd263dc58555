"""``onthaal schedule ...`` and ``onthaal emergency ...``: the schedule for staff and scripts.

Times are read and printed in the site's time zone. Every change is written to the
schedule database with the acting person in the audit trail; a running Onthaal picks it
up within seconds. Bad input exits 2 with the reason.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar
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
    emergency_notice,
)
from scheduler.parse import (
    InputError,
    describe_error,
    first_error,
    parse_every,
    parse_targets,
    site_time,
)
from scheduler.recurrence import describe
from scheduler.store import Store, StoreError
from scheduler.validate import problems

EXIT_OK, EXIT_FAILURE, EXIT_BAD_INPUT = 0, 1, 2
T = TypeVar("T")

BadInput = InputError  # what the commands raise for input a person must correct


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
        return _schedule(args, config, store, tz, Path(config_path))
    except BadInput as exc:
        print(str(exc), file=sys.stderr)
        return EXIT_BAD_INPUT
    except StoreError as exc:
        print(str(exc), file=sys.stderr)
        return EXIT_BAD_INPUT
    finally:
        store.close()


def _schedule(
    args: argparse.Namespace, config: Config, store: Store, tz: ZoneInfo, config_path: Path
) -> int:
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
    dispatcher = build_dispatcher(
        config, store, RealClock(), displays=None, beacons=None, config_path=config_path
    )
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
    content = _content(args.text, [], config)
    for item in content.values():  # one link for every language the notice is written in
        if args.link:
            item["link"] = args.link
    try:
        localized = {lang: LocalizedContent.model_validate(c) for lang, c in content.items()}
    except ValidationError as exc:
        raise BadInput("\n".join(describe_error(e) for e in exc.errors())) from None
    targets = _option("--targets", parse_targets, args.targets)
    message = emergency_notice(localized, targets, now, tz)  # type: ignore[arg-type]
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
        data["targets"] = _option("--targets", parse_targets, args.targets)
    if args.starts is not None:
        data["starts"] = _local_time(args.starts, "--from", tz)
    if args.ends is not None:
        data["ends"] = _local_time(args.ends, "--until", tz)
    if args.every and args.rrule:
        raise BadInput("--every and --rrule: give one of the two")
    if args.every:
        starts = data.get("starts")
        year = starts.astimezone(tz).year if isinstance(starts, datetime) else None
        data["recurrence"] = _option("--every", lambda text: parse_every(text, year), args.every)
    elif args.rrule:
        try:
            data["recurrence"] = Recurrence(
                rrule=args.rrule,
                dayparts=[Daypart.parse(p) for p in args.daypart or ["00:00-23:59"]],
            )
        except (ValueError, ValidationError) as exc:
            raise BadInput(f"--rrule: {first_error(exc)}") from None
    if args.priority is not None:
        data["priority"] = args.priority
    return _validated(data)


def _validated(data: dict[str, Any]) -> Message:
    try:
        return Message.model_validate(data)
    except ValidationError as exc:
        raise BadInput("\n".join(describe_error(e) for e in exc.errors())) from None


def _option(option: str, parse: Callable[[str], T], text: str) -> T:
    """``parse(text)``, its error prefixed with the option it came from."""
    try:
        return parse(text)
    except InputError as exc:
        raise BadInput(f"{option} {exc}") from None


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


def _local_time(text: str, option: str, tz: ZoneInfo) -> datetime:
    return _option(option, lambda t: site_time(t, tz), text)


def _summary(message: Message, tz: ZoneInfo) -> str:
    until = f" until {message.ends.astimezone(tz):%Y-%m-%d %H:%M}" if message.ends else ""
    kind = " EMERGENCY" if message.kind is Kind.EMERGENCY else ""
    return (
        f"{message.title!r}{kind} from {message.starts.astimezone(tz):%Y-%m-%d %H:%M}{until}, "
        f"{describe(message.recurrence, 'en', message.starts.astimezone(tz).year)}, "
        f"priority {message.priority}"
    )

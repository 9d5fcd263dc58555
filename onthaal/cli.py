"""The ``onthaal`` command line.

Exit codes follow one contract: 0 success, 1 runtime failure, 2 bad input (bad config,
bad arguments) with a message naming the file, key and reason.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import sqlite3
import sys
from collections.abc import Sequence
from pathlib import Path

from onthaal import __version__
from onthaal.beacons_cli import add_parser as add_beacons_parser
from onthaal.config import Config, ConfigError, config_warnings, listen_url, load_config
from onthaal.logs import configure_logging
from onthaal.process import finish
from onthaal.scenario.options import add_scenario_options
from onthaal.schedule_cli import add_parsers as add_schedule_parsers
from onthaal.users_cli import add_parser as add_users_parser
from scheduler.store import DatabaseUnusable

# Each command imports what it runs when it runs: `onthaal users token` need not load
# the web app, the simulator and the BLE stack first (a second and a half of imports).

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_BAD_INPUT = 2


def _positive_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not math.isfinite(value) or value <= 0:  # 'nan' compares false with everything
        raise argparse.ArgumentTypeError(
            f"must be a finite number of seconds above 0, got {text} (leave it out to run "
            "until interrupted)"
        )
    return value


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from None
    if not 1 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"must be 1-65535, got {text}")
    return value


def with_ports(config: Config, web_port: int | None, mqtt_port: int | None) -> Config:
    """``config`` with the ports given on the command line (if any)."""
    if web_port is not None:
        config = config.model_copy(update={"web": config.web.model_copy(update={"port": web_port})})
    if mqtt_port is not None:
        config = config.model_copy(
            update={"mqtt": config.mqtt.model_copy(update={"port": mqtt_port})}
        )
    return config


def build_parser() -> argparse.ArgumentParser:
    """The argument parser for every subcommand."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--config", default="robot.toml", metavar="PATH", help="config file (default ./robot.toml)"
    )
    common.add_argument(
        "--log-format", choices=["human", "json"], help="log line format (overrides config)"
    )
    common.add_argument(
        "--log-level", choices=["debug", "info", "warning", "error"], help="lowest level logged"
    )

    parser = argparse.ArgumentParser(
        prog="onthaal", description="Reception robot and info beacons for a public building."
    )
    parser.add_argument("--version", action="version", version=f"onthaal {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    commands.add_parser(
        "check-config",
        parents=[common],
        help="validate the config and everything it refers to; print 'ok'",
    ).add_argument("path", nargs="?", help="config file to check (default: --config)")
    commands.add_parser(
        "init",
        parents=[common],
        help="create a site folder: a copy of the config and of the content it uses",
    ).add_argument("folder", help="the folder to create (e.g. /etc/onthaal)")
    commands.add_parser(
        "mqtt-config",
        parents=[common],
        help="write a site mosquitto's password file, ACL and config snippet for "
        "Onthaal and every display",
    ).add_argument("folder", help="where to write them (e.g. /etc/mosquitto/onthaal)")
    commands.add_parser(
        "backup",
        parents=[common],
        help="copy every database (consistently, while Onthaal runs) and the site's keys",
    ).add_argument("destination", help="a new or empty folder")
    commands.add_parser(
        "restore",
        parents=[common],
        help="put a backup back (Onthaal stopped); what it replaces is kept beside it",
    ).add_argument("source", help="a folder made by 'onthaal backup'")

    for name, text in (
        ("run", "run against the real hardware named in the config"),
        ("sim", "run everything against the simulator"),
    ):
        sub = commands.add_parser(name, parents=[common], help=text)
        sub.add_argument(
            "--duration",
            type=_positive_seconds,
            metavar="SECONDS",
            help="stop after this many wall-clock seconds (default: run until interrupted)",
        )
        sub.add_argument(
            "--web-port", type=_port, metavar="PORT", help="staff web app port ([web] port)"
        )
        sub.add_argument(
            "--mqtt-port",
            type=_port,
            metavar="PORT",
            help="embedded MQTT broker port ([mqtt] port)",
        )
        if name == "sim":
            add_scenario_options(sub)
    chat = commands.add_parser(
        "chat", parents=[common], help="talk to the dialogue engine (try the knowledge base)"
    )
    chat.add_argument("--json", metavar="TEXT", help="answer TEXT once, as JSON, and exit")
    chat.add_argument("--language", choices=["nl", "fr", "en", "de"], help="start language")

    dialogue = commands.add_parser("dialogue", help="knowledge-base tools")
    dialogue_commands = dialogue.add_subparsers(dest="dialogue_command", required=True)
    evaluation = dialogue_commands.add_parser(
        "eval", parents=[common], help="measure the engine on a labelled JSON-lines file"
    )
    evaluation.add_argument("file", help='lines of {"text", "lang", "intent"}')
    evaluation.add_argument("--json", action="store_true", help="print the numbers as JSON")
    evaluation.add_argument(
        "--through",
        choices=("text", "naoqi"),
        default="text",
        help="naoqi: each line through the robot's word spotting first (default: the text)",
    )

    add_beacons_parser(commands, common)
    add_schedule_parsers(commands, common)
    add_users_parser(commands, common)

    sim_robot = commands.add_parser(
        "sim-robot",
        parents=[common],
        help="run the simulated Pepper alone, for your own qi clients",
    )
    sim_robot.add_argument(
        "--listen", metavar="URL", help="libqi endpoint to listen on (default: [sim] robot_listen)"
    )
    sim_robot.add_argument("--journal", metavar="PATH", help="write the action journal here")
    return parser


def _load(path: str) -> Config | None:
    try:
        return load_config(path)
    except ConfigError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        return None


def _init(args: argparse.Namespace) -> int:
    from onthaal.site import SiteError, init_site

    config = _load(args.config)
    if config is None:
        return EXIT_BAD_INPUT
    folder = Path(args.folder)
    try:
        init_site(config, Path(args.config), folder)
    except SiteError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        return EXIT_BAD_INPUT
    except OSError as exc:
        print(f"{folder}: cannot create the site folder: {exc.strerror}", file=sys.stderr)
        return EXIT_FAILURE
    config_file = folder / "robot.toml"
    print(f"created {config_file}, its content and a private data folder {folder / 'var'}")
    print("next: set [robot] url, [web] host and the address the tablet and screens use,")
    print(f"then: onthaal check-config {config_file}  and  onthaal run --config {config_file}")
    return EXIT_OK


def _backup_or_restore(args: argparse.Namespace, config: Config) -> int:
    from onthaal.backup import BackupError, backup, restore

    try:
        if args.command == "backup":
            done = backup(config, Path(args.config), Path(args.destination))
        else:
            done = restore(config, Path(args.config), Path(args.source))
    except BackupError as exc:
        print(exc, file=sys.stderr)
        return EXIT_BAD_INPUT
    for line in done:
        print(line)
    verb = "backed up" if args.command == "backup" else "restored"
    print(f"{len(done)} file(s) {verb}")
    return EXIT_OK


def entry() -> None:
    """The ``onthaal`` console script: run :func:`main` and end the process."""
    finish(main())


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``onthaal`` command; returns the exit code."""
    args = build_parser().parse_args(argv)
    try:
        return _command(args)
    except DatabaseUnusable as exc:  # any command: one line naming the file, exit 2
        print(exc, file=sys.stderr)
        return EXIT_BAD_INPUT
    except sqlite3.OperationalError as exc:  # a database another program holds: runtime
        busy = "locked" in str(exc) or "busy" in str(exc)
        print(
            "a database is busy (another program holds it); try again"
            if busy
            else f"a database could not be used: {exc}",
            file=sys.stderr,
        )
        return EXIT_FAILURE
    except OSError as exc:  # a file or folder the command needs: one line, runtime
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"{where}{exc.strerror or exc}", file=sys.stderr)
        return EXIT_FAILURE


def _command(args: argparse.Namespace) -> int:

    if args.command == "check-config":
        from onthaal.site import check_site

        path = args.path or args.config
        config = _load(path)
        if config is None:
            return EXIT_BAD_INPUT
        problems = check_site(config, Path(path))
        for problem in problems:
            print(problem, file=sys.stderr)
        if problems:
            return EXIT_BAD_INPUT
        for warning in config_warnings(config):
            print(f"{path}: warning: {warning}", file=sys.stderr)
        print("ok")
        return EXIT_OK
    if args.command == "init":
        return _init(args)

    config = _load(args.config)
    if config is None:
        return EXIT_BAD_INPUT
    configure_logging(
        args.log_format or config.logging.format, args.log_level or config.logging.level
    )
    if args.command in ("chat", "dialogue"):
        from onthaal.dialogue_cli import run_dialogue_command

        return run_dialogue_command(args, config, Path(args.config))
    if args.command == "users":
        from onthaal.users_cli import run_users_command

        return run_users_command(args, config, Path(args.config))
    if args.command in ("schedule", "emergency"):
        from onthaal.schedule_cli import run_schedule_command

        return run_schedule_command(args, config, Path(args.config))
    if args.command in ("backup", "restore"):
        return _backup_or_restore(args, config)
    if args.command == "mqtt-config":
        from onthaal.signage_stack import mqtt_accounts

        accounts = mqtt_accounts(config, Path(args.config))
        conf = accounts.write_mosquitto_files(
            Path(args.folder), config.site.id, [d.id for d in config.displays]
        )
        print(f"wrote {conf} (include it from mosquitto.conf), passwd and acl beside it;")
        print("they are 0600: give them to the broker's user (chown mosquitto ...)")
        kept = Path(args.config).parent / config.mqtt.accounts
        print(f"each display's user name and password: {kept}")
        return EXIT_OK
    if args.command == "beacons":
        from onthaal.beacons_cli import run_beacons_command

        return run_beacons_command(args, config)
    from onthaal.app import Mode, serve, serve_sim_robot

    if args.command == "sim-robot":
        listen = args.listen or config.sim.robot_listen
        try:
            listen_url(listen)
        except ValueError as exc:
            print(f"--listen: {exc}", file=sys.stderr)
            return EXIT_BAD_INPUT
        journal = Path(args.journal) if args.journal else None
        return asyncio.run(serve_sim_robot(config, listen, journal))
    if args.command in ("run", "sim"):
        from onthaal.ports import port_problems

        config = with_ports(config, args.web_port, args.mqtt_port)
        problems = port_problems(config, web_flag="--web-port", mqtt_flag="--mqtt-port")
        if problems:
            for problem in problems:
                print(problem, file=sys.stderr)
            return EXIT_BAD_INPUT
    if args.command == "sim" and args.scenario:
        from onthaal.scenario.cli import run_scenario_command

        return run_scenario_command(args, config, Path(args.config))
    mode = Mode(
        simulate=args.command == "sim", duration=args.duration, config_path=Path(args.config)
    )
    return asyncio.run(serve(config, mode))

"""``onthaal users add|passwd|token|list``: bootstrap the first admin, manage accounts.

Passwords are read from the terminal without echo, or from standard input with
``--password-stdin`` (for scripts); never from the command line, where they would end up
in the shell history and the process list.
"""

from __future__ import annotations

import argparse
import getpass
import sys
from datetime import timedelta

from clock import RealClock
from onthaal.config import Config
from onthaal.web.users import ROLES, UserError
from onthaal.web.users_stack import open_users, session_key

EXIT_OK, EXIT_BAD_INPUT = 0, 2


def add_parser(commands: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:  # type: ignore[type-arg]
    """Add ``users``."""
    users = commands.add_parser("users", help="staff accounts and API tokens")
    sub = users.add_subparsers(dest="users_command", required=True)
    add = sub.add_parser("add", parents=[common], help="create an account")
    add.add_argument("name")
    add.add_argument("--role", choices=list(ROLES), default="staff")
    add.add_argument("--language", choices=["nl", "en"], default="nl")
    add.add_argument("--password-stdin", action="store_true", help="read it from stdin")
    passwd = sub.add_parser("passwd", parents=[common], help="change a password")
    passwd.add_argument("name")
    passwd.add_argument("--password-stdin", action="store_true")
    token = sub.add_parser("token", parents=[common], help="create an API token (shown once)")
    token.add_argument("label", help="what the token is for, e.g. 'city-app'")
    token.add_argument("--role", choices=list(ROLES), default="staff")
    token.add_argument(
        "--days", type=_days, metavar="N", help="the token stops working after N days"
    )
    sub.add_parser("tokens", parents=[common], help="list API tokens (ids, never the tokens)")
    revoke = sub.add_parser("revoke", parents=[common], help="revoke an API token by its id")
    revoke.add_argument("id", help="the id 'onthaal users tokens' shows")
    sub.add_parser(
        "rotate-session-key",
        parents=[common],
        help="a new session key, and every session ended now",
    )
    sub.add_parser("list", parents=[common], help="list accounts")


def _days(text: str) -> int:
    try:
        days = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number of days, got {text!r}") from None
    if not 1 <= days <= 3650:
        raise argparse.ArgumentTypeError("days must be between 1 and 3650")
    return days


def _password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\n")
    try:
        first = getpass.getpass("password: ")
        again = getpass.getpass("again: ")
    except EOFError:  # no terminal and nothing typed: a script without --password-stdin
        raise UserError(
            "no password typed (no terminal?): pass it on standard input with --password-stdin"
        ) from None
    if again != first:
        raise UserError("the two passwords differ")
    return first


def run_users_command(args: argparse.Namespace, config: Config, config_path: object) -> int:
    """Run ``onthaal users ...``; the exit code."""
    users = open_users(config, config_path)  # type: ignore[arg-type]
    try:
        if args.users_command == "add":
            now = RealClock().now()
            user = users.add(args.name, _password(args.password_stdin), args.role, args.language,
                             actor="cli", at=now)  # fmt: skip
            users.note(f"user-added ({user.role})", "cli", user.name, "cli", now)
            print(f"{user.name} ({user.role}) added")
        elif args.users_command == "passwd":
            now = RealClock().now()
            users.set_password(args.name, _password(args.password_stdin), actor="cli", at=now)
            users.note("password-changed", "cli", args.name, "cli", now)
            print(f"password of {args.name} changed")
        elif args.users_command == "token":
            now = RealClock().now()
            expires = now + timedelta(days=args.days) if args.days else None
            print(users.create_token(args.label, args.role, now, expires, actor="cli"))
            users.note(f"token-made ({args.role})", "cli", args.label, "cli", now)
            print("keep it safe: it is not shown again", file=sys.stderr)
        elif args.users_command == "rotate-session-key":
            session_key(config, config_path, rotate=True)  # type: ignore[arg-type]
            users.end_sessions()  # at once, whatever key the running web app holds
            now = RealClock().now()
            users.note("session-key-rotated", "cli", "*", "cli", now)
            users.record("session-key-rotate", "cli", "*", now)
            print("new session key written; every staff member signs in again")
        elif args.users_command == "tokens":
            for info in users.tokens():
                until = info.expires or "never expires"
                print(f"{info.id}  {info.label:<20} {info.role:<6} {info.created}  {until}")
        elif args.users_command == "revoke":
            now = RealClock().now()
            if not users.revoke_token(args.id, actor="cli", at=now):
                print(f"no token with id {args.id!r} (see 'onthaal users tokens')", file=sys.stderr)
                return EXIT_BAD_INPUT
            users.note("token-revoked", "cli", args.id, "cli", now)
            print(f"token {args.id} revoked")
        else:
            for user in users.all():
                state = "  disabled" if user.disabled else ""
                print(f"{user.name:<20} {user.role:<6} {user.language}{state}")
    except UserError as exc:
        print(str(exc), file=sys.stderr)
        return EXIT_BAD_INPUT
    finally:
        users.close()
    return EXIT_OK

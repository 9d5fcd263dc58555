"""``onthaal users add|passwd|token|list``: bootstrap the first admin, manage accounts.

Passwords are read from the terminal without echo, or from standard input with
``--password-stdin`` (for scripts); never from the command line, where they would end up
in the shell history and the process list.
"""

from __future__ import annotations

import argparse
import getpass
import sys

from clock import RealClock
from onthaal.config import Config
from onthaal.web.users import UserError
from onthaal.web.users_stack import open_users

EXIT_OK, EXIT_BAD_INPUT = 0, 2


def add_parser(commands: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:  # type: ignore[type-arg]
    """Add ``users``."""
    users = commands.add_parser("users", help="staff accounts and API tokens")
    sub = users.add_subparsers(dest="users_command", required=True)
    add = sub.add_parser("add", parents=[common], help="create an account")
    add.add_argument("name")
    add.add_argument("--role", choices=["staff", "admin"], default="staff")
    add.add_argument("--language", choices=["nl", "en"], default="nl")
    add.add_argument("--password-stdin", action="store_true", help="read it from stdin")
    passwd = sub.add_parser("passwd", parents=[common], help="change a password")
    passwd.add_argument("name")
    passwd.add_argument("--password-stdin", action="store_true")
    token = sub.add_parser("token", parents=[common], help="create an API token (shown once)")
    token.add_argument("label", help="what the token is for, e.g. 'city-app'")
    token.add_argument("--role", choices=["staff", "admin"], default="staff")
    sub.add_parser("list", parents=[common], help="list accounts")


def _password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\n")
    first = getpass.getpass("password: ")
    if getpass.getpass("again: ") != first:
        raise UserError("the two passwords differ")
    return first


def run_users_command(args: argparse.Namespace, config: Config, config_path: object) -> int:
    """Run ``onthaal users ...``; the exit code."""
    users = open_users(config, config_path)  # type: ignore[arg-type]
    try:
        if args.users_command == "add":
            user = users.add(args.name, _password(args.password_stdin), args.role, args.language)
            print(f"{user.name} ({user.role}) added")
        elif args.users_command == "passwd":
            users.set_password(args.name, _password(args.password_stdin))
            print(f"password of {args.name} changed")
        elif args.users_command == "token":
            print(users.create_token(args.label, args.role, RealClock().now()))
            print("keep it safe: it is not shown again", file=sys.stderr)
        else:
            for user in users.all():
                print(f"{user.name:<20} {user.role:<6} {user.language}")
    except UserError as exc:
        print(str(exc), file=sys.stderr)
        return EXIT_BAD_INPUT
    finally:
        users.close()
    return EXIT_OK

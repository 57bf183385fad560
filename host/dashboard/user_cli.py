"""`anbu user add|list|unlock|passwd`: the dashboard's accounts, from the host's shell.

The store is the one `anbu serve` uses: named by host.toml (`--config`, as `anbu serve` takes
it) or directly (`--database`). A password is asked twice on the terminal, or read from one line
of standard input with `--password-stdin` (for scripts); it never goes on the command line,
where the process list would show it. Each change is an audit entry with the actor "cli".
"""

from __future__ import annotations

import argparse
import getpass
import sys
import warnings
from pathlib import Path
from zoneinfo import ZoneInfo

from host.store import DEFAULT_TZ, ROLES, StoreError

CLI_ACTOR = "cli"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    where = argparse.ArgumentParser(add_help=False)
    group = where.add_mutually_exclusive_group(required=True)
    group.add_argument("--config", metavar="HOST_TOML",
                       help="the host's configuration; its [store] path is the database")
    group.add_argument("--database", metavar="PATH", help="the host's SQLite store itself")
    secret = argparse.ArgumentParser(add_help=False)
    secret.add_argument("--password-stdin", action="store_true",
                        help="read the password from one line of standard input instead of "
                        "asking twice")

    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    p = sub.add_parser("add", parents=[where, secret], help="create a dashboard account",
                       description="Create a dashboard account (names: 2-32 of a-z 0-9 . _ -; "
                       "passwords: at least 10 characters).")
    p.add_argument("name", metavar="NAME")
    p.add_argument("--role", required=True, choices=ROLES,
                   help="caseworker: the pages; admin: also the audit log and the users")
    p.add_argument("--display", default="", metavar="TEXT", help="the name shown on the pages")
    sub.add_parser("list", parents=[where], help="list the accounts and their lockouts")
    p = sub.add_parser("unlock", parents=[where],
                       help="lift a lockout after failed logins and forget the failures")
    p.add_argument("name", metavar="NAME")
    p = sub.add_parser("passwd", parents=[where, secret],
                       help="set a new password (the user's sessions end)")
    p.add_argument("name", metavar="NAME")


def main(args: argparse.Namespace) -> int:
    from host.dashboard.accounts import AccountError, Accounts
    from host.dashboard.settings import DashboardConfig
    from host.serve.config import ConfigError, load
    from host.store.sqlite import SqliteStore

    prog = f"anbu user {args.action}"
    settings = DashboardConfig()
    try:
        if args.config:
            cfg = load(args.config)
            database, settings = cfg.database, cfg.dashboard
        else:
            database = args.database
    except ConfigError as e:
        print(f"{prog}: {e}", file=sys.stderr)
        return 2
    if args.action != "add" and database != ":memory:" and not Path(database).is_file():
        print(f"{prog}: no database at {database} (it is made by `anbu serve` or "
              "`anbu user add`)", file=sys.stderr)
        return 1
    try:
        with SqliteStore(database) as store:
            accounts = Accounts(store, settings)
            return _ACTIONS[args.action](accounts, args)
    except (AccountError, StoreError, OSError) as e:
        print(f"{prog}: {e}", file=sys.stderr)
        return 1
    except (KeyboardInterrupt, EOFError):
        print(f"\n{prog}: cancelled, nothing changed", file=sys.stderr)
        return 1


def _add(accounts, args: argparse.Namespace) -> int:
    from host.dashboard.accounts import AccountError, check_name

    check_name(args.name)  # before asking for a password
    if accounts.store.user(args.name) is not None:
        raise AccountError(f"user name {args.name!r} is taken")
    user = accounts.add_user(args.name, _password(args), args.role, args.display)
    accounts.audit.record(CLI_ACTOR, "user_add", user.name, role=user.role)
    print(f"added {user.role} {user.name}" + (f" ({user.display})" if user.display else ""))
    return 0


def _list(accounts, args: argparse.Namespace) -> int:
    from host.localtime import local_time

    users = accounts.users()
    if not users:
        print("no accounts yet: anbu user add NAME --role admin ...")
        return 0
    tz = ZoneInfo(DEFAULT_TZ)
    rows = [("NAME", "ROLE", "CREATED", "STATE", "DISPLAY")]
    for u in users:
        if u.disabled:
            state = "disabled"
        elif u.locked_until is not None:
            state = "locked until " + local_time(u.locked_until, tz, "%m-%d %H:%M")
        else:
            state = f"{u.failures} failed login(s)" if u.failures else "ok"
        rows.append((u.name, u.role, local_time(u.created_at, tz), state, u.display))
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    for row in rows:
        cells = [cell.ljust(width) for cell, width in zip(row[:4], widths, strict=True)]
        print("  ".join([*cells, row[4]]).rstrip())
    return 0


def _unlock(accounts, args: argparse.Namespace) -> int:
    accounts.unlock(args.name)
    accounts.audit.record(CLI_ACTOR, "user_unlock", args.name)
    print(f"unlocked {args.name}: failed logins forgotten")
    return 0


def _passwd(accounts, args: argparse.Namespace) -> int:
    from host.dashboard.accounts import AccountError

    if accounts.store.user(args.name) is None:
        raise AccountError(f"unknown user {args.name!r}")  # before asking for a password
    accounts.set_password(args.name, _password(args))
    accounts.audit.record(CLI_ACTOR, "user_passwd", args.name)
    print(f"new password set for {args.name}; their sessions have ended")
    return 0


def _password(args: argparse.Namespace) -> str:
    from host.dashboard.accounts import AccountError

    if args.password_stdin:
        password = sys.stdin.readline().removesuffix("\n").removesuffix("\r")
        if not password:
            raise AccountError("no password on standard input (one line expected)")
        return password
    with warnings.catch_warnings():
        # No terminal: getpass would read (and echo) standard input instead; say so.
        warnings.simplefilter("error", getpass.GetPassWarning)
        try:
            first = getpass.getpass(f"password for {args.name}: ")
            again = getpass.getpass("again: ")
        except getpass.GetPassWarning:
            raise AccountError(
                "no terminal to ask for the password on: use --password-stdin"
            ) from None
    if again != first:
        raise AccountError("the two passwords differ; nothing changed")
    return first


_ACTIONS = {"add": _add, "list": _list, "unlock": _unlock, "passwd": _passwd}

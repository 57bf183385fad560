"""The `anbu` command: one entry point, one module per subcommand.

Each subcommand module offers add_arguments(parser) and main(args) -> exit code; this file only
names them, so a new subcommand is one line in SUBCOMMANDS.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

# name -> (module, one-line help). Modules are imported only when their subcommand runs.
SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "backtest": ("host.backtest", "replay recorded event logs through the engine and "
                 "today's rules, side by side"),
    "simulate": ("simulator.cli", "simulate households and measure every rule on them"),
    "device": ("tools.device", "flash, provision and look after bulbs (over mpremote)"),
    "broker": ("tools.broker_config", "write Mosquitto's conf, passwords and ACLs for the fleet"),
    "serve": ("host.serve.run", "the live host: MQTT ingest, the engine on the clock, alerts"),
    "user": ("host.dashboard.user_cli", "the dashboard's accounts: add, list, unlock, passwd"),
}


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser; only `command`'s module is imported, to add its arguments."""
    parser = argparse.ArgumentParser(
        prog="anbu", description="anbu (안부): welfare checks for people who live alone."
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module, text) in SUBCOMMANDS.items():
        subparser = sub.add_parser(name, help=text, description=text)
        if name == command:
            importlib.import_module(module).add_arguments(subparser)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    command = next((a for a in argv if not a.startswith("-")), None)
    args = build_parser(command).parse_args(argv)
    if args.command is None:
        build_parser().print_help(sys.stderr)
        return 2
    try:
        return importlib.import_module(SUBCOMMANDS[args.command][0]).main(args)
    except BrokenPipeError:  # `anbu ... | head`: the reader left; not an error worth a trace
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1


if __name__ == "__main__":
    sys.exit(main())

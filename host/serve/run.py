"""`anbu serve --config host.toml`: run the live host until SIGTERM or Ctrl-C."""

from __future__ import annotations

import argparse
import logging
import signal
import sys

from host.notify import NotifyConfigError
from host.serve import logs
from host.serve.config import EXAMPLE, ConfigError, load
from host.serve.state import StateError
from host.store import StoreError

log = logging.getLogger("anbu.serve")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", required=True, metavar="HOST_TOML",
                        help=f"the host's configuration (example: {EXAMPLE})")


def main(args: argparse.Namespace) -> int:
    try:
        cfg = load(args.config)
    except ConfigError as e:
        print(f"anbu serve: {e}", file=sys.stderr)
        return 2
    logs.setup(cfg.log_level)
    from host.serve.service import Service  # after logging is set up: it logs as it builds

    try:
        cfg.mqtt.password()
        service = Service(cfg)
    except (ConfigError, NotifyConfigError, StoreError) as e:
        print(f"anbu serve: {e}", file=sys.stderr)
        return 2

    def stop(signum: int, frame: object) -> None:
        log.info("signal %s: stopping", signal.Signals(signum).name,
                 extra={"fields": {"event": "signal", "signal": signal.Signals(signum).name}})
        service.stop()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        service.run()
    except StateError as e:  # saved by a version whose engine state had another shape
        log.error("anbu serve cannot start: %s", e, extra={"fields": {"event": "state_error"}})
        print(f"anbu serve: {e}", file=sys.stderr)
        return 2
    except Exception as e:
        log.exception("anbu serve failed: %s", e)
        return 1
    return 0

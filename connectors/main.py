"""``faasq-connector <name>``: run one connector, configured by the environment, until SIGTERM or SIGINT."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from typing import Any

from connectors.registry import ConnectorNotFound, available, load
from connectors.sdk.connector import Connector, run_connector
from plumbing.logs import configure_logging
from plumbing.settings import load_settings

__all__ = ["main"]

logger = logging.getLogger(__name__)


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="faasq-connector",
        description="Run a connector: events from a source become calls of the functions subscribed to their "
        "topic (annotation 'topic'). Configured by the environment: gateway_url, topic_delimiter, "
        "rebuild_interval, asynchronous_invocation, callback_url, max_inflight, ... (see docs/connectors.md).",
    )
    parser.add_argument("name", nargs="?", help="the connector to run, e.g. cron, redis or webhook")
    parser.add_argument("--list", action="store_true", help="list the connectors that can be run, and exit")
    return parser.parse_args(argv)


async def _serve(connector: Connector[Any]) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    logger.info("%s connector: invoking functions on %s", connector.name, connector.settings.gateway_url)
    await run_connector(connector, stop)
    logger.info("%s connector stopped", connector.name)


def main(argv: list[str] | None = None) -> None:
    """Run the named connector; exit non-zero with one line when it is unknown or its settings are bad."""
    args = _parse_args(argv)
    if args.list or not args.name:
        for name, target in available().items():
            print(f"{name}\t{target}")  # noqa: T201 - the command's output
        return
    try:
        cls = load(args.name)
    except ConnectorNotFound as exc:
        sys.exit(f"faasq-connector: {exc}")
    prog = f"faasq-connector {args.name}"
    settings = load_settings(cls.settings_class, prog)
    configure_logging()
    try:
        asyncio.run(_serve(cls(settings)))
    except (OSError, ValueError) as exc:  # unreadable credentials or secrets, a bad configuration file
        sys.exit(f"{prog}: {exc}")


if __name__ == "__main__":
    main()

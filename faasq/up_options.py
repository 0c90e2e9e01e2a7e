"""What ``faasq up`` is asked for: its command-line options, read once into a typed, frozen :class:`UpOptions`."""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from faasq.stack import StackFunction

__all__ = [
    "DEFAULT_STACK",
    "DESCRIPTION",
    "MAX_DEFAULT_GATEWAYS",
    "UpOptions",
    "add_arguments",
    "default_gateway_processes",
]

DEFAULT_STACK = Path("examples/stack.yml")
MAX_DEFAULT_GATEWAYS = 4
"""Gateway processes by default on a machine with more cores: nats-server and the workers need them too."""


@dataclass(frozen=True, slots=True)
class UpOptions:
    """The options of one ``faasq up``.

    Attributes:
        stack_file: the stack file to deploy (None: ``examples/stack.yml`` if there is one).
        port: the gateway's port on 127.0.0.1 (0: any free port).
        state_dir: where faasq keeps its state and NATS data.
        workers: queue worker processes for the default queue.
        gateway_processes: gateway processes serving the port (None: one per usable core, at most 4).
        nats_url: a running NATS server to use instead of starting one (None: start one, or ``$FAASQ_NATS_URL``).
        connectors: connectors asked for by name.
        webhook_config: the webhook connector's topics file, if it runs.
        webhook_port: the webhook connector's port on 127.0.0.1.
        redis_url: the Redis the redis connector consumes, if it runs.
        redis_streams: the streams it consumes (comma-separated).
        redis_channels: the Pub/Sub channels it subscribes to (comma-separated).
        timeout: seconds to wait for the functions to be ready.
        ready_file: where to write the URLs and pids as JSON once ready.
    """

    stack_file: Path | None = None
    port: int = 8080
    state_dir: Path = Path(".faasq")
    workers: int = 2
    gateway_processes: int | None = None
    nats_url: str | None = None
    connectors: tuple[str, ...] = ()
    webhook_config: Path | None = None
    webhook_port: int = 8085
    redis_url: str | None = None
    redis_streams: str | None = None
    redis_channels: str | None = None
    timeout: float = 60.0
    ready_file: Path | None = None

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> UpOptions:
        """The options :func:`add_arguments` parsed."""
        return cls(
            stack_file=_path(args.yaml),
            port=args.port,
            state_dir=Path(args.state_dir),
            workers=args.workers,
            gateway_processes=args.gateway_processes,
            nats_url=args.nats_url,
            connectors=tuple(args.connector or ()),
            webhook_config=_path(args.webhook_config),
            webhook_port=args.webhook_port,
            redis_url=args.redis_url,
            redis_streams=args.redis_streams,
            redis_channels=args.redis_channels,
            timeout=args.timeout,
            ready_file=_path(args.ready_file),
        )

    @property
    def gateways(self) -> int:
        """How many gateway processes serve the port."""
        return self.gateway_processes or default_gateway_processes()

    def connectors_for(self, functions: Sequence[StackFunction]) -> list[str]:
        """The connectors to run: those asked for, cron for a scheduled function, webhook and redis when configured."""
        wanted = set(self.connectors)
        if any(_scheduled(function) for function in functions):
            wanted.add("cron")
        if self.webhook_config:
            wanted.add("webhook")
        if self.redis_url:
            wanted.add("redis")
        return sorted(wanted)

    def redis_settings(self) -> dict[str, str]:
        """The redis connector's environment from ``--redis-url``, ``--redis-channels`` and ``--redis-streams``."""
        given = {
            "redis_url": self.redis_url,
            "redis_channels": self.redis_channels,
            "redis_streams": self.redis_streams,
        }
        return {name: value for name, value in given.items() if value}


def default_gateway_processes() -> int:
    """One gateway process per core this process may run on, at most :data:`MAX_DEFAULT_GATEWAYS`."""
    return max(1, min(MAX_DEFAULT_GATEWAYS, len(os.sched_getaffinity(0))))


def _path(value: str | None) -> Path | None:
    return Path(value) if value else None


def _scheduled(function: StackFunction) -> bool:
    topics = str(function.annotations.get("topic", "")).split(",")
    return "cron-function" in (topic.strip() for topic in topics) and "schedule" in function.annotations


def _positive(value: str) -> int:
    number = int(value)
    if number < 1:
        raise argparse.ArgumentTypeError(f"expected 1 or more, got {value}")
    return number


def _count(value: str) -> int:
    number = int(value)
    if number < 0:
        raise argparse.ArgumentTypeError(f"expected 0 or more, got {value}")
    return number


DESCRIPTION = """\
Run faasq on this machine and deploy a stack file's functions: nats-server with JetStream (data in
STATE_DIR/nats; skipped when --nats-url or $FAASQ_NATS_URL names a server or a cluster), the provider (on a private
loopback port, state in STATE_DIR/provider), the gateway on 127.0.0.1:PORT (one process per core,
at most 4, or --gateway-processes; they share the port), and the queue workers,
which invoke functions through the provider: --workers for the default queue, and one more for each
queue a function names in its com.openfaas.queue annotation. Connectors run next to them as
`faasq-connector NAME` children: cron whenever a stack function has `topic: cron-function` and a
`schedule` (or with --connector cron), the webhook connector with --webhook-config FILE (or
--connector webhook) on its own port, shown in the banner, the redis connector with --redis-url URL
and --redis-streams and/or --redis-channels (or their environment variables redis_streams,
redis_channels, redis_patterns), and any installed connector with --connector NAME; their other
settings come from the environment (see docs/connectors.md). A part
that crashes is restarted with backoff at the same address; one that keeps crashing stops faasq with an
error. SIGINT (Ctrl+C), SIGTERM or SIGHUP stops
everything in order: the gateway, the workers (they finish their calls), the provider, nats-server."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``faasq up``'s options to ``parser``."""
    parser.add_argument("-f", "--yaml", help=f"stack file to deploy (default: {DEFAULT_STACK}, if there is one)")
    parser.add_argument("--port", type=int, default=8080, help="gateway port on 127.0.0.1; 0: any free port (8080)")
    parser.add_argument("--state-dir", default=".faasq", help="where faasq keeps its state and NATS data (.faasq)")
    parser.add_argument("--workers", type=_count, default=2, help="queue worker processes to run (default: 2)")
    parser.add_argument(
        "--gateway-processes",
        type=_positive,
        metavar="N",
        help=f"gateway processes serving the port (default: one per usable core, at most {MAX_DEFAULT_GATEWAYS})",
    )
    parser.add_argument(
        "--nats-url",
        metavar="URL",
        help="use this NATS server (nats://HOST:PORT, JetStream on) instead of starting one; a cluster: its "
        "servers' URLs, comma-separated",
    )
    parser.add_argument(
        "--connector",
        action="append",
        metavar="NAME",
        help="also run this connector (cron, redis, webhook, or one installed through the faasq.connectors "
        "entry points); repeatable",
    )
    parser.add_argument(
        "--webhook-config",
        metavar="FILE",
        help="run the webhook connector with this topics file (YAML: topics, signature schemes, secrets)",
    )
    parser.add_argument(
        "--webhook-port", type=int, default=8085, help="webhook connector port on 127.0.0.1; 0: any free port (8085)"
    )
    parser.add_argument(
        "--redis-url",
        metavar="URL",
        help="run the redis connector against this Redis (redis://HOST:PORT/DB or unix:///PATH)",
    )
    parser.add_argument(
        "--redis-streams", metavar="NAMES", help="streams the redis connector consumes (comma-separated)"
    )
    parser.add_argument(
        "--redis-channels", metavar="NAMES", help="Pub/Sub channels the redis connector subscribes to (comma-separated)"
    )
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds to wait for the functions (default: 60)")
    parser.add_argument(
        "--ready-file", metavar="PATH", help="once ready, write the URLs, state dir and child pids to PATH as JSON"
    )

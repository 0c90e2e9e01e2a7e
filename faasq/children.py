"""The processes of ``faasq up``'s embedded stack, as :class:`~faasq.supervisor.ChildSpec` values.

Start order: nats-server (unless a NATS URL is given), the provider, the gateway processes, the
autoscaler, the queue workers. Stop order (``stop_order``): the gateway and the autoscaler first, so
no new call is accepted and nothing is scaled any more, then the workers, which drain their calls,
then the provider, then nats-server. The provider and the gateway processes serve on sockets
``faasq up`` bound (``listen_fd``), so a restarted one keeps its URL; the gateway processes each
have their own socket on the public port (``SO_REUSEPORT``), and the kernel spreads connections
over them.
"""

from __future__ import annotations

import errno
import socket
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from urllib.parse import urlsplit

from calls.settings import nats_server_urls
from calls.wire import DEFAULT_QUEUE
from faasq.builds import builds_dir
from faasq.errors import StackFailed
from faasq.natsserver import NatsServerError, nats_argv, read_address, read_monitor_address
from faasq.supervisor import ChildSpec, Supervisor
from plumbing.metrics import MULTIPROCESS_VARIABLE, process_gone

__all__ = [
    "HOST",
    "NatsAddress",
    "StackPlan",
    "autoscaler_spec",
    "connector_spec",
    "gateway_spec",
    "nats_spec",
    "parse_nats_url",
    "provider_spec",
    "reserve_port",
    "share_port",
    "stack_children",
    "start_nats",
    "url_of",
    "worker_spec",
]

HOST = "127.0.0.1"
_BACKLOG = 1024
_WORKER_DRAIN = 35.0  # over the worker's own grace period, so a drain is never cut short by SIGKILL


@dataclass(frozen=True)
class NatsAddress:
    """Where the gateway and the workers find NATS."""

    host: str
    port: int
    monitor: str | None = None
    """The embedded server's HTTP monitoring URL."""
    more: tuple[str, ...] = ()
    """The URLs of the other servers of a NATS cluster given as a list."""

    @property
    def url(self) -> str:
        """``nats://host:port``, then the other servers' URLs, comma-separated."""
        return ",".join((f"nats://{self.host}:{self.port}", *self.more))


@dataclass(frozen=True)
class StackPlan:
    """What the child specs are built from.

    Attributes:
        state_dir: where the provider keeps its state (``<state_dir>/provider``).
        environ: the environment every child inherits.
        nats: the NATS server the gateway and workers use.
        provider: the provider's listening socket (a private loopback port).
        gateways: the public port's listening sockets, one for each gateway process (the first's URL is the
            gateway's).
        workers: how many queue worker processes to run for the default queue.
        queues: the other queues the stack's functions name; each gets one worker (when ``workers`` > 0).
        metrics_dir: the folder the gateway and the workers keep their series in, for one scrape of them all.
    """

    state_dir: Path
    environ: Mapping[str, str]
    nats: NatsAddress
    provider: socket.socket
    gateways: tuple[socket.socket, ...]
    workers: int
    queues: tuple[str, ...] = ()
    metrics_dir: Path | None = None

    @property
    def gateway_url(self) -> str:
        """The public URL."""
        return url_of(self.gateways[0])

    @property
    def run_dir(self) -> Path:
        """Where the gateway processes say they are ready."""
        return self.state_dir.resolve() / "run"

    @property
    def counted(self) -> Mapping[str, str]:
        """The environment of the processes that count calls: ``environ`` and the metrics folder."""
        if self.metrics_dir is None:
            return self.environ
        return {**self.environ, MULTIPROCESS_VARIABLE: str(self.metrics_dir)}

    def forget(self, pid: int) -> None:
        """A counting process exited: its live gauges stop counting."""
        if self.metrics_dir is not None:
            process_gone(self.metrics_dir, pid)


def parse_nats_url(url: str) -> NatsAddress:
    """``nats://host[:port]`` (port 4222 by default), or a comma-separated list of them (a cluster), as an address.

    Raises:
        StackFailed: one is not a nats:// URL with a host.
    """
    try:
        first, *more = nats_server_urls(url) or nats_server_urls("nats://")
    except ValueError as exc:
        raise StackFailed(str(exc)) from None
    parts = urlsplit(first)
    return NatsAddress(parts.hostname or "", parts.port or 4222, more=tuple(more))


def reserve_port(port: int, host: str = HOST, *, shared: bool = False) -> socket.socket:
    """A listening socket on ``host:port`` (0: the kernel picks), so a taken port fails early and clearly.

    With ``shared``, :func:`share_port` can then open more sockets on the same port: the port is bound
    on its own first (a port anyone holds fails), and only then opened to sockets of this user that
    ask for ``SO_REUSEPORT``.

    Raises:
        StackFailed: the port is in use or cannot be bound.
    """
    try:
        sock = _bound(host, port, socket.SO_REUSEADDR)
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            raise StackFailed(
                f"port {port} on {host} is already in use: is faasq already running? (choose another with --port)"
            ) from None
        raise StackFailed(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    if shared:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.listen(_BACKLOG)
    return sock


def share_port(first: socket.socket) -> socket.socket:
    """One more listening socket on the port of ``first`` (bound by :func:`reserve_port` with ``shared``).

    The kernel spreads new connections over the port's sockets by their addresses. A socket is held
    here across restarts of the process that serves it: connections that arrive meanwhile wait in
    its queue rather than being refused.

    Raises:
        StackFailed: the port cannot be shared.
    """
    host, port = first.getsockname()[:2]
    try:
        sock = _bound(host, port, socket.SO_REUSEPORT)
    except OSError as exc:
        raise StackFailed(f"cannot open another socket on {host}:{port}: {exc.strerror}") from None
    sock.listen(_BACKLOG)
    return sock


def _bound(host: str, port: int, option: int) -> socket.socket:
    """A TCP socket with ``option`` set, bound to ``host:port``.

    Raises:
        OSError: it cannot be bound (the socket is closed).
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, option, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    return sock


def url_of(sock: socket.socket) -> str:
    """``http://host:port`` of a listening socket."""
    host, port = sock.getsockname()[:2]
    return f"http://{host}:{port}"


def _nats_ready(log: Path) -> bool:
    try:
        return read_address(log) is not None
    except NatsServerError as exc:
        raise StackFailed(str(exc)) from None


def nats_spec(store_dir: Path, environ: Mapping[str, str], port: int = -1, monitor_port: int = -1) -> ChildSpec:
    """nats-server with JetStream storing in ``store_dir`` and its HTTP monitor on.

    Ports are -1 (the kernel picks) the first time, the ports it got on restarts.
    """
    return ChildSpec(
        name="nats",
        argv=nats_argv(store_dir, host=HOST, port=port, monitor_port=monitor_port),
        env=dict(environ),
        ready=partial(_nats_ready, store_dir / "nats-server.log"),
        stop_order=3,
    )


def start_nats(supervisor: Supervisor, store_dir: Path, environ: Mapping[str, str]) -> NatsAddress:
    """Start the embedded nats-server on kernel-chosen ports; a restart brings it back on the same ones.

    Raises:
        StackFailed: it failed to start or to get ready.
        Stopped: a stop was requested meanwhile.
    """
    store_dir.mkdir(parents=True, exist_ok=True)
    log = store_dir / "nats-server.log"
    log.unlink(missing_ok=True)  # readiness is read from this run's lines only
    supervisor.start(nats_spec(store_dir, environ))
    address, monitor = read_address(log), read_monitor_address(log)
    if address is None or monitor is None:  # pragma: no cover - start() returned: the log says both
        raise StackFailed(f"nats-server's log does not say where it listens: {log}")
    # The gateway and the workers reconnect to the address they were given.
    supervisor.update(nats_spec(store_dir, environ, port=address[1], monitor_port=monitor[1]))
    return NatsAddress(*address, monitor=f"http://{monitor[0]}:{monitor[1]}")


def provider_spec(sock: socket.socket, state_dir: Path, environ: Mapping[str, str]) -> ChildSpec:
    """The provider REST server, serving on the listening socket ``sock`` that it inherits (``listen_fd``)."""
    port = sock.getsockname()[1]
    settings = {"bind_address": HOST, "port": str(port), "listen_fd": str(sock.fileno())}
    return ChildSpec(
        name="provider",
        # The console script's entry point, run with this interpreter so no PATH lookup is needed.
        argv=[sys.executable, "-m", "provider.main"],
        env={
            **environ,
            **settings,
            "state_dir": str(state_dir / "provider"),
            "builds_dir": str(builds_dir(state_dir.resolve())),
        },
        ready_url=f"{url_of(sock)}/healthz",
        pass_fds=(sock.fileno(),),
        stop_order=2,
    )


def _nats_env(nats: NatsAddress) -> dict[str, str]:
    if nats.more:
        return {"nats_servers": nats.url}
    return {"faas_nats_address": nats.host, "faas_nats_port": str(nats.port)}


def gateway_spec(
    index: int,
    sock: socket.socket,
    provider_url: str,
    nats: NatsAddress,
    environ: Mapping[str, str],
    run_dir: Path,
    exited: Callable[[int], None] | None = None,
) -> ChildSpec:
    """Gateway process number ``index`` (from 1) on ``sock``, one of the public port's sockets.

    It is ready once it wrote its ready file in ``run_dir``: the port cannot tell, since any of its
    processes may answer there.
    """
    ready_file = run_dir / f"gateway-{index}.ready"
    settings = {
        "functions_provider_url": f"{provider_url}/",
        **_nats_env(nats),
        "bind_address": HOST,
        "port": str(sock.getsockname()[1]),
        "listen_fd": str(sock.fileno()),
        "ready_file": str(ready_file),
    }
    return ChildSpec(
        name=f"gateway-{index}",
        argv=[sys.executable, "-m", "gateway.main"],
        env={**environ, **settings},
        ready=ready_file.exists,
        pass_fds=(sock.fileno(),),
        stop_order=0,
        exited=exited,
    )


def worker_spec(
    index: int,
    provider_url: str,
    nats: NatsAddress,
    environ: Mapping[str, str],
    queue: str = DEFAULT_QUEUE,
    exited: Callable[[int], None] | None = None,
) -> ChildSpec:
    """Queue worker number ``index`` (from 1) of ``queue``, invoking functions through the provider.

    Not through the gateway: it stops first, and the calls the workers drain must still run.
    """
    settings = {**_nats_env(nats), "gateway_invoke": "false", "functions_provider_url": f"{provider_url}/"}
    return ChildSpec(
        name=f"worker-{index}" if queue == DEFAULT_QUEUE else f"worker-{queue}-{index}",
        argv=[sys.executable, "-m", "queue_worker.main", "--queue", queue],
        env={**environ, **settings},
        stop_order=1,
        stop_timeout=_WORKER_DRAIN,
        exited=exited,
    )


def autoscaler_spec(
    gateway_url: str, environ: Mapping[str, str], exited: Callable[[int], None] | None = None
) -> ChildSpec:
    """``faasq-autoscaler`` reading and scaling through the gateway; stopped with it, first."""
    return ChildSpec(
        name="autoscaler",
        argv=[sys.executable, "-m", "autoscaler.main"],
        env={**environ, "gateway_url": gateway_url},
        stop_order=0,
        exited=exited,
    )


def stack_children(plan: StackPlan) -> list[ChildSpec]:
    """The provider, the gateway processes, the autoscaler and the workers, in start order (nats-server first)."""
    provider_url = url_of(plan.provider)
    counted, gone = plan.counted, plan.forget
    return [
        provider_spec(plan.provider, plan.state_dir, plan.environ),
        *(
            gateway_spec(n, sock, provider_url, plan.nats, counted, plan.run_dir, gone)
            for n, sock in enumerate(plan.gateways, start=1)
        ),
        autoscaler_spec(plan.gateway_url, counted, gone),
        *(worker_spec(n, provider_url, plan.nats, counted, exited=gone) for n in range(1, plan.workers + 1)),
        *(worker_spec(1, provider_url, plan.nats, counted, queue, gone) for queue in plan.queues if plan.workers),
    ]


def connector_spec(
    name: str, gateway_url: str, environ: Mapping[str, str], sock: socket.socket | None = None, **settings: str
) -> ChildSpec:
    """``faasq-connector <name>`` invoking functions on the gateway; one that serves HTTP inherits ``sock``.

    Stopped with the gateway, first: no new event becomes a call while the rest drains.
    """
    served = {"listen_fd": str(sock.fileno()), "port": str(sock.getsockname()[1])} if sock is not None else {}
    return ChildSpec(
        name=name,
        argv=[sys.executable, "-m", "connectors.main", name],
        env={**environ, "gateway_url": gateway_url, **served, **settings},
        ready_url=f"{url_of(sock)}/healthz" if sock is not None else None,
        pass_fds=(sock.fileno(),) if sock is not None else (),
        stop_order=0,
    )

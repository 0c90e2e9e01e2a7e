"""Three real ``nats-server`` processes clustered on loopback: routes, JetStream, R3 streams; nodes to kill.

Each node has its own client, cluster and monitor port (numbers the servers must be told, so
chosen up front), its own store, and a name (``n1``...). A node killed with SIGKILL starts again
on the same ports with the same store, and catches up from the others.
"""

from __future__ import annotations

import json
import signal
import subprocess
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

import nats
import nats.errors
from nats.aio.client import Client
from nats.js.api import StreamInfo
from nats.js.errors import ServiceUnavailableError

from faasq.natsserver import nats_server_binary, read_address
from tests.support.polling import eventually, until
from tests.support.sockets import free_port

CLUSTER = "faasq"


@dataclass
class Node:
    """One server of the cluster."""

    name: str
    port: int
    cluster_port: int
    monitor_port: int
    store_dir: Path
    routes: list[str]
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    @property
    def log(self) -> Path:
        return self.store_dir / "nats-server.log"

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def start(self) -> None:
        self.store_dir.mkdir(parents=True, exist_ok=True)
        self.log.unlink(missing_ok=True)
        argv = [nats_server_binary(), "-a", "127.0.0.1", "-p", str(self.port), "-n", self.name]
        argv += ["-js", "-sd", str(self.store_dir), "-l", str(self.log), "-m", str(self.monitor_port)]
        argv += ["--cluster_name", CLUSTER, "--cluster", f"nats://127.0.0.1:{self.cluster_port}"]
        argv += ["--routes", ",".join(self.routes)]
        self.process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
        until(self._listening, within=20, what=f"nats-server {self.name} ready")

    def _listening(self) -> bool | None:
        assert self.process is not None
        assert self.process.poll() is None, f"{self.name} exited: {self.log.read_text()}"
        return True if read_address(self.log) is not None else None

    def kill(self) -> None:
        """SIGKILL: no flush, no goodbye to the other nodes."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def monitor(self, path: str) -> dict[str, object]:
        """A JSON page of its HTTP monitor (``connz``, ``jsz``...)."""
        with urllib.request.urlopen(f"http://127.0.0.1:{self.monitor_port}/{path}", timeout=5) as response:
            answer: dict[str, object] = json.load(response)
        return answer

    def client_names(self) -> list[str]:
        """The names of the clients connected to it."""
        connections = self.monitor("connz?limit=1024")["connections"]
        assert isinstance(connections, list)
        return [str(connection.get("name", "")) for connection in connections]


class NatsCluster:
    """``size`` nodes routed to one another; use as a context manager (every node stops at the end)."""

    def __init__(self, root: Path, size: int = 3) -> None:
        ports = [(free_port(), free_port(), free_port()) for _ in range(size)]
        routes = [f"nats://127.0.0.1:{cluster}" for _, cluster, _ in ports]
        self.nodes = [
            Node(f"n{n}", client, cluster, monitor, root / f"n{n}", [r for r in routes if r != routes[n - 1]])
            for n, (client, cluster, monitor) in enumerate(ports, start=1)
        ]

    @property
    def url(self) -> str:
        """Every node's client URL, comma-separated, as faasq's ``nats_servers`` takes them."""
        return ",".join(node.url for node in self.nodes)

    @property
    def urls(self) -> list[str]:
        return [node.url for node in self.nodes]

    def start(self) -> NatsCluster:
        """Start every node; return once JetStream has a meta leader and takes an R3 stream."""
        for node in self.nodes:
            node.start()
        until(self._meta_leader, within=30, what="a JetStream meta leader")
        return self

    def _meta_leader(self) -> bool | None:
        for node in self.nodes:
            meta = node.monitor("jsz").get("meta_cluster")
            if not isinstance(meta, dict) or not meta.get("leader") or len(meta.get("replicas") or []) < 2:
                return None
        return True

    def node(self, name: str) -> Node:
        return next(node for node in self.nodes if node.name == name)

    def serving(self, client_name: str) -> Node:
        """The node the client of that name (``faasq-gateway``, ``faasq-worker-default``) is connected to."""
        for node in self.nodes:
            if node.running and client_name in node.client_names():
                return node
        raise AssertionError(f"no node has a client named {client_name!r}")

    async def _client(self) -> Client:
        """A client of the nodes that run."""
        return await nats.connect(servers=[node.url for node in self.nodes if node.running])

    async def _stream(self, stream: str) -> StreamInfo | None:
        """What the stream's leader says of it; None while it has none (an election)."""
        nc = await self._client()
        try:
            info: StreamInfo = await nc.jetstream().stream_info(stream)
        except (nats.errors.TimeoutError, ServiceUnavailableError):
            return None
        finally:
            await nc.close()
        return info if info.cluster is not None and info.cluster.leader else None

    async def leader_of(self, stream: str) -> Node:
        """The node that leads ``stream``'s replicas."""
        info = await self._stream(stream)
        assert info is not None, f"{stream} has no leader"
        assert info.cluster is not None
        return self.node(str(info.cluster.leader))

    async def lead_elsewhere(self, stream: str, node: Node) -> None:
        """Make sure ``node`` does not lead ``stream``: ask its leader to step down until another one leads."""
        for _ in range(10):
            if (await self.leader_of(stream)) is not node:
                return
            nc = await self._client()
            try:
                await nc.request(f"$JS.API.STREAM.LEADER.STEPDOWN.{stream}", b"", timeout=5)
            finally:
                await nc.close()
            await eventually(lambda: self._stream(stream), within=20, every=0.1)
        raise AssertionError(f"{node.name} still leads {stream}")

    async def caught_up(self, stream: str) -> bool | None:
        """Whether every replica of ``stream`` is current (None: not yet)."""
        info = await self._stream(stream)
        replicas = (info.cluster.replicas or []) if info is not None and info.cluster is not None else []
        if len(replicas) != len(self.nodes) - 1:
            return None
        return True if all(peer.current and not peer.lag for peer in replicas) else None

    def __enter__(self) -> NatsCluster:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        for node in self.nodes:
            node.stop()

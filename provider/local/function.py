"""One deployed function: its definition, desired count and live replicas, reconciled in the background."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from provider.errors import FunctionNotFound
from provider.local.logstore import FunctionLog
from provider.local.notify import Broadcast
from provider.local.policy import Backoff, Plan, ReplicaView, ScalePolicy, plan_rollout, private_network, scale_policy
from provider.local.replica import Instance, Launch, Probe, Replica
from provider.local.secretstore import SecretStore
from provider.local.state import StoredFunction, private_dir
from provider.types import FUNCTION_LABEL, NETWORK_ANNOTATION, WORKDIR_ANNOTATION, FunctionDeployment, FunctionStatus

__all__ = ["LocalFunction", "Runtime"]

logger = logging.getLogger(__name__)

_RETRY_APPLY = 1.0
# The watchdog stops accepting on SIGTERM: a call resolved to a retiring replica needs a moment to connect.
_LINGER = 0.25


@dataclass(frozen=True)
class Runtime:
    """What every function of one provider shares."""

    command: Sequence[str]
    probe: Probe
    secrets: SecretStore
    run_root: Path
    work_root: Path
    """Where a function without a ``com.faasq.workdir`` gets a folder of its own to run in."""
    stop_timeout: float
    log_lines: int
    sandboxed: bool = False
    """Replicas run in namespaces of their own (:mod:`provider.local.sandbox`); the machine allows it."""
    resolve: Callable[[FunctionDeployment], FunctionDeployment] = field(default=lambda deployment: deployment)
    """A deployment as its replicas run it: from its image's local build, if it has one."""
    backoff: Backoff = field(default_factory=Backoff)


class LocalFunction:
    """Keeps ``record.replicas`` replicas of the current definition running; rolls them on redefinition."""

    def __init__(self, record: StoredFunction, namespace: str, runtime: Runtime) -> None:
        self.record = record
        self.namespace = namespace
        self.policy: ScalePolicy = scale_policy(record.deployment.labels)
        self.invocations = 0.0
        self.log = FunctionLog(record.deployment.service, namespace, runtime.log_lines)
        self._runtime = runtime
        self._generation = 0
        self._network_said = -1
        self._replicas: list[Replica] = []
        self._stopping: set[asyncio.Task[None]] = set()
        self._wake = asyncio.Event()
        self._changed = Broadcast()
        self._roll_deadline: float | None = None
        self._turn = 0
        self._closed = False
        self._task: asyncio.Task[None] | None = None

    @property
    def name(self) -> str:
        """The function's name."""
        return self.record.deployment.service

    def start(self) -> None:
        """Start reconciling in the background."""
        self._task = asyncio.create_task(self._reconcile_loop(), name=f"function {self.name}")

    def set_replicas(self, replicas: int) -> None:
        """Set the desired count (already clamped)."""
        self.record = self.record.model_copy(update={"replicas": replicas})
        self._poke()

    def redefine(self, deployment: FunctionDeployment, replicas: int, roll_timeout: float) -> None:
        """Replace the definition; old replicas serve until new ones are ready or ``roll_timeout`` passed."""
        self.policy = scale_policy(deployment.labels)
        self.record = self.record.model_copy(update={"deployment": deployment, "replicas": replicas})
        self._generation += 1
        self._roll_deadline = asyncio.get_running_loop().time() + roll_timeout
        self._poke()

    def status(self) -> FunctionStatus:
        """The function as ``GET /system/functions`` reports it."""
        fields = self.record.deployment.model_dump(exclude={"service"}, exclude_none=True)
        return FunctionStatus.model_validate(
            {
                **fields,
                "name": self.name,
                "namespace": self.namespace,
                "invocation_count": self.invocations,
                "replicas": self.record.replicas,
                "available_replicas": sum(r.available for r in self._replicas),
                "created_at": self.record.created_at,
                # As faas-netes lists a function: its labels, with faas_function: <name>.
                "labels": (self.record.deployment.labels or {}) | {FUNCTION_LABEL: self.name},
            }
        )

    def refresh_secrets(self) -> None:
        """Copy the current secret values into every live replica's secret directory."""
        for replica in self._replicas:
            replica.refresh_secrets()

    def instances(self) -> list[Instance]:
        """The live replicas, oldest first."""
        return [r.info() for r in self._replicas]

    async def ready_url(self) -> str:
        """A ready replica's URL, round robin, once there is one; counts one invocation.

        Raises:
            FunctionNotFound: the function was deleted while waiting.
        """
        while not (ready := self._ready()):
            if self._closed:
                raise FunctionNotFound(self.name, self.namespace)
            await self._changed.wait()
        self._turn += 1
        self.invocations += 1
        return ready[self._turn % len(ready)].url

    async def close(self) -> None:
        """Stop reconciling and stop every replica; followers of the log end."""
        self._closed = True
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        replicas, self._replicas = self._replicas, []
        await asyncio.gather(*(r.stop() for r in replicas), *list(self._stopping))
        with contextlib.suppress(OSError):  # not if a redeployment of the same name already uses it
            (self._runtime.run_root / self.namespace / self.name).rmdir()
        self.log.close()
        self._changed.notify()

    def _ready(self) -> list[Replica]:
        # During a roll the previous generation keeps serving until the new one is up.
        current = [r for r in self._replicas if r.available and r.generation == self._generation]
        return current or [r for r in self._replicas if r.available]

    def _poke(self) -> None:
        self._wake.set()
        self._changed.notify()

    async def _reconcile_loop(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            self._wake.clear()
            try:
                self._apply(self._plan(loop.time()))
            except OSError as exc:  # out of descriptors or disk: try again shortly
                logger.error("function %s.%s: cannot start a replica: %s", self.name, self.namespace, exc)
                self._wake.set()
                await asyncio.sleep(_RETRY_APPLY)
                continue
            timeout = None if self._roll_deadline is None else max(0.0, self._roll_deadline - loop.time())
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout)

    def _plan(self, now: float) -> Plan:
        expired = self._roll_deadline is not None and now >= self._roll_deadline
        views = [ReplicaView(r.id, r.generation, r.available) for r in self._replicas]
        return plan_rollout(self.record.replicas, self._generation, views, roll_expired=expired)

    def _apply(self, plan: Plan) -> None:
        for replica in [r for r in self._replicas if r.id in plan.stop]:
            self._replicas.remove(replica)
            task = asyncio.create_task(replica.stop(linger=_LINGER), name=f"stop {replica.id}")
            self._stopping.add(task)
            task.add_done_callback(self._stopping.discard)
        for _ in range(plan.start):
            self._replicas.append(self._new_replica())
        if all(r.generation == self._generation for r in self._replicas):
            self._roll_deadline = None
        if plan.stop:
            self._changed.notify()

    def _workdir(self, deployment: FunctionDeployment) -> Path:
        """The folder the deployment names (its stack file's or build's), else its own: never the provider's."""
        given = (deployment.annotations or {}).get(WORKDIR_ANNOTATION)
        return Path(given) if given else private_dir(self._runtime.work_root / self.namespace / self.name)

    def _say_network(self, private: bool) -> None:
        if private and self._network_said != self._generation:
            name = f"{self.name}.{self.namespace}"
            logger.info(
                "function %s: each replica has a network of its own (its ports are its own), with loopback only: "
                "no outbound connections; annotation %s=host gives it this machine's",
                name,
                NETWORK_ANNOTATION,
            )
        self._network_said = self._generation

    def _new_replica(self) -> Replica:
        replica_id = f"{self.name}-{secrets.token_hex(4)}"
        deployment = self._runtime.resolve(self.record.deployment)
        private = self._runtime.sandboxed and private_network(deployment)
        self._say_network(private)
        launch = Launch(
            function=f"{self.name}.{self.namespace}",
            command=self._runtime.command,
            deployment=deployment,
            workdir=self._workdir(deployment),
            sandboxed=self._runtime.sandboxed,
            private_network=private,
            prepare=functools.partial(self._runtime.secrets.copy_into, deployment.secrets or [], self.namespace),
            probe=self._runtime.probe,
            sink=self.log.append,
            on_change=self._poke,
            stop_timeout=self._runtime.stop_timeout,
            backoff=self._runtime.backoff,
        )
        run_dir = private_dir(self._runtime.run_root / self.namespace / self.name / replica_id)
        replica = Replica(replica_id, self._generation, launch, run_dir)
        replica.start()
        logger.info("function %s.%s: started replica %s on %s", self.name, self.namespace, replica.id, replica.url)
        return replica

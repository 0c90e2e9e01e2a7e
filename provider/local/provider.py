"""The local provider: every replica is a watchdog subprocess on a loopback port the kernel chose.

State lives under ``settings.state_dir``::

    functions/<namespace>/<name>.json   deployment, desired replicas, createdAt
    secrets/<namespace>/<name>          one file per secret, 0600
    run/<namespace>/<name>/<replica>/   the replica's lock file and secret copies (wiped at start-up)
    work/<namespace>/<name>/            where a function without ``com.faasq.workdir`` runs
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import functools
import logging
import os
import shutil
import sys
from collections.abc import AsyncGenerator, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path

import httpx

from plumbing.release import release, revision
from provider.config import ProviderSettings
from provider.errors import DeployFailed, FunctionExists, FunctionNotFound, InvalidRequest, NoReplicaAvailable
from provider.local import sandbox
from provider.local.builds import resolve
from provider.local.function import LocalFunction, Runtime
from provider.local.orphans import reap_orphans
from provider.local.policy import check_runnable, clamp_replicas, scale_policy
from provider.local.replica import Instance, http_probe
from provider.local.secretstore import SecretStore
from provider.local.state import StateStore, StoredFunction, private_dir
from provider.namespaces import served_namespace
from provider.types import (
    WORKDIR_ANNOTATION,
    FunctionDeployment,
    FunctionStatus,
    LogMessage,
    LogRequest,
    ProviderInfo,
    Secret,
    VersionInfo,
)

__all__ = ["LocalProvider"]

logger = logging.getLogger(__name__)


@contextlib.contextmanager
def _on_disk(action: str, name: str, namespace: str) -> Iterator[None]:
    # The protocol raises only ProviderErrors: a full or read-only disk is the backend failing.
    try:
        yield
    except OSError as exc:
        raise DeployFailed(f"cannot {action} {name!r}: {exc}", name=name, namespace=namespace) from exc


class LocalProvider:
    """Runs functions as watchdog subprocesses on this machine; implements ``provider.protocol.Provider``.

    Args:
        settings: the provider's settings; ``state_dir``, ``function_namespace``, ``ready_timeout``,
            ``replica_stop_timeout`` and ``log_buffer_lines`` apply here.
        watchdog_command: argv that starts one watchdog (default ``python -m watchdog``).
    """

    def __init__(self, settings: ProviderSettings, *, watchdog_command: Sequence[str] | None = None) -> None:
        self._settings = settings
        self._namespace = settings.function_namespace
        self._command = tuple(watchdog_command or (sys.executable, "-m", "watchdog"))
        self._state = StateStore(settings.state_dir / "functions")
        self._builds_dir = (settings.builds_dir or settings.state_dir / "builds").resolve()
        self._secrets = SecretStore(settings.state_dir / "secrets")
        self._functions: dict[str, LocalFunction] = {}
        self._client: httpx.AsyncClient | None = None
        self._runtime: Runtime | None = None
        self._lock_fd: int | None = None

    async def startup(self) -> None:
        """Restore the deployments kept in the state directory and start their replicas.

        Raises:
            DeployFailed: another provider uses the same state directory.
        """
        self._settings.state_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        self._lock_state_dir()
        run_root = self._settings.state_dir / "run"
        reap_orphans(run_root)  # replicas and directories of a provider that died
        shutil.rmtree(run_root, ignore_errors=True)
        self._client = httpx.AsyncClient(trust_env=False)  # probes go to loopback, never through a proxy
        self._runtime = Runtime(
            command=self._command,
            probe=functools.partial(http_probe, self._client),
            secrets=self._secrets,
            run_root=private_dir(run_root),
            work_root=private_dir(self._settings.state_dir / "work"),
            stop_timeout=self._settings.replica_stop_timeout.total_seconds(),
            log_lines=self._settings.log_buffer_lines,
            sandboxed=await self._isolation(),
            resolve=functools.partial(resolve, self._builds_dir),
        )
        for record in self._state.load(self._namespace):
            try:
                self._run(record, self._runtime)
            except InvalidRequest as exc:  # a record edited by hand
                logger.error("not restoring function %s: %s", record.deployment.service, exc)
        logger.info("local provider: restored %d functions from %s", len(self._functions), self._settings.state_dir)

    async def _isolation(self) -> bool:
        """Whether replicas get namespaces of their own, decided once and said once.

        Raises:
            DeployFailed: ``replica_isolation=namespaces`` and this machine cannot make them.
        """
        wanted = self._settings.replica_isolation
        if wanted == "off":
            logger.info("replicas share this machine's network (replica_isolation=off)")
            return False
        reason = await _namespaces_unavailable()
        if reason is None:
            logger.info(
                "replicas run in mount and UTS namespaces of their own, http-mode ones in a network of their own"
            )
            return True
        if wanted == "namespaces":
            raise DeployFailed(f"replica_isolation=namespaces, but replicas cannot have namespaces here: {reason}")
        logger.warning(
            "replicas share this machine's network (%s); a watchdog never proxies to a port another process holds",
            reason,
        )
        return False

    async def shutdown(self) -> None:
        """Stop every replica (SIGTERM, then SIGKILL); the state stays on disk."""
        functions, self._functions = list(self._functions.values()), {}
        await asyncio.gather(*(fn.close() for fn in functions))
        if self._client is not None:
            await self._client.aclose()
            self._client = None
        if self._lock_fd is not None:
            os.close(self._lock_fd)  # releases the flock
            self._lock_fd = None
        logger.info("local provider: stopped %d functions", len(functions))

    async def deploy(self, request: FunctionDeployment) -> None:
        """Create a function; its ``com.openfaas.scale.min`` replicas start in the background."""
        runtime = self._started()
        namespace = self._check_namespace(request.namespace)
        self._validate(request, namespace)
        if request.service in self._functions:
            raise FunctionExists(request.service, namespace)
        deployment = request.model_copy(update={"namespace": namespace})
        replicas = scale_policy(deployment.labels).min_replicas
        record = StoredFunction(deployment=deployment, replicas=replicas, created_at=datetime.now(UTC))
        with _on_disk("store function", request.service, namespace):
            self._state.save(namespace, record)
        self._run(record, runtime)

    async def update(self, request: FunctionDeployment) -> None:
        """Replace a function's definition and roll its replicas; an identical definition changes nothing.

        The replica count is kept, clamped to the new scaling labels (0 stays 0). Old replicas
        serve until the new ones are ready, or at most ``ready_timeout``.
        """
        namespace = self._check_namespace(request.namespace)
        function = self._lookup(request.service, namespace)
        self._validate(request, namespace)
        deployment = request.model_copy(update={"namespace": namespace})
        if deployment == function.record.deployment:
            return  # as with a Kubernetes Deployment, an unchanged definition rolls nothing
        replicas = clamp_replicas(function.record.replicas, scale_policy(deployment.labels))
        with _on_disk("store function", request.service, namespace):
            self._state.save(
                namespace, function.record.model_copy(update={"deployment": deployment, "replicas": replicas})
            )
        function.redefine(deployment, replicas, self._settings.ready_timeout.total_seconds())

    async def delete(self, name: str, namespace: str) -> None:
        """Remove a function and stop its replicas."""
        function = self._lookup(name, self._check_namespace(namespace))
        with _on_disk("forget function", name, function.namespace):
            self._state.remove(function.namespace, name)
        del self._functions[name]
        await function.close()

    async def list_functions(self, namespace: str) -> list[FunctionStatus]:
        """All functions of the namespace, sorted by name."""
        self._check_namespace(namespace)
        return [self._functions[name].status() for name in sorted(self._functions)]

    async def get(self, name: str, namespace: str) -> FunctionStatus:
        """One function with its desired and available replicas."""
        return self._lookup(name, self._check_namespace(namespace)).status()

    async def scale(self, name: str, namespace: str, replicas: int) -> None:
        """Set the desired count, clamped by :func:`provider.local.policy.clamp_replicas`."""
        function = self._lookup(name, self._check_namespace(namespace))
        if replicas < 0:
            raise InvalidRequest(f"replicas must be at least 0, got {replicas}", name=name, namespace=namespace)
        self._set_replicas(function, clamp_replicas(replicas, function.policy))

    async def resolve(self, name: str, namespace: str) -> str:
        """URL of a ready replica (round robin); scales from zero to ``com.openfaas.scale.min`` first."""
        function = self._lookup(name, self._check_namespace(namespace))
        if function.record.replicas == 0:
            logger.info("function %s.%s: scaling from zero", name, namespace)
            self._set_replicas(function, function.policy.min_replicas)
        timeout = self._settings.ready_timeout.total_seconds()
        try:
            async with asyncio.timeout(timeout):
                return await function.ready_url()
        except TimeoutError:
            message = f"no replica of {name} became ready within {timeout:g}s"
            raise NoReplicaAvailable(message, name=name, namespace=namespace) from None

    async def logs(self, request: LogRequest) -> AsyncGenerator[LogMessage, None]:
        """Stored lines of the function's replicas; with ``follow``, new ones until the function goes."""
        function = self._lookup(request.name, self._check_namespace(request.namespace or self._namespace))
        async for message in function.log.read(request):
            yield message

    async def namespaces(self) -> list[str]:
        """The one namespace this provider deploys to."""
        return [self._namespace]

    async def info(self) -> ProviderInfo:
        """``faasq-local`` / ``local`` and the faasq version."""
        return ProviderInfo(
            provider="faasq-local", orchestration="local", version=VersionInfo(sha=revision(), release=release())
        )

    async def list_secrets(self, namespace: str) -> list[Secret]:
        """Names of the namespace's secrets, sorted."""
        namespace = self._check_namespace(namespace)
        return [Secret(name=name, namespace=namespace) for name in self._secrets.names(namespace)]

    async def create_secret(self, secret: Secret) -> None:
        """Store a new secret as a 0600 file."""
        namespace = self._check_namespace(secret.namespace)
        with _on_disk("store secret", secret.name, namespace):
            self._secrets.create(secret, namespace)

    async def update_secret(self, secret: Secret) -> None:
        """Replace a secret; running replicas that use it see the new value in their secret files."""
        namespace = self._check_namespace(secret.namespace)
        with _on_disk("store secret", secret.name, namespace):
            self._secrets.update(secret, namespace)
            for function in self._functions.values():
                if secret.name in (function.record.deployment.secrets or []):
                    function.refresh_secrets()

    async def delete_secret(self, name: str, namespace: str) -> None:
        """Remove a secret; replicas already running keep their copy."""
        namespace = self._check_namespace(namespace)
        with _on_disk("remove secret", name, namespace):
            self._secrets.delete(name, namespace)

    def instances(self, name: str, namespace: str) -> list[Instance]:
        """The live replicas of a function (local only: for operators and tests).

        Raises:
            FunctionNotFound: no such function.
        """
        return self._lookup(name, self._check_namespace(namespace)).instances()

    def _lock_state_dir(self) -> None:
        # Two providers on one state directory would wipe each other's replica directories.
        path = self._settings.state_dir / "provider.lock"
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise DeployFailed(f"{self._settings.state_dir} is in use by another local provider") from None
        self._lock_fd = fd

    def _started(self) -> Runtime:
        if self._runtime is None:
            raise RuntimeError("LocalProvider.startup() must be called first")
        return self._runtime

    def _run(self, record: StoredFunction, runtime: Runtime) -> None:
        function = LocalFunction(record, self._namespace, runtime)
        self._functions[function.name] = function
        function.start()

    def _set_replicas(self, function: LocalFunction, replicas: int) -> None:
        with _on_disk("store function", function.name, function.namespace):
            self._state.save(function.namespace, function.record.model_copy(update={"replicas": replicas}))
        function.set_replicas(replicas)

    def _check_namespace(self, namespace: str | None) -> str:
        return served_namespace(namespace, self._namespace)

    def _lookup(self, name: str, namespace: str) -> LocalFunction:
        function = self._functions.get(name)
        if function is None:
            raise FunctionNotFound(name, namespace)
        return function

    def _validate(self, request: FunctionDeployment, namespace: str) -> None:
        name = request.service
        try:
            check_runnable(resolve(self._builds_dir, request))
            scale_policy(request.labels)
        except InvalidRequest as exc:
            raise InvalidRequest(str(exc), name=name, namespace=namespace) from None
        missing = [s for s in request.secrets or [] if not self._secrets.exists(s, namespace)]
        if missing:
            raise InvalidRequest(f"secrets not found: {', '.join(missing)}", name=name, namespace=namespace)
        workdir = (request.annotations or {}).get(WORKDIR_ANNOTATION)
        if workdir is not None and not (Path(workdir).is_absolute() and Path(workdir).is_dir()):
            raise InvalidRequest(
                f"{WORKDIR_ANNOTATION}: {workdir!r} is not an absolute path to a folder on this machine",
                name=name,
                namespace=namespace,
            )


async def _namespaces_unavailable() -> str | None:
    """Why replicas cannot have namespaces of their own here, or None: the sandbox tried, with a no-op command."""
    argv = sandbox.sandboxed(sandbox.PROBE, hostname="faasq-probe", secrets=None, network=True)
    try:
        probe = await asyncio.create_subprocess_exec(*argv, stderr=asyncio.subprocess.PIPE)
    except OSError as exc:
        return str(exc)
    _, stderr = await probe.communicate()
    return None if probe.returncode == 0 else stderr.decode(errors="replace").strip() or f"exit {probe.returncode}"

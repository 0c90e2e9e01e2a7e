"""An in-memory Provider for the REST server's tests; ``tests/unit/provider/conftest.py`` serves an app over it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime

from provider.errors import (
    DeployFailed,
    FunctionExists,
    FunctionNotFound,
    InvalidRequest,
    NoReplicaAvailable,
    SecretExists,
    SecretNotFound,
)
from provider.types import (
    FunctionDeployment,
    FunctionStatus,
    LogMessage,
    LogRequest,
    ProviderInfo,
    Secret,
    VersionInfo,
)

CREATED = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
Key = tuple[str, str]


class FakeProvider:
    """Functions, secrets and logs in dicts; ``resolve`` answers with whatever ``upstreams`` says."""

    def __init__(self) -> None:
        self.functions: dict[Key, FunctionStatus] = {}
        self.secrets: dict[Key, Secret] = {}
        self.lines: dict[Key, list[LogMessage]] = {}
        self.upstreams: dict[Key, str] = {}
        self.resolved: list[Key] = []
        self.events: list[str] = []
        self._new_line = asyncio.Condition()

    async def startup(self) -> None:
        self.events.append("startup")

    async def shutdown(self) -> None:
        self.events.append("shutdown")

    async def deploy(self, request: FunctionDeployment) -> None:
        key = (request.namespace or "", request.service)
        if request.image == "invalid":
            raise InvalidRequest("this backend cannot run that image", name=request.service)
        if request.image == "explode":
            raise DeployFailed("the backend is on fire", name=request.service)
        if key in self.functions:
            raise FunctionExists(key[1], key[0])
        self.functions[key] = self._status(request, replicas=1)

    async def update(self, request: FunctionDeployment) -> None:
        key = (request.namespace or "", request.service)
        previous = self._get(request.service, key[0])
        self.functions[key] = self._status(request, replicas=previous.replicas or 0)

    async def delete(self, name: str, namespace: str) -> None:
        self._get(name, namespace)
        async with self._new_line:
            del self.functions[namespace, name]
            self._new_line.notify_all()

    async def list_functions(self, namespace: str) -> list[FunctionStatus]:
        return sorted((f for (ns, _), f in self.functions.items() if ns == namespace), key=lambda f: f.name)

    async def get(self, name: str, namespace: str) -> FunctionStatus:
        return self._get(name, namespace)

    async def scale(self, name: str, namespace: str, replicas: int) -> None:
        current = self._get(name, namespace)
        self.functions[namespace, name] = current.model_copy(
            update={"replicas": replicas, "available_replicas": replicas}
        )

    async def resolve(self, name: str, namespace: str) -> str:
        self._get(name, namespace)
        self.resolved.append((namespace, name))
        if (base := self.upstreams.get((namespace, name))) is None:
            raise NoReplicaAvailable(f"no replica of {name}", name=name, namespace=namespace)
        return base

    async def logs(self, request: LogRequest) -> AsyncIterator[LogMessage]:
        key = (request.namespace or "", request.name)
        self._get(request.name, key[0])
        lines = self.lines.get(key, [])
        sent = max(0, len(lines) - request.tail) if request.tail > 0 else 0
        while True:
            for line in self.lines.get(key, [])[sent:]:
                sent += 1
                if request.instance is None or line.instance == request.instance:
                    yield line
            if not request.follow:
                return
            await self._wait_for_line(key, sent)

    async def _wait_for_line(self, key: Key, seen: int) -> None:
        def more() -> bool:
            return len(self.lines.get(key, [])) > seen or key not in self.functions

        async with self._new_line:
            await self._new_line.wait_for(more)
        self._get(key[1], key[0])

    async def emit(self, name: str, namespace: str, text: str, instance: str = "a") -> None:
        """Append a log line and wake followers."""
        line = LogMessage(name=name, namespace=namespace, instance=instance, timestamp=CREATED, text=text)
        async with self._new_line:
            self.lines.setdefault((namespace, name), []).append(line)
            self._new_line.notify_all()

    async def namespaces(self) -> list[str]:
        return ["openfaas-fn", "staging"]

    async def info(self) -> ProviderInfo:
        return ProviderInfo(provider="faasq-fake", orchestration="memory", version=VersionInfo(sha="abc", release="1"))

    async def list_secrets(self, namespace: str) -> list[Secret]:
        # Returns values on purpose: the app must strip them.
        return [s for (ns, _), s in sorted(self.secrets.items()) if ns == namespace]

    async def create_secret(self, secret: Secret) -> None:
        key = (secret.namespace or "", secret.name)
        if key in self.secrets:
            raise SecretExists(secret.name, key[0])
        self.secrets[key] = secret

    async def update_secret(self, secret: Secret) -> None:
        key = (secret.namespace or "", secret.name)
        if key not in self.secrets:
            raise SecretNotFound(secret.name, key[0])
        self.secrets[key] = secret

    async def delete_secret(self, name: str, namespace: str) -> None:
        if self.secrets.pop((namespace, name), None) is None:
            raise SecretNotFound(name, namespace)

    def _get(self, name: str, namespace: str) -> FunctionStatus:
        if (function := self.functions.get((namespace, name))) is None:
            raise FunctionNotFound(name, namespace)
        return function

    @staticmethod
    def _status(request: FunctionDeployment, replicas: int) -> FunctionStatus:
        fields = request.model_dump(exclude={"service"}, exclude_none=True)
        return FunctionStatus.model_validate(
            {**fields, "name": request.service, "replicas": replicas, "available_replicas": replicas}
            | {"invocation_count": 0.0, "created_at": CREATED}
        )

"""The provider protocol: what the REST server, the gateway and the tests need of a backend.

Implementations: ``provider.local.LocalProvider`` (watchdog subprocesses on loopback) and
``provider.kubernetes.KubernetesProvider`` (a Deployment and a Service per function). Both
pass one contract suite (``tests/support/provider_contract.py``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Protocol

from provider.types import FunctionDeployment, FunctionStatus, LogMessage, LogRequest, ProviderInfo, Secret

__all__ = ["Provider"]


class Provider(Protocol):
    """A backend that runs functions. Every method raises only ``provider.errors.ProviderError``s.

    Namespaces are explicit strings; callers resolve defaults (``openfaas-fn``) before calling.
    """

    async def startup(self) -> None:
        """Open connections and restore state; called once before any other method."""

    async def shutdown(self) -> None:
        """Stop what the provider started (for the local provider, its replicas) and release resources."""

    async def deploy(self, request: FunctionDeployment) -> None:
        """Create a function; its replicas start in the background.

        Raises:
            InvalidRequest: the deployment cannot be run by this backend (e.g. no ``envProcess`` locally).
            FunctionExists: a function of that name is already deployed.
        """

    async def update(self, request: FunctionDeployment) -> None:
        """Replace a function's definition and roll its replicas; the replica count is kept.

        Raises:
            FunctionNotFound: no such function.
        """

    async def delete(self, name: str, namespace: str) -> None:
        """Remove a function and stop its replicas.

        Raises:
            FunctionNotFound: no such function.
        """

    async def list_functions(self, namespace: str) -> list[FunctionStatus]:
        """All functions of a namespace, sorted by name."""

    async def get(self, name: str, namespace: str) -> FunctionStatus:
        """One function, with ``replicas`` (desired) and ``availableReplicas`` (passing health checks).

        Raises:
            FunctionNotFound: no such function.
        """

    async def scale(self, name: str, namespace: str, replicas: int) -> None:
        """Set the desired replica count, clamped to the function's ``com.openfaas.scale.min``/``max`` labels.

        Raises:
            FunctionNotFound: no such function.
        """

    async def resolve(self, name: str, namespace: str) -> str:
        """Base URL (``http://host:port``) of a ready replica for one invocation, and count the invocation.

        Scales from zero and waits, up to the provider's timeout, for a replica to become ready.

        Raises:
            FunctionNotFound: no such function.
            NoReplicaAvailable: no replica became ready in time.
        """

    def logs(self, request: LogRequest) -> AsyncIterator[LogMessage]:
        """Log lines of a function's replicas, oldest first; with ``follow`` it waits for new lines.

        Raises:
            FunctionNotFound: no such function (raised on the first iteration).
        """

    async def namespaces(self) -> list[str]:
        """The namespaces this provider may deploy to."""

    async def info(self) -> ProviderInfo:
        """The provider's name, orchestration and version."""

    async def list_secrets(self, namespace: str) -> list[Secret]:
        """Secrets of a namespace, names only (no values)."""

    async def create_secret(self, secret: Secret) -> None:
        """Store a new secret (``secret.namespace`` is set by the caller).

        Raises:
            SecretExists: a secret of that name already exists.
        """

    async def update_secret(self, secret: Secret) -> None:
        """Replace a secret's value.

        Raises:
            SecretNotFound: no such secret.
        """

    async def delete_secret(self, name: str, namespace: str) -> None:
        """Remove a secret.

        Raises:
            SecretNotFound: no such secret.
        """

"""The Kubernetes provider: a Deployment and a Service per function in the functions namespace."""

from provider.kubernetes.provider import KubernetesProvider

__all__ = ["KubernetesProvider"]

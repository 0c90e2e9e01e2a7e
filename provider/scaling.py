"""Scaling labels (:func:`provider.types.scale_labels`), applied the same way by every provider.

- ``com.openfaas.scale.min`` (default 1, at least 1) is the initial replica count and the
  count a function scales back to from zero.
- ``com.openfaas.scale.max`` (default 20) caps every request.
- Scaling to 0 is always allowed when asked for explicitly (the autoscaler does it for a
  function labelled ``com.openfaas.scale.zero``, a user may do it for any).
- ``com.openfaas.scale.factor`` of 0, or min equal to max, fixes the count: any request
  other than 0 gives min.

A deployment whose labels do not read is refused with a 400 naming the label.
"""

from __future__ import annotations

from collections.abc import Mapping

from provider.errors import InvalidRequest
from provider.types import SCALE_MIN, ScaleLabels, scale_labels

__all__ = ["DEFAULT_MAX_REPLICAS", "SCALE_MIN", "ScalePolicy", "clamp_replicas", "scale_policy"]

ScalePolicy = ScaleLabels
DEFAULT_MAX_REPLICAS = ScaleLabels.max_replicas


def scale_policy(labels: Mapping[str, str] | None) -> ScalePolicy:
    """Read a function's scaling labels.

    Raises:
        InvalidRequest: a label does not read (its message names it).
    """
    try:
        return scale_labels(labels)
    except ValueError as exc:
        raise InvalidRequest(str(exc)) from None


def clamp_replicas(requested: int, policy: ScalePolicy) -> int:
    """The replica count a scale request results in (see the module docstring)."""
    if requested <= 0:
        return 0
    if policy.fixed:
        return policy.min_replicas
    return max(policy.min_replicas, min(requested, policy.max_replicas))

"""Scaling labels, as OpenFaaS names them, read and applied the same way by every provider.

- ``com.openfaas.scale.min`` (default 1, at least 1) is the initial replica count and the
  count a function scales back to from zero.
- ``com.openfaas.scale.max`` (default 20) caps every request.
- Scaling to 0 is always allowed when asked for explicitly: ``com.openfaas.scale.zero``
  governs OpenFaaS Pro's idler (automatic scale to zero), which faasq does not run, so the
  label is validated but does not forbid an explicit request.
- ``com.openfaas.scale.factor`` of 0, or min equal to max, fixes the count: any request
  other than 0 gives min.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from provider.errors import InvalidRequest
from provider.types import parse_go_duration

__all__ = ["DEFAULT_MAX_REPLICAS", "SCALE_MIN", "ScalePolicy", "clamp_replicas", "scale_policy"]

SCALE_MIN = "com.openfaas.scale.min"
SCALE_MAX = "com.openfaas.scale.max"
SCALE_FACTOR = "com.openfaas.scale.factor"
SCALE_ZERO = "com.openfaas.scale.zero"
SCALE_ZERO_DURATION = "com.openfaas.scale.zero-duration"
DEFAULT_MAX_REPLICAS = 20
DEFAULT_FACTOR = 20
_BOOLEANS = {"true", "false", "1", "0"}


@dataclass(frozen=True)
class ScalePolicy:
    """A function's scaling bounds, read from its labels."""

    min_replicas: int = 1
    max_replicas: int = DEFAULT_MAX_REPLICAS
    factor: int = DEFAULT_FACTOR

    @property
    def fixed(self) -> bool:
        """Whether the replica count is fixed at ``min_replicas`` (factor 0, or min equal to max)."""
        return self.factor == 0 or self.min_replicas == self.max_replicas


def _int_label(labels: Mapping[str, str], key: str, default: int, low: int, high: int | None = None) -> int:
    text = labels.get(key)
    if text is None:
        return default
    try:
        value = int(text.strip())
    except ValueError:
        raise InvalidRequest(f"label {key} must be an integer, got {text!r}") from None
    if value < low or (high is not None and value > high):
        bounds = f"between {low} and {high}" if high is not None else f"at least {low}"
        raise InvalidRequest(f"label {key} must be {bounds}, got {value}")
    return value


def _check_optional_labels(labels: Mapping[str, str]) -> None:
    zero = labels.get(SCALE_ZERO)
    if zero is not None and zero.strip().lower() not in _BOOLEANS:
        raise InvalidRequest(f"label {SCALE_ZERO} must be true or false, got {zero!r}")
    duration = labels.get(SCALE_ZERO_DURATION)
    if duration is not None:
        try:
            parse_go_duration(duration)
        except ValueError as exc:
            raise InvalidRequest(f"label {SCALE_ZERO_DURATION}: {exc}") from None


def scale_policy(labels: Mapping[str, str] | None) -> ScalePolicy:
    """Read a function's scaling labels.

    Raises:
        InvalidRequest: a label is not a number, out of range, or min exceeds max.
    """
    labels = labels or {}
    minimum = _int_label(labels, SCALE_MIN, 1, 1)
    maximum = _int_label(labels, SCALE_MAX, max(DEFAULT_MAX_REPLICAS, minimum), 1)
    factor = _int_label(labels, SCALE_FACTOR, DEFAULT_FACTOR, 0, 100)
    if minimum > maximum:
        raise InvalidRequest(f"label {SCALE_MIN} ({minimum}) exceeds {SCALE_MAX} ({maximum})")
    _check_optional_labels(labels)
    return ScalePolicy(min_replicas=minimum, max_replicas=maximum, factor=factor)


def clamp_replicas(requested: int, policy: ScalePolicy) -> int:
    """The replica count a scale request results in (see the module docstring)."""
    if requested <= 0:
        return 0
    if policy.fixed:
        return policy.min_replicas
    return max(policy.min_replicas, min(requested, policy.max_replicas))

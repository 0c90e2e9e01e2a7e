"""Errors of the gateway; only :mod:`gateway.responses` turns them into status codes.

GatewayError
 ├── InvalidRequest        bad function name, X-Callback-Url or X-Call-Id     (400)
 ├── FunctionNotFound      the provider does not know the function            (404)
 ├── DeadLetterNotFound    no dead letter has the call id                     (404)
 ├── BodyTimeout           the body did not arrive within read_timeout        (408)
 ├── Conflict              a batch id already names another batch             (409)
 ├── BodyTooLarge          over max_body_bytes or the NATS max_payload        (413)
 ├── HeadersTooLarge       headers over JetStream's 64 KiB header limit       (431)
 ├── UnsupportedFormat     a batch body in no known Content-Type              (415)
 ├── QueueMisconfigured    the function names an invalid queue                (500)
 ├── ProviderUnavailable   the function lookup failed                         (502)
 └── QueueUnavailable      JetStream did not acknowledge the call             (503)
"""

from __future__ import annotations

__all__ = [
    "BodyTimeout",
    "BodyTooLarge",
    "Conflict",
    "DeadLetterNotFound",
    "FunctionNotFound",
    "GatewayError",
    "HeadersTooLarge",
    "InvalidRequest",
    "ProviderUnavailable",
    "QueueMisconfigured",
    "QueueUnavailable",
    "UnsupportedFormat",
]


class GatewayError(Exception):
    """Base of the gateway's errors; carries the function and the call id it concerns, when known."""

    def __init__(self, message: str, *, function: str = "", call_id: str = "") -> None:
        super().__init__(message)
        self.function = function
        self.call_id = call_id


class InvalidRequest(GatewayError):
    """The request is malformed; nothing was queued."""


class FunctionNotFound(GatewayError):
    """The provider has no such function; nothing was queued."""


class DeadLetterNotFound(GatewayError):
    """No dead letter has the call id."""


class BodyTimeout(GatewayError):
    """The caller did not send its whole body within ``read_timeout``."""


class BodyTooLarge(GatewayError):
    """The body is over the limit; nothing was queued."""


class HeadersTooLarge(GatewayError):
    """The request's headers would be over JetStream's header limit; nothing was queued."""


class Conflict(GatewayError):
    """The request names something that exists and is not what it describes; nothing was queued."""


class UnsupportedFormat(GatewayError):
    """The body's ``Content-Type`` is not one the route reads; nothing was queued."""


class QueueMisconfigured(GatewayError):
    """The function's ``com.openfaas.queue`` annotation is not a valid queue name."""


class ProviderUnavailable(GatewayError):
    """The provider could not be asked about the function."""


class QueueUnavailable(GatewayError):
    """NATS JetStream did not store the call, or did not say so in time; the caller may resend it."""

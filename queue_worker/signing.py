"""Signed callbacks: a timestamp and an HMAC-SHA256 that let a receiver check a callback came from faasq.

With a signing secret configured, every callback POST carries::

    X-Faasq-Timestamp: <unix seconds when this POST was sent>
    X-Faasq-Signature: v1=<hex HMAC-SHA256(secret, b"<timestamp>.<call id>." + body)>

The call id (``X-Call-Id``) is signed, so a body cannot be replayed as another call's result;
the timestamp is signed, so a receiver can refuse an old replay. Each retry is signed anew.
"""

from __future__ import annotations

import hashlib
import hmac

__all__ = ["SIGNATURE", "TIMESTAMP", "signature", "signature_headers"]

TIMESTAMP = "X-Faasq-Timestamp"
SIGNATURE = "X-Faasq-Signature"


def signature(secret: bytes, timestamp: int, call_id: str, body: bytes) -> str:
    """``v1=<hex digest>`` of ``<timestamp>.<call id>.<body>`` under ``secret``."""
    digest = hmac.new(secret, f"{timestamp}.{call_id}.".encode() + body, hashlib.sha256).hexdigest()
    return f"v1={digest}"


def signature_headers(secret: bytes, timestamp: int, call_id: str, body: bytes) -> dict[str, str]:
    """The two headers of a signed callback."""
    return {TIMESTAMP: str(timestamp), SIGNATURE: signature(secret, timestamp, call_id, body)}

"""Webhook signature checks: generic HMAC and the GitHub, Stripe, Slack and faas-cli schemes; pure.

Each scheme's header, signed bytes and value are in docs/connectors.md. Stripe and Slack
requests outside ``tolerance`` seconds are refused (replays); digests are compared in
constant time.
"""

from __future__ import annotations

import base64
import binascii
import enum
import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass

__all__ = ["ALGORITHMS", "Encoding", "Scheme", "SignatureRejected", "Verifier", "sign", "verify"]

ALGORITHMS = frozenset({"sha1", "sha256", "sha384", "sha512"})


class SignatureRejected(Exception):
    """The request is not signed as its topic requires; the message says why (never the expected value)."""


class Scheme(enum.StrEnum):
    """How a topic's requests are signed."""

    HMAC = "hmac"
    """A configured header holding ``<prefix><digest>`` of the body."""
    GITHUB = "github"
    """``X-Hub-Signature-256: sha256=<hex>``."""
    FAAS_CLI = "faas-cli"
    """``<header>: sha256=<hex>``, as ``faas-cli invoke --sign <header> --key <secret>`` sends it."""
    STRIPE = "stripe"
    """``Stripe-Signature: t=<ts>,v1=<hex of HMAC(secret, "<ts>.<body>")>``."""
    SLACK = "slack"
    """``X-Slack-Signature: v0=<hex of HMAC(secret, "v0:<ts>:<body>")>`` with ``X-Slack-Request-Timestamp``."""
    NONE = "none"
    """Unsigned: anyone who can reach the connector can send events."""


class Encoding(enum.StrEnum):
    """How a digest is written in the header."""

    HEX = "hex"
    BASE64 = "base64"


@dataclass(frozen=True)
class Verifier:
    """One topic's signature check.

    Attributes:
        scheme: the scheme.
        secret: the shared secret.
        header: the signature header (``hmac`` and ``faas-cli``; the others have their own).
        algorithm: ``hmac``'s hash: sha1, sha256, sha384 or sha512.
        encoding: ``hmac``'s digest encoding.
        prefix: ``hmac``'s text before the digest, e.g. ``sha256=``.
        tolerance: Stripe's and Slack's largest clock difference, in seconds.
    """

    scheme: Scheme
    secret: bytes = b""
    header: str = ""
    algorithm: str = "sha256"
    encoding: Encoding = Encoding.HEX
    prefix: str = ""
    tolerance: float = 300.0

    def __repr__(self) -> str:
        return f"Verifier(scheme={self.scheme.value!r}, header={self.header!r}, secret='***')"


def _digest(secret: bytes, payload: bytes, algorithm: str = "sha256") -> bytes:
    return hmac.new(secret, payload, getattr(hashlib, algorithm)).digest()


def _decode(value: str, encoding: Encoding) -> bytes:
    try:
        return bytes.fromhex(value) if encoding is Encoding.HEX else base64.b64decode(value, validate=True)
    except (ValueError, binascii.Error):
        raise SignatureRejected(f"the signature is not {encoding.value}") from None


def _header(headers: Mapping[str, str], name: str) -> str:
    value = headers.get(name.lower())
    if not value:
        raise SignatureRejected(f"missing {name} header")
    return value.strip()


def _matches(expected: bytes, given: bytes) -> bool:
    return hmac.compare_digest(expected, given)


def _check_time(timestamp: str, now: float, tolerance: float) -> None:
    try:
        sent = int(timestamp)
    except ValueError:
        raise SignatureRejected(f"invalid timestamp {timestamp[:40]!r}") from None
    if abs(now - sent) > tolerance:
        raise SignatureRejected(f"timestamp {sent} is more than {tolerance:g}s away from now: a replay or a late retry")


def _prefixed(
    verifier: Verifier,
    headers: Mapping[str, str],
    body: bytes,
    prefix: str,
    algorithm: str = "sha256",
    encoding: Encoding = Encoding.HEX,
) -> None:
    value = _header(headers, verifier.header)
    if not value.startswith(prefix):
        raise SignatureRejected(f"{verifier.header} does not start with {prefix!r}")
    given = _decode(value.removeprefix(prefix), encoding)
    if not _matches(_digest(verifier.secret, body, algorithm), given):
        raise SignatureRejected(f"{verifier.header} does not match the body")


def _stripe(verifier: Verifier, headers: Mapping[str, str], body: bytes, now: float) -> None:
    pairs = [item.partition("=") for item in _header(headers, "Stripe-Signature").split(",")]
    timestamps = [value.strip() for key, _, value in pairs if key.strip() == "t"]
    signatures = [value.strip() for key, _, value in pairs if key.strip() == "v1"]
    if len(timestamps) != 1 or not signatures:
        raise SignatureRejected("Stripe-Signature needs one t= and at least one v1=")
    expected = _digest(verifier.secret, timestamps[0].encode() + b"." + body)
    if not any(_matches(expected, _decode(signature, Encoding.HEX)) for signature in signatures):
        raise SignatureRejected("Stripe-Signature does not match the body")
    _check_time(timestamps[0], now, verifier.tolerance)


def _slack(verifier: Verifier, headers: Mapping[str, str], body: bytes, now: float) -> None:
    timestamp = _header(headers, "X-Slack-Request-Timestamp")
    value = _header(headers, "X-Slack-Signature")
    if not value.startswith("v0="):
        raise SignatureRejected("X-Slack-Signature does not start with 'v0='")
    expected = _digest(verifier.secret, b"v0:" + timestamp.encode() + b":" + body)
    if not _matches(expected, _decode(value.removeprefix("v0="), Encoding.HEX)):
        raise SignatureRejected("X-Slack-Signature does not match the body")
    _check_time(timestamp, now, verifier.tolerance)


def verify(verifier: Verifier, headers: Mapping[str, str], body: bytes, now: float) -> None:
    """Check a request's signature; ``headers`` have lower-case names, ``now`` is unix time.

    Raises:
        SignatureRejected: missing, malformed, not matching, or (Stripe, Slack) too old or too new.
    """
    match verifier.scheme:
        case Scheme.NONE:
            return
        case Scheme.HMAC:
            _prefixed(verifier, headers, body, verifier.prefix, verifier.algorithm, verifier.encoding)
        case Scheme.GITHUB | Scheme.FAAS_CLI:  # always sha256, in hex: whatever algorithm or encoding the topic says
            _prefixed(verifier, headers, body, "sha256=")
        case Scheme.STRIPE:
            _stripe(verifier, headers, body, now)
        case Scheme.SLACK:
            _slack(verifier, headers, body, now)


def sign(secret: bytes, payload: bytes, algorithm: str = "sha256", encoding: Encoding = Encoding.HEX) -> str:
    """The encoded HMAC of ``payload``: what a sender puts after the prefix."""
    digest = _digest(secret, payload, algorithm)
    return digest.hex() if encoding is Encoding.HEX else base64.b64encode(digest).decode()

"""The webhook connector's pure parts: signature schemes, the topics file, the answer to the sender."""

from __future__ import annotations

import hashlib
import hmac
from pathlib import Path

import pytest

from connectors.sdk import Delivery, Event, EventResult
from connectors.webhook.app import answer, forwarded_headers
from connectors.webhook.config import WebhookConfigError, load_routes
from connectors.webhook.signatures import Encoding, Scheme, SignatureRejected, Verifier, sign, verify

SECRET = b"s3cret"
BODY = b"payload"
NOW = 1_700_000_000.0


def hexmac(payload: bytes) -> str:
    return hmac.new(SECRET, payload, hashlib.sha256).hexdigest()


def test_generic_hmac_with_prefix_and_base64() -> None:
    verifier = Verifier(Scheme.HMAC, SECRET, "X-Sig", "sha1", Encoding.BASE64, "sha1=")
    good = "sha1=" + sign(SECRET, BODY, "sha1", Encoding.BASE64)
    verify(verifier, {"x-sig": good}, BODY, NOW)
    with pytest.raises(SignatureRejected, match="does not start with 'sha1='"):
        verify(verifier, {"x-sig": good.removeprefix("sha1=")}, BODY, NOW)
    with pytest.raises(SignatureRejected, match="not base64"):
        verify(verifier, {"x-sig": "sha1=***"}, BODY, NOW)
    with pytest.raises(SignatureRejected, match="missing X-Sig header"):
        verify(verifier, {}, BODY, NOW)


def test_github_and_faas_cli() -> None:
    verify(
        Verifier(Scheme.GITHUB, SECRET, "X-Hub-Signature-256"),
        {"x-hub-signature-256": "sha256=" + hexmac(BODY)},
        BODY,
        NOW,
    )
    cli = Verifier(Scheme.FAAS_CLI, SECRET, "X-Signed")
    verify(cli, {"x-signed": "sha256=" + hexmac(BODY).upper()}, BODY, NOW)
    with pytest.raises(SignatureRejected, match="does not match the body"):
        verify(cli, {"x-signed": "sha256=" + hexmac(b"other")}, BODY, NOW)
    with pytest.raises(SignatureRejected, match="not hex"):
        verify(cli, {"x-signed": "sha256=zz"}, BODY, NOW)


def test_stripe_checks_any_v1_and_the_tolerance() -> None:
    verifier = Verifier(Scheme.STRIPE, SECRET, tolerance=300)
    t = str(int(NOW))
    header = f"t={t},v1={'00' * 32},v1={hexmac(f'{t}.'.encode() + BODY)}"
    verify(verifier, {"stripe-signature": header}, BODY, NOW + 299)
    with pytest.raises(SignatureRejected, match="more than 300s away"):
        verify(verifier, {"stripe-signature": header}, BODY, NOW + 301)
    with pytest.raises(SignatureRejected, match="one t= and at least one v1="):
        verify(verifier, {"stripe-signature": f"v1={hexmac(BODY)}"}, BODY, NOW)
    with pytest.raises(SignatureRejected, match="does not match"):
        verify(verifier, {"stripe-signature": f"t={t},v1={hexmac(BODY)}"}, BODY, NOW)


def test_slack_checks_the_signature_and_the_replay_window() -> None:
    verifier = Verifier(Scheme.SLACK, SECRET, tolerance=60)
    ts = str(int(NOW))
    headers = {"x-slack-request-timestamp": ts, "x-slack-signature": "v0=" + hexmac(f"v0:{ts}:".encode() + BODY)}
    verify(verifier, headers, BODY, NOW - 60)
    with pytest.raises(SignatureRejected, match="more than 60s away"):
        verify(verifier, headers, BODY, NOW + 61)
    with pytest.raises(SignatureRejected, match="does not match"):  # the timestamp is signed too
        verify(verifier, {**headers, "x-slack-request-timestamp": str(int(NOW) + 1)}, BODY, NOW)
    soon = {"x-slack-request-timestamp": "soon", "x-slack-signature": "v0=" + hexmac(b"v0:soon:" + BODY)}
    with pytest.raises(SignatureRejected, match="invalid timestamp"):
        verify(verifier, soon, BODY, NOW)
    with pytest.raises(SignatureRejected, match="start with 'v0='"):
        verify(verifier, {**headers, "x-slack-signature": "v1=00"}, BODY, NOW)
    verify(Verifier(Scheme.NONE), {}, BODY, NOW)
    assert "s3cret" not in repr(verifier)


def test_the_topics_file_reads_secrets_from_the_mount_path_and_next_to_it(tmp_path: Path) -> None:
    (tmp_path / "gh").write_text("abc\n")
    (tmp_path / "k").write_bytes(b"raw")
    config = tmp_path / "hooks.yml"
    config.write_text(
        "topics:\n  gh: {signature: github, secret: gh}\n  h: {signature: faas-cli, header: X-S, secret_file: k}\n"
        "  o: {signature: none, event_id_header: X-Id}\n"
    )
    routes = load_routes(config, tmp_path)
    assert (routes["gh"].verifier.secret, routes["gh"].verifier.header, routes["gh"].event_id_header) == (
        b"abc",
        "X-Hub-Signature-256",
        "x-github-delivery",
    )
    assert (routes["h"].verifier.secret, routes["h"].verifier.prefix) == (b"raw", "sha256=")
    assert routes["o"].event_id_header == "x-id"
    assert load_routes(None, tmp_path) == {}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("topics:\n  a: {signature: github}\n", "needs one of secret or secret_file"),
        ("topics:\n  a: {signature: hmac, secret: x}\n", "needs a header"),
        ("topics:\n  a: {signature: md5}\n", "topics.a.signature"),
        ("topics:\n  a: {signature: hmac, header: H, secret: x, algorithm: md5}\n", "use one of sha1"),
        ("topics:\n  'a/b': {signature: none}\n", "invalid topic 'a/b'"),
        ("topics:\n  a: {signature: github, secret: missing}\n", "cannot read its secret"),
        ("topics: [\n", "is not YAML"),
    ],
)
def test_a_bad_topics_file_is_reported_clearly(tmp_path: Path, text: str, message: str) -> None:
    config = tmp_path / "hooks.yml"
    config.write_text(text)
    with pytest.raises(WebhookConfigError, match=message):
        load_routes(config, tmp_path)


def test_an_unreadable_file_or_empty_secret_is_reported(tmp_path: Path) -> None:
    with pytest.raises(WebhookConfigError, match="cannot read the webhook config"):
        load_routes(tmp_path / "nope.yml", tmp_path)
    (tmp_path / "empty").write_text("\n")
    (tmp_path / "h.yml").write_text("topics:\n  a: {signature: github, secret: empty}\n")
    with pytest.raises(WebhookConfigError, match="is empty"):
        load_routes(tmp_path / "h.yml", tmp_path)


def _result(*deliveries: Delivery, functions: tuple[str, ...] = ("a", "b")) -> EventResult:
    return EventResult(Event("t", id="e"), functions, deliveries)


def test_the_sender_gets_202_only_when_every_function_accepted() -> None:
    ok = _result(Delivery("a", "c1", 200, True), Delivery("b", "c2", 202, True))
    assert answer(ok) == (202, {"topic": "t", "event": "e", "accepted": ["a", "b"], "calls": {"a": "c1", "b": "c2"}})
    status, body = answer(_result(Delivery("a", "c1", 200, True), Delivery("b", "c2", 500, False)))
    assert (status, body["failed"], body["accepted"]) == (502, {"b": 500}, ["a"])
    status, body = answer(
        _result(Delivery("a", "c", None, False, error="timed out"), Delivery("b", "c", None, False, error="x"))
    )
    assert (status, body["failed"]) == (503, {"a": "timed out", "b": "x"})
    assert answer(_result(functions=())) == (404, {"error": "no function subscribes to topic 't'"})


def test_the_sender_cannot_choose_a_callback_or_call_id() -> None:
    headers = {
        "x-github-event": "push",
        "x-callback-url": "http://evil",
        "x-call-id": "x",
        "host": "h",
        "connection": "close",
    }
    assert forwarded_headers(headers) == (("x-github-event", "push"),)

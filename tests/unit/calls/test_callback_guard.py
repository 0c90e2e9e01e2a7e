"""The callback guard: which hosts and addresses an X-Callback-Url may reach."""

from __future__ import annotations

import ipaddress

import pytest

from calls.callback_guard import CallbackGuard

DEFAULT = CallbackGuard()


@pytest.mark.parametrize(
    "url",
    [
        "http://169.254.169.254/latest/meta-data",
        "http://169.254.1.2:8080/",
        "http://[fe80::1]/",
        "http://[fe80::1%25eth0]/",
        "http://[fd00:ec2::254]/",
        "http://[::ffff:169.254.169.254]/",
        "http://100.100.100.200/",
        "http://metadata.google.internal/computeMetadata/v1/",
        "http://METADATA.google.internal./",
        "https://metadata/",
        # The unspecified addresses, and numeric hosts in the C library's legacy forms, as the resolver reads them.
        "http://0/",
        "http://0.0.0.0:9000/",
        "http://[::]/",
        "http://2852039166/",
        "http://0xa9.0xfe.0xa9.0xfe/",
        "http://0xA9FEA9FE/",
        "http://0251.0376.0251.0376/",
        "http://169.254.43518/",
    ],
)
def test_link_local_and_metadata_hosts_are_refused_by_default(url: str) -> None:
    assert DEFAULT.refuse_url(url) is not None
    assert CallbackGuard(deny_link_local=False).refuse_url(url) is None


@pytest.mark.parametrize(
    "url",
    ["http://127.0.0.1:9000/cb", "http://localhost/", "http://[::1]/", "http://10.1.2.3/", "http://192.168.0.9/",
     "https://hooks.example.com/x", "http://169.253.255.255/", "http://2130706433/", "http://1e100.net/",
     "http://a1.example/"],
)  # fmt: skip
def test_loopback_private_and_public_hosts_are_allowed_by_default(url: str) -> None:
    assert DEFAULT.refuse_url(url) is None


def test_an_allow_list_restricts_callbacks_to_what_it_names() -> None:
    guard = CallbackGuard("hooks.example.com, .internal.example.org, 127.0.0.1, 10.0.0.0/8, 169.254.10.10")
    assert guard.refuse_url("http://hooks.example.com/") is None
    assert guard.refuse_url("http://a.b.internal.example.org/") is None
    assert guard.refuse_url("http://127.0.0.1:80/") is None
    assert guard.refuse_url("http://10.9.9.9/") is None
    assert guard.refuse_url("http://169.254.10.10/") is None  # named explicitly: beats the deny list
    assert guard.refuse_url("http://169.254.169.254/") == (
        "callback host '169.254.169.254' (169.254.169.254) is not in the callback allow-list"
    )
    assert guard.refuse_url("http://127.0.0.2/") is not None
    assert guard.refuse_url("http://evil.example.org/") is None  # a name: its addresses are checked once resolved
    assert guard.refuse_address("evil.example.org", ipaddress.ip_address("192.0.2.1")) is not None
    assert guard.refuse_address("evil.example.org", ipaddress.ip_address("10.0.0.1")) is None
    assert guard.refuse_address("hooks.example.com", ipaddress.ip_address("169.254.169.254")) is None


def test_an_allow_list_of_names_only_refuses_other_names_as_written() -> None:
    guard = CallbackGuard(".example.com")
    assert guard.refuse_url("http://a.example.com/") is None
    assert guard.refuse_url("http://example.org/") == "callback host 'example.org' is not in the callback allow-list"


def test_a_resolved_link_local_address_is_refused() -> None:
    assert DEFAULT.refuse_address("innocent.example", ipaddress.ip_address("169.254.169.254")) == (
        "callback host 'innocent.example' (169.254.169.254) is a link-local, unspecified or cloud metadata address"
    )
    assert DEFAULT.refuse_address("innocent.example", ipaddress.ip_address("::ffff:169.254.169.254")) is not None
    assert DEFAULT.refuse_address("innocent.example", ipaddress.ip_address("127.0.0.1")) is None


@pytest.mark.parametrize("entry", ["not a host", "10.0.0.0/33", "a..b", "http://x/"])
def test_a_bad_allow_list_entry_is_an_error(entry: str) -> None:
    with pytest.raises(ValueError, match="invalid callback allow-list entry"):
        CallbackGuard(f"ok.example.com,{entry}")


def test_answers_are_cached_and_the_cache_is_bounded() -> None:
    guard = CallbackGuard()
    for n in range(600):
        assert guard.refuse_url(f"http://h{n}.example/") is None
    assert guard.refuse_url("http://169.254.169.254/") is not None
    assert guard.refuse_url("http://169.254.169.254/") is not None

"""Which hosts an ``X-Callback-Url`` may reach: a guard against server-side request forgery.

By default every host is allowed except link-local and cloud-metadata addresses
(169.254.0.0/16, which holds 169.254.169.254, fe80::/10, fd00:ec2::254), the unspecified
addresses (0.0.0.0/8, ::) and cloud-metadata names (``metadata.google.internal``, ...);
loopback and private addresses stay allowed, for receivers on the same machine or network.
Numeric hosts in the C library's legacy forms (``0``, ``2852039166``, ``0xa9.0xfe.0xa9.0xfe``)
are read as the addresses the resolver would make of them. An allow-list (hosts, ``.domain`` suffixes,
addresses, CIDRs) restricts callbacks to what it names; what it names explicitly is allowed
even if the default deny list covers it. The deny list can be switched off.

The gateway checks the URL's host as written (no DNS lookup on the enqueue path); the
worker checks it again, and checks every address the name resolves to before it connects.
"""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

__all__ = ["DENIED_NAMES", "DENIED_NETWORKS", "CallbackGuard", "IPNetwork"]

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

DENIED_NETWORKS: tuple[IPNetwork, ...] = (
    ipaddress.ip_network("0.0.0.0/8"),  # "this network": connecting to it reaches this machine, by another name
    ipaddress.ip_network("::/128"),  # the unspecified IPv6 address, likewise
    ipaddress.ip_network("169.254.0.0/16"),  # IPv4 link-local; AWS, GCP, Azure, OpenStack metadata at .169.254
    ipaddress.ip_network("fe80::/10"),  # IPv6 link-local
    ipaddress.ip_network("fd00:ec2::254/128"),  # AWS metadata over IPv6
    ipaddress.ip_network("100.100.100.200/32"),  # Alibaba Cloud metadata
)
DENIED_NAMES = frozenset(
    {"metadata", "metadata.google.internal", "metadata.goog", "instance-data", "instance-data.ec2.internal"}
)
_CACHE_SIZE = 256


class CallbackGuard:
    """Decides whether a callback may go to a host or an address; pure, no DNS.

    Args:
        allow: comma-separated hosts (``receiver.example.com``), domain suffixes (``.example.com``),
            addresses and CIDRs (``10.0.0.0/8``); empty: every host not denied.
        deny_link_local: refuse link-local and cloud-metadata addresses and names not explicitly allowed.

    Raises:
        ValueError: an entry of ``allow`` is neither a host name nor an address or CIDR.
    """

    def __init__(self, allow: str = "", *, deny_link_local: bool = True) -> None:
        self.deny_link_local = deny_link_local
        networks: list[IPNetwork] = []
        names: list[str] = []
        for entry in (part.strip().lower() for part in allow.split(",")):
            if not entry:
                continue
            try:
                networks.append(ipaddress.ip_network(entry.strip("[]"), strict=False))
            except ValueError:
                if not _is_name(entry):
                    raise ValueError(
                        f"invalid callback allow-list entry {entry!r}: expected a host, .domain or CIDR"
                    ) from None
                names.append(entry.rstrip("."))
        self.networks = tuple(networks)
        self.names = tuple(names)
        self._refused: dict[str, str | None] = {}

    @property
    def restricted(self) -> bool:
        """Whether an allow-list is in force."""
        return bool(self.networks or self.names)

    def refuse_url(self, url: str) -> str | None:
        """Why a callback to ``url`` (an absolute http(s) URL) is refused, or None if its host may be called."""
        if (cached := self._refused.get(url, "")) != "":
            return cached
        reason = self.refuse_host(urlsplit(url).hostname or "")
        if len(self._refused) >= _CACHE_SIZE:
            self._refused.clear()
        self._refused[url] = reason
        return reason

    def refuse_host(self, host: str) -> str | None:
        """Why a callback to ``host`` (a name or an address, as written in the URL) is refused, or None.

        A name that only the allow-list's CIDRs could allow passes here: its addresses are checked once resolved.
        """
        host = host.lower().rstrip(".")
        address = _address(host)
        if address is not None:
            return self.refuse_address(host, address)
        if self.allows_name(host):
            return None
        if self.deny_link_local and host in DENIED_NAMES:
            return f"callback host {host!r} is a cloud metadata service"
        if self.restricted and not self.networks:
            return f"callback host {host!r} is not in the callback allow-list"
        return None

    def refuse_address(self, host: str, address: IPAddress) -> str | None:
        """Why a callback to ``host`` at ``address`` (as resolved) is refused, or None."""
        address = _unmapped(address)
        if self.allows_name(host) or any(address in network for network in self.networks):
            return None
        if self.restricted:
            return f"callback host {host!r} ({address}) is not in the callback allow-list"
        if self.deny_link_local and any(address in network for network in DENIED_NETWORKS):
            return f"callback host {host!r} ({address}) is a link-local, unspecified or cloud metadata address"
        return None

    def allows_name(self, host: str) -> bool:
        """Whether the allow-list names ``host``, or a ``.domain`` it is in."""
        return any(host == name or (name.startswith(".") and host.endswith(name)) for name in self.names)


def _address(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host.strip("[]").partition("%")[0])
    except ValueError:
        pass
    # The C library's legacy forms name IPv4 addresses too, and the resolver honours them:
    # 0 (0.0.0.0), 2852039166 (169.254.169.254), 0xa9.0xfe.0xa9.0xfe, 0251.0376.0251.0376, 169.254.43518.
    if not host or not all(part.isalnum() for part in host.split(".")):
        return None
    try:
        return ipaddress.IPv4Address(socket.inet_aton(host))
    except OSError:
        return None


def _unmapped(address: IPAddress) -> IPAddress:
    # ::ffff:169.254.169.254 reaches the IPv4 address.
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _is_name(entry: str) -> bool:
    labels = entry.strip(".").split(".")
    return all(label and all(c.isalnum() or c in "-_" for c in label) for label in labels)

"""Which URLs the tool will contact: http(s) only, and never a link-local or cloud-metadata
address unless allowed explicitly.

A platform, metrics or webhook URL comes from a plan or the environment, and the tool sends
its tokens there. A URL pointing at a cloud instance's metadata service (169.254.169.254 and
friends) would let a plan read that machine's cloud credentials through error messages, so
such URLs are refused with one line (exit 2) unless ``ROLLOUT_ALLOW_LINK_LOCAL=1``.

Refused hosts: IPv4 link-local ``169.254.0.0/16``, IPv6 link-local ``fe80::/10``, AWS's IPv6
metadata address ``fd00:ec2::254``, Alibaba Cloud's ``100.100.100.200``, the same addresses
inside IPv4-mapped (``::ffff:a.b.c.d``) or NAT64 (``64:ff9b::/96``) IPv6 addresses, IPv4
written the way ``inet_aton`` reads it (``2852039166``, ``0xa9.0xfe.0xa9.0xfe``), and the
metadata host names ``metadata.google.internal``, ``metadata.goog``, ``metadata``,
``instance-data`` and ``instance-data.ec2.internal``. Only literal addresses and these names
are checked: no DNS lookup is made, so a name that *resolves* to a metadata address is not
caught. Loopback (127.0.0.1, ::1, localhost) stays allowed.

Standard library only (``rollout kill`` opens platforms through this).
"""

from __future__ import annotations

import ipaddress
import os
import socket
from collections.abc import Mapping

from rolloutcli.support.errors import InvalidInputError
from rolloutcli.support.redact import display_url, split_url

ENV_ALLOW = "ROLLOUT_ALLOW_LINK_LOCAL"
METADATA_HOSTS = frozenset(
    {
        "metadata.google.internal",
        "metadata.goog",
        "metadata",
        "instance-data",
        "instance-data.ec2.internal",
    }
)
METADATA_ADDRESSES = frozenset(
    {
        ipaddress.ip_address("fd00:ec2::254"),  # AWS IMDS over IPv6
        ipaddress.ip_address("100.100.100.200"),  # Alibaba Cloud metadata
    }
)
NAT64 = ipaddress.ip_network("64:ff9b::/96")
_TRUE = frozenset({"1", "true", "yes", "on"})

Address = ipaddress.IPv4Address | ipaddress.IPv6Address


def allowed_link_local(environ: Mapping[str, str] | None = None) -> bool:
    """Whether ``ROLLOUT_ALLOW_LINK_LOCAL`` allows link-local and metadata addresses."""
    value = (os.environ if environ is None else environ).get(ENV_ALLOW, "")
    return value.strip().lower() in _TRUE


def url_problem(url: str, environ: Mapping[str, str] | None = None) -> str | None:
    """Why ``url`` may not be contacted, or None when it may. Never names the credentials."""
    scheme, _, host, _ = split_url(url.strip())
    if scheme.lower() not in ("http://", "https://"):
        return f"{display_url(url)!r} must start with http:// or https://"
    name = _hostname(host)
    if not name:
        return f"{display_url(url)!r} names no host"
    if blocked_host(name) and not allowed_link_local(environ):
        return (
            f"host {name} is a link-local or cloud-metadata address: refused (set "
            f"{ENV_ALLOW}=1 to allow it)"
        )
    return None


def check_url(url: str, what: str, environ: Mapping[str, str] | None = None) -> str:
    """``url`` stripped, or InvalidInputError (exit 2) naming ``what`` (e.g. "unleash:
    UNLEASH_URL / platform.url") and why it is refused."""
    problem = url_problem(url, environ)
    if problem is not None:
        raise InvalidInputError(f"{what}: {problem}")
    return url.strip()


def blocked_host(host: str) -> bool:
    """Whether ``host`` (a name or a literal address, lower case, no brackets or port) is a
    link-local or cloud-metadata address. No DNS lookup."""
    name = host.strip().rstrip(".").lower()
    if name in METADATA_HOSTS:
        return True
    address = literal_address(name)
    return address is not None and _blocked_address(address)


def literal_address(host: str) -> Address | None:
    """The IP address ``host`` spells literally, in any form a resolver takes as a literal
    (dotted quad, IPv6, a bare 32-bit number, hex or octal parts), or None for a name."""
    text = host.strip("[]")
    try:
        return ipaddress.ip_address(text.split("%", 1)[0])  # an IPv6 zone id is not the address
    except ValueError:
        pass
    if not text or not all(c in "0123456789abcdefx." for c in text):
        return None
    try:
        return ipaddress.IPv4Address(socket.inet_aton(text))
    except (OSError, ValueError):
        return None


def _blocked_address(address: Address) -> bool:
    if isinstance(address, ipaddress.IPv6Address):
        mapped = address.ipv4_mapped
        if mapped is not None:
            return _blocked_address(mapped)
        if address in NAT64:
            return _blocked_address(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
    return address.is_link_local or address in METADATA_ADDRESSES


def _hostname(authority: str) -> str:
    """The host of ``host[:port]`` / ``[v6]:port``, lower case, without brackets or port."""
    if authority.startswith("["):
        return authority[1:].partition("]")[0].lower()
    return authority.rpartition(":")[0].lower() if ":" in authority else authority.lower()

"""What a throttle counts by: the client's network, the login name, and the two together.

Login names are counted whether or not an account uses them, so what a throttled login
looks like says nothing about which accounts exist. They are stored as hashes: the
counters table holds no addresses.
"""

from __future__ import annotations

import hashlib
import ipaddress

from authflow.kit.text import identifier_key

# One IPv6 customer usually gets a whole /64: counting single addresses there would let
# one client rotate through 2**64 of them.
IPV6_PREFIX = 64


def network_of(ip: str | None) -> str:
    if not ip:
        return "unknown"
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return "unknown"
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((address, IPV6_PREFIX), strict=False))
    return str(address)


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()[:32]


def ip_key(scope: str, ip: str | None) -> str:
    return f"{scope}:ip:{network_of(ip)}"


def login_key(scope: str, login: str) -> str:
    return f"{scope}:login:{_digest(identifier_key(login))}"


def pair_key(scope: str, ip: str | None, login: str) -> str:
    return f"{scope}:pair:{_digest(network_of(ip) + chr(0) + identifier_key(login))}"


def subject_key(scope: str, subject: str) -> str:
    """Anything else counted on its own, such as an email address or a user id."""
    return f"{scope}:subject:{_digest(identifier_key(subject))}"

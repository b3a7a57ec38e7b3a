# Copyright 2026 The bee-trace Authors
# SPDX-License-Identifier: Apache-2.0
"""Entries of ``network.blocked_ips``: parsing, normalisation and reasons for rejection.

An entry is an IPv4 or IPv6 address or a network in CIDR notation. A bare
address is a network of one address. An IPv4-mapped IPv6 network
(``::ffff:a.b.c.d/n`` with ``n >= 96``) becomes the IPv4 network it maps,
because the kernel programs see mapped destinations as IPv4 and match them in
the IPv4 map. Entries with host bits set (``10.0.0.1/8``) are rejected rather
than widened: in a deny list a silently widened rule would be a surprise.
"""

from __future__ import annotations

import ipaddress
from typing import Final

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

_MAPPED: Final = ipaddress.IPv6Network("::ffff:0:0/96")
"""The IPv4-mapped IPv6 addresses, ``::ffff:a.b.c.d``."""

_MAPPED_PREFIX: Final = _MAPPED.prefixlen
_DETAIL_MAX_CHARS: Final = 60


def unmap_address(addr: IPAddress) -> IPAddress:
    """Return the IPv4 address an IPv4-mapped IPv6 address stands for, else ``addr``."""
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        return addr.ipv4_mapped
    return addr


def unmap_network(network: IPNetwork) -> IPNetwork:
    """Return the IPv4 network an IPv4-mapped IPv6 network stands for, else ``network``.

    Only networks inside ``::ffff:0:0/96`` are mapped; a shorter IPv6 prefix that
    contains that range (``::/0``) stays IPv6.
    """
    if isinstance(network, ipaddress.IPv6Network) and network.subnet_of(_MAPPED):
        v4 = network.network_address.ipv4_mapped
        if v4 is not None:
            return ipaddress.IPv4Network((v4, network.prefixlen - _MAPPED_PREFIX))
    return network


def show_network(network: IPNetwork) -> str:
    """Write a network for messages, with IPv4-mapped addresses in dotted form."""
    if isinstance(network, ipaddress.IPv6Network) and network.subnet_of(_MAPPED):
        v4 = network.network_address.ipv4_mapped
        return f"::ffff:{v4}/{network.prefixlen}"
    return str(network)


def _address_detail(exc: ValueError, address: str) -> str:
    """Turn :mod:`ipaddress`'s message into a short lowercase reason."""
    detail = str(exc).removesuffix(f" in {address!r}")
    if len(detail) > _DETAIL_MAX_CHARS:
        detail = detail[:_DETAIL_MAX_CHARS] + "..."
    return detail[:1].lower() + detail[1:]


def _parse_address(text: str) -> IPAddress:
    """Parse the address half of an entry, with a reason a user can act on."""
    if not text:
        msg = "no address before '/'"
        raise ValueError(msg)
    if "%" in text:
        msg = "scope IDs such as '%eth0' are not supported"
        raise ValueError(msg)
    if ":" in text:
        try:
            return ipaddress.IPv6Address(text)
        except ValueError as exc:
            msg = f"not an IPv6 address: {_address_detail(exc, text)}"
            raise ValueError(msg) from None
    if any(char.isalpha() for char in text):
        msg = "host names are not resolved; write an IP address"
        raise ValueError(msg)
    try:
        return ipaddress.IPv4Address(text)
    except ValueError as exc:
        msg = f"not an IPv4 address: {_address_detail(exc, text)}"
        raise ValueError(msg) from None


def _parse_prefix(text: str, address: IPAddress) -> int:
    """Parse the prefix length after ``/``, at most the address's bit count."""
    most = address.max_prefixlen
    if not text:
        msg = f"no prefix length after '/': write a number from 0 to {most}"
        raise ValueError(msg)
    if "." in text or ":" in text:
        msg = f"write the prefix length as a number from 0 to {most}, not as a mask"
        raise ValueError(msg)
    if not (text.isascii() and text.isdigit()):
        msg = f"prefix length {text!r} is not a number from 0 to {most}"
        raise ValueError(msg)
    length = int(text)
    if length > most:
        msg = f"prefix length {length} is over {most}, the longest for IPv{address.version}"
        raise ValueError(msg)
    return length


def parse_blocked(raw: str) -> IPNetwork:
    """Parse one ``network.blocked_ips`` entry into the network it blocks.

    A bare address is a ``/32`` (IPv4) or ``/128`` (IPv6) network, and an
    IPv4-mapped IPv6 network is returned as the IPv4 network it maps. Raises
    :class:`ValueError` whose message says what is wrong, for example
    ``host bits set: did you mean 10.0.0.0/8?``.
    """
    if not raw:
        msg = "empty string"
        raise ValueError(msg)

    # diagnose the parts first: ipaddress says only "does not appear to be ..."
    address_text, slash, prefix_text = raw.partition("/")
    if "/" in prefix_text:
        msg = "more than one '/'"
        raise ValueError(msg)
    address = _parse_address(address_text)
    if slash:
        _parse_prefix(prefix_text, address)

    try:
        network = ipaddress.ip_network(raw, strict=True)
    except ValueError:
        widened = ipaddress.ip_network(raw, strict=False)
        msg = f"host bits set: did you mean {show_network(widened)}?"
        raise ValueError(msg) from None
    return unmap_network(network)

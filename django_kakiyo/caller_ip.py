"""Find the client's IP address, believing X-Forwarded-For only from trusted proxies."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

from django.http import HttpRequest

from .conf import kakiyo_settings

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_networks(values: Iterable[str]) -> list[Network]:
    """``TRUSTED_PROXIES`` entries as networks; a bare address is a /32 or /128."""
    return [ipaddress.ip_network(value.strip(), strict=False) for value in values]


def client_ip(request: HttpRequest) -> str | None:
    """The address of the client that sent ``request``.

    ``REMOTE_ADDR`` unless it is a trusted proxy; then X-Forwarded-For is walked from the
    right (the hop the proxy itself added) past every trusted proxy, and the first address
    that is not one is the client. An attacker can prepend anything to the header, so only
    the part our own proxies appended is believed.
    """
    remote = _parse_ip(request.META.get("REMOTE_ADDR", ""))
    if remote is None:
        return None
    trusted = parse_networks(kakiyo_settings.TRUSTED_PROXIES)
    if not trusted or not _is_trusted(remote, trusted):
        return str(remote)
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
    hops = [_parse_ip(part) for part in forwarded.split(",")]
    client = remote
    for hop in reversed(hops):
        if hop is None:
            break
        client = hop
        if not _is_trusted(hop, trusted):
            break
    return str(client)


def _parse_ip(value: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(value.strip())
    except ValueError:
        return None


def _is_trusted(
    address: ipaddress.IPv4Address | ipaddress.IPv6Address, trusted: list[Network]
) -> bool:
    return any(address in network for network in trusted)

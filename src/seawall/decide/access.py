"""Pure judgements for the access stage: which configured models a key may use, whether a client
address is in a key's allowlist, and which address a request comes from.

Globs are resolved against the configured model names once, when the key cache loads, so a
request pays one set lookup; allowlists are parsed into networks then too.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from fnmatch import fnmatchcase

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address


def permitted_models(key_globs: Sequence[str], group_globs: Sequence[str] | None,
                     configured: Iterable[str]) -> frozenset[str] | None:
    """The configured models a key may use, or None for every model. A key inherits its group's
    permission and may only narrow it: a model must match both lists (an empty list allows all).
    `group_globs` None means the key is in no group."""
    levels = [g for g in (group_globs, key_globs) if g]
    if not levels:
        return None
    return frozenset(m for m in configured if all(any(fnmatchcase(m, p) for p in globs) for globs in levels))


def model_verdict(model: str, permitted: frozenset[str] | None, configured: frozenset[str]) -> str | None:
    """None: allowed. "unknown": no such model (a 404, suggestions from what the key may use).
    "forbidden": the model exists but this key may not use it (a 403)."""
    if permitted is None or model in permitted:
        return None
    return "forbidden" if model in configured else "unknown"


def parse_cidr(text: str) -> Network:
    """A network from '10.0.0.0/8', '2001:db8::/32' or a bare address; ValueError says why not.
    Host bits must be zero ('10.0.0.1/8' is refused): such an entry is usually a typo."""
    return ipaddress.ip_network(text.strip(), strict=True)


def parse_address(text: str | None) -> Address | None:
    """An address from a peer or a forwarded entry: '1.2.3.4', '1.2.3.4:567', '[::1]:80', '::1'."""
    if not text:
        return None
    value = text.strip()
    if value.startswith("["):
        value = value[1:value.find("]")] if "]" in value else value[1:]
    elif value.count(":") == 1:
        value = value.split(":", 1)[0]
    try:
        address = ipaddress.ip_address(value)
    except ValueError:
        return None
    mapped = getattr(address, "ipv4_mapped", None)  # ::ffff:1.2.3.4 from a dual-stack socket
    return mapped or address


def in_networks(address: Address | None, networks: Sequence[Network]) -> bool:
    return address is not None and any(address in n for n in networks)


@dataclass(frozen=True, slots=True)
class SeenAddress:
    """The client address a request is judged by, and how it was found."""

    ip: str | None
    forwarded_for: str | None = None  # the X-Forwarded-For header, when one came
    forwarded_ignored: bool = False  # it came from a peer that is not a trusted proxy

    def explain(self, peer: str | None) -> str:
        if self.forwarded_for is None:
            return "the connection's address; no X-Forwarded-For header was sent"
        if self.forwarded_ignored:
            return (f"the connection's address; X-Forwarded-For '{self.forwarded_for}' was ignored because the "
                    f"peer {peer} is not in server.trusted_proxies")
        return f"taken from X-Forwarded-For '{self.forwarded_for}', set by the trusted proxy {peer}"


def client_address(peer: str | None, forwarded_for: str | None, trusted: Sequence[Network]) -> SeenAddress:
    """The address to judge a request by. X-Forwarded-For is believed only from a trusted proxy
    (anyone can send the header); its entries are read right to left, skipping further trusted
    proxies, so the first untrusted hop is the client (the rule nginx's real_ip_recursive uses)."""
    if forwarded_for is None:
        return SeenAddress(peer)
    if not in_networks(parse_address(peer), trusted):
        return SeenAddress(peer, forwarded_for, forwarded_ignored=True)
    hops = [h.strip() for h in forwarded_for.split(",") if h.strip()]
    for hop in reversed(hops):
        address = parse_address(hop)
        if address is None:
            return SeenAddress(peer, forwarded_for)  # a garbled entry: judge by the peer instead
        if not in_networks(address, trusted):
            return SeenAddress(str(address), forwarded_for)
    first = parse_address(hops[0]) if hops else None
    return SeenAddress(str(first) if first else peer, forwarded_for)


def ip_allowed(ip: str | None, networks: Sequence[Network]) -> bool:
    """An empty allowlist admits any address; otherwise the address must be in one network."""
    return not networks or in_networks(parse_address(ip), networks)

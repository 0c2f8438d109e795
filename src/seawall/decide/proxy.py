"""Which proxy an outbound call goes through, if any. Pure: the settings and the environment are
arguments; the transport asks once per (deployment, origin) and keeps the answer.

Precedence, as requests and httpx have it: the deployment's own `proxy`, else `network.proxy`,
else (unless `network.trust_env: false`) the environment: `https_proxy` for https:// URLs,
`http_proxy` for http://, `all_proxy` for either, the lower-case name first, then the upper-case
one. `direct` at any level means no proxy. `no_proxy` (the environment's, plus
`network.no_proxy`) exempts hosts from the server-wide and environment proxies, never from a
deployment's own; its entries follow curl and Go's httpproxy: `*` is every host, a name matches
itself and its subdomains (a leading dot or `*.` is the same), an IP or a CIDR matches addresses,
`host:port` only that port.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from urllib.parse import quote, unquote, urlsplit

SCHEMES = ("http", "https", "socks5", "socks5h")
DIRECT = "direct"


@dataclass(frozen=True, slots=True)
class ProxyChoice:
    """A proxy to use: its URL (credentials included, for the connection only), what it is shown
    as (never the password) and the setting it came from (what to change)."""

    url: str
    shown: str
    setting: str

    @property
    def scheme(self) -> str:
        return urlsplit(self.url).scheme


def proxy_problem(url: str) -> str | None:
    """What is wrong with a proxy URL's shape, or None."""
    if url == DIRECT:
        return None
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as e:
        return f"not a valid URL ({e})"
    if parts.scheme not in SCHEMES:
        got = f"{parts.scheme}://" if parts.scheme else "no scheme"
        return (f"a proxy URL starts with http://, https://, socks5:// or socks5h:// (got {got}); "
                "write it as http://user:password@proxy.example.com:3128, or 'direct' for none")
    if not parts.hostname:
        return "the proxy URL has no host"
    if port is None and parts.scheme.startswith("socks"):
        return "a SOCKS proxy URL needs its port (socks5://host:1080)"
    return None


def shown(url: str) -> str:
    """The proxy URL as logs and errors show it: the user kept, the password never."""
    parts = urlsplit(url)
    netloc = parts.hostname or ""
    if ":" in netloc:
        netloc = f"[{netloc}]"
    if parts.port is not None:
        netloc += f":{parts.port}"
    if parts.username:
        netloc = f"{quote(unquote(parts.username), safe='')}{':***' if parts.password else ''}@{netloc}"
    return f"{parts.scheme}://{netloc}"


def from_environment(environ: Mapping[str, str]) -> tuple[dict[str, tuple[str, str]], list[str]]:
    """({url scheme: (proxy URL, the variable it came from)}, no_proxy entries) from the environment."""
    proxies: dict[str, tuple[str, str]] = {}
    for scheme in ("https", "http", "all"):
        for name in (f"{scheme}_proxy", f"{scheme.upper()}_PROXY"):
            value = environ.get(name, "").strip()
            if value:
                if "://" not in value:  # curl and requests read a bare host:port as http://
                    value = "http://" + value
                proxies[scheme] = (value, name)
                break
    no = environ.get("no_proxy") or environ.get("NO_PROXY") or ""
    return proxies, [e.strip() for e in no.split(",") if e.strip()]


def choose(scheme: str, host: str, port: int, own: str | None, own_setting: str, server: str | None,
           env: Mapping[str, tuple[str, str]], no_proxy: Sequence[str]) -> ProxyChoice | None:
    """The proxy for a call to scheme://host:port, or None for a direct connection. `own`: the
    deployment's setting (None: unset), `server`: network.proxy; `env`: from_environment's
    proxies, empty when trust_env is off."""
    if own is not None:
        return None if own == DIRECT else ProxyChoice(own, shown(own), own_setting)
    if server == DIRECT:
        return None
    if server is not None:
        return None if bypassed(host, port, no_proxy) else ProxyChoice(server, shown(server), "network.proxy")
    found = env.get(scheme) or env.get("all")
    if found is None or bypassed(host, port, no_proxy):
        return None
    url, name = found
    return ProxyChoice(url, shown(url), f"the environment variable {name}")


def bypassed(host: str, port: int, no_proxy: Sequence[str]) -> bool:
    host = host.lower().strip("[]").rstrip(".")
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        address = None
    for entry in no_proxy:
        entry = entry.lower()
        if entry == "*":
            return True
        name, want_port = _split_port(entry)
        if want_port is not None and want_port != port:
            continue
        if address is not None:
            try:
                if address in ipaddress.ip_network(name, strict=False):
                    return True
            except ValueError:
                pass
            continue
        name = name.removeprefix("*").lstrip(".")
        if name and (host == name or host.endswith("." + name)):
            return True
    return False


def _split_port(entry: str) -> tuple[str, int | None]:
    """'host:port', '[v6]:port', 'v6', 'cidr' -> (name, port or None)."""
    if entry.startswith("["):
        name, _, rest = entry[1:].partition("]")
        return name, int(rest[1:]) if rest.startswith(":") and rest[1:].isdigit() else None
    if entry.count(":") == 1:
        name, _, port = entry.partition(":")
        return name, int(port) if port.isdigit() else None
    return entry, None

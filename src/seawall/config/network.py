"""How the gateway reaches the outside: proxies, TLS and the connection pool, for every outbound
call (upstreams, alert webhooks, `seawall doctor`). The `network:` section sets the server-wide
defaults; a deployment's own `proxy` and `tls` override them for its calls.

Which proxy applies is decide/proxy.py's rule; providers/network.py builds the TLS contexts.
"""

from __future__ import annotations

import os

from pydantic import Field, field_validator, model_validator

from seawall.config.base import _Strict
from seawall.decide.proxy import proxy_problem


def check_proxy(v: str | None) -> str | None:
    if v is None:
        return v
    v = v.strip()
    problem = proxy_problem(v)
    if problem:
        raise ValueError(problem)
    return v


class TLSSettings(_Strict):
    """How an upstream's certificate is checked, and the client certificate sent (mTLS)."""

    ca_file: str | None = Field(None, description="PEM bundle of CAs to trust (a corporate CA) instead of the system's")
    ca_dir: str | None = Field(None, description="a directory of hashed CA certificates (c_rehash), also trusted")
    cert_file: str | None = Field(None, description="client certificate (PEM) for mutual TLS")
    key_file: str | None = Field(None, description="its private key (PEM); unset: in cert_file")
    # Off only to diagnose: anyone on the path can then read and change the traffic. Warned about
    # at start and on /readyz.
    verify: bool = True

    @field_validator("ca_file", "cert_file", "key_file")
    @classmethod
    def _readable(cls, v: str | None) -> str | None:
        if v is not None and not os.path.isfile(v):
            raise ValueError(f"{v!r} is not a readable file")
        return v

    @field_validator("ca_dir")
    @classmethod
    def _directory(cls, v: str | None) -> str | None:
        if v is not None and not os.path.isdir(v):
            raise ValueError(f"{v!r} is not a directory")
        return v

    @model_validator(mode="after")
    def _key_needs_cert(self) -> TLSSettings:
        if self.key_file and not self.cert_file:
            raise ValueError("key_file is the key of cert_file: set cert_file too")
        return self


class NetworkSettings(_Strict):
    # http://user:pass@host:port, https://…, socks5://… (names resolved here), socks5h://…
    # (resolved by the proxy), or 'direct'; a deployment's own `proxy` wins.
    proxy: str | None = None
    # Read HTTPS_PROXY, HTTP_PROXY, ALL_PROXY and NO_PROXY (as requests and httpx do).
    trust_env: bool = True
    no_proxy: list[str] = Field(default_factory=list, description="hosts the server-wide and environment proxies skip")
    tls: TLSSettings = Field(default_factory=TLSSettings)
    # Connections per origin (and proxy) open at once; a request past it waits up to connect_s.
    pool_size: int = Field(1000, gt=0)

    _proxy = field_validator("proxy")(classmethod(lambda cls, v: check_proxy(v)))

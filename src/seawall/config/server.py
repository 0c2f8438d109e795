"""The gateway process's own sections: where it listens and how it guards its sockets
(server), its console, how often it reloads keys (auth), /metrics, the embedded simulator."""

from __future__ import annotations

import ipaddress
from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, field_validator, model_validator

from seawall.config.base import _Strict
from seawall.config.models import RequestLimits


class ServerSettings(_Strict):
    host: str = "127.0.0.1"
    port: int = Field(8100, ge=0, le=65535)
    # 10 MiB: OpenAI's own limit for a chat body with inline images is far above most text
    # requests; operators with image-heavy traffic raise it.
    max_body_bytes: int = Field(10 * 1024 * 1024, gt=0)
    body_timeout_s: float = Field(30.0, gt=0)
    cors_allowed_origins: list[str] = Field(default_factory=list)  # ["*"] allows any origin
    # Peers (CIDRs) whose X-Forwarded-For is believed; from anyone else the header is ignored,
    # since any client can send it. Empty: judge every request by the connection's address.
    trusted_proxies: list[str] = Field(default_factory=list)
    request_limits: RequestLimits = Field(default_factory=RequestLimits)
    # Connections (connections.py; docs/hardening.md). Precedents: Node caps the head at 16 KiB,
    # nginx at 4 x 8 KiB buffers, Apache a line at 8 KiB; nginx's client_header_timeout is 60 s.
    max_request_line_bytes: int = Field(8 * 1024, ge=1024)  # method, path, query: 414 past it
    max_header_bytes: int = Field(32 * 1024, ge=4096)  # request line + headers: 431 past it
    header_timeout_s: float = Field(10.0, gt=0)  # from connect (or a request's first byte) to the end of its headers
    max_incomplete_per_client: int = Field(64, ge=1)  # an address's connections stalled in their headers
    keepalive_idle_s: float = Field(75.0, gt=0)  # above the 60 s idle timeout of most load balancers
    drain_timeout_s: float = Field(25.0, ge=0)  # on SIGTERM; under Kubernetes' 30 s grace period
    # --workers: a worker whose event loop sent no heartbeat this long (blocked, not dead) is killed and restarted
    worker_timeout_s: float = Field(30.0, gt=0)
    worker_start_timeout_s: float = Field(60.0, gt=0)  # ... and one not serving this long after its start
    # What of an upstream's error a client sees; the request log and the admin keep all of it.
    upstream_error_detail: Literal["full", "category_and_hint", "generic"] = "full"
    # Who may bring back an id the gateway handed out (a Midjourney task): its key, or its group's
    # or tenant's keys too (decide/ownership.py).
    share_within: Literal["key", "group", "tenant"] = "key"

    @model_validator(mode="after")
    def _line_within_head(self) -> ServerSettings:
        if self.max_request_line_bytes > self.max_header_bytes:
            raise ValueError(f"max_request_line_bytes ({self.max_request_line_bytes}) must not exceed "
                             f"max_header_bytes ({self.max_header_bytes}): the request line is part of the head")
        return self

    @field_validator("trusted_proxies")
    @classmethod
    def _proxies(cls, v: list[str]) -> list[str]:
        for cidr in v:
            try:
                ipaddress.ip_network(cidr, strict=True)
            except ValueError as e:
                raise ValueError(f"{cidr!r} is not a CIDR such as 10.0.0.0/8 or 2001:db8::/32 ({e})") from None
        return v

    @field_validator("cors_allowed_origins")
    @classmethod
    def _origins(cls, v: list[str]) -> list[str]:
        for origin in v:
            if origin != "*" and not urlsplit(origin).scheme:
                raise ValueError(f"{origin!r} is not an origin; write it as https://app.example.com or '*'")
        return [o.rstrip("/") for o in v]


class ConsoleSettings(_Strict):
    """The console's web pages (console/pages.py), on a port of their own, loopback by default."""

    enabled: bool = True
    host: str = "127.0.0.1"
    port: int = Field(8101, ge=0, le=65535)  # 0: any free port (printed at start)
    session_ttl_s: float = Field(8 * 3600, gt=0)  # a sign-in lasts this long, then asks again
    # TLS for the console's port (the session cookie is then Secure); both or neither.
    tls_cert_file: str | None = None
    tls_key_file: str | None = None

    @model_validator(mode="after")
    def _tls_pair(self) -> ConsoleSettings:
        if bool(self.tls_cert_file) != bool(self.tls_key_file):
            raise ValueError("set both tls_cert_file and tls_key_file, or neither")
        return self


class AuthSettings(_Strict):
    refresh_interval_s: float = Field(1.0, gt=0)  # how soon a change made elsewhere takes effect


class MetricsSettings(_Strict):
    """GET /metrics in Prometheus text format (observe/metrics.py)."""

    enabled: bool = True
    path: str = "/metrics"
    # A bearer token scrapers must send (Authorization: Bearer <token>); neither set: open, as
    # /healthz is (the metrics hold no keys, ids or addresses, only counts per configured model).
    token_env: str | None = None
    token_file: str | None = None

    @field_validator("path")
    @classmethod
    def _path(cls, v: str) -> str:
        if not v.startswith("/") or v.startswith(("/v1/", "/v1beta/", "/admin/", "/mj/")) or v in (
                "/healthz", "/readyz", "/v1/models"):
            raise ValueError(f"{v!r} must be a path of its own starting with /, such as /metrics "
                             "(not under /v1/, /v1beta/, /admin/ or /mj/)")
        return v

    @model_validator(mode="after")
    def _one_token_source(self) -> MetricsSettings:
        if self.token_env and self.token_file:
            raise ValueError("set token_env or token_file, not both")
        return self


class SimulatorSection(_Strict):
    stream_interval_ms: float = Field(15.0, ge=0)  # the embedded simulator's pace: readable demos

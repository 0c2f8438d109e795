"""The `traces:` section: OpenTelemetry traces over OTLP (observe/traces.py), off by default.

Where the spans go is resolved here, once at start, from this section and the standard
OTEL_EXPORTER_OTLP_* variables (the section wins; the TRACES_ variant over the general one, as
the OpenTelemetry specification orders them): `exporter_target` is pure, tested without I/O.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal
from urllib.parse import unquote, urlsplit

from pydantic import Field, field_validator, model_validator

from seawall.config.base import _Strict

Protocol = Literal["http/protobuf", "grpc"]

# The OTLP defaults (opentelemetry.io/docs/specs/otel/protocol/exporter/): a collector on this host.
DEFAULT_ENDPOINTS = {"http/protobuf": "http://localhost:4318", "grpc": "http://localhost:4317"}
HTTP_TRACES_PATH = "/v1/traces"


class TraceSettings(_Strict):
    enabled: bool = False
    # None: OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, else OTEL_EXPORTER_OTLP_ENDPOINT (+ /v1/traces over
    # HTTP), else a collector on localhost (4318 over HTTP, 4317 over gRPC)
    endpoint: str | None = None
    protocol: Protocol | None = None  # None: OTEL_EXPORTER_OTLP_[TRACES_]PROTOCOL, else http/protobuf
    # Sent with every export (a vendor's API key, a tenant id); merged over OTEL_EXPORTER_OTLP_[TRACES_]HEADERS.
    # Keep secrets in those variables rather than in the config file.
    headers: dict[str, str] = Field(default_factory=dict)
    sample_ratio: float = Field(1.0, ge=0, le=1, description="share of new traces kept; a caller's sampled "
                                                              "traceparent is followed either way")
    service_name: str | None = None  # None: OTEL_SERVICE_NAME, else "seawall"
    batch_delay_s: float = Field(5.0, gt=0, description="how long finished spans wait to be exported together")
    max_queue: int = Field(2048, gt=0, description="finished spans waiting; past it new ones are dropped")
    export_timeout_s: float = Field(10.0, gt=0)

    @field_validator("endpoint")
    @classmethod
    def _endpoint(cls, v: str | None) -> str | None:
        if v is not None and urlsplit(v).scheme not in ("http", "https"):
            raise ValueError(f"{v!r} must be an http:// or https:// URL, e.g. http://localhost:4318/v1/traces")
        return v

    @model_validator(mode="after")
    def _sdk_present(self) -> TraceSettings:
        needed = ("opentelemetry.sdk.trace", "opentelemetry.exporter.otlp.proto.http")
        if self.enabled and not all(map(_installed, needed)):
            raise ValueError("traces need the OpenTelemetry SDK and OTLP exporter: pip install 'seawall[otel]'")
        return self


@dataclass(frozen=True, slots=True)
class ExporterTarget:
    protocol: Protocol
    endpoint: str
    headers: dict[str, str]
    service_name: str


def exporter_target(settings: TraceSettings, environ: Mapping[str, str]) -> ExporterTarget:
    """Where and how spans are exported: the section's values, else the standard variables."""
    def env(name: str) -> str | None:
        return environ.get(f"OTEL_EXPORTER_OTLP_TRACES_{name}") or environ.get(f"OTEL_EXPORTER_OTLP_{name}")

    protocol = settings.protocol or env("PROTOCOL") or "http/protobuf"
    if protocol not in DEFAULT_ENDPOINTS:
        protocol = "http/protobuf"  # http/json is not offered by the Python exporter: the default instead
    endpoint = settings.endpoint or environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
    if endpoint is None:  # the general endpoint is a base: the signal's path is appended over HTTP
        base = (environ.get("OTEL_EXPORTER_OTLP_ENDPOINT") or DEFAULT_ENDPOINTS[protocol]).rstrip("/")
        endpoint = base + HTTP_TRACES_PATH if protocol == "http/protobuf" else base
    headers = {**parse_headers(environ.get("OTEL_EXPORTER_OTLP_HEADERS", "")),
               **parse_headers(environ.get("OTEL_EXPORTER_OTLP_TRACES_HEADERS", "")), **settings.headers}
    service = settings.service_name or environ.get("OTEL_SERVICE_NAME") or "seawall"
    return ExporterTarget(protocol, endpoint, headers, service)


def _installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:  # a parent package is missing
        return False


def parse_headers(value: str) -> dict[str, str]:
    """OTEL_EXPORTER_OTLP_HEADERS: `name=value,name2=value2`, values percent-encoded (W3C baggage form)."""
    out = {}
    for pair in value.split(","):
        name, sep, val = pair.partition("=")
        if sep and name.strip():
            out[name.strip().lower()] = unquote(val.strip())
    return out

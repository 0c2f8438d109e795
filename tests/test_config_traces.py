"""The `traces:` section and where spans go: the section's values over the standard OTEL_ variables."""

from __future__ import annotations

import subprocess
import sys

import pytest
from pydantic import ValidationError

from seawall.config.traces import ExporterTarget, TraceSettings, exporter_target, parse_headers

ON = TraceSettings(enabled=True)

CASES = [  # id, settings, environ, expected
    ("nothing set: a collector on this host over HTTP", ON, {},
     ExporterTarget("http/protobuf", "http://localhost:4318/v1/traces", {}, "seawall")),
    ("the general endpoint is a base: /v1/traces appended", ON, {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://otel:4318/"},
     ExporterTarget("http/protobuf", "http://otel:4318/v1/traces", {}, "seawall")),
    ("the traces endpoint is used as it is", ON,
     {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://otel:4318", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://t:9/x"},
     ExporterTarget("http/protobuf", "http://t:9/x", {}, "seawall")),
    ("grpc from the variables: no path", ON,
     {"OTEL_EXPORTER_OTLP_PROTOCOL": "grpc", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://otel:4317"},
     ExporterTarget("grpc", "http://otel:4317", {}, "seawall")),
    ("grpc, nothing else: the gRPC port", ON, {"OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "grpc"},
     ExporterTarget("grpc", "http://localhost:4317", {}, "seawall")),
    ("http/json is not offered: http/protobuf", ON, {"OTEL_EXPORTER_OTLP_PROTOCOL": "http/json"},
     ExporterTarget("http/protobuf", "http://localhost:4318/v1/traces", {}, "seawall")),
    ("the section wins over the variables",
     TraceSettings(enabled=True, endpoint="https://tempo.example.com/v1/traces", protocol="http/protobuf",
                   headers={"x-scope-orgid": "ops"}, service_name="edge-gw"),
     {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://otel:4317", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc",
      "OTEL_EXPORTER_OTLP_HEADERS": "x-scope-orgid=dev,authorization=Basic%20abc", "OTEL_SERVICE_NAME": "x"},
     ExporterTarget("http/protobuf", "https://tempo.example.com/v1/traces",
                    {"x-scope-orgid": "ops", "authorization": "Basic abc"}, "edge-gw")),
    ("the traces headers over the general ones; the service from OTEL_SERVICE_NAME", ON,
     {"OTEL_EXPORTER_OTLP_HEADERS": "a=1,b=2", "OTEL_EXPORTER_OTLP_TRACES_HEADERS": "b=3",
      "OTEL_SERVICE_NAME": "gw-eu"},
     ExporterTarget("http/protobuf", "http://localhost:4318/v1/traces", {"a": "1", "b": "3"}, "gw-eu")),
]


@pytest.mark.parametrize("settings,environ,expected", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_exporter_target(settings, environ, expected):
    assert exporter_target(settings, environ) == expected


def test_headers_variable_tolerates_spaces_and_junk():
    assert parse_headers(" api-key = s%3Dcret , junk,=x, ") == {"api-key": "s=cret"}


def test_off_by_default_and_bounded():
    assert TraceSettings().enabled is False
    for bad in ({"sample_ratio": 1.5}, {"endpoint": "localhost:4318"}, {"protocol": "http/json"}):
        with pytest.raises(ValidationError):
            TraceSettings(**bad)


def test_traces_off_import_nothing_of_opentelemetry_on_the_request_path():
    """The app and its pipeline, built and imported with traces off, never load observe/traces.py
    or OpenTelemetry's trace SDK (redis-py, imported at start, may load its metrics part)."""
    code = ("import sys, seawall.app, seawall.pipeline.flow, seawall.pipeline.attempt, seawall.pipeline.record\n"
            "loaded = [m for m in sys.modules if m == 'seawall.observe.traces' or m.startswith('opentelemetry.sdk.trace')"
            " or m.startswith('opentelemetry.exporter')]\n"
            "print(loaded)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_enabled_without_the_sdk_says_what_to_install(monkeypatch):
    import importlib.util

    def missing(name, *args):
        raise ModuleNotFoundError(name)  # as find_spec does when a parent package is missing

    monkeypatch.setattr(importlib.util, "find_spec", missing)
    with pytest.raises(ValidationError, match=r"pip install 'seawall\[otel\]'"):
        TraceSettings(enabled=True)
    assert TraceSettings(enabled=False).enabled is False  # off needs nothing installed

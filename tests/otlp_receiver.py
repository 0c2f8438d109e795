"""A small OTLP/HTTP trace receiver for tests: POST /v1/traces with an ExportTraceServiceRequest
(protobuf, gzip or not), decoded with opentelemetry-proto; the spans kept as plain dicts."""

from __future__ import annotations

import gzip
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (ExportTraceServiceRequest,
                                                                       ExportTraceServiceResponse)

KINDS = {1: "INTERNAL", 2: "SERVER", 3: "CLIENT", 4: "PRODUCER", 5: "CONSUMER"}


def _value(v):
    kind = v.WhichOneof("value")
    if kind == "array_value":
        return [_value(x) for x in v.array_value.values]
    return getattr(v, kind) if kind else None


class OTLPReceiver:
    def __init__(self):
        self.spans: list[dict] = []
        self.headers: list[dict] = []
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                if self.headers.get("content-encoding") == "gzip":
                    body = gzip.decompress(body)
                request = ExportTraceServiceRequest.FromString(body)
                receiver._keep(request, {k.lower(): v for k, v in self.headers.items()})
                answer = ExportTraceServiceResponse().SerializeToString()
                self.send_response(200 if self.path == "/v1/traces" else 404)
                self.send_header("content-type", "application/x-protobuf")
                self.send_header("content-length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.endpoint = f"http://127.0.0.1:{self.port}/v1/traces"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def _keep(self, request: ExportTraceServiceRequest, headers: dict) -> None:
        with self._lock:
            self.headers.append(headers)
            for rs in request.resource_spans:
                resource = {a.key: _value(a.value) for a in rs.resource.attributes}
                for ss in rs.scope_spans:
                    for s in ss.spans:
                        self.spans.append({
                            "name": s.name, "kind": KINDS.get(s.kind, s.kind), "trace_id": s.trace_id.hex(),
                            "span_id": s.span_id.hex(), "parent_span_id": s.parent_span_id.hex(),
                            "attributes": {a.key: _value(a.value) for a in s.attributes},
                            "status": s.status.code, "resource": resource,
                            "start": s.start_time_unix_nano, "end": s.end_time_unix_nano})

    def trace_of(self, request_id: str, client_spans: int, timeout: float = 10) -> tuple[dict, list[dict]]:
        """The SERVER span carrying this request id and its CLIENT children, once all have come."""
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                server = [s for s in self.spans if s["attributes"].get("seawall.request_id") == request_id]
                children = [s for s in self.spans if server and s["kind"] == "CLIENT"
                            and s["parent_span_id"] == server[0]["span_id"]]
            if (server and len(children) >= client_spans) or time.monotonic() > deadline:
                assert len(server) == 1, f"server spans for {request_id}: {server}"
                return server[0], sorted(children, key=lambda s: s["start"])
            time.sleep(0.05)

    def close(self) -> None:
        self.server.shutdown()

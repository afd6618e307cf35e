"""A minimal OTLP/gRPC trace collector for the bench: accepts exports, counts spans, keeps nothing.

The tracing contender needs a collector that answers at once (a missing one would make the
exporter retry and log); the span count written to `--count-file` proves tracing was live.

Run: python bench/otlp_sink.py --port 14317 --count-file /tmp/spans
"""

from __future__ import annotations

import argparse
import signal
import threading
from concurrent import futures
from pathlib import Path
from typing import Any

import grpc
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc


class _Sink(trace_service_pb2_grpc.TraceServiceServicer):  # type: ignore[misc]
    def __init__(self, count_file: Path) -> None:
        self._count_file = count_file
        self._lock = threading.Lock()
        self._spans = 0

    def Export(self, request: Any, context: Any) -> Any:
        spans = sum(len(scope.spans) for rs in request.resource_spans for scope in rs.scope_spans)
        with self._lock:
            self._spans += spans
            self._count_file.write_text(str(self._spans))
        return trace_service_pb2.ExportTraceServiceResponse()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=14317)
    parser.add_argument("--count-file", type=Path, required=True)
    args = parser.parse_args()
    args.count_file.write_text("0")
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    trace_service_pb2_grpc.add_TraceServiceServicer_to_server(_Sink(args.count_file), server)
    server.add_insecure_port(f"127.0.0.1:{args.port}")
    server.start()
    print(f"otlp sink listening on 127.0.0.1:{args.port}", flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    stop.wait()
    server.stop(1)


if __name__ == "__main__":
    main()

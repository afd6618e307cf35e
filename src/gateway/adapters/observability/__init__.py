"""Observability adapters: Prometheus metrics, OpenTelemetry tracing, structlog logging, probes.

The pieces are built per worker by the composition root (`Observability` bundles them). The
entrypoint middleware sees them only through the protocols in
`gateway.entrypoints.http.observability`.
"""

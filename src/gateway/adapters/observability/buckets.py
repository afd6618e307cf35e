"""Histogram buckets fit for LLM calls (seconds), derived from the OpenTelemetry GenAI conventions.

Every bucket is a float stored per label set and per worker process: keep the lists short.
"""

from __future__ import annotations

# Whole requests and upstream waits: tens of ms (count_tokens, cache hits) to minutes
# (long reasoning runs). The GenAI spec's doubling series, extended past 80 s.
DURATION = (
    0.01,
    0.02,
    0.04,
    0.08,
    0.16,
    0.32,
    0.64,
    1.28,
    2.56,
    5.12,
    10.24,
    20.48,
    40.96,
    81.92,
    163.84,
    327.68,
)
# Time to the first byte of a stream.
FIRST_BYTE = (0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0)
# The gateway's own work per request: sub-millisecond when healthy.
OVERHEAD = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0)
# Silence between two chunks of a stream: token cadence (ms) up to stalls (tens of seconds).
CHUNK_GAP = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
# Billing calls: local SQLite (sub-ms) to a remote service near its timeout.
BILLING = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)

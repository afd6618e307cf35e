"""Where one contender spends more than another: two cProfile files, per request, by function.

    PYTHONPATH=src python bench/profile_gateway.py --contender relay_1w --api openai \\
        --connections 64 --seconds 8 --cprofile relay.prof      # prints "requests: N"
    PYTHONPATH=src python bench/profile_gateway.py --contender prod_1w --api openai \\
        --connections 64 --seconds 8 --cprofile prod.prof
    python bench/profile_diff.py relay.prof N_RELAY prod.prof N_PROD

cProfile times every call, so absolute figures are inflated (2-3x for small functions); the
differences rank what a feature adds. Only the main thread is profiled: the ledger's writer
thread does not show (see `profile_gateway.py --perf` for it).
"""

from __future__ import annotations

import argparse
import collections
import pstats

# Which functions belong to which production feature (matched on "file name" text).
GROUPS = (
    ("metrics", ("prometheus_client", "event_metrics", "labels.py", "billing_metrics",
                 "middleware/metrics", "enum.py", "_thread.lock")),
    ("access line", ("redaction", "logging_setup", "access_fields", "FileIO", "re.Pattern",
                     "isoformat", "request_log.py")),
    ("events", ("nats/", "nats_sender", "nats_publisher", "encoding.py", "events.py",
                "asyncio/queues", "orjson")),
    ("billing", ("local_ledger", "ledger_store", "usage_recorder", "group_commit", "futures")),
)  # fmt: skip


def _per_request(path: str, requests: int) -> dict[str, tuple[float, float]]:
    """function -> (µs of own time per request, calls per request)."""
    table: dict[str, tuple[float, float]] = {}
    for (file, line, name), row in pstats.Stats(path).stats.items():  # type: ignore[attr-defined]
        calls, tottime = row[1], row[2]
        key = f"{name} ({file.split('site-packages/')[-1]}:{line})"
        table[key] = (tottime / requests * 1e6, calls / requests)
    return table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("base")
    parser.add_argument("base_requests", type=int)
    parser.add_argument("other")
    parser.add_argument("other_requests", type=int)
    parser.add_argument("--top", type=int, default=40)
    args = parser.parse_args()
    base = _per_request(args.base, args.base_requests)
    other = _per_request(args.other, args.other_requests)
    rows = []
    for key in base.keys() | other.keys():
        (t0, c0), (t1, c1) = base.get(key, (0.0, 0.0)), other.get(key, (0.0, 0.0))
        rows.append((t1 - t0, c1 - c0, key))
    rows.sort(reverse=True)
    print("µs/request  calls/request  function   (second file minus first)")
    for delta, calls, key in rows[: args.top]:
        print(f"{delta:+9.2f}  {calls:+8.2f}  {key}")
    grouped: collections.Counter[str] = collections.Counter()
    for delta, _, key in rows:
        group = next((g for g, marks in GROUPS if any(m in key for m in marks)), None)
        if group is not None and delta > 0:
            grouped[group] += delta
    print("\nby feature (functions that grew):")
    for group, delta in grouped.most_common():
        print(f"{delta:+9.1f}  {group}")


if __name__ == "__main__":
    main()

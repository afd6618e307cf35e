"""The Markdown report: medians over repeats, ratios against the two floors, per API."""

from __future__ import annotations

import argparse
import math
from collections.abc import Mapping, Sequence

import workloads as wl
from contenders import Contender
from workloads import median

# (metric, header, format); W1/W3 figures are *added* over direct, measured in turn with the
# contender (W1 in rotating chunks, W3 before and after it).
COLUMNS = (
    ("w2_16_rps", "W2 req/s @16", "{:.0f}"),
    ("w2_64_rps", "W2 req/s @64", "{:.0f}"),
    ("x_aiohttp", "x aiohttp floor @64", "{:.2f}"),
    ("x_sanic", "x Sanic floor @64", "{:.2f}"),
    ("w2_64_p99", "W2 p99 @64 ms", "{:.2f}"),
    ("w2_64_cpu_us", "CPU µs/req @64", "{:.0f}"),
    ("w2_errors", "W2 errors", "{:.0f}"),
    ("w1_low_p50", "W1 +p50 low ms", "{:.3f}"),
    ("w1_low_p99", "W1 +p99 low ms", "{:.3f}"),
    ("w1_500_p50", "W1 +p50 @500 ms", "{:.3f}"),
    ("w1_500_p99", "W1 +p99 @500 ms", "{:.3f}"),
    ("w3_ttfb_p99", "W3 +TTFB p99 @200 ms", "{:.2f}"),
    ("w3_gap_p99", "W3 +gap p99 @200 ms", "{:.2f}"),
    ("w3_max_streams", "W3 stall-free streams", "{:.0f}"),
    ("w4_kib_per_stream", "W4 KiB/idle stream", "{:.1f}"),
    ("w4_soak_growth_pct", "W4 soak RSS growth %", "{:.1f}"),
)


def _row(figures: Mapping[str, Sequence[float]], floors: Mapping[str, float]) -> dict[str, float]:
    row = {name: median(values) for name, values in figures.items()}
    errors = [row.get(f"w2_{c}_errors", 0.0) for c in (16, 64)]
    row["w2_errors"] = sum(e for e in errors if not math.isnan(e))
    rps = row.get("w2_64_rps", math.nan)
    for floor in ("aiohttp", "sanic"):
        base = floors.get(floor, math.nan)
        row[f"x_{floor}"] = rps / base if base and not math.isnan(base) else math.nan
    return row


def _cell(row: Mapping[str, float], metric: str, fmt: str) -> str:
    value = row.get(metric, math.nan)
    return "-" if math.isnan(value) else fmt.format(value)


def _table(
    api: str, chosen: Sequence[Contender], results: Mapping, unavailable: Mapping[str, str]
) -> list[str]:
    floors = {
        floor: median(results.get(f"floor_{floor}", {}).get(api, {}).get("w2_64_rps", []))
        for floor in ("aiohttp", "sanic")
    }
    lines = [f"### {api}", "", "| contender | " + " | ".join(h for _, h, _ in COLUMNS) + " |"]
    lines.append("|---" * (len(COLUMNS) + 1) + "|")
    for contender in chosen:
        label = contender.label or contender.name
        if contender.name in unavailable:
            reason = unavailable[contender.name].replace("|", "/").replace("\n", " ")
            lines.append(f"| {label} | not available: {reason[:300]} |" + " |" * (len(COLUMNS) - 1))
            continue
        row = _row(results.get(contender.name, {}).get(api, {}), floors)
        cells = [_cell(row, metric, fmt) for metric, _, fmt in COLUMNS]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return lines


def render(
    chosen: Sequence[Contender],
    apis: Sequence[str],
    results: Mapping,
    unavailable: Mapping[str, str],
    plan: wl.Plan,
    repeats: int,
    args: argparse.Namespace,
) -> str:
    lines = [
        "## Results",
        "",
        f"Medians over {repeats} repeat(s); upstream: {args.upstream}; "
        f"W1 open loop (bench/loadgen.py raw-socket client) at {plan.low_rate:.0f} req/s x "
        f"{plan.low_count} and {plan.high_rate:.0f} req/s x {plan.high_count}, added over direct "
        f"(interleaved in {plan.w1_chunks} alternating chunks); W2 closed loop (wrk, 1 thread, "
        f"16 and 64 connections alternating in {plan.w2_chunks} chunks of "
        f"{plan.w2_chunk_seconds} s each); W3 "
        f"bench/loadgen.py streams of {wl.STREAM_DELTAS} deltas {wl.STREAM_DELAY_MS} ms apart, "
        f"added over direct at 200 streams "
        f"({', '.join(wl.alternating(('direct', 'proxy'), wl.W3_ROUNDS))}, "
        f"{plan.stream_seconds:.0f} s each, pooled per side), "
        f"stall = a gap > {2 * wl.STREAM_DELAY_MS} ms, stall-free = at most "
        f"{wl.STALL_TOLERANCE[0]:.1%} of streams stalled, searched over {list(wl.LEVELS)} for "
        f"{', '.join(plan.search_apis)}; W4 {plan.idle_streams} idle streams, soak "
        f"{plan.soak_seconds:.0f} s at {plan.soak_rate:.0f} req/s (first repeat only). "
        "Direct's W2/W3 figures are the bench's own ceiling (upstream + load generator on one "
        "core).",
        "",
    ]
    for api in apis:
        lines += _table(api, chosen, results, unavailable)
        lines.append("")
    return "\n".join(lines)

"""Micro-benchmark: encoding a relayed answer's header block, Sanic's way against the gateway's.

    PYTHONPATH=src python bench/response_headers_bench.py [--rounds 7] [--number 50000]

Times `format_http1_response(status, response.processed_headers)`, what Sanic's HTTP/1 writer
runs once per response, for Sanic's `HTTPResponse` and the gateway's `RelayedResponse`, with the
six headers of a relayed answer (four relayed or set by the gateway, then the two Sanic adds).
The two run in alternating rounds, so the machine's drift falls on both; the medians and their
ratio are printed. Sanic strips CR, LF and NUL from every name and value with `str.translate`
and a deletion table, which cannot take CPython's fast translate path (see relayed_response.py).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import timeit
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from sanic.compat import Header
from sanic.headers import format_http1_response
from sanic.response import HTTPResponse

from gateway.entrypoints.http.relayed_response import RelayedResponse

RELAYED_HEADERS = [
    ("content-type", "application/json"),
    ("x-request-id", "req_01JDXYZ1234567890ABCDEFG"),
    ("x-gateway-request-id", "0194a3f2b1c5d7e9f0123456789abcde"),
    ("x-gateway-overhead-ms", "0.153"),
]


def _response(cls: type[HTTPResponse]) -> HTTPResponse:
    response = cls(b"{}", headers=Header(RELAYED_HEADERS))
    response.headers["content-length"] = 2  # as Sanic's writer adds them
    response.headers["connection"] = "keep-alive"
    return response


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--number", type=int, default=50_000, help="encodings per round")
    args = parser.parse_args()
    contenders: dict[str, type[HTTPResponse]] = {
        "Sanic HTTPResponse": HTTPResponse,
        "gateway RelayedResponse": RelayedResponse,
    }
    blocks = {
        format_http1_response(200, _response(cls).processed_headers) for cls in contenders.values()
    }
    assert len(blocks) == 1, "the two header blocks differ"
    figures: dict[str, list[float]] = {name: [] for name in contenders}
    for _ in range(args.rounds):
        for name, cls in contenders.items():
            response = _response(cls)
            seconds = timeit.timeit(
                lambda response=response: format_http1_response(200, response.processed_headers),
                number=args.number,
            )
            figures[name].append(seconds / args.number * 1e6)
    medians = {name: statistics.median(values) for name, values in figures.items()}
    print(f"header block of a relayed answer ({len(RELAYED_HEADERS) + 2} headers), µs per response")
    for name, values in figures.items():
        rounds = " ".join(f"{value:.2f}" for value in values)
        print(f"  {name:<24} median {medians[name]:6.2f}   rounds: {rounds}")
    base, ours = medians["Sanic HTTPResponse"], medians["gateway RelayedResponse"]
    print(f"  ratio Sanic / gateway: {base / ours:.2f}x ({base - ours:.2f} µs saved per response)")


if __name__ == "__main__":
    main()

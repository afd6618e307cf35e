"""What events, the ledger and the access line cost per request when requests end one per
event-loop turn, as they do in a loaded gateway, rather than back to back.

    PYTHONPATH=src python bench/paced_bench.py [--requests 5000] [--rounds 5] [--work-us 250]

Pins itself to the first core it may use and nats-server to the second, as run.py does.

A loaded worker ends a request every loop turn or two, between a few hundred µs of other work.
Batches (JetStream publishes, ledger transactions, access-line writes) then stay small, and
what each batch costs once (a system call, waking nats-server's idle core, a hop to the
ledger's writer thread) weighs per request as much as the per-request work does. A
back-to-back loop fills every batch and hides that. Here each "request" is `--work-us` of
busy work, a zero-length sleep (the loop's poll releases the GIL the same way) and one loop
turn; each feature's figure is the process's CPU time (every thread) over the same loop
without the feature, per request. Each round runs every setting once, interleaved, so a noisy
host shows as spread between rounds, not as a difference between settings; the medians and
the median of each round's difference against the first setting are printed.

Settings compared: the event pump's gathering window (0 = send as soon as the last batch is
acked), the ledger's commit linger, and the access line's flush window (0 = at the end of each
loop turn). A real nats-server (JetStream) on a free loopback port; a SQLite ledger in a
temporary directory; access lines to a temporary file. Bounded: fixed counts, and every wait
for acks or commits has a deadline.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import uvloop

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import billing_bench
import events_bench
from tests.unit.observability.helpers import make_event

from gateway.adapters.billing import ledger_store
from gateway.adapters.billing.local_ledger import LocalBilling, LocalBillingSettings
from gateway.adapters.events.nats_publisher import NatsJetStreamPublisher
from gateway.adapters.observability.logging_setup import JsonAccessLine
from gateway.adapters.observability.observed_events import access_fields
from gateway.adapters.observability.redaction import Redactor
from gateway.application.background import BackgroundTasks
from gateway.application.usage_recorder import UsageRecorder
from gateway.devtools.loopback import NatsServer
from gateway.domain.ports.billing import Decision
from gateway.domain.secrets import key_hash

# One request's work for a feature, given the request's index.
Work = Callable[[int], None]


def _spin(us: float) -> None:
    end = time.perf_counter() + us / 1e6
    while time.perf_counter() < end:
        pass


async def _paced(requests: int, work_us: float, feature: Work | None) -> float:
    """CPU seconds (all threads) of `requests` paced turns, with `feature` run in each."""
    began = time.process_time()
    for i in range(requests):
        if feature is not None:
            feature(i)
        _spin(work_us)
        time.sleep(0)
        await asyncio.sleep(0)
    return time.process_time() - began


async def _settle(done: Callable[[], bool], seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while not done() and time.monotonic() < deadline:
        await asyncio.sleep(0.001)
    if not done():
        raise RuntimeError("the feature did not finish its work in time")


async def events_cost(
    nats: NatsServer, tmp: Path, window: float, args: argparse.Namespace
) -> float:
    name = f"P{int(window * 1e6)}{time.monotonic_ns()}"
    config = events_bench.config(nats, tmp, name, gather_window=window)
    publisher = NatsJetStreamPublisher(config)
    await publisher.start()
    events = [events_bench.event(i) for i in range(args.requests)]
    try:
        base = await _paced(args.requests, args.work_us, None)
        cost = await _paced(args.requests, args.work_us, lambda i: publisher.publish(events[i]))
        await _settle(lambda: publisher.published >= args.requests)
    finally:
        await publisher.close()
    return (cost - base) / args.requests * 1e6


async def ledger_cost(tmp: Path, linger: float, args: argparse.Namespace) -> float:
    """authorize on the request's path, then the record through the gateway's UsageRecorder
    (one batch at a time to billing), as the relay does when a request ends."""
    directory = Path(tempfile.mkdtemp(dir=tmp))
    db = directory / "ledger.sqlite3"
    conn = ledger_store.connect(db)
    key = billing_bench.KEY
    ledger_store.add_key(conn, name="bench", key_hash=key_hash(key), prefix=key[:10], quota=None)
    conn.close()
    settings = LocalBillingSettings(
        db_path=db, outbox_dir=directory / "outbox", multipliers={}, commit_linger=linger
    )
    billing = LocalBilling(settings)
    await billing.start()
    background = BackgroundTasks()
    recorder = UsageRecorder(billing, background)
    authorized: list[asyncio.Task[Decision]] = []

    def one(i: int) -> None:
        authorized.append(asyncio.ensure_future(billing.authorize(billing_bench._request(i))))
        recorder.submit(billing_bench._record(i))

    try:
        base = await _paced(args.requests, args.work_us, None)
        cost = await _paced(args.requests, args.work_us, one)
        await asyncio.wait_for(asyncio.gather(*authorized), 10)
        if not await background.drain(10):
            raise RuntimeError("the usage records were not committed in time")
    finally:
        await billing.close()
    return (cost - base) / args.requests * 1e6


async def access_cost(tmp: Path, window: float, args: argparse.Namespace) -> float:
    fd, _ = tempfile.mkstemp(dir=tmp)
    with os.fdopen(fd, "wb") as out:
        line = JsonAccessLine(out, Redactor(["sk-bench-secret-0000"]), flush_within=window)
        event = make_event()
        base = await _paced(args.requests, args.work_us, None)
        cost = await _paced(
            args.requests, args.work_us, lambda i: line(access_fields(event), event.id)
        )
        await asyncio.sleep(window + 0.01)  # the last window's write, before the file closes
    return (cost - base) / args.requests * 1e6


async def _compare(
    title: str,
    settings: list[float],
    measure: Callable[[float], Awaitable[float]],
    rounds: int,
) -> None:
    figures: dict[float, list[float]] = {setting: [] for setting in settings}
    for _ in range(rounds):
        for setting in settings:
            figures[setting].append(await measure(setting))
    first = figures[settings[0]]
    print(f"\n{title}: CPU µs per request over the same loop without it")
    print(f"{'setting':>10} {'median':>8} {'Δ vs first':>11}  rounds")
    for setting, values in figures.items():
        delta = statistics.median(v - f for v, f in zip(values, first, strict=True))
        rounds_text = " ".join(f"{v:.1f}" for v in values)
        median = statistics.median(values)
        print(f"{setting * 1000:>8g}ms {median:>8.2f} {delta:>+11.2f}  {rounds_text}")


def _pin(nats: NatsServer) -> None:
    """As run.py pins: this process on core 0, nats-server on core 1 (when there are two)."""
    cores = sorted(os.sched_getaffinity(0))
    if len(cores) >= 2 and nats.pid is not None:
        os.sched_setaffinity(0, {cores[0]})
        os.sched_setaffinity(nats.pid, {cores[1]})


async def main(args: argparse.Namespace) -> None:
    print(
        f"{args.requests} requests per run, one per loop turn after {args.work_us:g} µs of work; "
        f"{args.rounds} interleaved rounds"
    )
    with tempfile.TemporaryDirectory() as tmp_dir:
        tmp = Path(tmp_dir)
        nats = NatsServer(tmp / "js")
        nats.start()
        _pin(nats)
        try:
            await _compare(
                "events to JetStream, by the pump's gathering window",
                [0.0, 0.005],
                lambda window: events_cost(nats, tmp, window, args),
                args.rounds,
            )
        finally:
            nats.stop()
        await _compare(
            "authorize + ledger record (billing local, via the UsageRecorder), by the linger",
            [0.002, 0.005],
            lambda linger: ledger_cost(tmp, linger, args),
            args.rounds,
        )
        await _compare(
            "the access line to a file, by its flush window",
            [0.0, 0.005],
            lambda window: access_cost(tmp, window, args),
            args.rounds,
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--work-us", type=float, default=250.0)
    uvloop.run(main(parser.parse_args()))

"""`gateway batch run INPUT.jsonl --output RESULTS.jsonl`: OpenAI Batch files through the relay.

The requests go through the same RelayService as the server's, built by the same container from
the same config (upstream, billing, events), in this process: no server, no HTTP hop to itself.
See docs/batch.md.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import sys
from collections.abc import Coroutine, Iterator
from dataclasses import dataclass, replace
from typing import Any

from gateway.adapters.batch.files import OutputBusy, ResultFile, input_lines
from gateway.adapters.observability.observability import Observability
from gateway.application.batch_input import BatchPlan, plan_batch
from gateway.application.batch_job import BatchJob, BatchSettings, BatchSummary
from gateway.application.batch_progress import BatchProgress, report_progress
from gateway.application.batch_retry import RetryPolicy
from gateway.container import ContainerRuntime, build_container
from gateway.domain.secrets import Secret
from gateway.settings import ConfigError, Settings, load_settings

DEFAULT_CONFIG = "configs/config.yaml"
API_KEY_ENV = "GATEWAY_BATCH_API_KEY"
EXIT_OK, EXIT_INCOMPLETE, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130
MAX_REPORTED_PROBLEMS = 50
USAGE = "gateway batch run INPUT.jsonl --output RESULTS.jsonl [-conf PATH] [--concurrency N]"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="gateway batch run", usage=USAGE)
    parser.add_argument("input", help="requests, one OpenAI Batch input line each")
    parser.add_argument("--output", "-o", required=True, help="results (appended; resumable)")
    parser.add_argument("-conf", "--conf", "-c", dest="conf", default=DEFAULT_CONFIG)
    parser.add_argument("--concurrency", "-n", type=_positive, default=16)
    parser.add_argument("--max-attempts", type=_positive, default=5)
    parser.add_argument(
        "--api-key",
        default=None,
        help=f"the operator's key (default: ${API_KEY_ENV}; prefer the variable: "
        "command lines are visible to other users)",
    )
    parser.add_argument("--progress-interval", type=float, default=None)
    parser.add_argument("--quiet", "-q", action="store_true", help="no progress output")
    return parser


def _positive(value: str) -> int:
    number = int(value)
    if number < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return number


@dataclass(frozen=True, slots=True)
class _Options:
    input: str
    output: str
    conf: str
    settings: BatchSettings
    progress_interval: float | None
    quiet: bool


def _options(argv: list[str]) -> _Options:
    if not argv or argv[0] != "run":
        _err(f"usage: {USAGE}")
        raise SystemExit(EXIT_USAGE)
    args = _parser().parse_args(argv[1:])
    key = args.api_key if args.api_key is not None else os.environ.get(API_KEY_ENV, "")
    settings = BatchSettings(
        concurrency=args.concurrency,
        retry=RetryPolicy(max_attempts=args.max_attempts),
        credential=Secret(key) if key else None,
    )
    return _Options(
        args.input, args.output, args.conf, settings, args.progress_interval, args.quiet
    )


def _err(text: str) -> None:
    sys.stderr.write(text + "\n")
    sys.stderr.flush()


def _report_plan(options: _Options, results: ResultFile, plan: BatchPlan) -> None:
    scan = results.scan
    if scan.truncated_tail:
        _err(f"{options.output}: cut off an incomplete last line (an interrupted write)")
    for number in scan.bad_lines[:MAX_REPORTED_PROBLEMS]:
        _err(f"{options.output}:{number}: not a result line, ignored")
    for problem in plan.problems[:MAX_REPORTED_PROBLEMS]:
        _err(f"{options.input}:{problem.line}: {problem.message} (skipped)")
    if len(plan.problems) > MAX_REPORTED_PROBLEMS:
        _err(f"... and {len(plan.problems) - MAX_REPORTED_PROBLEMS} more bad lines")
    if plan.already_done:
        _err(f"resuming: {plan.already_done} request(s) already in {options.output}")


@contextlib.contextmanager
def _signals_stop(job: BatchJob) -> Iterator[None]:
    """Ctrl-C and SIGTERM stop the job cleanly, not by raising wherever the loop happens to be."""
    loop = asyncio.get_running_loop()
    installed = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, job.stop)
            installed.append(sig)
    try:
        yield
    finally:
        for sig in installed:
            loop.remove_signal_handler(sig)


async def _run_job(
    options: _Options, settings: Settings, plan: BatchPlan, sink: ResultFile
) -> BatchSummary:
    # Log lines (each try's access line among them) go to stderr: stdout is the summary's.
    observability = Observability(settings, log_stream=sys.stderr.buffer)
    container = build_container(settings, observability=observability)
    runtime = ContainerRuntime(container, settings.upstreams.read_timeout)
    await runtime.start()
    try:
        progress = BatchProgress(total=len(plan.requests))
        job_settings = replace(options.settings, public_origin=settings.server.public_url)
        job = BatchJob(
            relay=runtime.relay_service(), sink=sink, settings=job_settings, progress=progress
        )
        with _signals_stop(job):
            reporter = _start_reporter(options, progress)
            try:
                return await job.run(plan.requests)
            finally:
                if reporter is not None:
                    reporter.cancel()
                    await asyncio.gather(reporter, return_exceptions=True)
                    _finish_progress_line(progress)
    finally:
        await runtime.stop()


def _start_reporter(options: _Options, progress: BatchProgress) -> asyncio.Task[None] | None:
    if options.quiet:
        return None
    terminal = sys.stderr.isatty()
    interval = options.progress_interval or (0.25 if terminal else 10.0)

    def write(text: str) -> None:
        sys.stderr.write(text)
        sys.stderr.flush()

    return asyncio.create_task(
        report_progress(progress, write, terminal=terminal, interval=interval)
    )


def _finish_progress_line(progress: BatchProgress) -> None:
    if sys.stderr.isatty():
        sys.stderr.write("\n")


def _print_summary(options: _Options, plan: BatchPlan, summary: BatchSummary) -> None:
    state = "interrupted" if summary.interrupted else "finished"
    if summary.halted:
        state = f"stopped ({summary.halted})"
    rate = (summary.succeeded + summary.failed) / summary.elapsed if summary.elapsed else 0.0
    print(
        f"batch {state}: {summary.succeeded} succeeded, {summary.failed} failed, "
        f"{summary.not_run} not run, {len(plan.problems)} bad input lines, "
        f"{plan.already_done} already done; {summary.retries} retries, "
        f"{summary.tokens} tokens in the results, {summary.elapsed:.1f}s, {rate:.1f} req/s; "
        f"results in {options.output}",
        flush=True,
    )
    if summary.interrupted and not summary.halted:
        print("rerun the same command to resume", flush=True)


def _exit_code(plan: BatchPlan, summary: BatchSummary) -> int:
    if summary.interrupted and not summary.halted:
        return EXIT_INTERRUPTED
    if summary.halted or summary.failed or summary.not_run or plan.problems:
        return EXIT_INCOMPLETE
    return EXIT_OK


def _run_loop(job: Coroutine[Any, Any, BatchSummary]) -> BatchSummary:
    try:
        import uvloop  # the server's loop; optional, imported only when the command runs
    except ImportError:  # pragma: no cover
        return asyncio.run(job)
    return uvloop.run(job)


def _load(path: str) -> Settings:
    try:
        return load_settings(path)
    except ConfigError as exc:
        _err(str(exc))
        raise SystemExit(EXIT_USAGE) from None


def main(argv: list[str]) -> None:
    options = _options(argv)
    settings = _load(options.conf)
    try:  # before the output is made: a missing input leaves nothing behind
        with open(options.input, "rb"):
            pass
    except OSError as exc:
        _err(f"gateway batch: {options.input}: {exc.strerror or exc}")
        raise SystemExit(EXIT_USAGE) from None
    results = ResultFile(options.output)
    try:
        scan = results.open()
    except (OutputBusy, OSError) as exc:
        _err(f"gateway batch: {options.output}: {exc}")
        raise SystemExit(EXIT_USAGE) from None
    try:
        try:
            max_body = settings.server.http.max_body_size
            plan = plan_batch(input_lines(options.input), scan.done, max_body)
        except OSError as exc:
            _err(f"gateway batch: {options.input}: {exc}")
            raise SystemExit(EXIT_USAGE) from None
        _report_plan(options, results, plan)
        summary = _run_loop(_run_job(options, settings, plan, results))
    finally:
        results.close()
    _print_summary(options, plan, summary)
    code = _exit_code(plan, summary)
    if code != EXIT_OK:
        raise SystemExit(code)

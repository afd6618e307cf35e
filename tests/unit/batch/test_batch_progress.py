"""Progress: the terminal bar and the plain line."""

from __future__ import annotations

from gateway.application.batch_progress import BatchProgress, bar_line, status_line
from gateway.domain.usage import Usage


def progress_after(seconds: float) -> tuple[BatchProgress, float]:
    progress = BatchProgress(total=100, started=1000.0)
    for _ in range(40):
        progress.finished(True, Usage(input_tokens=10, output_tokens=5))
    progress.finished(False, Usage())
    progress.retries = 3
    return progress, 1000.0 + seconds


def test_plain_line_has_done_failed_tokens_rate_and_eta() -> None:
    progress, now = progress_after(10.0)

    text = status_line(progress, now)

    assert text == (
        "batch: 41/100 done, 1 failed, 3 retries, 600 tokens, 4.1 req/s, elapsed 00:10, eta 00:14"
    )


def test_bar_line() -> None:
    progress, now = progress_after(10.0)

    text = bar_line(progress, now)

    assert text.startswith("[#########---------------]  41.0% 41/100 failed 1 tokens 600 ")
    assert text.endswith("4.1 req/s eta 00:14")


def test_no_rate_yet_means_unknown_eta() -> None:
    assert status_line(BatchProgress(total=5, started=0.0), 0.0).endswith("eta --:--")

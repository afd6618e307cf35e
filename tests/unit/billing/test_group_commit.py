"""GroupCommit: queued rows commit together; the rows of one add_many never split."""

from __future__ import annotations

import asyncio

import pytest

from gateway.adapters.billing.group_commit import CommitFailed, GroupCommit


class Ledger:
    def __init__(self) -> None:
        self.transactions: list[list[str]] = []
        self.fail = False

    async def commit(self, rows: list[str]) -> int:
        await asyncio.sleep(0)
        if self.fail:
            raise OSError("disk full")
        self.transactions.append(rows)
        return len(rows)


async def test_concurrent_adds_share_a_transaction_and_add_many_stays_whole() -> None:
    ledger, committed = Ledger(), []
    commits = GroupCommit(ledger.commit, committed.append, max_batch=3)
    commits.start()
    await asyncio.gather(
        commits.add_many(["a"]), commits.add_many(["b", "c", "d", "e"]), commits.add_many(["f"])
    )
    await commits.close()
    # "a" alone: b..e (4 rows, over max_batch) must not be split, nor joined to "a".
    assert ledger.transactions == [["a"], ["b", "c", "d", "e"], ["f"]]
    assert committed == [1, 4, 1] and commits.queued == 0


async def test_a_failed_transaction_fails_every_caller_in_it() -> None:
    ledger = Ledger()
    ledger.fail = True
    commits = GroupCommit(ledger.commit, lambda _: None, attempts=2, retry_delay=0.001)
    commits.start()
    results = await asyncio.gather(
        commits.add_many(["a"]), commits.add_many(["b", "c"]), return_exceptions=True
    )
    await commits.close()
    assert all(isinstance(result, CommitFailed) for result in results)


async def test_adding_to_a_closed_group_commit_fails() -> None:
    commits = GroupCommit(Ledger().commit, lambda _: None)
    with pytest.raises(CommitFailed):
        await commits.add_many(["a"])


async def test_under_steady_arrivals_every_transaction_gathers_for_the_linger() -> None:
    # Rows arrive every millisecond while each commit takes 5 ms: the queue never empties.
    # Every transaction still waits the 20 ms linger, so each holds about 25 rows, not the
    # handful that came during the previous commit.
    class SlowLedger(Ledger):
        async def commit(self, rows: list[str]) -> int:
            await asyncio.sleep(0.005)
            self.transactions.append(rows)
            return len(rows)

    ledger = SlowLedger()
    commits = GroupCommit(ledger.commit, lambda _: None, linger=0.02)
    commits.start()
    adds = []
    for i in range(150):
        adds.append(asyncio.ensure_future(commits.add_many([f"r{i}"])))
        await asyncio.sleep(0.001)
    await asyncio.gather(*adds)
    await commits.close()
    assert sum(len(rows) for rows in ledger.transactions) == 150
    assert len(ledger.transactions) <= 12  # ~150 ms of arrivals / (20 ms + 5 ms) per commit


async def test_a_full_batch_does_not_wait_for_the_linger_and_close_commits_at_once() -> None:
    ledger = Ledger()
    commits = GroupCommit(ledger.commit, lambda _: None, max_batch=4, linger=30.0)
    commits.start()
    loop = asyncio.get_running_loop()
    began = loop.time()
    await asyncio.gather(*(commits.add_many([f"r{i}"]) for i in range(4)))
    assert loop.time() - began < 1  # four rows queued: a full batch, no linger
    last = asyncio.ensure_future(commits.add_many(["r4"]))
    await asyncio.sleep(0.05)
    assert not last.done()  # one row: it lingers
    await commits.close()
    await last
    assert ledger.transactions[-1] == ["r4"]

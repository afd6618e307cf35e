"""Replaying the spool into JetStream, oldest line first, resuming exactly where it stopped."""

from __future__ import annotations

import logging

from gateway.adapters.events.counters import PublisherCounters
from gateway.adapters.events.encoding import Outgoing, outgoing_from_line
from gateway.adapters.events.nats_sender import JetStreamSender, Result
from gateway.adapters.events.spool import Line, Spool
from gateway.adapters.events.spool_segment import Segment

log = logging.getLogger("gateway.events")


class Replayer:
    def __init__(self, spool: Spool, counters: PublisherCounters, subject_prefix: str) -> None:
        self._spool = spool
        self._counters = counters
        self._prefix = subject_prefix
        # Ids acknowledged after a failed line of a batch: that batch is read again from the
        # failed line, and these are not sent twice (even past the stream's duplicate window).
        self._acked_ids: set[str] = set()
        self.last_results: list[Result] = []

    def _next(self, max_lines: int) -> tuple[Segment, list[Line]] | None:
        found = self._spool.next_batch(max_lines)
        if found is None:
            # Sealed segments all done: take the lines written meanwhile, if any.
            self._spool.seal()
            found = self._spool.next_batch(max_lines)
        torn = self._spool.torn_lines - self._counters.torn_lines
        if torn:
            log.error("event spool: %d line(s) cut short by a crash were skipped", torn)
            self._counters.torn_lines = self._spool.torn_lines
        return found

    async def replay_batch(self, sender: JetStreamSender, max_lines: int, timeout: float) -> bool:
        """Send the next batch; False when some line was not acknowledged (retried later)."""
        self.last_results = []
        found = self._next(max_lines)
        if found is None:
            return True
        segment, lines = found
        items = [self._decode(line) for _, line in lines]
        to_send = [item for item in items if item is not None]
        try:
            results = iter(await sender.send_batch(to_send, timeout) if to_send else [])
        except BaseException:
            segment.rewind()  # nothing of this batch counts as sent: it is read again
            raise
        first_failure: int | None = None
        for index, item in enumerate(items):
            result = Result.ACKED if item is None else next(results)
            self.last_results.append(result)
            if result is Result.ACKED:
                if item is not None:
                    self._counters.replayed += 1
                    if first_failure is not None:
                        self._acked_ids.add(item.msg_id)
            elif first_failure is None:
                first_failure = index
        if first_failure is None:
            segment.mark_acked(lines[-1][0])
            self._spool.remove_done()
            return True
        if first_failure > 0:
            segment.mark_acked(lines[first_failure - 1][0])
        segment.rewind()
        return False

    def _decode(self, line: bytes) -> Outgoing | None:
        """The message to send, or None when there is nothing to send for this line."""
        try:
            item = outgoing_from_line(self._prefix, line)
        except ValueError:
            # Not an event (a disk error or a hand edit): skipping it must not stop the replay.
            log.error("event spool: skipped a line that is not an event (%d bytes)", len(line))
            return None
        if item.msg_id in self._acked_ids:
            self._acked_ids.discard(item.msg_id)
            return None
        return item

"""Taking a run's lease before copying: wait out a concurrent delivery, never take the
other job kind's item (store/history_table.py explains the lease and the shared-name key)."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import replace

from archiver.deadline import Deadline
from archiver.errors import RetryableArchiveError
from archiver.store.history_table import Claim, HistoryTable, shared_key
from archiver.store.record import HistoryRecord


def take_lease(
    table: HistoryTable,
    start: HistoryRecord,
    owner: str,
    *,
    deadline: Deadline,
    busy_poll: float,
    sleep: Callable[[float], None] = time.sleep,
) -> tuple[HistoryRecord | None, str]:
    """Claim the run; wait while a concurrent delivery holds it.

    Returns the item as it was before (None if new) and the run's sort key: its CreatedAt,
    or :func:`shared_key` when a run of the other kind already has that name and CreatedAt.
    Raises RetryableArchiveError when another invocation still holds it at the deadline.
    """
    delay = busy_poll
    aside = shared_key(start.created_at, start.kind)
    while True:
        now = time.time()
        # Every run stops copying at its deadline (the function's and the CLI's alike)
        # and records within seconds: the lease cannot run out while its holder writes.
        lease_until = now + max(deadline.remaining(), 0) + 90
        claim, previous = table.claim(start, owner, now=now, lease_until=lease_until)
        if claim in (Claim.CLAIMED, Claim.SETTLED):
            return previous, start.created_at
        if claim is Claim.OTHER_KIND and start.created_at != aside:
            start = replace(start, created_at=aside)
            continue
        if deadline.remaining() < delay + 5:
            raise RetryableArchiveError(
                f"{start.job_name}: another invocation is still archiving run {start.created_at}"
            )
        if previous is not None and previous.lease_is_live(now):
            sleep(delay * (0.5 + random.random()))  # noqa: S311 - jitter, not crypto
            delay = min(delay * 2, 5.0)
        # else the holder finished (INCOMPLETE) or its lease ran out just now: claim again

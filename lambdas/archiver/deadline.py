"""When to stop trying: an invocation's deadline, kept well before Lambda's own timeout."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

#: How long a run may take when nothing says otherwise (a CLI-driven run): the function's
#: own 15-minute timeout less the reserve below, so both stop at the same point.
DEFAULT_SECONDS = 14 * 60


@dataclass
class Deadline:
    #: A wall-clock time (time.time()), not a monotonic one: the lease a run holds ends at
    #: an absolute time in the table, and a laptop that slept through it (the monotonic
    #: clock stops meanwhile) must find its deadline passed too, not copy on after its lease.
    at: float

    @classmethod
    def after(cls, seconds: float) -> Deadline:
        return cls(time.time() + seconds)

    @classmethod
    def default(cls) -> Deadline:
        return cls.after(DEFAULT_SECONDS)

    @classmethod
    def from_context(cls, context: Any, *, reserve: float = 60.0) -> Deadline | None:
        """Leave ``reserve`` seconds (at most a fifth of what is left) to record and raise.

        None when ``context`` has no clock (a test or a script passing None).
        """
        clock = getattr(context, "get_remaining_time_in_millis", None)
        if not callable(clock):
            return None
        remaining = float(clock()) / 1000.0
        return cls.after(remaining - min(reserve, remaining / 5))

    def remaining(self) -> float:
        return self.at - time.time()

    def expired(self) -> bool:
        return self.remaining() <= 0

"""The runs of one kind of job, by name, and the service-bucket paths of their outputs.

Nothing here knows what a transcription job looks like beyond :class:`StoredRun`: a
later job kind (Call Analytics has its own names, API and links) gets a store of its own.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from datetime import datetime
from typing import Generic, Protocol, TypeVar

from local_aws.transcribe.model import JobStatus, OutputName, to_ms


class StoredRun(Protocol):
    """What the store needs of a run: name, creation time, outputs' service-bucket paths."""

    @property
    def name(self) -> str: ...

    @property
    def creation_ms(self) -> int: ...

    @property
    def service_paths(self) -> Mapping[OutputName, str]: ...


RunT = TypeVar("RunT", bound=StoredRun)


class JobStore(Generic[RunT]):
    """Job runs by name (names are unique per job kind, as in the service), thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._runs: dict[str, RunT] = {}
        self._paths: dict[str, tuple[RunT, OutputName]] = {}
        self._last_creation: dict[str, int] = {}  # per name, across deleted runs
        self._last_default_creation_ms = 0

    def times(
        self,
        name: str,
        status: JobStatus,
        *,
        now_ms: int,
        creation: datetime | None,
        start: datetime | None,
        completion: datetime | None,
    ) -> tuple[int, int | None, int | None]:
        """(creation, start, completion) in epoch ms for a new run of ``name``.

        Defaults: "completed now, created 20 s earlier". A name reused after deletion
        gets a CreationTime at least one second after the previous run's, so archive
        folders (second resolution) never collide. Raises ValueError if the name exists.
        """
        completion_ms = to_ms(completion) if completion is not None else None
        with self._lock:
            if name in self._runs:
                raise ValueError(f"job {name!r} exists (ConflictException); delete it first")
            if creation is not None:
                creation_ms = to_ms(creation)
            elif completion_ms is not None:
                creation_ms = completion_ms - 20_000
            else:
                # Strictly increasing defaults keep "newest first" listings deterministic.
                creation_ms = max(now_ms - 20_000, self._last_default_creation_ms + 1)
                self._last_default_creation_ms = creation_ms
            previous = self._last_creation.get(name)
        if creation is None and previous is not None:
            # A reused name is a new run: never the same second as the previous one.
            creation_ms = max(creation_ms, previous + 1000)
        start_ms = to_ms(start) if start is not None else creation_ms + 250
        if status == "QUEUED":
            return creation_ms, None, None
        if status == "IN_PROGRESS":
            return creation_ms, start_ms, None
        if completion_ms is None:
            completion_ms = max(now_ms, start_ms)
        return creation_ms, min(start_ms, completion_ms), completion_ms

    def insert(self, run: RunT) -> None:
        with self._lock:
            if run.name in self._runs:
                raise ValueError(f"job {run.name!r} was added concurrently")
            self._runs[run.name] = run
            self._last_creation[run.name] = run.creation_ms
            self._index(run)

    def restore(self, run: RunT) -> None:
        """Put back a run taken out with :meth:`pop`, unless its name was reused since."""
        with self._lock:
            if run.name not in self._runs:
                self._runs[run.name] = run
                self._index(run)

    def pop(self, name: str) -> RunT | None:
        """Remove the run (its links stop resolving); None if there is none."""
        with self._lock:
            run = self._runs.pop(name, None)
            if run is not None:
                for path in run.service_paths.values():
                    self._paths.pop(path, None)
            return run

    def find(self, name: str) -> RunT | None:
        with self._lock:
            return self._runs.get(name)

    def get(self, name: str) -> RunT:
        run = self.find(name)
        if run is None:
            raise KeyError(f"no job {name!r}")
        return run

    def names(self) -> list[str]:
        with self._lock:
            return sorted(self._runs)

    def runs(self) -> list[RunT]:
        with self._lock:
            return list(self._runs.values())

    def resolve(self, path: str) -> tuple[RunT, OutputName] | None:
        """The run and output a service-bucket path belongs to."""
        with self._lock:
            return self._paths.get(path)

    def _index(self, run: RunT) -> None:
        for out, path in run.service_paths.items():
            self._paths[path] = (run, out)

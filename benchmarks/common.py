"""What every benchmark shares: the run's configuration, its context, and small checks."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from benchmarks.harness import Lab, WorkerProcess


@dataclass(frozen=True)
class Config:
    quick: bool
    sizes_mib: tuple[int, ...]
    speed_mib: int
    speed_reps: int
    memory_reps: int
    parallel_reps: int
    copy_reps: int
    jobs: int
    threads: int
    cold_rounds: int
    profile_reps: int

    @classmethod
    def make(cls, quick: bool, max_mib: int | None) -> Config:
        sizes = (1, 16, 64, 256, 512, 1024)
        cap = max_mib or (256 if quick else 1024)
        return cls(
            quick=quick,
            sizes_mib=tuple(s for s in sizes if s <= cap) or (cap,),
            speed_mib=min(64 if quick else 256, cap),
            speed_reps=3 if quick else 7,
            memory_reps=1 if quick else 3,
            parallel_reps=1 if quick else 3,
            copy_reps=1 if quick else 3,
            jobs=60 if quick else 300,
            threads=4,
            cold_rounds=4 if quick else 10,
            profile_reps=1 if quick else 3,
        )


class Context:
    """What a benchmark gets: the lab, the configuration, and a place for the plot data."""

    def __init__(self, lab: Lab, config: Config) -> None:
        self.lab = lab
        self.config = config
        self.memory_points: list[dict[str, float]] = []


def check_archived(answer: dict[str, Any], name: str) -> None:
    outcome = answer["result"].get("outcome")
    if outcome != "ARCHIVED":
        raise AssertionError(f"{name}: outcome {outcome}, errors {answer['result'].get('errors')}")


def warm_up(lab: Lab, worker: WorkerProcess) -> None:
    """One small job: clients, pools and lazy imports exist before anything is measured."""
    name = lab.new_job("warmup")
    check_archived(worker.archive(lab.event(name)), name)


def sha_ok(lab: Lab, name: str) -> bool:
    """The record's transcript SHA-256 is that of the bytes the double serves."""
    stored = lab.record(name)["Outputs"]["transcript.json"]["Sha256"]
    return bool(stored == lab.fake.output_sha256(name, "transcript"))

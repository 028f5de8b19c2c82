"""Measurements, their targets, and how they are shown: a rich table, JSON and a PNG."""

from __future__ import annotations

import json
import math
import os
import platform
import statistics
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from rich.console import Console
from rich.table import Table

Status = Literal["PASS", "FAIL", "INFO", "SKIP", "ERROR"]
Comparison = Literal["<=", ">=", "=="]

MiB = 1024 * 1024


@dataclass
class Measurement:
    """One figure: what was measured, against which target, with every raw sample."""

    benchmark: str
    name: str
    value: float | None
    unit: str
    #: Human-readable target, e.g. "<= 64 MiB"; None for a figure that is only reported.
    target: str | None = None
    status: Status = "INFO"
    samples: list[float] = field(default_factory=list)
    note: str = ""
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def passed(self) -> bool | None:
        if self.status == "PASS":
            return True
        if self.status in ("FAIL", "ERROR"):
            return False
        return None

    def as_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["passed"] = self.passed
        return data


def judged(
    benchmark: str,
    name: str,
    value: float,
    unit: str,
    comparison: Comparison,
    threshold: float,
    *,
    samples: Sequence[float] = (),
    note: str = "",
    details: dict[str, Any] | None = None,
    informational: bool = False,
) -> Measurement:
    """A measurement with a target; ``informational`` shows the target but never fails."""
    if comparison == "<=":
        ok = value <= threshold
    elif comparison == ">=":
        ok = value >= threshold
    else:
        ok = value == threshold
    status: Status = "INFO" if informational else ("PASS" if ok else "FAIL")
    return Measurement(
        benchmark,
        name,
        value,
        unit,
        f"{comparison} {_number(threshold)} {unit}".strip(),
        status,
        [float(s) for s in samples],
        note,
        details or {},
    )


def info(
    benchmark: str,
    name: str,
    value: float | None,
    unit: str,
    *,
    samples: Sequence[float] = (),
    note: str = "",
    details: dict[str, Any] | None = None,
) -> Measurement:
    return Measurement(
        benchmark, name, value, unit, None, "INFO", [float(s) for s in samples], note, details or {}
    )


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values)) if values else math.nan


def _number(value: float | None) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if float(value).is_integer() and abs(value) < 1e12:
        return str(int(value))
    if abs(value) >= 100:
        return f"{value:.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def _samples_text(m: Measurement) -> str:
    if not m.samples:
        return m.note
    shown = ", ".join(_number(s) for s in m.samples[:8])
    more = f" (+{len(m.samples) - 8})" if len(m.samples) > 8 else ""
    text = f"[{shown}{more}]"
    return f"{text} {m.note}".strip()


_STYLE = {"PASS": "green", "FAIL": "bold red", "ERROR": "bold red", "SKIP": "yellow", "INFO": "dim"}


def render_table(measurements: Sequence[Measurement], console: Console, title: str) -> None:
    table = Table(title=title, show_lines=False, expand=False)
    table.add_column("benchmark", style="cyan", no_wrap=True)
    table.add_column("measurement", no_wrap=True)
    table.add_column("value", justify="right", no_wrap=True)
    table.add_column("target", justify="right", no_wrap=True)
    table.add_column("result", justify="center", no_wrap=True)
    table.add_column("samples / notes", overflow="fold")
    for m in measurements:
        status = m.status
        table.add_row(
            m.benchmark,
            m.name,
            f"{_number(m.value)} {m.unit}".strip() if m.value is not None else "-",
            m.target or "",
            f"[{_STYLE[status]}]{status}[/]",
            _samples_text(m),
        )
    console.print(table)


def write_json(
    path: Path,
    measurements: Sequence[Measurement],
    *,
    settings: dict[str, Any],
    seconds: float,
) -> None:
    counts: dict[str, int] = {}
    for m in measurements:
        counts[m.status] = counts.get(m.status, 0) + 1
    document = {
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "seconds": round(seconds, 1),
        "machine": {
            "python": platform.python_version(),
            "platform": platform.platform(),
            "machine": platform.machine(),
            "cpus": os.cpu_count(),
        },
        "settings": settings,
        "summary": counts,
        "measurements": [m.as_json() for m in measurements],
    }
    path.write_text(json.dumps(document, indent=2, default=str) + "\n", encoding="utf-8")


def plot_memory(path: Path, points: Sequence[dict[str, float]], limit_mib: float) -> None:
    """Peak RSS growth (and absolute peak RSS) of the function against output size."""
    sizes = [p["size_mib"] for p in points]
    growth = [p["growth_mib"] for p in points]
    peak = [p["peak_mib"] for p in points]
    base = [p["baseline_mib"] for p in points]
    figure = Figure(figsize=(8, 5), dpi=120)
    canvas = FigureCanvasAgg(figure)  # the Agg backend, without pyplot's global state
    axes = figure.add_subplot()
    axes.plot(sizes, growth, marker="o", label="peak RSS growth (peak - after warm-up)")
    axes.plot(sizes, peak, marker="s", linestyle="--", label="peak RSS (absolute)")
    axes.plot(sizes, base, marker=".", linestyle=":", label="RSS after imports + warm-up")
    axes.axhline(limit_mib, color="red", linewidth=1, label=f"target: growth <= {limit_mib:g} MiB")
    for size, value in zip(sizes, growth, strict=True):
        axes.annotate(
            f"{value:.0f}", (size, value), textcoords="offset points", xytext=(0, 6), ha="center"
        )
    axes.set_xscale("log", base=2)
    axes.set_xticks(sizes, [f"{s:g}" for s in sizes])
    axes.set_xlabel("output size (MiB, log scale)")
    axes.set_ylabel("MiB")
    axes.set_ylim(bottom=0)
    axes.set_title("Archiver process memory vs output size (streamed output)")
    axes.grid(True, which="both", alpha=0.3)
    axes.legend(loc="upper left", fontsize="small")
    figure.tight_layout()
    with open(path, "wb") as png:
        canvas.print_png(png)

"""What every benchmark shares: a figure with its goal, medians, timers, the machine."""

from __future__ import annotations

import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


@dataclass
class Figure:
    """One measured figure, its goal as text, and whether it met it."""

    name: str
    value: float
    unit: str
    goal: str
    met: bool
    bound: str = ""                     # what limits the figure, in a sentence
    detail: dict[str, Any] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return {"value": round(self.value, 4), "unit": self.unit, "goal": self.goal,
                "met": self.met, "bound": self.bound, "detail": self.detail}


def at_most(name: str, value: float, limit: float, unit: str, **kw: Any) -> Figure:
    return Figure(name, value, unit, f"≤ {limit:g}{_unit(unit)}", value <= limit, **kw)


def below(name: str, value: float, limit: float, unit: str, **kw: Any) -> Figure:
    return Figure(name, value, unit, f"< {limit:g}{_unit(unit)}", value < limit, **kw)


def at_least(name: str, value: float, limit: float, unit: str, **kw: Any) -> Figure:
    return Figure(name, value, unit, f"≥ {limit:g}{_unit(unit)}", value >= limit, **kw)


def _unit(unit: str) -> str:
    return "" if unit in ("", "ratio") else (unit if unit == "×" else f" {unit}")


def median(values: list[float]) -> float:
    return float(statistics.median(values))


def ms(seconds: float) -> float:
    return round(seconds * 1000, 1)


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    started = time.perf_counter()
    result = fn()
    return time.perf_counter() - started, result


def interleaved(runs: dict[str, Callable[[], Any]], repeats: int) -> dict[str, list[float]]:
    """Time each callable `repeats` times, taking turns (A B A B …), so a burst of load from
    another process on the shared machine falls on both sides rather than on one."""
    seconds: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(repeats):
        for name, fn in runs.items():
            seconds[name].append(timed(fn)[0])
    return seconds


def machine() -> dict[str, Any]:
    """What the numbers were measured on: they are ratios because the machine is shared."""
    load = os.getloadavg() if hasattr(os, "getloadavg") else (0.0, 0.0, 0.0)
    return {"python": platform.python_version(), "platform": platform.platform(),
            "cpus": os.cpu_count(), "load_average_1m_at_start": round(load[0], 2),
            "processor": platform.processor() or platform.machine()}

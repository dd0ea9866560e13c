"""The postmortem's timeline chart: one row per failing finding code, one for health checks
that passed, one for actions; the impact window shaded; lines where the incident was
detected, acknowledged, mitigated and resolved. A PNG, drawn headless (Agg), times in the
team's zone.

Every failing observation is its own mark: two at the same moment on the same row are set
apart vertically, so none hides another (a test reads the marks back from the figure).
"""

from __future__ import annotations

import io
from datetime import datetime, timedelta, tzinfo
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from runbook.core.config import DEFAULT_TIMEZONE
from runbook.incident import codes
from runbook.sections.postmortem import story
from runbook.sections.postmortem.history import History

FAIL, PASS, ACTION = "#d93025", "#188038", "#1a73e8"
SHADE = "#fbbc04"
MILESTONE_STYLE = {"detected": ("#1a73e8", ":"), "acknowledged": ("#9334e6", "-."),
                   "mitigated": ("#188038", "--"), "resolved": ("#188038", "-")}
NUDGE = 0.18           # how far a mark moves off its row when its place is taken
HEALTH_ROW = "health checks passed"
ACTIONS_ROW = "actions"


def _place(taken: set[tuple[float, float]], x: float, row: float) -> float:
    """The row's y, or the nearest free place beside it: no mark drawn over another."""
    step = 0
    while True:
        for y in ((row + step * NUDGE, row - step * NUDGE) if step else (row,)):
            if (round(x, 9), round(y, 3)) not in taken:
                taken.add((round(x, 9), round(y, 3)))
                return y
        step += 1


def milestones(history: History) -> dict[str, datetime]:
    state = history.incident
    if state is None:
        return {}
    found = {"detected": state.detected_at, "acknowledged": state.acknowledged_at,
             "mitigated": state.mitigated_at, "resolved": state.resolved_at}
    return {name: at for name, at in found.items() if at is not None}


def draw(history: History, zone: tzinfo | None = None) -> Any:
    """A matplotlib Figure (shown as is in a notebook, or saved by `save`)."""
    # A bare Figure, not pyplot: no GUI backend and no global figure state.
    from matplotlib.dates import DateFormatter, date2num
    from matplotlib.figure import Figure

    zone = zone or ZoneInfo(DEFAULT_TIMEZONE)
    failing = [e for e in history.findings if e.status == "fail"]
    rows = list(dict.fromkeys(e.code for e in failing))
    row_of = {code: index for index, code in enumerate(rows)}
    row_of[HEALTH_ROW] = len(rows)
    row_of[ACTIONS_ROW] = len(rows) + 1
    labels = [*rows, HEALTH_ROW, ACTIONS_ROW]
    height = min(12.0, 2.2 + 0.4 * len(labels))
    figure = Figure(figsize=(10, height), dpi=100)
    figure.subplots_adjust(left=0.25, right=0.78, top=0.9, bottom=min(0.4, 1.0 / height))
    axes = figure.add_subplot()
    taken: set[tuple[float, float]] = set()

    def marks(events: list[Any], row: str | None = None) -> tuple[list[float], list[float]]:
        xs: list[float] = []
        ys: list[float] = []
        for event in events:
            x = float(date2num(event.at))
            xs.append(x)
            ys.append(_place(taken, x, row_of[row or event.code]))
        return xs, ys

    xs, ys = marks(failing)
    axes.scatter(xs, ys, marker="o", s=36, color=FAIL, zorder=4, label="failing observation",
                 gid="failing")
    passes = [e for e in history.findings if e.status == "pass" and e.code in row_of]
    health = [e for e in history.findings if e.status == "pass" and e.code not in row_of
              and (row := codes.lookup(e.code)) is not None and row.health]
    xs, ys = marks(passes)
    hx, hy = marks(health, HEALTH_ROW)
    axes.scatter(xs + hx, ys + hy, marker="o", s=24, color=PASS, zorder=3, label="passing",
                 gid="passing")
    done = [e for e in history.actions if e.status in ("succeeded", "failed", "unknown")]
    xs, ys = marks(done, ACTIONS_ROW)
    axes.scatter(xs, ys, marker="D", s=40, color=ACTION, zorder=3, label="action",
                 gid="actions")
    start, end, _ = story.impact_window(history)
    axes.axvspan(float(date2num(start)), float(date2num(end)), color=SHADE, alpha=0.2,
                 label="impact", gid="impact")
    for name, at in milestones(history).items():
        colour, style = MILESTONE_STYLE[name]
        axes.axvline(float(date2num(at)), color=colour, linestyle=style, linewidth=1.2,
                     label=name, gid=name)
    moments = [start, end, *(e.at for e in history.events)]
    first, last = min(moments), max(moments)
    margin = max((last - first) * 0.05, timedelta(seconds=30))
    axes.set_xlim(float(date2num(first - margin)), float(date2num(last + margin)))
    axes.set_yticks(range(len(labels)))
    axes.set_yticklabels(labels, fontsize=8)
    axes.set_ylim(len(labels) - 0.5, -0.5)
    axes.xaxis.set_major_formatter(DateFormatter("%H:%M:%S", tz=zone))
    axes.set_xlabel(f"time ({getattr(zone, 'key', zone)})")
    severity = history.severity
    axes.set_title(f"Incident {history.incident_id}"
                   + (f" — peak {severity.level}" if severity else ""), fontsize=10)
    axes.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    axes.grid(axis="x", alpha=0.3)
    return figure


def png(history: History, zone: tzinfo | None = None) -> bytes:
    buffer = io.BytesIO()
    draw(history, zone).savefig(buffer, format="png", metadata={"Software": None})
    return buffer.getvalue()


def save(history: History, path: Path, zone: tzinfo | None = None) -> Path:
    figure = draw(history, zone)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    # No timestamp in the PNG's metadata: a re-run over the same records writes the same bytes.
    figure.savefig(tmp, format="png", metadata={"Software": None})
    tmp.replace(path)
    return path

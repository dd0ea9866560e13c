"""The postmortem's timeline chart: one lane per run, its findings and actions as marks, the
incident's start and the severity's response deadline as lines. A PNG, drawn headless (Agg)."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

from runbook.sections.postmortem.history import History

STATUS_COLOURS = {"pass": "#188038", "fail": "#d93025", "error": "#e8710a",
                  "skipped": "#80868b", "succeeded": "#188038", "failed": "#d93025",
                  "dry run": "#1a73e8", "unknown": "#e8710a"}


def draw(history: History) -> Any:
    """A matplotlib Figure (shown as is in a notebook, or saved by `save`)."""
    # A bare Figure, not pyplot: no GUI backend and no global figure state, so it draws the
    # same headless, in a kernel, or in a test.
    from matplotlib.collections import LineCollection
    from matplotlib.dates import DateFormatter, date2num
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D

    runs = history.runs
    lane_of = {run.name: lane for lane, run in enumerate(runs)}
    # A few artists whatever the number of runs (one collection for the lanes, one scatter per
    # status), and a bounded height: a 200-run incident draws as fast as a 2-run one.
    height = min(12.0, 1.6 + 0.45 * len(runs))
    figure = Figure(figsize=(10, height), dpi=100)
    figure.subplots_adjust(left=0.2, right=0.8, top=0.9, bottom=min(0.4, 0.9 / height))
    axes = figure.add_subplot()
    axes.xaxis_date()
    spans = [[(date2num(r.started), lane), (date2num(max(r.finished, r.started)), lane)]
             for lane, r in enumerate(runs)]
    colours = ["#d93025" if r.status != "completed" else "#9aa0a6" for r in runs]
    axes.add_collection(LineCollection(spans, colors=colours, linewidths=6, alpha=0.5))
    marks: dict[tuple[str, str], tuple[list[float], list[int]]] = {}
    for event in history.events:
        if event.kind not in ("finding", "action"):
            continue
        xs, ys = marks.setdefault((event.kind, event.status), ([], []))
        xs.append(date2num(event.at))
        ys.append(lane_of[event.run.name])
    for (kind, status), (xs, ys) in marks.items():
        axes.scatter(xs, ys, marker="o" if kind == "finding" else "D", s=40, zorder=3,
                     color=STATUS_COLOURS.get(status, "#202124"))
    axes.axvline(date2num(history.started), color="#202124", linestyle=":", linewidth=1)
    severity = history.severity
    if severity is not None:
        axes.axvline(date2num(severity.deadline(history.started)), color="#d93025",
                     linestyle="--", linewidth=1)
    mitigated = history.mitigated()
    if mitigated is not None:
        axes.axvline(date2num(mitigated.finished), color="#188038", linestyle="--", linewidth=1)
    step = max(1, len(runs) // 25)  # at most ~25 labelled lanes
    axes.set_yticks(range(0, len(runs), step))
    axes.set_yticklabels([f"{r.notebook} {r.started:%H:%M:%S}" for r in runs[::step]],
                         fontsize=8)
    axes.set_ylim(len(runs) - 0.5, -0.5)
    axes.xaxis.set_major_formatter(DateFormatter("%H:%M:%S"))
    axes.set_xlabel("UTC")
    axes.set_title(f"Incident {history.incident_id}"
                   + (f" — {severity.level}" if severity else ""), fontsize=10)
    legend = [Line2D([], [], marker="o", linestyle="none", color=STATUS_COLOURS[s], label=s)
              for s in ("pass", "fail", "error")]
    legend.append(Line2D([], [], marker="D", linestyle="none", color="#202124", label="action"))
    legend.append(Line2D([], [], color="#202124", linestyle=":", label="incident start"))
    if severity is not None:
        legend.append(Line2D([], [], color="#d93025", linestyle="--",
                             label=f"{severity.level} response deadline"))
    if mitigated is not None:
        legend.append(Line2D([], [], color="#188038", linestyle="--", label="mitigated"))
    axes.legend(handles=legend, fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    axes.grid(axis="x", alpha=0.3)
    axes.autoscale_view(scaley=False)
    return figure


def png(history: History) -> bytes:
    buffer = io.BytesIO()
    draw(history).savefig(buffer, format="png", metadata={"Software": None})
    return buffer.getvalue()


def save(history: History, path: Path) -> Path:
    figure = draw(history)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    # No timestamp in the PNG's metadata: a re-run over the same records writes the same bytes.
    figure.savefig(tmp, format="png", metadata={"Software": None})
    tmp.replace(path)
    return path

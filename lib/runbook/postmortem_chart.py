"""The postmortem's timeline chart: one lane per run, its findings and actions as marks, the
incident's start and the severity's response deadline as lines. A PNG, drawn headless (Agg)."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

from runbook.postmortem_history import History

STATUS_COLOURS = {"pass": "#188038", "fail": "#d93025", "error": "#e8710a",
                  "skipped": "#80868b", "succeeded": "#188038", "failed": "#d93025",
                  "dry run": "#1a73e8"}


def draw(history: History) -> Any:
    """A matplotlib Figure (shown as is in a notebook, or saved by `save`)."""
    # A bare Figure, not pyplot: no GUI backend and no global figure state, so it draws the
    # same headless, in a kernel, or in a test.
    from matplotlib.dates import DateFormatter, date2num
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D

    runs = history.runs
    figure = Figure(figsize=(10, 1.6 + 0.45 * len(runs)), dpi=100)
    axes = figure.add_subplot()
    for lane, run in enumerate(runs):
        colour = "#d93025" if run.status != "completed" else "#9aa0a6"
        span = [date2num(run.started), date2num(max(run.finished, run.started))]
        axes.plot(span, [lane, lane], color=colour, linewidth=6, solid_capstyle="butt",
                  alpha=0.5)
    for event in history.events:
        if event.kind not in ("finding", "action"):
            continue
        lane = runs.index(event.run)
        marker = "o" if event.kind == "finding" else "D"
        axes.plot([date2num(event.at)], [lane], marker=marker, linestyle="none", markersize=7,
                  color=STATUS_COLOURS.get(event.status, "#202124"))
    axes.axvline(date2num(history.started), color="#202124", linestyle=":", linewidth=1)
    severity = history.severity
    if severity is not None:
        axes.axvline(date2num(severity.deadline(history.started)), color="#d93025", linestyle="--",
                     linewidth=1)
    mitigated = history.mitigated()
    if mitigated is not None:
        axes.axvline(date2num(mitigated.finished), color="#188038", linestyle="--", linewidth=1)
    axes.set_yticks(range(len(runs)))
    axes.set_yticklabels([f"{r.notebook} {r.started:%H:%M:%S}" for r in runs], fontsize=8)
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
    figure.tight_layout()
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

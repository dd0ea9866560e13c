"""The report's chart: the weekly median TTD, TTA, TTM and TTR, in minutes, over the window.
A PNG drawn headless (a bare Figure, Agg); the series it plots are written into the PNG's own
text chunk (`runbook-series`, JSON), so what the image shows can be read back and checked."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime, time, timedelta
from typing import Any

from runbook.sections.report.figures import METRICS, Trends

COLOURS = {"TTD": "#1a73e8", "TTA": "#e8710a", "TTM": "#188038", "TTR": "#d93025"}
SERIES_KEY = "runbook-series"


def series(trends: Trends) -> dict[str, Any]:
    """What the chart plots: per metric, (week, median minutes) for the weeks that have one;
    and the window's bounds."""
    weekly = trends.weekly()
    return {
        "since": trends.since.date().isoformat(), "until": trends.now.date().isoformat(),
        "unit": "minutes",
        "metrics": {name: [[week.isoformat(), _minutes(medians[name])]
                           for week, medians, _ in weekly if medians[name] is not None]
                    for name, _ in METRICS},
        "incidents": [[week.isoformat(), count] for week, _, count in weekly],
    }


def draw(trends: Trends) -> Any:
    """A matplotlib Figure of the series (nothing but a note when there is no incident)."""
    from matplotlib.dates import DateFormatter, date2num
    from matplotlib.figure import Figure

    data = series(trends)
    figure = Figure(figsize=(9, 4), dpi=100)
    axes = figure.add_subplot()
    axes.xaxis_date()
    plotted = False
    for name, points in data["metrics"].items():
        if not points:
            continue
        # A week is drawn at its Monday, or the window's start for the first, partial one.
        xs = [date2num(max(_day(week), trends.since)) for week, _ in points]
        axes.plot(xs, [minutes for _, minutes in points], marker="o", linewidth=1.8,
                  markersize=6, color=COLOURS[name], label=f"{name} (median)")
        plotted = True
    axes.set_xlim(date2num(trends.since), date2num(trends.now))
    axes.xaxis.set_major_formatter(DateFormatter("%d %b"))
    axes.set_ylabel("minutes (weekly median)")
    axes.set_ylim(bottom=0)
    axes.grid(True, alpha=0.3)
    if plotted:
        axes.legend(loc="upper left", fontsize=8)
    else:
        axes.text(0.5, 0.5, "no incident in the window", ha="center", va="center",
                  transform=axes.transAxes, color="#5f6368")
    axes.set_title(f"Response times, {data['since']} to {data['until']}", fontsize=10)
    figure.tight_layout()
    return figure


def png(trends: Trends) -> bytes:
    """The chart as PNG bytes, carrying its series in a text chunk."""
    buffer = io.BytesIO()
    draw(trends).savefig(buffer, format="png",
                         metadata={SERIES_KEY: json.dumps(series(trends), sort_keys=True)})
    return buffer.getvalue()


def _minutes(value: timedelta | None) -> float:
    return round(value.total_seconds() / 60, 2) if value is not None else 0.0


def _day(text: str) -> datetime:
    return datetime.combine(datetime.fromisoformat(text).date(), time(12), tzinfo=UTC)

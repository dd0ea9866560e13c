"""What a notebook shows: objects with a rich HTML view and a plain-text view.

The library never prints; it returns these, and a cell's last expression displays them. The
text view is what headless logs and the archive's text/plain show.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from runbook.core import clock
from runbook.core.findings import Finding, Status
from runbook.core.severity import Severity, format_delta

__all__ = ["FindingsView", "SeverityView", "findings_frame"]

if TYPE_CHECKING:
    import pandas as pd

COLOURS = {Status.FAIL: "#d93025", Status.ERROR: "#e8710a", Status.PASS: "#188038",
           Status.SKIPPED: "#80868b"}
ICONS = {Status.FAIL: "✗", Status.ERROR: "!", Status.PASS: "✓", Status.SKIPPED: "–"}


def findings_frame(findings: Iterable[Finding]) -> pd.DataFrame:
    import pandas as pd

    rows = [{"status": f.status.value, "code": f.code, "summary": f.summary, "fix": f.fix}
            for f in findings]
    return pd.DataFrame(rows, columns=["status", "code", "summary", "fix"])


@dataclass
class FindingsView:
    findings: Sequence[Finding]
    title: str = ""

    def frame(self) -> pd.DataFrame:
        return findings_frame(self.findings)

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(self.findings)

    def __len__(self) -> int:
        return len(self.findings)

    def __getitem__(self, index: int) -> Finding:
        return self.findings[index]

    def codes(self) -> list[str]:
        return [f.code for f in self.findings]

    def __repr__(self) -> str:
        lines = [self.title] if self.title else []
        for f in self.findings:
            lines.append(f"{ICONS[f.status]} {f.status.value:<7} {f.code:<28} {f.summary}")
            if f.fix and f.failed:
                lines.append(f"{'':39}fix: {f.fix}")
        return "\n".join(lines) or "(no findings)"

    def _repr_html_(self) -> str:
        head = f"<h4>{html.escape(self.title)}</h4>" if self.title else ""
        rows = []
        for f in self.findings:
            colour = COLOURS[f.status]
            fix = html.escape(f.fix) if f.failed else ""
            rows.append(
                f'<tr><td style="background:{colour};color:white;font-weight:bold;'
                f'text-align:center">{ICONS[f.status]} {f.status.value}</td>'
                f"<td><code>{html.escape(f.code)}</code></td>"
                f'<td style="text-align:left">{html.escape(f.summary)}</td>'
                f'<td style="text-align:left">{fix}</td></tr>')
        return (f'{head}<table class="runbook-findings"><thead><tr><th>status</th><th>code</th>'
                f"<th>summary</th><th>fix</th></tr></thead><tbody>{''.join(rows)}</tbody>"
                "</table>")


@dataclass
class SeverityView:
    severity: Severity | None
    incident_id: str
    incident_started: datetime
    now: datetime

    @property
    def level(self) -> str | None:
        return self.severity.level if self.severity else None

    def time_left(self) -> str:
        if not self.severity:
            return ""
        left = self.severity.deadline(self.incident_started) - self.now
        return (f"{format_delta(left)} left" if left.total_seconds() >= 0
                else f"overdue by {format_delta(-left)}")

    def __repr__(self) -> str:
        if not self.severity:
            return (f"No severity: nothing failed. Incident {self.incident_id}, started "
                    f"{clock.both_zones(self.incident_started)}.")
        s = self.severity
        return (f"{s.level}: {s.definition}. Respond within {format_delta(s.response_time)} "
                f"({self.time_left()}; deadline "
                f"{clock.both_zones(s.deadline(self.incident_started))}). "
                f"Communicate: {s.communication}. Incident {self.incident_id}.")

    def _repr_html_(self) -> str:
        if not self.severity:
            return (f'<div class="runbook-severity" style="padding:8px;border-left:6px solid '
                    f'{COLOURS[Status.PASS]}"><b>No severity</b>: nothing failed. Incident '
                    f"<code>{html.escape(self.incident_id)}</code></div>")
        s = self.severity
        colour = COLOURS[Status.FAIL] if s.level in ("SEV-1", "SEV-2") else COLOURS[Status.ERROR]
        deadline = clock.both_zones(s.deadline(self.incident_started))
        return (f'<div class="runbook-severity" style="padding:8px;border-left:6px solid '
                f'{colour}"><span style="font-size:1.6em;font-weight:bold;color:{colour}">'
                f"{s.level}</span> — {html.escape(s.definition)}<br>"
                f"<b>{html.escape(self.time_left())}</b> (respond by {deadline})<br>"
                f"Communicate: {html.escape(s.communication)} · incident "
                f"<code>{html.escape(self.incident_id)}</code></div>")

"""How a diagnosis is shown: the stage table and the fix, as text and as HTML."""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass

from runbook.core.findings import Finding, Status
from runbook.sections.db_refused.lookup import UrlLookup
from runbook.sections.db_refused.probe import Stage
from runbook.sections.kit.display import COLOURS, ICONS


@dataclass
class StagesView:
    stages: Sequence[Stage]
    lookup: UrlLookup

    def _header(self) -> str:
        url = self.lookup.url.display() if self.lookup.url else "(none)"
        return f"DATABASE_URL from {self.lookup.source}: {url}"

    def __repr__(self) -> str:
        lines = [self._header()]
        for s in self.stages:
            lines.append(f"{ICONS[s.status]} {s.status.value:<7} {s.name:<10} "
                         f"{s.seconds:>7.3f}s  {s.detail}")
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        rows = []
        for s in self.stages:
            rows.append(
                f'<tr><td style="text-align:left">{html.escape(s.name)}</td>'
                f'<td style="background:{COLOURS[s.status]};color:white;font-weight:bold;'
                f'text-align:center">{ICONS[s.status]} {s.status.value}</td>'
                f'<td style="text-align:right">{s.seconds:.3f}s</td>'
                f'<td style="text-align:left">{html.escape(s.detail)}</td>'
                f"<td><code>{html.escape(s.code)}</code></td></tr>")
        return (f"<p>{html.escape(self._header())}</p><table class=\"runbook-db-stages\">"
                "<thead><tr><th>stage</th><th>status</th><th>time</th><th>detail</th>"
                f"<th>code</th></tr></thead><tbody>{''.join(rows)}</tbody></table>")


@dataclass
class FixView:
    stage: Stage | None
    verdict: Finding

    def __repr__(self) -> str:
        if self.stage is None:
            return f"Every stage passed: {self.verdict.summary}. Nothing to fix here."
        return (f"Failing stage: {self.stage.name} ({self.verdict.code}): "
                f"{self.verdict.summary}\nFix: {self.verdict.fix}")

    def _repr_html_(self) -> str:
        if self.stage is None:
            return (f'<div style="border-left:6px solid {COLOURS[Status.PASS]};padding:8px">'
                    f"Every stage passed: {html.escape(self.verdict.summary)}.</div>")
        return (f'<div style="border-left:6px solid {COLOURS[Status.FAIL]};padding:8px">'
                f"<b>Failing stage: {html.escape(self.stage.name)}</b> "
                f"(<code>{html.escape(self.verdict.code)}</code>): "
                f"{html.escape(self.verdict.summary)}<br><b>Fix:</b> "
                f"{html.escape(self.verdict.fix)}</div>")


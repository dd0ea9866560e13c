"""The notebooks' "Mitigate" cell: the mitigation steps the failing findings call for, in the
order a responder should act on them, and the sections to open next.

The steps and their order are the code catalogue's (`runbook.incident.codes`), chosen by
`runbook.incident.rules`; `next_sections` is what a run's record keeps as `next`."""

from __future__ import annotations

import html
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from runbook.core.findings import Finding
from runbook.incident import rules
from runbook.incident.codes import Mitigation

__all__ = ["Mitigation", "MitigationView", "Recommendation", "next_sections", "recommend"]


@dataclass(frozen=True)
class Recommendation:
    mitigation: Mitigation
    because: tuple[str, ...]   # the failing codes that call for it


@dataclass
class MitigationView:
    recommendations: list[Recommendation]

    @property
    def first(self) -> Recommendation | None:
        return self.recommendations[0] if self.recommendations else None

    @property
    def notebook(self) -> str:
        return self.first.mitigation.notebook if self.first else ""

    def next_sections(self) -> list[dict[str, Any]]:
        return rules.sections_of((r.mitigation, r.because) for r in self.recommendations)

    def __repr__(self) -> str:
        if not self.recommendations:
            return "No mitigation needed: nothing failed."
        sections = self.next_sections()
        lines = []
        for index, rec in enumerate(self.recommendations):
            where = f" → notebooks/{rec.mitigation.notebook}.ipynb" \
                if rec.mitigation.notebook else ""
            head = "Recommended" if index == 0 else "Then"
            lines.append(f"{head}: {rec.mitigation.action}{where} "
                         f"(because {', '.join(rec.because)})")
        if sections:
            lines.append("Open next: " + " → ".join(
                f"{s['notebook']} (because {', '.join(s['because'])})" for s in sections))
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        if not self.recommendations:
            return "<p><b>No mitigation needed</b>: nothing failed.</p>"
        opened = "".join(
            f'<li><a href="{s["notebook"]}.ipynb"><code>{s["notebook"]}.ipynb</code></a> '
            f"<small>(because {html.escape(', '.join(s['because']))})</small></li>"
            for s in self.next_sections())
        head = f"<h4>Open next</h4><ol>{opened}</ol>" if opened else ""
        items = []
        for index, rec in enumerate(self.recommendations):
            notebook = rec.mitigation.notebook
            link = (f' — open <a href="{notebook}.ipynb"><code>{notebook}.ipynb</code></a>'
                    if notebook else "")
            weight = "bold" if index == 0 else "normal"
            items.append(f'<li style="font-weight:{weight}">{html.escape(rec.mitigation.action)}'
                         f"{link} <small>(because {html.escape(', '.join(rec.because))})</small>"
                         "</li>")
        return f"{head}<h4>Mitigation</h4><ol>{''.join(items)}</ol>"


def recommend(findings: Iterable[Finding]) -> MitigationView:
    return MitigationView([Recommendation(m, because)
                           for m, because in rules.mitigations(findings)])


def next_sections(findings: Iterable[Finding]) -> list[dict[str, Any]]:
    """The record's `next` (see `runbook.incident.rules.next_sections`)."""
    return rules.next_sections(findings)

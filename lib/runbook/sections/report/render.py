"""The report as Markdown (no raw HTML: it reads the same in a repository, a chat or a mail)
and as a self-contained HTML twin (its chart inlined), both from the same parts."""

from __future__ import annotations

import base64
import html
from dataclasses import dataclass
from datetime import timedelta

from runbook.core.severity import format_delta
from runbook.sections.report.figures import METRICS, Row, Trends


@dataclass(frozen=True)
class Table:
    header: tuple[str, ...]
    rows: list[tuple[str, ...]]


# A part is a heading, then lines of text and at most one table.
Part = tuple[str, list[str], Table | None]


def _took(value: timedelta | None) -> str:
    return format_delta(value) if value is not None else "—"


def _day(row: Row) -> str:
    return row.started_at.strftime("%Y-%m-%d %H:%M UTC")


def parts(trends: Trends) -> list[Part]:
    window = f"{trends.since:%Y-%m-%d} to {trends.now:%Y-%m-%d}"
    kinds = "incidents and drills" if trends.with_drills else "incidents (drills apart)"
    summary = [f"{len(trends.rows)} {kinds} started from {window}."]
    out: list[Part] = [("Summary", summary, None)]

    severity = Table(("SEV", "incidents"), [(k, str(v)) for k, v in
                                            trends.by_severity().items()])
    trigger = Table(("trigger", "incidents"), [(k, str(v)) for k, v in
                                               trends.by_trigger().items()])
    out.append(("Incidents by SEV", [] if trends.rows else ["None."],
                severity if trends.rows else None))
    out.append(("Incidents by trigger", [] if trends.rows else ["None."],
                trigger if trends.rows else None))

    medians = trends.medians()
    counted = {name: sum(1 for r in trends.rows if r.times[name] is not None)
               for name, _ in METRICS}
    out.append(("Response times", [
        "Medians over the window, from each incident's log (TTD from impact start to detection, "
        "TTA detection to acknowledgement, TTM and TTR impact start to mitigation and "
        "resolution). The chart shows the weekly medians."],
        Table(("measure", "median", "incidents measured"),
              [(name, _took(medians[name]), str(counted[name])) for name, _ in METRICS])))
    listing = Table(("incident", "started", "SEV", "trigger", "state", "TTD", "TTA", "TTM",
                     "TTR"),
                    [(r.id + (" (drill)" if r.drill else ""), _day(r), r.severity or "—",
                      r.trigger, r.state, *(_took(r.times[name]) for name, _ in METRICS))
                     for r in trends.rows])
    out.append(("Incidents", [] if trends.rows else ["None in the window."],
                listing if trends.rows else None))

    if trends.action_items is None:
        items = ["Unknown: no postmortem in the window has saved action items yet "
                 "(0 open, 0 overdue)."]
        table = None
    else:
        open_items, overdue = trends.open_items(), trends.overdue_items()
        items = [f"{len(open_items)} open, {len(overdue)} overdue, of "
                 f"{len(trends.action_items)}."]
        table = Table(("incident", "action item", "owner", "due", "state"),
                      [(i.incident_id, i.title, i.owner or "—",
                        i.due.isoformat() if i.due else "—",
                        "overdue" if i in overdue else "open") for i in open_items]) \
            if open_items else None
    out.append(("Action items", items, table))

    missing = [o for o in trends.owed if o.missing]
    failing = [o for o in trends.owed if not o.missing]
    lines = [f"{len(missing)} missing" + (f", {len(failing)} failing the check" if
                                          trends.checked else
                                          " (postmortems written were not checked)") + "."]
    owed = Table(("incident", "SEV", "due", "why"),
                 [(o.incident_id, o.severity, o.deadline.strftime("%Y-%m-%d %H:%M UTC"),
                   "missing" if o.missing else "fails the check: " + "; ".join(o.problems))
                  for o in trends.owed]) if trends.owed else None
    out.append(("Postmortems owed", lines, owed))

    drills = trends.drills_in_window()
    lately = trends.drilled_lately()
    not_drilled = trends.not_drilled()
    drill_lines = [f"{len(drills)} drill(s) run in the window."]
    drill_lines.append("Scenarios not drilled in 90 days: " + (", ".join(not_drilled) or
                                                               "none") + ".")
    drill_table = Table(("drill", "scenario", "started", "SEV", "state", "TTM"),
                        [(r.id, r.scenario or "—", _day(r), r.severity or "—", r.state,
                          _took(r.times["TTM"])) for r in drills]) if drills else None
    if lately:
        drill_lines.append("Last drilled: " + ", ".join(
            f"{name} {moment:%Y-%m-%d}" for name, moment in sorted(lately.items())) + ".")
    out.append(("Drills", drill_lines, drill_table))
    return out


def _md_cell(text: str) -> str:
    # Markdown with no raw HTML: `<` and `>` written as entities, `|` escaped, one line.
    return " ".join(text.replace("|", "\\|").replace("<", "&lt;").replace(">", "&gt;").split())


def markdown(trends: Trends, chart_name: str) -> str:
    lines = [f"# Incident trends, {trends.since:%Y-%m-%d} to {trends.now:%Y-%m-%d}", ""]
    for heading, text, table in parts(trends):
        lines += [f"## {heading}", ""]
        lines += [_md_cell(line) for line in text]
        if text:
            lines.append("")
        if heading == "Response times":
            lines += [f"![Weekly median TTD, TTA, TTM and TTR]({chart_name})", ""]
        if table is not None:
            lines.append("| " + " | ".join(table.header) + " |")
            lines.append("|" + "---|" * len(table.header))
            lines += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in table.rows]
            lines.append("")
    lines.append(f"_Written by `runbook report` at {trends.now:%Y-%m-%d %H:%M UTC}._")
    return "\n".join(lines) + "\n"


STYLE = ("body{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;"
         "padding:0 1rem;color:#202124}table{border-collapse:collapse;margin:.5rem 0}"
         "th,td{border:1px solid #dadce0;padding:.25rem .5rem;text-align:left}"
         "th{background:#f1f3f4}img{max-width:100%}")


def page(trends: Trends, chart_png: bytes) -> str:
    """The HTML twin: one file, the chart inlined as a data URI."""
    esc = html.escape
    title = f"Incident trends, {trends.since:%Y-%m-%d} to {trends.now:%Y-%m-%d}"
    body = [f"<h1>{esc(title)}</h1>"]
    for heading, text, table in parts(trends):
        body.append(f"<h2>{esc(heading)}</h2>")
        body += [f"<p>{esc(line)}</p>" for line in text]
        if heading == "Response times":
            data = base64.b64encode(chart_png).decode("ascii")
            body.append(f'<p><img alt="Weekly median TTD, TTA, TTM and TTR" '
                        f'src="data:image/png;base64,{data}"></p>')
        if table is not None:
            body.append("<table><thead><tr>" + "".join(f"<th>{esc(h)}</th>" for h in
                                                       table.header) + "</tr></thead><tbody>")
            body += ["<tr>" + "".join(f"<td>{esc(c)}</td>" for c in row) + "</tr>"
                     for row in table.rows]
            body.append("</tbody></table>")
    body.append(f"<p><em>Written by runbook report at {trends.now:%Y-%m-%d %H:%M UTC}.</em></p>")
    return ("<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>{esc(title)}</title><style>{STYLE}</style></head><body>\n"
            + "\n".join(body) + "\n</body></html>\n")

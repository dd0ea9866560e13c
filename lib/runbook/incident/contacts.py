"""The runbook's "Who to Contact" table, from the config's `[[contacts]]`, matched to findings.

    Backend down        → Sami (founder, on-call 24/7)          issue = "backend"
    Payment processing  → Moyasar support                       issue = "payments"
    Domain DNS          → Domain registrar                      issue = "dns"
    Hosting             → Railway support                       issue = "hosting"

`who_to_call(config, findings)` says who, and why (which failing finding: the code catalogue
says which issue each code calls for, `runbook.incident.rules.contacts` chooses), and flags
details that have not been confirmed within the monthly check ("Emergency phone numbers
current?").
"""

from __future__ import annotations

import html
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date

from runbook.core import clock
from runbook.core.config import Config, Contact
from runbook.core.findings import Finding
from runbook.incident import rules

__all__ = ["Call", "ContactsView", "contact_table", "who_to_call"]

STALE_AFTER_DAYS = 31   # the runbook's monthly check: older details may be out of date


@dataclass(frozen=True)
class Call:
    contact: Contact
    reasons: tuple[str, ...]      # the failing findings' codes that lead here
    stale: str = ""               # why the details may be out of date ("" when recent)


@dataclass
class ContactsView:
    calls: list[Call]
    missing: list[str] = field(default_factory=list)    # issues with no contact configured

    def __repr__(self) -> str:
        if not self.calls and not self.missing:
            return "Nobody to call: no finding fails."
        lines = ["Who to contact:"]
        for call in self.calls:
            c = call.contact
            lines.append(f"  {c.name} ({c.role}) — {c.issue}: {c.phone or '-'} {c.channel}"
                         f"  because {', '.join(call.reasons)}"
                         + (f"  [{call.stale}]" if call.stale else ""))
        lines.extend(f"  no contact configured for {issue}: add a [[contacts]] entry with "
                     f'issue = "{issue}"' for issue in self.missing)
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        if not self.calls and not self.missing:
            return "<p>Nobody to call: no finding fails.</p>"
        rows = []
        for call in self.calls:
            c = call.contact
            stale = (f'<br><span style="color:#e8710a">{html.escape(call.stale)}</span>'
                     if call.stale else "")
            phone = (f'<a href="tel:{html.escape(c.phone)}">{html.escape(c.phone)}</a>'
                     if c.phone else "")
            rows.append(f"<tr><td><b>{html.escape(c.name)}</b><br>{html.escape(c.role)}</td>"
                        f"<td>{html.escape(c.issue)}</td><td>{phone}</td>"
                        f"<td>{html.escape(c.channel)}</td>"
                        f"<td>{html.escape(', '.join(call.reasons))}{stale}</td></tr>")
        rows.extend(f'<tr><td colspan="5" style="color:#d93025">No contact configured for '
                    f"<b>{html.escape(issue)}</b>: add a <code>[[contacts]]</code> entry</td></tr>"
                    for issue in self.missing)
        return ("<h4>Who to contact</h4><table><thead><tr><th>who</th><th>issue</th>"
                "<th>phone</th><th>channel</th><th>why</th></tr></thead>"
                f"<tbody>{''.join(rows)}</tbody></table>")


def stale_note(contact: Contact, today: date | None = None) -> str:
    today = today or clock.now().date()
    if not contact.verified:
        return "never confirmed: check the details"
    try:
        verified = date.fromisoformat(contact.verified)
    except ValueError:
        return f"verified date {contact.verified!r} is not YYYY-MM-DD"
    age = (today - verified).days
    return f"last confirmed {age} days ago: check the details" if age > STALE_AFTER_DAYS else ""


def who_to_call(config: Config, findings: Iterable[Finding],
                today: date | None = None) -> ContactsView:
    """Contacts for the failing findings, backend first, in the runbook's order."""
    calls: list[Call] = []
    missing: list[str] = []
    for issue, reasons in rules.contacts(findings).items():
        matching = [c for c in config.contacts if c.issue.strip().lower() == issue]
        if not matching:
            missing.append(issue)
        calls.extend(Call(c, tuple(reasons), stale_note(c, today)) for c in matching)
    return ContactsView(calls, missing)


def contact_table(config: Config, today: date | None = None) -> ContactsView:
    """The whole table, for the monthly check of the numbers."""
    return ContactsView([Call(c, ("runbook table",), stale_note(c, today))
                         for c in config.contacts])

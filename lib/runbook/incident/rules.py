"""The incident's rules, as pure functions over findings that read the code catalogue
(`runbook.incident.codes`): how severe a run and an incident are, which sections to open next
(the record's `next`), and who to call.

Only failing findings count (`Finding.failed`: status `fail`). An `error` is a check that could
not be made: never a pass, never evidence of impact, so it raises no severity, sends nobody
anywhere and calls nobody; the views show it as an error. A failing code the catalogue does not
hold (an old record's) weighs SEV-3 (something failed, of unknown reach) and has no next
section and no contact.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from runbook.core.findings import Finding
from runbook.core.severity import SEVERITIES, Severity
from runbook.incident.codes import INSTEAD_OF_AGAIN, ISSUES, MITIGATIONS, SEV3, Mitigation, lookup

__all__ = ["contacts", "incident_severity", "issue_of", "mitigations", "next_sections",
           "run_severity", "sections_of", "tried_sections", "weight"]

UNKNOWN_WEIGHT = SEV3


def _failing(findings: Iterable[Finding]) -> list[Finding]:
    return [f for f in findings if f.failed]


def weight(finding: Finding) -> str | None:
    """The severity level a finding calls for: its code's weight when it fails, else None."""
    if not finding.failed:
        return None
    row = lookup(finding.code)
    return row.weight if row is not None else UNKNOWN_WEIGHT


def run_severity(findings: Iterable[Finding]) -> Severity | None:
    """A run's severity: the gravest weight of its failing findings; None when nothing that
    fails weighs anything."""
    return incident_severity(weight(f) for f in findings)


def incident_severity(run_levels: Iterable[Severity | str | None]) -> Severity | None:
    """An incident's severity: the worst any of its runs was rated (a run rated None, or
    with a level the matrix does not know, adds nothing). None when no run was rated."""
    known = [level if isinstance(level, Severity) else SEVERITIES.get(str(level))
             for level in run_levels]
    rated = sorted((level for level in known if level is not None), key=lambda s: s.level)
    return rated[0] if rated else None


def mitigations(findings: Iterable[Finding], tried: Mapping[str, bool | None] | None = None
                ) -> list[tuple[Mitigation, tuple[str, ...]]]:
    """Each mitigation step the failing findings call for, in the runbook's order, with the
    failing codes that call for it (in the findings' order, each once). `tried`: the sections
    whose action was done in this incident, each with whether its post-check held. One that
    held needs nothing more (what still fails was seen before it); one that did not gives way
    to the catalogue's steps instead of it: the same action again is not the answer."""
    failing = _failing(findings)
    done = dict(tried or {})
    chosen: list[tuple[Mitigation, tuple[str, ...]]] = []
    for step in MITIGATIONS:
        because = tuple(dict.fromkeys(
            f.code for f in failing
            if step in _steps_of(f.code) and step.applies_to(f)))
        if not because:
            continue
        if step.notebook in done:
            if done[step.notebook] is not True:
                chosen += [(instead, because)
                           for instead in INSTEAD_OF_AGAIN.get(step.notebook, ())
                           if instead.notebook not in done]
        else:
            chosen.append((step, because))
    return chosen


def tried_sections(actions: Iterable[tuple[str, str, bool, bool | None]]
                   ) -> dict[str, bool | None]:
    """The sections whose action was done in the incident, each with whether a post-check
    held (True), did not (False) or was not made (None), from (action name, outcome, dry run,
    verified): the catalogue names each action's section. One verified action is enough."""
    sections: dict[str, bool | None] = {}
    for name, outcome, dry_run, verified in actions:
        row = lookup(name)
        if outcome == "done" and not dry_run and row is not None:
            sections[row.section] = True if sections.get(row.section) is True else verified
    return sections


def _steps_of(code: str) -> tuple[Mitigation, ...]:
    row = lookup(code)
    return row.next if row is not None else ()


def next_sections(findings: Iterable[Finding],
                  tried: Mapping[str, bool | None] | None = None) -> list[dict[str, Any]]:
    """The record's `next`: the sections to open, in order, each once, with the failing codes
    that call for it: [{"notebook": "api_404", "because": ["api.not_found"]}, …]. `tried`:
    the sections whose action was already done (see `mitigations`)."""
    return sections_of(mitigations(findings, tried))


def sections_of(chosen: Iterable[tuple[Mitigation, tuple[str, ...]]]) -> list[dict[str, Any]]:
    """Chosen steps as the sections to open: each notebook once, in order of first need."""
    sections: dict[str, list[str]] = {}
    for step, codes in chosen:
        if step.notebook:
            because = sections.setdefault(step.notebook, [])
            because.extend(c for c in codes if c not in because)
    return [{"notebook": notebook, "because": because}
            for notebook, because in sections.items()]


def issue_of(finding: Finding) -> str | None:
    """The contact table's issue a failing finding calls for; None when it does not fail or
    calls for nobody."""
    if not finding.failed:
        return None
    row = lookup(finding.code)
    calls = row.call if row is not None else ()
    return next((issue.name for issue in calls if issue.applies_to(finding)), None)


def contacts(findings: Iterable[Finding]) -> dict[str, list[str]]:
    """Who to call: the contact table's issues the failing findings call for, in the runbook's
    order (backend, payments, dns, hosting), each with the codes that call for it."""
    reasons: dict[str, list[str]] = {}
    for finding in findings:
        issue = issue_of(finding)
        if issue and finding.code not in reasons.setdefault(issue, []):
            reasons[issue].append(finding.code)
    return {issue: reasons[issue] for issue in sorted(
        reasons, key=lambda i: ISSUES.index(i) if i in ISSUES else len(ISSUES))}

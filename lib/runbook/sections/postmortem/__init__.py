"""The postmortem: an incident's story told from its log and sealed records, written as
Markdown (and its HTML twin) with its chart and evidence, the person's parts kept in an edits
file, and the 48-hour rule that says which incidents still need one."""

from __future__ import annotations

from runbook.sections.postmortem.document import (
    HEADINGS,
    Paths,
    Places,
    Written,
    check,
    existing_postmortem,
    places,
    render,
    target_path,
    when,
    write_postmortem,
)

__all__ = ["HEADINGS", "Paths", "Places", "Written", "check", "existing_postmortem", "places",
           "render", "target_path", "when", "write_postmortem"]

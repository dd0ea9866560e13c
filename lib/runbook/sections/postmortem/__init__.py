"""The postmortem: an incident's story told from its sealed records, written as Markdown with its
chart and evidence, and the 48-hour rule that says which incidents still need one."""

from __future__ import annotations

from runbook.sections.postmortem.document import (
    Paths,
    Places,
    Written,
    existing_postmortem,
    places,
    render,
    target_path,
    when,
    write_postmortem,
)

__all__ = ["Paths", "Places", "Written", "existing_postmortem", "places", "render", "target_path",
           "when", "write_postmortem"]

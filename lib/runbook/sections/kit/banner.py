"""The SEV and the time left, at the top of a notebook, kept current as findings come in.

    banner.status(rb)            # the first cell after the session: displays the banner

The banner is displayed once, near the top, and then follows the session: every finding the
session records updates it in place (the severity can only be known after the probes, which
run further down). Interactive, it is a widget whose countdown also ticks on its own, so the
time left is right whenever the responder scrolls back up; headless, it is a display that the
run updates in place, so the archived notebook opens with the final SEV at the top.
"""

from __future__ import annotations

import html
import threading
import uuid
from datetime import datetime
from typing import Any

from runbook.core import clock
from runbook.core.findings import Status
from runbook.core.severity import format_delta
from runbook.incident import rules
from runbook.sections.kit.display import COLOURS
from runbook.sections.kit.session_protocol import SessionProtocol

__all__ = ["StatusBanner", "status"]

TICK_SECONDS = 15.0

# Notebook cells are CSS-contained, so no output can pin itself to the viewport. This script
# (run by JupyterLab for outputs of the responder's own session, never for an opened file)
# mirrors the banner into the notebook's toolbar, which never scrolls away.
_PIN_SCRIPT = """<script>
(function () {
  var script = document.currentScript, tries = 0;
  function attach() {
    var panel = script && script.closest('.jp-NotebookPanel');
    if (!panel) { if (tries++ < 50) { setTimeout(attach, 200); } return; }
    var toolbar = panel.querySelector('.jp-NotebookPanel-toolbar');
    var source = panel.querySelector('.runbook-status-banner .widget-html-content');
    if (!toolbar || !source) { if (tries++ < 50) { setTimeout(attach, 200); } return; }
    var pin = toolbar.querySelector('.runbook-status-pin');
    if (!pin) {
      pin = document.createElement('div');
      pin.className = 'runbook-status-pin';
      pin.style.cssText = 'flex:0 1 auto;overflow:hidden;white-space:nowrap;margin:0 8px;';
      toolbar.insertBefore(pin, toolbar.firstChild);
    }
    function copy() { pin.innerHTML = source.innerHTML; }
    copy();
    new MutationObserver(copy).observe(source, {childList: true, subtree: true,
                                                characterData: true, attributes: true});
  }
  attach();
})();
</script>"""


def status(rb: SessionProtocol, *, interactive: bool | None = None,
           tick_seconds: float = TICK_SECONDS) -> StatusBanner:
    """The banner for this session; display it (last expression of a cell)."""
    from runbook.sections.kit.widgets import widget_frontend

    clickable = widget_frontend(rb) if interactive is None else interactive
    return StatusBanner(rb, clickable, tick_seconds)


class StatusBanner:
    def __init__(self, rb: SessionProtocol, interactive: bool,
                 tick_seconds: float = TICK_SECONDS) -> None:
        self.rb = rb
        self.interactive = interactive
        self.tick_seconds = tick_seconds
        self.display_id = f"runbook-status-{uuid.uuid4().hex}"
        self._shown = False
        self._stop = threading.Event()
        self._ticker: threading.Thread | None = None
        self.widget: Any = None
        if interactive:
            import ipywidgets

            self.widget = ipywidgets.HTML(value=self.html())
            self.widget.add_class("runbook-status-banner")
        rb.on_event(self._on_event)

    # ------------------------------------------------------------ what it says

    def state(self, now: datetime | None = None) -> dict[str, Any]:
        """{level, time_left, deadline, failing, errors}: what the banner shows, as data."""
        now = now or clock.now()
        severity = rules.run_severity(self.rb.findings)
        failing = sum(1 for f in self.rb.findings if f.failed)
        # Checks that could not be made: not failures, but not passes either.
        errors = sum(1 for f in self.rb.findings if f.status is Status.ERROR)
        if severity is None:
            return {"level": None, "time_left": "", "deadline": "", "failing": failing,
                    "errors": errors, "overdue": False}
        deadline = severity.deadline(self.rb.incident_started)
        left = deadline - now
        overdue = left.total_seconds() < 0
        return {"level": severity.level, "failing": failing, "errors": errors,
                "overdue": overdue,
                "time_left": (f"overdue by {format_delta(-left)}" if overdue
                              else f"{format_delta(left)} left"),
                "deadline": clock.both_zones(deadline),
                "respond_within": format_delta(severity.response_time)}

    def text(self, now: datetime | None = None) -> str:
        s = self.state(now)
        incident = f"incident {self.rb.incident_id}"
        unchecked = f", {s['errors']} could not be checked" if s["errors"] else ""
        if s["level"] is None:
            checked = len(self.rb.findings)
            what = (f"{s['failing']} failing, none a sign of customer impact" if s["failing"]
                    else f"nothing failed in {checked} finding(s) so far")
            return (f"No severity yet: {what}{unchecked} · "
                    f"{incident}, started {clock.both_zones(self.rb.incident_started)}")
        return (f"{s['level']} · {s['time_left']} (respond by {s['deadline']}) · "
                f"{s['failing']} failing{unchecked} · {incident}, impact since "
                f"{clock.both_zones(self.rb.incident_started)}{self._source()}")

    def _source(self) -> str:
        start = getattr(self.rb, "impact_start", None)
        return f" ({start().source})" if callable(start) else ""

    def html(self, now: datetime | None = None) -> str:
        s = self.state(now)
        if s["level"] is None:
            colour = COLOURS[Status.PASS] if self.rb.findings else COLOURS[Status.SKIPPED]
        else:
            colour = COLOURS[Status.FAIL] if s["level"] in ("SEV-1", "SEV-2") or s["overdue"] \
                else COLOURS[Status.ERROR]
        level = html.escape(s["level"] or "No SEV yet")
        rest = html.escape(self.text(now).split(" · ", 1)[1] if s["level"] else self.text(now))
        return (f'<div class="runbook-status" role="status" style="position:sticky;top:0;'
                f"z-index:10;padding:6px 10px;background:{colour};color:white;"
                f'font-size:1.1em"><b class="runbook-status-level" style="font-size:1.3em">'
                f"{level}</b> &nbsp; <span class=\"runbook-status-detail\">{rest}</span></div>")

    # ------------------------------------------------------------ keeping it current

    def refresh(self) -> None:
        """Show the current state wherever the banner is displayed."""
        if self.widget is not None:
            value = self.html()
            if self.widget.value != value:
                self.widget.value = value
        elif self._shown:
            from IPython.display import update_display

            update_display(self._bundle(), raw=True, display_id=self.display_id)

    def _on_event(self, event: dict[str, Any]) -> None:
        if event.get("type") in ("finding", "severity"):
            self.refresh()

    def start_ticking(self) -> None:
        """Interactive only: the countdown moves even when no cell runs."""
        if self.widget is None or self._ticker is not None:
            return
        self._ticker = threading.Thread(target=self._tick, name="runbook-status", daemon=True)
        self._ticker.start()

    def _tick(self) -> None:
        while not self._stop.wait(self.tick_seconds):
            self.refresh()

    def stop(self) -> None:
        self._stop.set()

    # ------------------------------------------------------------ display

    def _bundle(self) -> dict[str, str]:
        return {"text/plain": self.text(), "text/html": self.html()}

    def __repr__(self) -> str:
        return self.text()

    def _repr_html_(self) -> str:
        return self.html()

    def _ipython_display_(self) -> None:
        from IPython.display import display

        if self.widget is not None:
            bundle = dict(self.widget._repr_mimebundle_() or {})
            display({**bundle, **self._bundle(),
                     **{k: v for k, v in bundle.items() if "widget" in k}}, raw=True)
            display({"text/html": _PIN_SCRIPT, "text/plain": ""}, raw=True)
            self.start_ticking()
        else:
            display(self._bundle(), raw=True, display_id=self.display_id)
        self._shown = True

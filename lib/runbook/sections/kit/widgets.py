"""What a responder clicks and types in JupyterLab: confirm buttons and secret fields.

    widgets.confirm(rb, comms.slack_action(rb, text), confirm=confirm)

Interactive (a session in a kernel with a widget frontend), `confirm` shows the action's plan,
spelled out, and a button. The plan is recorded as a dry run when it is shown; a click runs the
action once, through `runbook.sections.kit.actions` (lock, never twice, recorded); later clicks
are refused
and show the earlier result. Headless (papermill), there is nobody to click: the `confirm`
parameter decides, exactly as `actions.run` does. Nothing here ever waits for `input()`.

`secret_field(NAME)` lets a responder type a secret the environment lacks: the value goes into
the secret registry (so it is redacted from everything saved) and into the kernel's environment
under NAME, and is wiped from the widget at once, so it is neither echoed nor saved with the
notebook's widget state. Only its fingerprint and length are shown.
"""

from __future__ import annotations

import html
import os
import threading
from pathlib import Path
from typing import Any

from runbook.core import clock
from runbook.core.errors import ActionRefused
from runbook.core.findings import Status
from runbook.core.redaction import fingerprint, registry
from runbook.sections.kit import actions
from runbook.sections.kit.actions import Action, ActionResult
from runbook.sections.kit.display import COLOURS
from runbook.sections.kit.session import jupyter_notebook_path
from runbook.sections.kit.session_protocol import SessionProtocol

__all__ = ["ArchiveButton", "ConfirmButton", "SecretField", "archive_button", "confirm",
           "secret_field"]

REFUSED_AGAIN = "refused"


def widget_frontend(rb: Any) -> bool:
    """True for an interactive session inside an IPython kernel: someone can click.

    A headless run (papermill) has mode "headless"; plain Python (a script, a test) has no
    kernel. In both, the `confirm` parameter decides instead of a button.
    """
    if getattr(rb, "mode", "headless") != "interactive":
        return False
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - IPython ships with ipykernel
        return False
    shell = get_ipython()
    return shell is not None and getattr(shell, "kernel", None) is not None


def confirm(rb: SessionProtocol, action: Action, *, confirm: bool = False,
            interactive: bool | None = None,
            act_despite_unknown: bool = False,
            confirm_again: str = "") -> ActionResult | ConfirmButton:
    """A confirm button for `action` (interactive), else `actions.run(…, confirm=confirm)`.

    `confirm=True` is an explicit confirmation in either mode: the action runs now. A blocked
    action gets no button: its result says why it cannot be done. `act_despite_unknown`
    acts even when an earlier attempt's outcome is still unknown; interactive, a refusal for
    that reason shows a second button that says so. `confirm_again`: the target's short id,
    typed, for a second action of the same kind in the incident.
    """
    clickable = widget_frontend(rb) if interactive is None else interactive
    if confirm or not clickable or action.blocked:
        return actions.run(rb, action, confirm=confirm, act_despite_unknown=act_despite_unknown,
                           confirm_again=confirm_again)
    return ConfirmButton(rb, action, act_despite_unknown=act_despite_unknown)


def _banner(colour: str, text: str) -> str:
    return (f'<div style="padding:6px;border-left:6px solid {colour};margin:4px 0">'
            f"{text}</div>")


class ConfirmButton:
    """The plan, a button, and what came of the click. One execution per button."""

    def __init__(self, rb: SessionProtocol, action: Action,
                 act_despite_unknown: bool = False) -> None:
        import ipywidgets

        self.rb = rb
        self.action = action
        self.act_despite_unknown = act_despite_unknown
        self._lock = threading.Lock()
        self.result: ActionResult | None = None     # the one execution, once it happened
        self.refusals: list[dict[str, Any]] = []    # later clicks, each refused and recorded
        # Showing the plan is a dry run: recorded, so the record says what was proposed even
        # when nobody clicks.
        self.planned = actions.run(rb, action, confirm=False)
        self.plan = ipywidgets.HTML(value=action._repr_html_())
        self.button = ipywidgets.Button(
            description=f"Confirm: {action.name} → {action.target}"[:80],
            button_style="danger", icon="check", tooltip=registry().redact(action.plan),
            layout=ipywidgets.Layout(width="auto"))
        self.button.add_class("runbook-confirm")
        self.status = ipywidgets.HTML(value=_banner(
            COLOURS[Status.SKIPPED], "<b>Not done yet.</b> Nothing has changed: read the plan, "
            "then click the button to do it, once."))
        self.status.add_class("runbook-confirm-status")
        self.button.on_click(self.click)
        # Shown only when a click was refused because an earlier attempt's outcome is
        # unknown: the explicit "act anyway", recorded as such.
        self.anyway = ipywidgets.Button(
            description="Act anyway: the earlier outcome is unknown", button_style="warning",
            icon="exclamation-triangle", layout=ipywidgets.Layout(width="auto",
                                                                  display="none"))
        self.anyway.add_class("runbook-act-anyway")
        self.anyway.on_click(self.click_anyway)
        self.box = ipywidgets.VBox([self.plan, self.button, self.status, self.anyway])
        self.box.add_class("runbook-confirm-box")

    def click(self, _button: Any = None) -> ActionResult | None:
        """Run the action once; a later click is refused (recorded) and shows the result."""
        with self._lock:
            if self.result is not None:
                return self._refuse_again(self.result)
            try:
                result = actions.run(self.rb, self.action, confirm=True,
                                     act_despite_unknown=self.act_despite_unknown)
            except ActionRefused as exc:
                # Another responder is running it right now: nothing was done, so the
                # button stays armed for when they are finished.
                self.status.value = _banner(COLOURS[Status.ERROR], "<b>Refused:</b> "
                                            + html.escape(registry().redact(str(exc))))
                return None
            except Exception as exc:  # noqa: BLE001 - a click's failure must be shown
                self.status.value = _banner(COLOURS[Status.ERROR], "<b>Could not run:</b> "
                                            + html.escape(registry().redact(
                                                f"{type(exc).__name__}: {exc}")))
                return None
            if result.status == actions.REFUSED and result.unknown:
                # Nothing was done: the button stays armed, and acting anyway is offered.
                self.status.value = result._repr_html_()
                self.anyway.layout.display = ""
                return result
            self.anyway.layout.display = "none"
            self.result = result
            self.button.button_style = ""
            self.button.icon = "lock"
            self.button.description = f"Done at {result.at} — not repeated"[:80]
            self.status.value = result._repr_html_()
            return result

    def click_anyway(self, _button: Any = None) -> ActionResult | None:
        """The responder says to act although an earlier attempt's outcome is unknown."""
        self.act_despite_unknown = True
        return self.click()

    def _refuse_again(self, earlier: ActionResult) -> ActionResult:
        entry = {"name": self.action.name, "target": self.action.target, "dry_run": False,
                 "status": REFUSED_AGAIN, "plan": self.action.plan,
                 "result": f"refused: this confirm button already ran it at {earlier.at} "
                           f"({earlier.status}); not repeated",
                 "earlier": {"at": earlier.at, "status": earlier.status,
                             "result": earlier.summary}}
        self.refusals.append(self.rb.record_action(entry))
        self.status.value = _banner(
            COLOURS[Status.ERROR],
            f"<b>Refused:</b> this button already ran the action at "
            f"{html.escape(earlier.at)} (click {len(self.refusals) + 1}, at "
            f"{clock.iso(clock.now())}); it is not repeated. The earlier result:"
        ) + earlier._repr_html_()
        return earlier

    def __repr__(self) -> str:
        state = repr(self.result) if self.result else "not done yet (needs a click)"
        return f"{self.action!r}\n[confirm button] {state}"

    def _repr_html_(self) -> str:
        return f"{self.plan.value}{self.status.value}"

    def _repr_mimebundle_(self, **kwargs: Any) -> dict[str, Any]:
        # The widget for JupyterLab; HTML and text for anything that cannot show widgets
        # (the archive, nbconvert, a plain console).
        bundle: dict[str, Any] = dict(self.box._repr_mimebundle_(**kwargs) or {})
        bundle["text/plain"] = repr(self)
        bundle["text/html"] = self._repr_html_()
        return bundle


# ---------------------------------------------------------------- secrets typed in

def secret_field(env_name: str, description: str = "", *,
                 interactive: bool | None = None) -> SecretField:
    """A password field that puts what is typed into $env_name for this kernel, registered."""
    if interactive is None:
        try:
            from IPython import get_ipython
        except ImportError:  # pragma: no cover
            interactive = False
        else:
            shell = get_ipython()
            interactive = shell is not None and getattr(shell, "kernel", None) is not None
    return SecretField(env_name, description, interactive)


class SecretField:
    """Interactive: a password box. Headless: whether the environment has the secret."""

    def __init__(self, env_name: str, description: str, interactive: bool) -> None:
        self.env_name = env_name
        self.description = description or f"${env_name}"
        self.interactive = interactive
        self.box: Any = None
        if interactive:
            import ipywidgets

            self.field = ipywidgets.Password(
                description=self.description, placeholder="type or paste, then press Enter",
                continuous_update=False, style={"description_width": "initial"},
                layout=ipywidgets.Layout(width="40em"))
            self.status = ipywidgets.HTML(value=self._state_html())
            self.field.observe(self._on_value, names="value")
            self.box = ipywidgets.VBox([self.field, self.status])

    def accept(self, value: str) -> str:
        """Register the value, put it in the kernel's environment; its fingerprint."""
        value = value.strip()
        registry().register(self.env_name, value)
        os.environ[self.env_name] = value
        return fingerprint(value)

    def _on_value(self, change: dict[str, Any]) -> None:
        value = str(change.get("new") or "")
        if not value:
            return
        self.accept(value)
        self.field.value = ""        # never kept in the widget, nor in saved widget state
        self.status.value = self._state_html()

    def _state(self) -> str:
        value = os.environ.get(self.env_name)
        if not value:
            return (f"${self.env_name} is not set" + (": type it above" if self.interactive else
                    ": export it before the run (a headless run reads secrets only from the "
                    "environment)"))
        registry().register(self.env_name, value)
        return (f"${self.env_name} is set: fingerprint {fingerprint(value)}, "
                f"{len(value)} characters")

    def _state_html(self) -> str:
        colour = COLOURS[Status.PASS] if os.environ.get(self.env_name) else \
            COLOURS[Status.SKIPPED]
        return _banner(colour, html.escape(self._state()))

    def __repr__(self) -> str:
        return self._state()

    def _repr_html_(self) -> str:
        return self._state_html()

    def _repr_mimebundle_(self, **kwargs: Any) -> dict[str, Any]:
        bundle: dict[str, Any] = dict(self.box._repr_mimebundle_(**kwargs) or {}) \
            if self.box is not None else {}
        bundle["text/plain"] = repr(self)
        bundle["text/html"] = self._repr_html_()
        return bundle


# ---------------------------------------------------------------- archive from the notebook

def saved_notebook_path(rb: Any) -> Path:
    """The file this kernel's notebook is saved to: JupyterLab names it in JPY_SESSION_NAME;
    else the session's notebook name in the kernel's working directory."""
    return jupyter_notebook_path() or Path.cwd() / f"{getattr(rb, 'notebook', 'notebook')}.ipynb"


def archive_button(rb: Any, notebook_path: str = "", *,
                   interactive: bool | None = None) -> ArchiveButton | str:
    """A button that archives the saved notebook as this incident's record (what
    `runbook archive PATH --incident ID` does). Headless runs are archived by the runner."""
    clickable = widget_frontend(rb) if interactive is None else interactive
    if not clickable:
        return "headless run: the runner archives this notebook when it ends"
    return ArchiveButton(rb, Path(notebook_path) if notebook_path else saved_notebook_path(rb))


class ArchiveButton:
    def __init__(self, rb: Any, path: Path) -> None:
        import ipywidgets

        self.rb = rb
        self.path = path
        self.archived: Any = None
        self.button = ipywidgets.Button(
            description=f"Archive {path.name} for {rb.incident_id}"[:80], icon="archive",
            button_style="primary", layout=ipywidgets.Layout(width="auto"))
        self.button.add_class("runbook-archive")
        self.status = ipywidgets.HTML(value=_banner(
            COLOURS[Status.SKIPPED], "Save the notebook first (Ctrl+S): the saved copy is "
            f"archived, redacted, as a completed record of {html.escape(rb.incident_id)}."))
        self.status.add_class("runbook-archive-status")
        self.button.on_click(self.click)
        self.box = ipywidgets.VBox([self.button, self.status])

    def click(self, _button: Any = None) -> Any:
        from runbook.sections.kit.interactive import archive_notebook

        try:
            self.archived = archive_notebook(self.path, self.rb.incident_id, self.rb.config)
        except Exception as exc:  # noqa: BLE001 - shown to the responder, not lost
            self.status.value = _banner(COLOURS[Status.ERROR], "<b>Not archived:</b> " +
                                        html.escape(registry().redact(str(exc))))
            return None
        self.status.value = _banner(COLOURS[Status.PASS], f"<pre>{html.escape(repr(self.archived))}"
                                    "</pre>")
        return self.archived

    def __repr__(self) -> str:
        return repr(self.archived) if self.archived else f"archive button for {self.path}"

    def _repr_mimebundle_(self, **kwargs: Any) -> dict[str, Any]:
        bundle: dict[str, Any] = dict(self.box._repr_mimebundle_(**kwargs) or {})
        bundle["text/plain"] = repr(self)
        return bundle

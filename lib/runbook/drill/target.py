"""A simulated target: the Dealix app and any fakes a scenario needs, plus the config and the
secret environment that point the library at them. Everything stops when the `with` ends."""

from __future__ import annotations

import contextlib
import secrets as _random
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from runbook.core.environ import environment_with
from runbook.drill.fakes.dealix import AppState, DealixApp
from runbook.drill.fakes.server import FakeService, LoopbackServer


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, dict):      # an inline table, e.g. a responder
        return "{ " + ", ".join(f"{k} = {_toml_value(v)}" for k, v in value.items()) + " }"
    text = str(value).replace("\\", "\\\\").replace('"', '\\"')
    return f'"{text}"'


def to_toml(sections: dict[str, Any]) -> str:
    lines: list[str] = []
    for name, table in sections.items():
        if isinstance(table, list):  # array of tables, e.g. [[contacts]]
            for item in table:
                lines.append(f"[[{name}]]")
                lines.extend(f"{k} = {_toml_value(v)}" for k, v in item.items())
                lines.append("")
            continue
        lines.append(f"[{name}]")
        lines.extend(f"{k} = {_toml_value(v)}" for k, v in table.items())
        lines.append("")
    return "\n".join(lines)


@dataclass
class Target:
    workdir: Path
    stack: contextlib.ExitStack
    app: DealixApp
    app_server: LoopbackServer
    sections: dict[str, Any] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)       # secret env vars for the run
    servers: dict[str, LoopbackServer] = field(default_factory=dict)
    parameters: list[tuple[str, str]] = field(default_factory=list)
    extras: dict[str, Any] = field(default_factory=dict)     # scenario-specific handles

    def serve(self, fake: FakeService) -> LoopbackServer:
        """Start a fake on loopback; it stops with the target."""
        server = LoopbackServer(fake)
        self.stack.callback(server.stop)
        self.servers[fake.name] = server
        return server

    def secret(self, env_name: str, value: str | None = None) -> str:
        """Put a secret in the run's environment (a fresh random one unless given)."""
        self.env[env_name] = value if value is not None else "drill-" + _random.token_hex(12)
        return self.env[env_name]

    def write_config(self) -> Path:
        path = self.workdir / "runbook.toml"
        path.write_text(to_toml(self.sections), encoding="utf-8")
        return path

    def environment(self) -> contextlib.AbstractContextManager[None]:
        """The run's secrets in this process's environment (the kernel inherits them)."""
        return environment_with(self.env)


DRILL_STABILISATION = "2s"
DRILL_RESPONDER = {"name": "Sami", "slack_id": "U0DEALIXSAMI", "email": "sami@dealix.example"}


@contextlib.contextmanager
def simulated_target(runs_dir: Path, probe_timeout: float = 2.0,
                     archive: dict[str, str] | None = None) -> Iterator[Target]:
    """The Dealix app on loopback and a config for it; scenarios add fakes and faults.
    `archive`: more of the config's `[archive]` (a bucket's url and endpoint_url)."""
    with contextlib.ExitStack() as stack:
        workdir = Path(tempfile.mkdtemp(prefix="runbook-drill-"))
        stack.callback(shutil.rmtree, workdir, True)
        app = DealixApp(AppState(git_sha=_random.token_hex(20)))
        app_server = LoopbackServer(app)
        stack.callback(app_server.stop)
        target = Target(workdir, stack, app, app_server)
        target.servers["dealix"] = app_server
        target.sections["service"] = {"name": "dealix", "base_url": app_server.url}
        target.sections["probes"] = {"connect_timeout": probe_timeout,
                                     "read_timeout": probe_timeout}
        target.sections["archive"] = {"runs_dir": str(runs_dir.resolve()),
                                      **{k: v for k, v in (archive or {}).items() if v}}
        # A drill's minutes are seconds: a mitigation holds for DRILL_STABILISATION before the
        # incident counts it, and the founder on call is the drill's responder.
        target.sections["oncall"] = {"stabilisation": DRILL_STABILISATION,
                                     "responders": [dict(DRILL_RESPONDER)]}
        yield target

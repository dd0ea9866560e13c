"""A drill's world kept up for a person: `runbook drill SCENARIO --world`.

The scenario's simulated Dealix and fakes start on loopback with its fault injected, as for the
drill, but nothing runs in them: the config that points at them and the drill's throwaway
secrets are written to a private folder (`runbook.toml`, and `env` to source in a shell), so a
person can try `runbook run`, `runbook serve` or `runbook lab` against them by hand. Everything
stops, and the folder is removed, when the `with` ends.
"""

from __future__ import annotations

import contextlib
import os
import shlex
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from runbook.archive.location import ENV_ARCHIVE
from runbook.core.config import CONFIG_ENV
from runbook.core.run_env import ENV_DRILL, ENV_DRILL_SCENARIO
from runbook.drill import scenarios
from runbook.drill.target import Target, simulated_target
from runbook.sections.postmortem.document import DEFAULT_POSTMORTEMS_DIR

ENV_FILE = "env"


@dataclass(frozen=True)
class World:
    scenario: scenarios.Scenario
    target: Target
    config_path: Path
    env_file: Path
    env: dict[str, str]          # what `env_file` exports: the config, secrets, drill marker

    @property
    def urls(self) -> dict[str, str]:
        return {name: server.url for name, server in self.target.servers.items()}


def _env_file(path: Path, env: dict[str, str]) -> None:
    # The values are the drill's own, made up for its fakes; still, only the user reads them.
    lines = [f"export {name}={shlex.quote(value)}" for name, value in env.items()]
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write("\n".join(lines) + "\n")


@contextlib.contextmanager
def drill_world(name: str, runs_dir: Path, probe_timeout: float = 2.0) -> Iterator[World]:
    """The scenario's world on loopback, its config and env file written; torn down after."""
    scenario = scenarios.get(name)
    with simulated_target(runs_dir, probe_timeout) as target:
        scenario.setup(target)
        # The config's folder goes with the world; the postmortems written from it must not.
        target.sections["archive"]["postmortems_dir"] = str(Path.cwd() / DEFAULT_POSTMORTEMS_DIR)
        config_path = target.write_config()
        env = {CONFIG_ENV: str(config_path), ENV_DRILL: "1", ENV_DRILL_SCENARIO: name,
               **target.env}
        if os.environ.get(ENV_ARCHIVE):    # `--archive s3://…`: the world's runs go there too
            env[ENV_ARCHIVE] = os.environ[ENV_ARCHIVE]
        env_file = target.workdir / ENV_FILE
        _env_file(env_file, env)
        yield World(scenario, target, config_path, env_file, env)

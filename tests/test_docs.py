"""The README's and docs/'s commands, run as a reader runs them, against a drill's world.

A fenced block is run when its info string is exactly `shell`; one marked `shell norun` (a
server, JupyterLab, docker, a real service) is shown only. A run block followed by an `output`
block must print exactly that (`…` stands for any text within a line). Every `runbook …` line,
run or not, must parse with the command line's own parser, so no page names a command or an
option that does not exist.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from conftest import ROOT
from runbook.drill.world import World, drill_world
from runbook.host.cli import COMMANDS, build_parser

PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
FENCE = re.compile(r"^```(.*)$")
SHELLS = {"shell", "sh", "bash", "console", "zsh"}


@dataclass(frozen=True)
class Block:
    page: Path
    line: int
    info: str
    text: str

    @property
    def runs(self) -> bool:
        return self.info == "shell"

    def __str__(self) -> str:
        return f"{self.page.relative_to(ROOT)}:{self.line}"


def blocks(page: Path) -> list[Block]:
    found: list[Block] = []
    lines = page.read_text(encoding="utf-8").splitlines()
    opened: tuple[int, str] | None = None
    body: list[str] = []
    for number, line in enumerate(lines, 1):
        fence = FENCE.match(line)
        if fence is None:
            if opened is not None:
                body.append(line)
            continue
        if opened is None:
            opened, body = (number, fence.group(1).strip()), []
        else:
            found.append(Block(page, opened[0], opened[1], "\n".join(body)))
            opened = None
    assert opened is None, f"{page}: a fence opened at line {opened[0]} is never closed"
    return found


def _without_prefix(words: list[str]) -> list[str]:
    """A command's words without the NAME=value and `env [-u NAME]` before it."""
    while words:
        if re.fullmatch(r"[A-Za-z_]\w*=.*", words[0]) or words[0] == "env":
            words = words[1:]
        elif words[0] == "-u":
            words = words[2:]
        else:
            break
    return words


def runbook_commands(block: Block) -> list[list[str]]:
    """Each `runbook …` command of a shell block, as its arguments (comments, pipes, `&&`,
    redirections, leading NAME=value and continuation lines taken care of)."""
    text = block.text.replace("\\\n", " ")
    commands: list[list[str]] = []
    for line in text.splitlines():
        line = re.sub(r"(?<!\S)\d*>&\d+", " ", line)    # 2>&1
        line = re.sub(r"(?<!\S)\d+>", ">", line)         # 2> file
        lexer = shlex.shlex(line, posix=True, punctuation_chars=";&|<>()")
        lexer.whitespace_split = True
        lexer.commenters = "#"
        current: list[str] = []
        skip_next = False
        for word in [*lexer, ";"]:
            if skip_next:
                skip_next = False
                continue
            if word and set(word) <= set(";&|<>()"):
                words = _without_prefix(current)
                if words[:1] == ["runbook"]:
                    commands.append(words[1:])
                current = []
                skip_next = word in (">", ">>", "<")    # the file named
                continue
            current.append(word)
    return commands


ALL_BLOCKS = [b for page in PAGES for b in blocks(page)]
SHELL_BLOCKS = [b for b in ALL_BLOCKS if b.info.split()[:1] and b.info.split()[0] in SHELLS]


def test_every_page_is_found() -> None:
    names = {p.name for p in PAGES}
    assert {"README.md", "configuration.md", "deploying-serve.md", "scheduled-runs.md",
            "archive.md", "drills.md", "troubleshooting.md"} <= names


def test_shell_blocks_say_whether_they_run() -> None:
    unclear = [f"{b} ```{b.info}" for b in SHELL_BLOCKS if b.info not in ("shell", "shell norun")]
    assert not unclear, "fence shell commands as ```shell (run by this test) or ```shell norun"


def test_every_runbook_command_parses() -> None:
    wrong = []
    for block in SHELL_BLOCKS:
        for argv in runbook_commands(block):
            if not argv or argv[0] not in COMMANDS:
                wrong.append(f"{block}: runbook {' '.join(argv)}: no such command")
                continue
            try:
                with contextlib.redirect_stderr(open(os.devnull, "w")):
                    build_parser(argv).parse_args(argv)
            except SystemExit:
                wrong.append(f"{block}: runbook {' '.join(argv)}: does not parse")
    assert not wrong, "\n".join(wrong)


def _help(words: list[str]) -> str:
    """`runbook WORDS --help`, as the command line prints it."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.suppress(SystemExit):
        build_parser(words).parse_args([*words, "--help"])
    return out.getvalue()


def test_the_readmes_synopsis_names_only_real_options() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    synopsis = readme.split("## The command line", 1)[1].split("```", 2)[1]
    lines = [line for line in synopsis.splitlines() if line.startswith("runbook ")]
    assert len(lines) >= len(COMMANDS)
    assert {line.split()[1] for line in lines} == set(COMMANDS)
    wrong = []
    for line in lines:
        words = line.split()[1:3] if line.split()[1] == "incident" else line.split()[1:2]
        text = _help(words)
        wrong.extend(f"{line}: {option}" for option in re.findall(r"--[a-z-]+", line)
                     if option not in text)
    assert not wrong, "options the command does not have:\n" + "\n".join(wrong)


def test_the_readme_is_short_and_maps_the_folders_once() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert len(readme.splitlines()) <= 250
    assert readme.startswith(
        "# Dealix incident runbooks\n\n```\n"
        "python3 bootstrap.py drill outage     # rehearse a SEV-1 against the simulated Dealix\n"
        "python3 bootstrap.py test             # ruff, mypy and the whole test suite\n```\n")
    maps = [page.name for page in PAGES for line in page.read_text(encoding="utf-8").splitlines()
            if re.match(r"lib/runbook/\s", line)]
    assert maps == ["README.md"], "the folder map appears once, in the README"


def test_the_drills_page_lists_every_scenario() -> None:
    """Every scenario `runbook drill --help` lists, with the codes and SEV it must find."""
    from runbook.drill import scenarios

    rows = set(re.findall(r"^\| `([a-z0-9-]+)` \|", (ROOT / "docs" / "drills.md").read_text(
        encoding="utf-8"), flags=re.M))
    assert rows == set(scenarios.names())
    text = (ROOT / "docs" / "drills.md").read_text(encoding="utf-8")
    for name in scenarios.names():
        row = next(line for line in text.splitlines() if line.startswith(f"| `{name}` |"))
        scenario = scenarios.get(name)
        missing = [code for code in (*scenario.expect_failing, *scenario.expect_passing)
                   if f"`{code}`" not in row]
        if scenario.expect_severity and scenario.expect_severity not in row:
            missing.append(scenario.expect_severity)
        assert not missing, f"{name}: the page's row does not name {missing}"


# --- running the pages -----------------------------------------------------------------------

@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """The alert-outage scenario's world (the outage, with [serve]), as `drill --world` keeps
    it, its postmortems under its own folder."""
    home = tmp_path_factory.mktemp("world")
    with contextlib.chdir(home), drill_world("alert-outage", home / "runs") as kept:
        yield kept


def _reader_dir(tmp_path: Path) -> Path:
    """A folder laid out as the repository is where a reader runs the commands."""
    (tmp_path / "notebooks").symlink_to(ROOT / "notebooks")
    (tmp_path / ".venv").symlink_to(Path(sys.executable).parent.parent)
    for name in ("runbook.example.toml",):
        shutil.copy(ROOT / name, tmp_path / name)
    return tmp_path


def _expected(block_index: int, page_blocks: list[Block]) -> list[str] | None:
    following = page_blocks[block_index + 1] if block_index + 1 < len(page_blocks) else None
    return following.text.splitlines() if following and following.info == "output" else None


def _matches(expected: list[str], actual: list[str]) -> bool:
    if len(expected) != len(actual):
        return False
    return all(re.fullmatch(".*".join(map(re.escape, want.split("…"))), got.rstrip())
               for want, got in zip(expected, actual, strict=True))


RUN_PAGES = [p for p in PAGES if any(b.runs for b in blocks(p))]


@pytest.mark.slow
@pytest.mark.parametrize("page", RUN_PAGES, ids=[p.name for p in RUN_PAGES])
def test_the_page_runs(page: Path, world: World, tmp_path: Path) -> None:
    cwd = _reader_dir(tmp_path)
    env = {**os.environ, **world.env, "RUNBOOK_RUNS_DIR": str(cwd / "runs"),
           "PATH": str(Path(sys.executable).parent) + os.pathsep + os.environ["PATH"]}
    page_blocks = blocks(page)
    if shutil.which("curl") is None and any("curl " in b.text for b in page_blocks if b.runs):
        pytest.skip("curl is not installed")
    for index, block in enumerate(page_blocks):
        if not block.runs:
            continue
        done = subprocess.run(["bash", "-eo", "pipefail", "-c", block.text], cwd=cwd, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                              timeout=240)
        assert done.returncode == 0, f"{block} exited {done.returncode}:\n{done.stdout}"
        expected = _expected(index, page_blocks)
        if expected is not None:
            actual = done.stdout.rstrip("\n").splitlines()
            assert _matches(expected, actual), (
                f"{block} printed:\n{done.stdout}\nthe page shows:\n" + "\n".join(expected))


# --- runbook drill --world -------------------------------------------------------------------

@pytest.mark.slow
def test_drill_world_keeps_the_world_for_serve_by_hand(tmp_path: Path) -> None:
    """`runbook drill alert-outage --world` prints its env file; serve started with it takes an
    alert; Ctrl-C (SIGINT) stops the world and removes its folder."""
    world = subprocess.Popen([str(Path(sys.executable).parent / "runbook"), "drill",
                              "alert-outage", "--world"], cwd=tmp_path, text=True,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    serve: subprocess.Popen[str] | None = None
    try:
        assert world.stdout is not None
        env_file = ""
        for line in world.stdout:
            if line.strip().startswith("secrets "):
                env_file = line.split()[1]
            if line.startswith("Ctrl-C stops the world"):
                break
        assert env_file and Path(env_file).stat().st_mode & 0o077 == 0
        script = (f". {shlex.quote(env_file)} && exec runbook serve --port 0")
        serve = subprocess.Popen(["bash", "-c", script], cwd=tmp_path, text=True,
                                 stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                 env={**os.environ, "PATH": str(Path(sys.executable).parent)
                                      + os.pathsep + os.environ["PATH"]})
        assert serve.stdout is not None
        url = ""
        for line in serve.stdout:
            if "listening on " in line:
                url = line.split("listening on ", 1)[1].split()[0]
                break
        assert url.startswith("http://127.0.0.1:")
        token = next(line.split("=", 1)[1].strip("'") for line in
                     Path(env_file).read_text().splitlines()
                     if line.startswith("export DRILL_SERVE_TOKEN="))
        import httpx

        with httpx.Client(timeout=10, trust_env=False) as http:
            answer = http.post(f"{url}/alerts/uptimerobot", params={
                "token": token, "monitorID": "1", "alertType": "1", "alertDetails": "HTTP 502"})
            assert answer.status_code == 202, answer.text
            assert answer.json()["outcome"] == "queued"
    finally:
        if serve is not None:
            serve.terminate()
            serve.wait(60)
        world.send_signal(2)
        out, _ = world.communicate(timeout=60)
    assert world.returncode == 0
    assert "world stopped" in out
    assert not Path(env_file).parent.exists()

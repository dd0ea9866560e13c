"""A real Postgres for the drill and the tests, from the binaries the `pgserver` package ships.

`initdb` with `--auth=scram-sha-256` runs once a machine, into a template cluster in the temp
folder; each cluster is a copy of it whose superuser is given a password of its own at first
start (initdb costs a second of CPU, a copy a fraction of it). Then `pg_ctl start` listening
on 127.0.0.1 at an ephemeral port, with its socket in the cluster's own directory. As root,
the binaries run as an unprivileged system user (`pgserver`, created when missing) — Postgres
refuses to run as root — the way pgserver's own `PostgresServer` does it. Faults are made for
real: stop the server, rotate a role's password, drop a database, lower `max_connections` and
hold every slot.

    with PostgresController() as pg:
        url = pg.create_app("dealix", "dealix")   # role + database, returns its URL
        pg.stop()                                  # connection refused from now on
"""

from __future__ import annotations

import atexit
import contextlib
import hashlib
import importlib.util
import os
import pwd
import secrets
import shutil
import signal
import socket
import stat
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import psycopg
from psycopg import sql

from runbook.core.errors import PostgresError

SYSTEM_USER = "pgserver"      # the unprivileged user pgserver itself runs as under root
SUPERUSER = "postgres"
HOST = "127.0.0.1"
START_TIMEOUT = 30.0


def bin_dir() -> Path:
    """pgserver's `pginstall/bin`, found without importing pgserver (whose import has side
    effects: a runtime directory and a lock file)."""
    spec = importlib.util.find_spec("pgserver")
    if spec is None or not spec.submodule_search_locations:
        raise PostgresError("the pgserver package is not installed: pip install -r "
                            "requirements.txt")
    path = Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"
    if not (path / "postgres").is_file():
        raise PostgresError(f"pgserver ships no server binaries at {path}")
    return path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def _ensure_system_user() -> pwd.struct_passwd:
    try:
        return pwd.getpwnam(SYSTEM_USER)
    except KeyError:
        subprocess.run(["useradd", "--system", "--no-create-home", "-s", "/usr/sbin/nologin",
                        SYSTEM_USER], check=True, capture_output=True, text=True)
        return pwd.getpwnam(SYSTEM_USER)


def _open_for_others(path: Path, files_flag: int) -> None:
    """Let another user traverse to `path` and read (and run) what is under it."""
    traverse = stat.S_IRGRP | stat.S_IROTH | stat.S_IXGRP | stat.S_IXOTH
    for parent in path.parents:
        mode = parent.stat().st_mode
        if mode & traverse != traverse:
            parent.chmod(mode | traverse)
    for root, _dirs, files in os.walk(path):
        Path(root).chmod(Path(root).stat().st_mode | traverse)
        for name in files:
            file = Path(root) / name
            if not file.is_symlink():
                file.chmod(file.stat().st_mode | files_flag)


PASSWORD_FILE = "superuser.pw"


def _copy_tree(source: Path, destination: Path) -> None:
    """Copy a data directory with its modes and owner (as root, the system user's)."""
    subprocess.run(["cp", "-a", str(source), str(destination)], check=True,
                   capture_output=True)


def _template_cluster(binaries: Path, account: pwd.struct_passwd | None) -> Path:
    """This machine's initialised, never started cluster for these binaries: made once (by
    whichever process needs it first; it is renamed into place whole, so a reader never sees
    half of one), then copied for every cluster. Its superuser's password is in its
    `superuser.pw`, readable only by the user the tests run as."""
    postgres = binaries / "postgres"
    key = f"{os.geteuid()}-{_stable_digest(str(binaries), str(postgres.stat().st_mtime_ns))}"
    final = Path(tempfile.gettempdir()) / f"runbook-pg-template-{key}"
    if (final / PASSWORD_FILE).is_file():
        return final
    building = Path(tempfile.mkdtemp(prefix="runbook-pg-template-building-"))
    try:
        building.chmod(0o755)
        password = secrets.token_urlsafe(18)
        password_file = building / PASSWORD_FILE
        password_file.write_text(password + "\n", encoding="utf-8")
        password_file.chmod(0o600)
        data = building / "data"
        data.mkdir(mode=0o700)
        as_account: dict[str, Any] = {}
        if account:
            os.chown(data, account.pw_uid, account.pw_gid)
            # initdb reads the password as the system user: a copy it owns, deleted after.
            readable = building / "initdb.pw"
            readable.write_text(password + "\n", encoding="utf-8")
            readable.chmod(0o600)
            os.chown(readable, account.pw_uid, account.pw_gid)
            as_account = {"user": account.pw_uid, "group": account.pw_gid, "extra_groups": []}
        else:
            readable = password_file
        with tempfile.TemporaryFile() as out:
            done = subprocess.run(
                [str(binaries / "initdb"), "-D", str(data), "--auth=scram-sha-256",
                 f"--pwfile={readable}", "-U", SUPERUSER, "--encoding=UTF8", "--no-sync",
                 "--no-instructions"],
                stdout=out, stderr=out, stdin=subprocess.DEVNULL, timeout=START_TIMEOUT,
                cwd=building, check=False, **as_account)
            if done.returncode != 0:
                out.seek(0)
                raise PostgresError("initdb failed: "
                                    + out.read().decode("utf-8", "replace")[-2000:])
        if readable != password_file:
            readable.unlink()
        try:
            building.rename(final)
        except OSError:  # another process put its template there first: use that one
            if not (final / PASSWORD_FILE).is_file():
                return building  # a broken one is in the way: this one serves, unshared
            shutil.rmtree(building, ignore_errors=True)
    except BaseException:
        shutil.rmtree(building, ignore_errors=True)
        raise
    return final


def _stable_digest(*parts: str) -> str:
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:16]


class PostgresController:
    """One throwaway cluster. `start()` initialises it on first use; `cleanup()` (also run at
    exit and by the context manager) stops it and deletes its files."""

    def __init__(self, superuser_password: str | None = None, port: int | None = None,
                 max_connections: int = 20) -> None:
        self.bin = bin_dir()
        self.superuser_password = superuser_password or secrets.token_urlsafe(18)
        self.port = port or free_port()
        self.host = HOST
        self.max_connections = max_connections
        self.root = Path(tempfile.mkdtemp(prefix="runbook-pg-"))
        self.data = self.root / "data"
        self.log = self.root / "postgres.log"
        self._held: list[psycopg.Connection[Any]] = []
        self._account = _ensure_system_user() if os.geteuid() == 0 else None
        self._initialised = False
        self._cleaned = False
        self._frozen = False
        self._template_password: str | None = None  # the superuser's until first started
        atexit.register(self.cleanup)

    # -- lifecycle -----------------------------------------------------------------------

    def __enter__(self) -> PostgresController:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.cleanup()

    def _run(self, binary: str, *args: str, timeout: float = START_TIMEOUT) -> None:
        # Output goes to files, not pipes: the server pg_ctl leaves running would hold a pipe
        # open and hang the read (pgserver notes the same).
        with tempfile.TemporaryFile() as out:
            try:
                subprocess.run([str(self.bin / binary), *args], stdout=out, stderr=out,
                               stdin=subprocess.DEVNULL, check=True, timeout=timeout,
                               cwd=self.root, **self._as_account())
            except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
                out.seek(0)
                output = out.read().decode("utf-8", "replace")[-2000:]
                log = self.log.read_text("utf-8", "replace")[-2000:] if self.log.exists() \
                    else ""
                raise PostgresError(f"{binary} {args[-1] if args else ''} failed: {exc}\n"
                                    f"{output}\n{log}") from None

    def _as_account(self) -> dict[str, Any]:
        if self._account is None:
            return {}
        return {"user": self._account.pw_uid, "group": self._account.pw_gid,
                "extra_groups": []}

    def _initdb(self) -> None:
        if self._account:
            read = stat.S_IRGRP | stat.S_IROTH
            _open_for_others(self.bin, read | stat.S_IXGRP | stat.S_IXOTH)
            _open_for_others(self.bin.parent / "lib", read)
        self.root.chmod(0o755)
        if self._account:
            os.chown(self.root, self._account.pw_uid, self._account.pw_gid)
        template = _template_cluster(self.bin, self._account)
        # A copy of the machine's template cluster (initdb once, not once a cluster: initdb
        # is a second of CPU); its superuser gets this cluster's own password at first start.
        _copy_tree(template / "data", self.data)
        self._template_password = (template / PASSWORD_FILE).read_text("utf-8").strip()
        self._initialised = True

    def start(self) -> None:
        if self._cleaned:
            raise PostgresError("this Postgres was cleaned up; make a new controller")
        if not self._initialised:
            self._initdb()
        if self.running:
            return
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-w",
                  "-t", str(int(START_TIMEOUT)), "-o", self._server_options(), "start")
        if self._template_password is not None:
            with psycopg.connect(self.url(SUPERUSER, self._template_password, "postgres"),
                                 autocommit=True, connect_timeout=10) as conn:
                conn.execute(sql.SQL("ALTER ROLE {} PASSWORD {}").format(
                    sql.Identifier(SUPERUSER), sql.Literal(self.superuser_password)))
            self._template_password = None

    def _server_options(self) -> str:
        return (f"-h {self.host} -p {self.port} -k {self.root} -c fsync=off "
                f"-c max_connections={self.max_connections} -c superuser_reserved_connections=3")

    def _postmaster_pid(self) -> int | None:
        try:
            return int((self.data / "postmaster.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    def freeze(self) -> None:
        """Hang the server (SIGSTOP the postmaster): the kernel still accepts connections on its
        port, but nothing ever answers, as with a paused or overloaded database."""
        pid = self._postmaster_pid()
        if pid is not None and self.running:
            os.kill(pid, signal.SIGSTOP)
            self._frozen = True

    def thaw(self) -> None:
        pid = self._postmaster_pid()
        if pid is not None and self._frozen:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGCONT)
        self._frozen = False

    def stop(self) -> None:
        """Stop the server (fast shutdown): connecting gives 'Connection refused' from now on."""
        self.thaw()
        self.release_connections()
        if self._initialised and self.running:
            self._run("pg_ctl", "-D", str(self.data), "-w", "-m", "fast", "stop")

    def restart(self) -> None:
        self.stop()
        self.start()

    @property
    def running(self) -> bool:
        pid_file = self.data / "postmaster.pid"
        if not pid_file.exists():
            return False
        try:
            pid = int(pid_file.read_text().split()[0])
            os.kill(pid, 0)
        except (ValueError, IndexError, ProcessLookupError, PermissionError):
            return False
        return True

    def cleanup(self) -> None:
        if self._cleaned:
            return
        try:
            self.stop()
        except PostgresError:
            self._kill()
        finally:
            self._cleaned = True
            shutil.rmtree(self.root, ignore_errors=True)
            atexit.unregister(self.cleanup)

    def _kill(self) -> None:
        with contextlib.suppress(Exception):
            pid = int((self.data / "postmaster.pid").read_text().split()[0])
            os.kill(pid, 9)

    # -- URLs and admin ------------------------------------------------------------------

    def url(self, user: str, password: str, dbname: str, **query: str) -> str:
        tail = "&".join(f"{k}={quote(v, safe='')}" for k, v in query.items())
        return (f"postgresql://{quote(user, safe='')}:{quote(password, safe='')}@{self.host}:"
                f"{self.port}/{quote(dbname, safe='')}" + (f"?{tail}" if tail else ""))

    def superuser_url(self, dbname: str = "postgres") -> str:
        return self.url(SUPERUSER, self.superuser_password, dbname)

    @contextlib.contextmanager
    def admin(self) -> Iterator[psycopg.Connection[Any]]:
        with psycopg.connect(self.superuser_url(), autocommit=True, connect_timeout=10) as conn:
            yield conn

    def create_role(self, name: str, password: str, superuser: bool = False) -> None:
        with self.admin() as conn:
            conn.execute(sql.SQL("CREATE ROLE {} LOGIN {} PASSWORD {}").format(
                sql.Identifier(name), sql.SQL("SUPERUSER" if superuser else "NOSUPERUSER"),
                sql.Literal(password)))

    def set_password(self, role: str, password: str) -> None:
        """Rotate a role's password, as a credentials rotation on the service would."""
        with self.admin() as conn:
            conn.execute(sql.SQL("ALTER ROLE {} PASSWORD {}").format(
                sql.Identifier(role), sql.Literal(password)))

    def create_database(self, name: str, owner: str = SUPERUSER) -> None:
        with self.admin() as conn:
            conn.execute(sql.SQL("CREATE DATABASE {} OWNER {}").format(
                sql.Identifier(name), sql.Identifier(owner)))

    def drop_database(self, name: str) -> None:
        with self.admin() as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                sql.Identifier(name)))

    def create_app(self, role: str, dbname: str, password: str | None = None) -> str:
        """A login role owning its database, as Railway's Postgres gives an app; its URL."""
        password = password or secrets.token_urlsafe(18)
        self.create_role(role, password)
        self.create_database(dbname, owner=role)
        return self.url(role, password, dbname)

    def set_max_connections(self, count: int) -> None:
        """Change max_connections (it needs a restart; the port stays the same)."""
        self.max_connections = count
        if self.running:
            self.restart()

    def hold_connections(self, count: int, user: str = SUPERUSER, password: str | None = None,
                         dbname: str = "postgres") -> list[psycopg.Connection[Any]]:
        """Open and keep `count` connections (until `release_connections` or `stop`)."""
        url = self.url(user, password or self.superuser_password, dbname)
        opened = []
        for _ in range(count):
            opened.append(psycopg.connect(url, autocommit=True, connect_timeout=10))
        self._held.extend(opened)
        return opened

    def exhaust_connections(self, user: str = SUPERUSER, password: str | None = None,
                            dbname: str = "postgres") -> int:
        """Take every slot `user` can take; how many were opened."""
        url = self.url(user, password or self.superuser_password, dbname)
        count = 0
        while count < self.max_connections + 5:
            try:
                self._held.append(psycopg.connect(url, autocommit=True, connect_timeout=10))
            except psycopg.OperationalError:
                return count
            count += 1
        raise PostgresError(f"still connecting after {count} connections: max_connections "
                            "is not in force")

    def release_connections(self) -> None:
        held, self._held = self._held, []
        for conn in held:
            with contextlib.suppress(Exception):
                conn.close()

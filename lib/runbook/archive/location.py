"""Where the archive is: a URL (`s3://bucket/prefix`, or a folder), and the one function that
turns it into a store.

Which archive, first found: `--archive URL` (the command line puts it in $RUNBOOK_ARCHIVE, so
kernels and JupyterLab sessions started from it use the same), the config's `[archive] url`,
else the local folder: $RUNBOOK_RUNS_DIR, the config's `[archive] runs_dir`, ./runs. A bucket's
archive is staged locally under that folder's `.staging/<bucket>/<prefix>`.

Drills keep to their own archive under it (`layout.DRILLS`: `runs/drills/`, or
`s3://bucket/prefix/drills`), laid out as the incidents' is. A process started for a drill
($RUNBOOK_DRILL=1: `runbook drill`, and everything it starts) opens the drills' archive; every
other opens the incidents', and reads the drills' only when asked (`--drills`).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from runbook.archive import layout
from runbook.core.run_env import ENV_DRILL

if TYPE_CHECKING:
    from runbook.archive.record import Archive
    from runbook.archive.store import ArchiveStore
    from runbook.core.config import Config

ENV_ARCHIVE = "RUNBOOK_ARCHIVE"
STAGING = ".staging"


def default_runs_dir() -> Path:
    return Path(os.environ.get("RUNBOOK_RUNS_DIR") or "runs").resolve()


def is_bucket(url: str) -> bool:
    return url.startswith("s3://")


def archive_url(config: Config | None = None) -> str:
    """The archive's URL: $RUNBOOK_ARCHIVE, the config's `[archive] url` (a folder read from
    the config's own folder), else "" (local)."""
    given = os.environ.get(ENV_ARCHIVE)
    if given or config is None:
        return given or ""
    url = config.archive.url
    return url if not url or is_bucket(url) else str(config.resolve(url.removeprefix("file://")))


def runs_dir(config: Config | None = None) -> Path:
    """The local folder: the archive itself, or the staging copy of a bucket's."""
    return config.runs_dir() if config is not None else default_runs_dir()


def open_store(url: str, endpoint_url: str = "", staging: Path | None = None) -> ArchiveStore:
    """The store a URL names: `s3://bucket/prefix` (staged under `staging` when given), or a
    folder (`file://` or a plain path)."""
    from runbook.archive.store import LocalStore

    if is_bucket(url):
        from runbook.archive import sync  # noqa: F401 - registers the staged store's upload
        from runbook.archive.s3 import S3Store
        from runbook.archive.staged import StagedStore

        remote = S3Store(url, endpoint_url=endpoint_url)
        if staging is None:
            return remote
        return StagedStore(LocalStore(staging_dir(staging, url)), remote)
    return LocalStore(Path(url.removeprefix("file://")).resolve())


def staging_dir(runs: Path, url: str) -> Path:
    from runbook.archive.s3 import BucketUrl

    bucket = BucketUrl.parse(url)
    return runs / STAGING / bucket.bucket / (bucket.prefix or "_")


def drilling() -> bool:
    """This process works for a drill ($RUNBOOK_DRILL=1), and so does all it starts."""
    return os.environ.get(ENV_DRILL) == "1"


def drills_url(url: str) -> str:
    """The drills' archive beside a bucket's incidents: `s3://bucket/prefix/drills`."""
    from runbook.archive.s3 import BucketUrl

    bucket = BucketUrl.parse(url)
    prefix = "/".join(part for part in (bucket.prefix, layout.DRILLS) if part)
    return f"s3://{bucket.bucket}/{prefix}"


def open_archive(config: Config | None = None, url: str | None = None,
                 staged: bool = True, drills: bool | None = None) -> Archive:
    """The archive a command or a session uses (see the module's note for which): the
    drills' when `drills` (default: when this process is a drill's), else the incidents'."""
    from runbook.archive.record import Archive
    from runbook.archive.s3 import BucketUrl

    drills = drilling() if drills is None else drills
    url = url if url is not None else archive_url(config)
    local = runs_dir(config)
    if not url or not is_bucket(url):
        root = Path(url.removeprefix("file://")).resolve() if url else local
        return Archive(root / layout.DRILLS if drills else root)
    endpoint = (config.archive.endpoint_url if config is not None else "") or \
        BucketUrl.parse(url).endpoint_url
    store = open_store(drills_url(url) if drills else url, endpoint,
                       local if staged else None)
    root = getattr(getattr(store, "local", None), "root", None) or \
        getattr(store, "root", None) or local
    return Archive(Path(root), store)


def open_archives(config: Config | None = None, url: str | None = None,
                  staged: bool = True, drills: bool = False) -> list[Archive]:
    """The incidents' archive, and the drills' after it when `drills` (or when this process
    works for a drill, which sees its own): what a listing reads."""
    main = open_archive(config, url, staged, drills=False)
    return [main, open_archive(config, url, staged, drills=True)] if drills or drilling() \
        else [main]


def archive_holding(incident_id: str, config: Config | None = None, url: str | None = None,
                    staged: bool = True) -> Archive:
    """The archive that holds an incident, the incidents' or the drills' (this process's own
    first): a command given an incident id finds it wherever it is. The process's own archive
    when neither has it (the caller says it is unknown)."""
    own = drilling()
    first = open_archive(config, url, staged, drills=own)
    if first.has_incident(incident_id):
        return first
    other = open_archive(config, url, staged, drills=not own)
    return other if other.has_incident(incident_id) else first

"""Where the archive is: a URL (`s3://bucket/prefix`, or a folder), and the one function that
turns it into a store.

Which archive, first found: `--archive URL` (the command line puts it in $RUNBOOK_ARCHIVE, so
kernels and JupyterLab sessions started from it use the same), the config's `[archive] url`,
else the local folder: $RUNBOOK_RUNS_DIR, the config's `[archive] runs_dir`, ./runs. A bucket's
archive is staged locally under that folder's `.staging/<bucket>/<prefix>`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

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
    """The archive's URL: $RUNBOOK_ARCHIVE, the config's `[archive] url`, else "" (local)."""
    return os.environ.get(ENV_ARCHIVE) or (config.archive.url if config is not None else "")


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


def open_archive(config: Config | None = None, url: str | None = None,
                 staged: bool = True) -> Archive:
    """The archive a command or a session uses (see the module's note for which)."""
    from runbook.archive.record import Archive

    url = url if url is not None else archive_url(config)
    local = runs_dir(config)
    if not url:
        return Archive(local)
    if not is_bucket(url):
        return Archive(Path(url.removeprefix("file://")).resolve())
    endpoint = config.archive.endpoint_url if config is not None else ""
    store = open_store(url, endpoint, local if staged else None)
    root = getattr(getattr(store, "local", None), "root", None) or \
        getattr(store, "root", None) or local
    return Archive(Path(root), store)

"""runbook sync: upload the runs and incident files (headers, events) kept locally while the
shared archive could not be reached."""

from __future__ import annotations

import argparse

from runbook.archive.location import archive_url, open_archive
from runbook.archive.staged import StagedStore
from runbook.archive.sync import sync_staged
from runbook.core.config import load_config, resolve_path
from runbook.core.errors import BadInput
from runbook.host.commands import Subcommands


def register(sub: Subcommands) -> None:
    parser = sub.add_parser("sync", help="upload to the shared archive (s3://…) the runs kept "
                            "locally while it could not be reached, chained and indexed")
    parser.add_argument("--config", help="config whose [archive] to use")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    config = load_config(args.config) if args.config or resolve_path(None).is_file() else None
    if not archive_url(config).startswith("s3://"):
        raise BadInput("runbook sync needs a shared archive: --archive s3://bucket/prefix or "
                       "[archive] url in the config")
    archive = open_archive(config, drills=False)
    assert isinstance(archive.store, StagedStore)
    archive.store.remote.ensure_writable()   # a wrong bucket is said so, not "0 uploaded"
    report = sync_staged(archive.store, every=True)
    print(repr(report))
    # The drills' archive is staged apart, under its own folder: its runs go up too.
    drills = open_archive(config, drills=True)
    if isinstance(drills.store, StagedStore) and drills.store.local.root.is_dir():
        print("drills: " + repr(sync_staged(drills.store, every=True)))
    return 0

"""The archive in a bucket: what a shared archive costs a drill, and `runbook runs` over
10,000 records on it. The bucket is moto's S3 server on loopback, spoken to over HTTP by
boto3 exactly as a real one is; its per-request latency (a few ms) is about a LAN's.
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

from bench.archive import NOTEBOOKS, RUNS_PER_INCIDENT, T0, record_for
from bench.common import BIN, Figure, at_most, below, interleaved, median, ms
from runbook.archive.record import index_summary
from runbook.core import clock


@contextmanager
def moto_bucket() -> Iterator[dict[str, str]]:
    """A bucket on a moto server of this process; yields the environment a client needs."""
    import boto3
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        env = {"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench-secret-key",
               "AWS_DEFAULT_REGION": "us-east-1", "AWS_ENDPOINT_URL": f"http://{host}:{port}"}
        name = f"bench-{secrets.token_hex(4)}"
        boto3.client("s3", endpoint_url=env["AWS_ENDPOINT_URL"], region_name="us-east-1",
                     aws_access_key_id="bench", aws_secret_access_key="bench-secret-key"
                     ).create_bucket(Bucket=name)
        yield {**env, "RUNBOOK_BENCH_ARCHIVE": f"s3://{name}/team"}
    finally:
        server.stop()


def _cli(args: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items()
            if not k.startswith(("RUNBOOK_", "AWS_"))}
    done = subprocess.run([str(BIN / "runbook"), *args], cwd=cwd, capture_output=True,
                          text=True, timeout=600, env={**base, **env})
    if done.returncode != 0:
        raise RuntimeError(f"runbook {args[0]} exited {done.returncode}: {done.stderr[-2000:]}")
    return done


def archive_s3_overhead(repeats: int = 3) -> Figure:
    """`runbook drill outage` (a sev1_response run against the simulated Dealix) with the
    archive in the bucket, over the same drill with the local archive, taking turns."""
    with moto_bucket() as env, tempfile.TemporaryDirectory(prefix="bench-s3-drill-") as tmp:
        url = env.pop("RUNBOOK_BENCH_ARCHIVE")
        local = {**env, "RUNBOOK_RUNS_DIR": str(Path(tmp) / "local")}
        staged = {**env, "RUNBOOK_RUNS_DIR": str(Path(tmp) / "staged")}
        seconds = interleaved({
            "local": lambda: _cli(["drill", "outage"], Path(tmp), local),
            "bucket": lambda: _cli(["drill", "outage", "--archive", url], Path(tmp), staged),
        }, repeats)
    ratio = median(seconds["bucket"]) / median(seconds["local"])
    return at_most(
        "archive_s3_overhead", ratio, 1.3, "ratio",
        bound=("A drill is mostly its kernel and its probes; the bucket adds a few dozen "
               "requests (the incident's lease and chain by compare-and-swap, the record, two "
               "index entries, the uploads of events and notebook), each a few ms on loopback."),
        detail={"local_s": [round(s, 2) for s in seconds["local"]],
                "bucket_s": [round(s, 2) for s in seconds["bucket"]],
                "local_median_ms": ms(median(seconds["local"])),
                "bucket_median_ms": ms(median(seconds["bucket"])), "repeats": repeats})


def index_lines(count: int) -> list[dict[str, Any]]:
    host, pid = socket.gethostname(), 1 << 22   # a pid that no longer runs
    lines: list[dict[str, Any]] = []
    for index in range(count):
        incident = f"inc-20260301-{index // RUNS_PER_INCIDENT:05d}"
        notebook = NOTEBOOKS[index % len(NOTEBOOKS)]
        started = T0 + timedelta(seconds=30 * index)
        record = record_for(incident, notebook, started, index)
        run = f"{incident}/{clock.stamp(started)}-{notebook}"
        lines.append({"event": "started", "run": run, "incident_id": incident,
                      "notebook": notebook, "started_at": record["started_at"], "pid": pid,
                      "host": host})
        lines.append({"event": "finished", "run": run, **index_summary(record)})
    return lines


def index_s3_10k(count: int = 10_000, repeats: int = 3, tail: int = 40) -> Figure:
    """`runbook runs --archive s3://…` over `count` records: the folded index (as a reindex
    or the writers' folding leaves it) plus `tail` entries written since, not yet folded."""
    from runbook.archive.s3 import S3Store
    from runbook.core.environ import environment_with

    with moto_bucket() as env, tempfile.TemporaryDirectory(prefix="bench-s3-index-") as tmp:
        url = env.pop("RUNBOOK_BENCH_ARCHIVE")
        with environment_with(env):
            store = S3Store(url)
            lines = index_lines(count)
            store.write_index(lines[: len(lines) - tail])
            for line in lines[len(lines) - tail:]:
                store.append("index.jsonl", line)
        first = _cli(["runs", "--archive", url], Path(tmp), env)
        listed = first.stdout.count("inc-20260301-")
        if listed != count:
            raise RuntimeError(f"runbook runs listed {listed} runs, not {count}")
        seconds = interleaved({"runs": lambda: _cli(["runs", "--archive", url], Path(tmp),
                                                     env)}, repeats)["runs"]
    value = median(seconds)
    return below(
        "index_s3_10k", value, 2, "s",
        bound=("Python's start and imports (botocore's included), one GET of the folded index "
               "(~5 MB for 10,000 runs), one listing after its watermark and a GET per entry "
               "not yet folded (in parallel), and the same fold into rows as on disk."),
        detail={"records": count, "unfolded_entries": tail, "seconds": [round(s, 3) for s in
                                                                         seconds],
                "repeats": repeats})

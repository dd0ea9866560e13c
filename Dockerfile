# runbook serve: UptimeRobot, Sentry and Railway alerts → headless runs → a Slack verdict.
# Run it OUTSIDE Dealix's Railway project (see docs/deploying-serve.md, "Where to run it"):
# an outage of that project must not silence the service that reports it.
#
#   docker build -t dealix-runbook .
#   docker run -p 8080:8080 -v $PWD/runbook.toml:/config/runbook.toml:ro \
#     -v runbook-runs:/data/runs --env-file .env.serve dealix-runbook
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 \
    RUNBOOK_CONFIG=/config/runbook.toml RUNBOOK_RUNS_DIR=/data/runs PORT=8080

# git: the rollback section's `git revert` plan and the record's runbook_version.
RUN apt-get update && apt-get install -y --no-install-recommends git \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /app
COPY requirements.txt pyproject.toml ./
COPY lib ./lib
RUN pip install -r requirements.txt
COPY notebooks ./notebooks
COPY runbook.example.toml README.md ./

RUN useradd --create-home --uid 10001 runbook && mkdir -p /data/runs /config \
    && chown -R runbook /data
USER runbook
VOLUME ["/data/runs"]
EXPOSE 8080

# /livez, not /healthz: a Slack outage makes /healthz 503 (for the monitor watching serve);
# restarting the container would not bring Slack back.
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s \
    CMD python -c "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/livez' % os.environ.get('PORT', '8080'), timeout=4)"

# exec: serve is PID 1 and gets SIGTERM itself, stops taking alerts and seals the run in
# flight as `aborted` (docker stop waits 10 s by default: use --stop-timeout 30).
CMD ["sh", "-c", "exec runbook serve --host 0.0.0.0 --port \"${PORT}\""]

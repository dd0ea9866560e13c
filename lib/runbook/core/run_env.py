"""The environment a runner hands a notebook's kernel: the one contract between whatever starts a
run (`runbook run`, serve, a drill, the lab) and the session the notebook opens inside it."""

from __future__ import annotations

ENV_RUN_DIR = "RUNBOOK_RUN_DIR"                    # the run's key in the archive
ENV_INCIDENT = "RUNBOOK_INCIDENT"                  # the incident the run is filed under
ENV_INCIDENT_STARTED = "RUNBOOK_INCIDENT_STARTED"  # the incident's start, when known
ENV_NOTEBOOK = "RUNBOOK_NOTEBOOK"                  # which notebook the runner started
ENV_CONFIG = "RUNBOOK_CONFIG"                      # the target config's absolute path
ENV_DRILL = "RUNBOOK_DRILL"                        # "1": everything opened is a drill's
ENV_DRILL_SCENARIO = "RUNBOOK_DRILL_SCENARIO"      # the drill's scenario, kept in its incident

# What `runbook lab` tells every kernel it starts: the incident each of its notebooks is filed
# under (given by --incident, or allocated when the lab starts, so the first run opens one
# incident for the whole lab session), and the lab session's id, written into each run it
# starts, so the runs it leaves unarchived are found and sealed `abandoned` when it ends.
ENV_LAB_INCIDENT = "RUNBOOK_LAB_INCIDENT"
ENV_LAB_SESSION = "RUNBOOK_LAB_SESSION"

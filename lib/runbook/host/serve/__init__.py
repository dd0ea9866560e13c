"""`runbook serve`: UptimeRobot, Sentry and Railway alerts in; for each incident one headless
`runbook run` at a time, its record archived, and one Slack verdict out. An alert diagnoses
and informs only: a rollback, restart or variable change starts only from a verified press of
a verdict's button by an allow-listed responder, and then through the notebooks' own guards.

    alerts      each provider's payload → one `Alert`
    auth        the URL token and Sentry's signature, compared in constant time
    bodies      a body read within its cap and deadline; the gate on unauthenticated ones
    replays     Sentry's timestamp window and the deliveries already accepted
    incidents   every archive interaction of serve (incidents, their events, records)
    child       one `runbook run` in a subprocess
    dispatch    the bounded queue, the per-service incident window, one run at a time
    outbox      the verdicts owed to Slack, on disk until Slack takes them
    verdict     the Slack message composed from the sealed record
    plans       the mitigations offered as buttons, planned exactly, re-checked on a press
    buttons     the Slack blocks of the verdict's buttons and of a press's outcome
    presses     a press: allow-list, one at a time, re-check, the guarded notebook run, answers
    oncall      Acknowledge, escalation pages (Slack and email), the flapping notice, status
                drafts with Publish and their reminder, the handoff digest ([oncall])
    slack       the functions that post to Slack (webhook or Slack app, with retries)
    schedule    the monthly monitoring check and the daily postmortem reminder
    app         the Starlette routes (alerts, /slack/actions, /healthz, /livez)
    logs        serve's log, every handler redacting through the secret registry
    service     uvicorn, the signals, and the order things start and stop in
"""

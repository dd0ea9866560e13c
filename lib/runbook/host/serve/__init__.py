"""`runbook serve`: UptimeRobot, Sentry and Railway alerts in; for each incident one headless
`runbook run` at a time, its record archived, and one Slack verdict out. It diagnoses and
informs only: no rollback, restart or variable change ever starts here.

    alerts      each provider's payload → one `Alert`
    auth        the URL token and Sentry's signature, compared in constant time
    incidents   every archive interaction of serve (incidents, their events, records)
    child       one `runbook run` in a subprocess
    dispatch    the bounded queue, the per-service incident window, one run at a time
    verdict     the Slack message composed from the sealed record
    slack       the one function that posts to Slack (with retries)
    schedule    the monthly monitoring check and the daily postmortem reminder
    app         the Starlette routes
    service     uvicorn, the signals, and the order things start and stop in
"""

"""One module per runbook section, named as its notebook is.

`kit` holds what every section's notebook shares: the session, displays, widgets, the action
guard. The layers point one way: core ← clients ← checks ← incident ← sections ← host.
"""

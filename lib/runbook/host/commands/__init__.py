"""One module per `runbook` subcommand: each has `register(subparsers)` and `run(args) -> int`."""

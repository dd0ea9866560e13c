"""The incident: its finding-code catalogue, its rules, and the fold of its event log."""

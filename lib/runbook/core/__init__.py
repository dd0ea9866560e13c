"""The core types every other part uses: errors, findings, severity, the config, redaction, time."""

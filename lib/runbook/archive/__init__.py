"""The archive: where every run is kept as a sealed, redacted, hash-chained incident record."""

"""Executable incident runbooks for Dealix: the library the notebooks call."""

from __future__ import annotations

import sys

# jsonschema (under nbformat) imports rfc3987_syntax when it is installed, which builds ~35
# Earley parsers at import: a second of CPU for the `iri` format that no notebook schema uses.
# Here, not in the command line, so that every process importing the library skips it: the
# commands, and the kernel of every run (its first cell imports the session, which imports
# nbformat). Without it, jsonschema skips that one format check.
sys.modules.setdefault("rfc3987_syntax", None)  # type: ignore[arg-type]

__version__ = "0.1.0"

"""Executable incident runbooks for Dealix: the library the notebooks call."""

from __future__ import annotations

__version__ = "0.1.0"

"""Checks: client data turned into findings."""

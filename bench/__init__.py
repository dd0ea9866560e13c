"""Benchmarks of the speed a responder feels; `python bench/run.py` runs them all."""

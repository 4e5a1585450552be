"""Helpers for benchmarks/login_storm.py: the student driver, the two targets, the report."""

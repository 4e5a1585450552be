"""Helpers for the storm benchmarks (login_storm.py, link_storm.py): simulated
students, the hubs under test, the course they open, the report."""

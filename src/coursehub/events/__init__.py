"""Notebook events from student servers: what they mean, how they are stored."""

"""Assignments and autograding: the sandbox student code runs in, and (to come) the
release / submit / grade / feedback life cycle."""

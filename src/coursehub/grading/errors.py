"""Errors of the grading feature, with messages that say how to fix them."""

from __future__ import annotations

from coursehub.core.errors import CoursehubError


class AssignmentError(CoursehubError):
    """An assignment could not be made, found or changed."""

    exit_code = 2


class SubmissionError(CoursehubError):
    """A submission was refused (closed, too large, not enrolled, ...)."""

    exit_code = 2


class QueueFull(CoursehubError):
    """More gradings are waiting than the configured maximum."""

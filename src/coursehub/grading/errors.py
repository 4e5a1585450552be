"""Errors of the grading feature, with messages that say how to fix them."""

from __future__ import annotations

from coursehub.core.errors import CoursehubError


class AssignmentError(CoursehubError):
    """An assignment could not be made, found or changed."""

    exit_code = 2


class FormatNotFound(AssignmentError):
    """The notebooks carry neither nbgrader's nor otter-grader's marks (the command line
    may name the format itself)."""


class HasSubmissions(AssignmentError):
    """Deleting an assignment that has submissions needs a second confirmation."""

    def __init__(self, message: str, submissions: int, students: int):
        super().__init__(message)
        self.submissions = submissions
        self.students = students


class SubmissionError(CoursehubError):
    """A submission was refused (closed, too large, not enrolled, ...)."""

    exit_code = 2


class QueueFull(CoursehubError):
    """More gradings are waiting than the configured maximum."""

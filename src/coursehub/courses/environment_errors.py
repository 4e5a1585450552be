"""Errors of course environment builds (shared by the requirements checks and the build)."""

from __future__ import annotations

from coursehub.core.errors import CoursehubError


class EnvironmentBuildError(CoursehubError):
    """A course environment could not be built; the previous one, if any, is intact."""

    def __init__(self, message: str, output_tail: list[str] | None = None):
        self.output_tail = list(output_tail or [])
        self.hint = message
        text = message
        if self.output_tail:
            text += "\n--- last lines of output ---\n" + "\n".join(self.output_tail)
        super().__init__(text)


class RequirementsError(EnvironmentBuildError):
    """The requirements file uses something coursehub refuses; nothing was built."""

    exit_code = 2

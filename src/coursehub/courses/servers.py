"""What a (student x course) server needs: access check, workspace, kernel.

A JupyterHub named server whose name is a course name is that student's server
for the course. It runs in a workspace of its own, ~/courses/<course>/, with the
course's kernel as default when the course environment has been built.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from coursehub.config.layout import DataLayout
from coursehub.core.errors import CoursehubError

KERNELS_SUBDIR = Path("jupyter")  # <course dir>/jupyter/kernels/<kernel>/kernel.json


class CourseAccessError(CoursehubError):
    """The student may not run a server for this course (the message says why)."""


@dataclass(frozen=True)
class CourseServer:
    course: str
    role: str
    workspace: Path
    jupyter_path: Path | None  # prepended to JUPYTER_PATH when the kernel exists
    kernel: str | None


def kernel_name(course: str) -> str:
    return f"coursehub-{course}"


def workspace_for(home: Path, course: str) -> Path:
    return home / "courses" / course


def resolve_course_server(
    store: object, layout: DataLayout, username: str, site_role: str, course: str, home: Path
) -> CourseServer:
    """Check `username` may run a server for `course` and say where and how.

    Site admins may open any course; everyone else must be enrolled (as student,
    TA or instructor). `store` is a CourseStore.
    """
    info = store.get(course)  # type: ignore[attr-defined]
    if info is None:
        raise CourseAccessError(f"there is no course called {course!r}")
    role = store.role_of(course, username)  # type: ignore[attr-defined]
    if role is None:
        if site_role != "admin":
            raise CourseAccessError(
                f"you are not enrolled in {course!r}; ask the course's instructor to add you"
            )
        role = "instructor"
    jupyter = layout.course_dir(course) / KERNELS_SUBDIR
    kernel = kernel_name(course)
    has_kernel = (jupyter / "kernels" / kernel / "kernel.json").is_file()
    return CourseServer(
        course=course,
        role=role,
        workspace=workspace_for(home, course),
        jupyter_path=jupyter if has_kernel else None,
        kernel=kernel if has_kernel else None,
    )

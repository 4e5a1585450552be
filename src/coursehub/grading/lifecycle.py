"""An assignment's life: create (the format makes the student version), release
(publish it, copy it into workspaces), collect (read a student's folder as them)."""

from __future__ import annotations

import io
import json
import os
import secrets
import shutil
import tarfile
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path

import nbformat

from coursehub.courses.paths import PathRejected, check_relative_path
from coursehub.courses.workspace import Student, collect_folder, release_folder
from coursehub.db.models import Assignment
from coursehub.grading import nbgrader_format, otter_format
from coursehub.grading.errors import AssignmentError, FormatNotFound
from coursehub.grading.paths import check_name, check_title, ensure_private
from coursehub.grading.store import MAX_BYTES, MAX_FILES, GradingStore

FORMATS = ("nbgrader", "otter")


def workspace_folder(name: str) -> str:
    """Where an assignment sits in a student's course workspace."""
    return f"assignments/{name}"


def detect_format(source: Path) -> str:
    """nbgrader or otter, from the marks in the notebooks under `source`; errors name
    files relative to it (an upload's folder is the service's own business)."""
    notebooks = []
    for path in sorted(source.rglob("*.ipynb")):
        if ".ipynb_checkpoints" in path.parts:
            continue
        notebooks.append(read_notebook(path, str(path.relative_to(source))))
    if not notebooks:
        others = sorted(str(p.relative_to(source)) for p in source.rglob("*") if p.is_file())
        given = f" ({_some(others)})" if others else ""
        raise AssignmentError(
            f"none of the files{given} is a notebook (.ipynb): give the instructor's "
            "notebook, with any data files it reads"
        )
    if nbgrader_format.looks_like(notebooks):
        return "nbgrader"
    if otter_format.looks_like(notebooks):
        return "otter"
    names = _some(sorted(str(p.relative_to(source)) for p in source.rglob("*.ipynb")))
    raise FormatNotFound(
        f"the notebook {names} has no grading marks (no nbgrader cells, no otter-grader "
        "questions): mark the graded cells with nbgrader's Create Assignment toolbar, or "
        "write the notebook in otter-grader's format (raw cells '# BEGIN QUESTION')"
    )


def _some(names: list[str]) -> str:
    shown = ", ".join(names[:3])
    return shown + (f" and {len(names) - 3} more" if len(names) > 3 else "")


def read_notebook(path: Path, shown: str) -> nbformat.NotebookNode:
    """A notebook file, or an error in words naming it as `shown`."""
    fix = "save it again from Jupyter and give that file"
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError:
        raise AssignmentError(
            f"the file {shown} is not a notebook: it is not text; {fix}"
        ) from None
    try:
        json.loads(text)
    except json.JSONDecodeError as exc:
        raise AssignmentError(
            f"the file {shown} is not a readable notebook: its JSON is broken at line "
            f"{exc.lineno}, column {exc.colno} ({exc.msg.lower()}); it may have been cut "
            f"short or edited by hand: {fix}"
        ) from None
    try:
        return nbformat.reads(text, as_version=4)
    except Exception as exc:  # noqa: BLE001 - any unreadable file is the author's to fix
        why = str(exc).splitlines()[0][:160] if str(exc) else type(exc).__name__
        raise AssignmentError(
            f"the file {shown} is not a readable notebook ({why}): {fix}"
        ) from None


def create(
    store: GradingStore,
    course: str,
    name: str,
    source: Path,
    fmt: str | None = None,
    title: str = "",
    due_at: datetime | None = None,
    origin: str = "course",
) -> Assignment:
    """Make (or remake) an assignment from an instructor's folder or notebook."""
    check_name(name)
    title = check_title(title)
    source = Path(source)
    if source.is_file():
        if source.suffix != ".ipynb":
            raise AssignmentError(f"{source} is not a notebook (.ipynb) or a folder")
        staged = store.paths.private(course) / "incoming" / name
        shutil.rmtree(staged, ignore_errors=True)
        staged.mkdir(parents=True)
        shutil.copy(source, staged / source.name)
        source = staged
    if not source.is_dir():
        raise AssignmentError(f"{source} does not exist")
    fmt = fmt or detect_format(source)
    if fmt not in FORMATS:
        raise AssignmentError(f"unknown format {fmt!r}: expected one of {', '.join(FORMATS)}")
    ensure_private(store.paths.private(course))
    # A failed remake leaves the assignment as it was: what the formats keep is set
    # aside first and put back on failure.
    kept = _set_aside(_made_by_formats(store, course, name))
    try:
        if fmt == "nbgrader":
            root = ensure_private(store.paths.nbgrader_root(course))
            questions = nbgrader_format.generate(source, root, name)
        else:
            root = store.paths.otter_root(course, name)
            work = store.paths.work(f"author-{course}-{name}-{secrets.token_hex(4)}")
            questions, tests, _notebook = otter_format.generate(source, root, work)
            (root / "tests.json").write_text(json.dumps(tests))
            _warn_empty_otter_tests(tests)
        if not questions:
            raise AssignmentError(f"{name} has no graded questions (no points anywhere)")
    except BaseException:
        _put_back(kept)
        raise
    for aside in kept.values():
        shutil.rmtree(aside, ignore_errors=True)
    version = store.paths.student_version(course, name, fmt)
    files = sorted(str(p.relative_to(version)) for p in version.rglob("*") if p.is_file())
    return store.save_assignment(
        course, name, fmt, [asdict(q) for q in questions], files, title, due_at, origin
    )


def _made_by_formats(store: GradingStore, course: str, name: str) -> list[Path]:
    root = store.paths.nbgrader_root(course)
    return [root / "source" / name, root / "release" / name, store.paths.otter_root(course, name)]


def _set_aside(paths: list[Path]) -> dict[Path, Path]:
    """Move each existing path to a hidden sibling; {path: where it went}."""
    moved = {}
    for path in paths:
        if path.exists():
            aside = path.with_name(f".{path.name}.previous-{secrets.token_hex(4)}")
            path.rename(aside)
            moved[path] = aside
    return moved


def _put_back(moved: dict[Path, Path]) -> None:
    for path, aside in moved.items():
        shutil.rmtree(path, ignore_errors=True)
        aside.rename(path)


def _warn_empty_otter_tests(tests: dict) -> None:
    for name, spec in tests.items():
        for case in spec.get("suites", [{}])[0].get("cases", []):
            body = case.get("code", "")
            if body.strip().startswith(">>>") and "\n" not in body.strip():
                raise AssignmentError(
                    f"otter test of {name} has no expected output ({body.strip()!r}): run the "
                    "notebook before creating the assignment (otter takes the expected "
                    "results from the test cells' outputs)"
                )


def publish(store: GradingStore, assignment: Assignment) -> Path:
    """Put the student version where enrolled students can read it; mark it released."""
    version = store.paths.student_version(assignment.course, assignment.name, assignment.format)
    target = store.paths.released(assignment.course, assignment.name)
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(version, target)
    for folder in (target.parent.parent, target.parent, target):
        os.chmod(folder, 0o755)
    for path in target.rglob("*"):
        os.chmod(path, 0o755 if path.is_dir() else 0o644)
    if assignment.released_at is None:
        store.update_assignment(assignment.id, released_at=datetime.now(UTC), taken_back_at=None)
    return target


def unpublish(store: GradingStore, assignment: Assignment) -> None:
    """Un-release: students no longer see it, get it or submit it. What they already got
    stays in their workspaces, and submissions and grades stay here; releasing again
    brings it all back."""
    shutil.rmtree(store.paths.released(assignment.course, assignment.name), ignore_errors=True)
    store.update_assignment(assignment.id, released_at=None, taken_back_at=datetime.now(UTC))


def fetch_into(
    store: GradingStore, assignment: Assignment, student: Student, workspace: Path
) -> dict:
    """Copy the released student version into the student's workspace (never over
    their own files)."""
    if assignment.released_at is None:
        raise AssignmentError(f"{assignment.name} has not been released yet")
    source = store.paths.released(assignment.course, assignment.name)
    return release_folder(student, workspace, source, workspace_folder(assignment.name))


def collect(assignment: Assignment, student: Student, workspace: Path) -> dict[str, bytes]:
    """The student's assignment folder, read as the student."""
    blob = collect_folder(
        student, workspace, workspace_folder(assignment.name), MAX_BYTES, MAX_FILES
    )
    return files_from_tar(blob)


def files_from_tar(blob: bytes) -> dict[str, bytes]:
    files: dict[str, bytes] = {}
    with tarfile.open(fileobj=io.BytesIO(blob), mode="r:") as tar:
        for member in tar:
            if not member.isreg():
                continue
            try:
                check_relative_path(member.name)
            except PathRejected:
                continue
            extracted = tar.extractfile(member)
            if extracted is not None:
                files[member.name] = extracted.read()
    return files


def remove(store: GradingStore, course: str, name: str) -> None:
    """Delete an assignment and everything kept for it: the row (its submissions and
    gradings go with it), sources and tests, feedback, the released copy, the files."""
    row = store.get(course, name)
    submissions = [s.id for s in store.submissions(row.id)]
    store.delete_assignment(course, name)
    paths = store.paths
    leftovers = [paths.feedback(course, sid) for sid in submissions]
    leftovers += [paths.otter_root(course, name), paths.private(course) / "incoming" / name]
    leftovers += [paths.nbgrader_root(course) / part / name for part in ("source", "release")]
    for path in leftovers:
        shutil.rmtree(path, ignore_errors=True)

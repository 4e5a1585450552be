"""Tables of contents as tracks: Jupyter Book 0.x ``_toc.yml`` and MyST's ``myst.yml``.

A book becomes one track. Its sections are the book's parts (``parts`` with a
``caption`` in ``_toc.yml``, top-level entries with ``children`` in ``myst.yml``),
or, in a book without them, its chapters that have sections of their own; pages at
the top go in a first section. Entries name files with or without their extension
(``intro`` is ``intro.ipynb``, ``.md`` or ``.py``, whichever exists); ``glob`` and
``pattern`` entries are kept as globs; ``url`` entries are skipped. Only the entries
that are notebooks are listed to students. The book may sit in a folder of the
repository (``book/_toc.yml``); paths are taken from where the file is.
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath
from typing import Any

from coursehub.courses.formats.found import Found
from coursehub.courses.formats.reading import (
    expect,
    read_yaml_any,
    read_yaml_mapping,
    repo_file,
)
from coursehub.courses.paths import PathRejected, check_relative_path
from coursehub.courses.repo_files import is_notebook

SUFFIXES = (".ipynb", ".md", ".py", ".myst", ".rst")
MAX_ENTRIES = 20_000
MAX_EXTENDS = 5
MAX_DEPTH = 20  # of sections in sections; real books nest two or three levels


def _candidates(repo: Path, names: tuple[str, ...]) -> list[str]:
    """`name` at the top, then in each top-level folder (a book kept in book/, docs/...)."""
    found = [n for n in names if repo_file(repo, n) is not None]
    if found:
        return found
    folders = sorted(p.name for p in repo.iterdir() if p.is_dir() and not p.name.startswith("."))
    return [f"{d}/{n}" for n in names for d in folders if repo_file(repo, f"{d}/{n}") is not None]


def toc_file(repo: Path) -> str | None:
    """The table of contents a course uses: myst.yml with a toc first, then _toc.yml."""
    for name in _candidates(repo, ("myst.yml",)):
        if _myst_project(repo, name).get("toc"):
            return name
    found = _candidates(repo, ("_toc.yml",))
    return found[0] if found else None


def read_toc(repo: Path, title: str) -> Found | None:
    name = toc_file(repo)
    if name is None:
        return None
    base = str(PurePosixPath(name).parent)
    book = _Book(repo, "" if base == "." else base, name)
    if PurePosixPath(name).name == "myst.yml":
        project = _myst_project(repo, name)
        sections = book.myst(project.get("toc"), str(project.get("title") or title))
        title = str(project.get("title") or title)
    else:
        config = str(PurePosixPath(name).with_name("_config.yml"))
        if repo_file(repo, config) is not None:
            title = str(read_yaml_mapping(repo, config).get("title") or title)
        sections = book.jupyter_book(read_yaml_any(repo, name), title)
    if not sections:
        return None
    track = {"name": "book", "title": title, "sections": sections}
    return Found(name, [track], book.notes)


def _myst_project(repo: Path, name: str) -> dict[str, Any]:
    """myst.yml's `project`, with the `extends:` files it names merged under it."""
    data = read_yaml_mapping(repo, name)
    found = data.get("project")
    project: dict[str, Any] = found if isinstance(found, dict) else {}
    base = PurePosixPath(name).parent
    extends = data.get("extends") or []
    for extra in (extends if isinstance(extends, list) else [extends])[:MAX_EXTENDS]:
        if not isinstance(extra, str) or "://" in extra:
            continue
        path = str(base / extra)
        if repo_file(repo, path) is None:
            continue
        more = read_yaml_mapping(repo, path).get("project")
        if isinstance(more, dict):
            project = {**more, **project}
    return project


class _Book:
    def __init__(self, repo: Path, base: str, file: str):
        self.repo = repo
        self.base = base
        self.file = file
        self.notes: list[str] = []
        self.count = 0

    # --- Jupyter Book 0.x ---------------------------------------------------------

    def jupyter_book(self, data: Any, title: str) -> list[dict[str, Any]]:
        if isinstance(data, list):  # the format before Jupyter Book 0.11
            return self._old_format(data, title)
        data = expect(data, dict, self.file, "", "a mapping (format, root, chapters...)")
        front = self._files([{"file": data["root"]}] if data.get("root") else [])
        sections: list[dict[str, Any]] = []
        parts = data.get("parts")
        if isinstance(parts, list):
            for i, part in enumerate(parts):
                if isinstance(part, dict):
                    caption = str(part.get("caption") or f"Part {i + 1}")
                    entries = part.get("chapters") or part.get("sections") or []
                    self._section(sections, caption, self._files(entries))
        else:
            entries = data.get("chapters") or data.get("sections") or []
            self._by_chapter(sections, entries, title, front)
            front = []
        if front:
            sections.insert(0, {"title": title, "notebooks": front})
        return sections

    def _old_format(self, items: list[Any], title: str) -> list[dict[str, Any]]:
        sections: list[dict[str, Any]] = []
        pending: list[str] = []
        current = title
        for item in items:
            if not isinstance(item, dict):
                continue
            header = item.get("part") or item.get("header")
            if header:
                self._section(sections, current, pending)
                current, pending = str(header), []
                pending += self._files(item.get("chapters") or [])
            else:
                pending += self._files([item])
        self._section(sections, current, pending)
        return sections

    def _by_chapter(
        self, sections: list[dict[str, Any]], entries: Any, title: str, front: list[str]
    ) -> None:
        entries = entries if isinstance(entries, list) else []
        nested = any(isinstance(e, dict) and e.get("sections") for e in entries)
        if not nested:
            self._section(sections, title, front + self._files(entries))
            return
        pending = list(front)
        for entry in entries:
            if isinstance(entry, dict) and entry.get("sections"):
                self._section(sections, title, pending)
                pending = []
                chapter = self._files([entry])
                heading = entry.get("title") or PurePosixPath(str(entry.get("file", ""))).name
                self._section(sections, str(heading or "Chapter"), chapter)
            else:
                pending += self._files([entry])
        self._section(sections, title, pending)

    # --- MyST (Jupyter Book 2) ------------------------------------------------------

    def myst(self, toc: Any, title: str) -> list[dict[str, Any]]:
        sections: list[dict[str, Any]] = []
        pending: list[str] = []
        for entry in toc if isinstance(toc, list) else []:
            if isinstance(entry, dict) and entry.get("children") and not entry.get("file"):
                self._section(sections, title, pending)
                pending = []
                heading = str(entry.get("title") or "Part")
                self._section(sections, heading, self._files(entry["children"]))
            else:
                pending += self._files([entry])
        self._section(sections, title, pending)
        return sections

    # --- entries -----------------------------------------------------------------------

    def _section(self, sections: list[dict[str, Any]], title: str, globs: list[str]) -> None:
        if globs:
            sections.append({"title": title, "notebooks": globs})

    def _files(self, entries: Any, depth: int = 0) -> list[str]:
        """Globs for the entries and everything nested under them, in order."""
        out: list[str] = []
        if depth > MAX_DEPTH:
            self.notes.append(f"{self.file}: entries nested deeper than {MAX_DEPTH} are left out")
            return out
        for entry in entries if isinstance(entries, list) else []:
            self.count += 1
            if self.count > MAX_ENTRIES or not isinstance(entry, dict):
                continue
            if entry.get("file"):
                found = self._file(str(entry["file"]))
                if found:
                    out.append(found)
            for key in ("glob", "pattern"):
                if entry.get(key):
                    pattern = self._path(str(entry[key]))
                    if pattern:
                        out.append(pattern)
            for key in ("sections", "children", "chapters"):
                out += self._files(entry.get(key), depth + 1)
        return list(dict.fromkeys(out))

    def _path(self, value: str) -> str | None:
        value = value.strip().removeprefix("./")
        path = f"{self.base}/{value}" if self.base else value
        try:
            return str(check_relative_path(path))
        except PathRejected as exc:
            self.notes.append(f"{self.file}: {value!r} is left out ({exc.reason})")
            return None

    def _file(self, value: str) -> str | None:
        path = self._path(value)
        if path is None:
            return None
        names = [path] if PurePosixPath(path).suffix in SUFFIXES else []
        names += [path + suffix for suffix in SUFFIXES]
        found = [n for n in names if repo_file(self.repo, n) is not None]
        if not found:
            self.notes.append(f"{self.file}: {value!r} is not in the repository")
            return None
        # a page that is no notebook (a plain README.md) is not listed to students
        return next((n for n in found if is_notebook(self.repo / n)), None)

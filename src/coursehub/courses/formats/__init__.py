"""Course repositories read as they are: the settings other systems keep in them.

A repository made for nbhosting, Binder or Jupyter Book works without a course.yaml:

- ``nbhosting``: ``.nbhosting/nbhosting.yaml`` → tracks and static mappings
- ``jupyterbook``: ``myst.yml`` (MyST, Jupyter Book 2) or ``_toc.yml`` (Jupyter Book 0.x)
  → one track following the table of contents
- ``binder``: ``binder/``, ``.binder/`` or the top → the environment file
- ``conda``: ``environment.yml`` → pip requirements
- ``reading``: bounded, link-safe reading of these files; ``found``: the shared result

course.yaml says more and wins, key by key (tracks, mappings, environment
requirements); ``derive`` reports which file each part came from, so staff see it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from coursehub.courses.formats.binder import read_binder
from coursehub.courses.formats.found import Found
from coursehub.courses.formats.jupyterbook import read_toc
from coursehub.courses.formats.nbhosting import read_nbhosting
from coursehub.courses.repo_files import visible_files


@dataclass
class RepoFormats:
    tracks: Found | None = None
    mappings: Found | None = None
    environment: Found | None = None
    # Other tables of contents found and not used for tracks (e.g. myst.yml beside
    # an nbhosting.yaml).
    unused: list[str] = field(default_factory=list)

    @property
    def notes(self) -> list[str]:
        parts = [self.tracks, self.mappings, self.environment]
        found = [n for p in parts if p is not None for n in p.notes]
        return list(dict.fromkeys(found + self.unused))


def derive(repo: Path, title: str) -> RepoFormats:
    """What the repository's own settings files say, in course.yaml's shape."""
    repo = Path(repo)
    if not repo.is_dir():
        return RepoFormats()
    tracks, mappings = read_nbhosting(repo, lambda: visible_files(repo))
    toc = read_toc(repo, title)
    unused = []
    if tracks is None:
        tracks = toc
    elif toc is not None:
        unused.append(f"{toc.source} is not used for tracks: {tracks.source} is")
    return RepoFormats(tracks, mappings, read_binder(repo), unused)

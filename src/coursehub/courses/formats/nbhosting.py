"""nbhosting's course settings: ``nbhosting/nbhosting.yaml`` or ``.nbhosting/nbhosting.yaml``.

What coursehub reads (as nbhosting does, in parmentelat/nbhosting's model_course.py and
model_track.py): ``tracks`` (each with ``name`` shown, ``id`` used in links, an optional
``description`` and ``sections`` of ``name`` + ``notebooks`` globs; a glob that finds
nothing is tried again with ``.*`` appended, so ``w1/intro`` finds ``w1/intro.md``),
``tracks-filter`` (the track ids to keep), and ``static-mappings`` (``source`` is the
name of the link made beside each notebook, ``destination`` the folder from the top of
the repository; by default ``data`` and ``media``). ``builds`` (static HTML built by a
script) are not run: coursehub runs no code from the repository.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from coursehub.courses.formats.found import Found, track_name
from coursehub.courses.formats.reading import (
    FormatError,
    expect,
    problem,
    read_yaml_mapping,
    repo_dir,
    repo_file,
)
from coursehub.courses.repo_files import glob_match

FILES = ("nbhosting/nbhosting.yaml", ".nbhosting/nbhosting.yaml")
DEFAULT_MAPPINGS = ("data", "media")


def settings_file(repo: Path) -> str | None:
    return next((name for name in FILES if repo_file(repo, name) is not None), None)


def read_nbhosting(
    repo: Path, list_files: Callable[[], list[str]]
) -> tuple[Found | None, Found | None]:
    """(tracks, mappings) from nbhosting.yaml, or (None, None) without one.

    `list_files` lists the checkout's visible files, for nbhosting's retry of a glob
    with '.*' (only called when there is an nbhosting.yaml: it walks the checkout)."""
    name = settings_file(repo)
    if name is None:
        return None, None
    files = list_files()
    data = read_yaml_mapping(repo, name)
    notes = []
    if all(repo_file(repo, f) is not None for f in FILES):
        notes.append(f"{FILES[1]} is not read: {FILES[0]} is used (nbhosting warns too)")
    if data.get("builds"):
        notes.append(f"{name}: builds are not run (coursehub runs no code from the repository)")
    tracks = _tracks(data, name, files)
    mappings = _mappings(repo, data, name)
    return (
        Found(name, tracks, notes) if tracks else None,
        Found(name, mappings) if mappings else None,
    )


def _tracks(data: dict[str, Any], file: str, files: list[str]) -> list[dict[str, Any]]:
    raw = expect(data.get("tracks") or [], list, file, "tracks", "a list of tracks")
    keep = expect(data.get("tracks-filter") or [], list, file, "tracks-filter", "a list of ids")
    taken: set[str] = set()
    tracks = []
    for i, track in enumerate(raw):
        key = f"tracks[{i}]"
        expect(track, dict, file, key, "a mapping with name, id and sections")
        # nbhosting's own defaults for a missing key are the key's name
        shown = str(track.get("name", "name"))
        track_id = str(track.get("id", "id"))
        if keep and track_id not in keep:
            continue
        sections = []
        raw_sections = track.get("sections") or []
        expect(raw_sections, list, file, f"{key}.sections", "a list of sections")
        for j, section in enumerate(raw_sections):
            where = f"{key}.sections[{j}]"
            expect(section, dict, file, where, "a mapping with name and notebooks")
            patterns = section.get("notebooks") or []
            if isinstance(patterns, str):
                patterns = [patterns]
            expect(patterns, list, file, f"{where}.notebooks", "a list of globs")
            globs = [_with_retry(str(p).strip().removeprefix("./"), files) for p in patterns]
            if globs:
                sections.append({"title": str(section.get("name", "name")), "notebooks": globs})
        if not sections:
            continue  # nbhosting drops empty tracks too
        tracks.append(
            {
                "name": track_name(track_id, taken),
                "title": shown,
                "description": str(track.get("description", "") or ""),
                "sections": sections,
            }
        )
    return tracks


def _with_retry(pattern: str, files: list[str]) -> str:
    if any(glob_match(pattern, f) for f in files):
        return pattern
    return f"{pattern}.*"


def _mappings(repo: Path, data: dict[str, Any], file: str) -> list[dict[str, str]]:
    raw = data.get("static-mappings")
    if not raw:
        pairs = [(name, name) for name in DEFAULT_MAPPINGS]
    else:
        expect(raw, list, file, "static-mappings", "a list of {source, destination}")
        pairs = []
        for i, item in enumerate(raw):
            key = f"static-mappings[{i}]"
            if isinstance(item, str) and "->" in item:  # the older one-line form
                left, _, right = item.partition("->")
                item = {"source": left.strip(), "destination": right.strip()}
            expect(item, dict, file, key, "a mapping with source and destination")
            if "source" not in item or "destination" not in item:
                raise FormatError([problem(file, "expected source and destination", key)])
            pairs.append((str(item["source"]).strip("/"), str(item["destination"]).strip("/")))
    # nbhosting: the link beside each notebook is named `source` and points at
    # `destination` from the top of the course; one whose folder is missing is left out.
    return [
        {"source": destination, "target": link}
        for link, destination in pairs
        if repo_dir(repo, destination) is not None or repo_file(repo, destination) is not None
    ]

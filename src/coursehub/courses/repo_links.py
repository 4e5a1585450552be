"""In-repository symbolic links, kept when they stay inside the course repository.

Course repositories link folders into each week (``w1/data -> ../data``) and helper
modules into exercise folders. git checks every link out as a plain file holding
the link's text (``core.symlinks=false``, see git.py), so that no link out of the
repository ever exists in a checkout, not even for an instant. Afterwards each link
is resolved by its text alone, through the repository's other links, and made a real
symbolic link only when it ends inside the repository and on no hidden name
(``.git``); one that leaves (absolute, ``..`` past the top, through another link)
stays the plain file git wrote, and is reported.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from coursehub.courses.paths import CONFIG_FOLDERS, PathRejected, safe_relative_path

MAX_HOPS = 40  # as the kernel's own limit on links followed in one path
MAX_LINK_BYTES = 4096
LINK_MODE = "120000"


@dataclass
class LinkReport:
    kept: list[str] = field(default_factory=list)
    refused: dict[str, str] = field(default_factory=dict)  # path -> why

    def summary(self) -> str:
        lines = []
        if self.kept:
            lines.append(f"coursehub: {len(self.kept)} link(s) inside the repository kept\n")
        for path, why in sorted(self.refused.items()):
            lines.append(f"coursehub: link {path} left as a plain file: {why}\n")
        return "".join(lines)


def tracked_links(ls_files: str) -> list[str]:
    """Paths recorded as symbolic links (mode 120000), from ``git ls-files -s -z``."""
    links = []
    for entry in ls_files.split("\0"):
        meta, _, path = entry.partition("\t")
        if meta.split(" ")[0] == LINK_MODE:
            links.append(path)
    return links


def resolve_link_text(link: str, targets: dict[str, str]) -> str:
    """Where `link` leads inside the repository, by the links' texts alone.

    Raises ValueError (with the reason) when it leaves the repository or loops."""
    parent = str(PurePosixPath(link).parent)
    pending = [*targets[link].split("/")]
    if targets[link].startswith("/"):
        raise ValueError("absolute link")
    resolved: list[str] = [] if parent == "." else parent.split("/")
    hops = 0
    while pending:
        part = pending.pop(0)
        if part in ("", "."):
            continue
        if part == "..":
            if not resolved:
                raise ValueError("leads outside the repository")
            resolved.pop()
            continue
        here = "/".join([*resolved, part])
        if here in targets:
            hops += 1
            if hops > MAX_HOPS:
                raise ValueError("too many links in a row (a loop?)")
            if targets[here].startswith("/"):
                raise ValueError(f"goes through {here}, an absolute link")
            pending = targets[here].split("/") + pending
            continue
        resolved.append(part)
    if any(p.startswith(".") for p in resolved):
        raise ValueError("leads to a hidden file")
    return "/".join(resolved)


def restore_links(repo: Path, paths: list[str]) -> LinkReport:
    """Turn the plain files git wrote for the links `paths` back into links, where safe."""
    report = LinkReport()
    targets: dict[str, str] = {}
    for path in paths:
        text = _link_text(repo, path)
        if text is None:
            continue
        targets[path] = text
    for path, text in targets.items():
        try:
            if "\0" in text or not text.strip():
                raise ValueError("empty or not a path")
            resolve_link_text(path, targets)
            safe_relative_path(repo, path, CONFIG_FOLDERS)  # the link's own place
        except (ValueError, PathRejected) as exc:
            report.refused[path] = getattr(exc, "reason", None) or str(exc)
            continue
        _make_link(repo / path, text)
        report.kept.append(path)
    # Belt and braces: every kept link must also resolve inside on the real file system.
    for path in list(report.kept):
        try:
            safe_relative_path(repo, path, CONFIG_FOLDERS)
        except PathRejected as exc:
            _make_plain(repo / path, targets[path])
            report.kept.remove(path)
            report.refused[path] = exc.reason
    return report


def _link_text(repo: Path, path: str) -> str | None:
    full = repo / path
    try:
        fd = os.open(full, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        # already a link (made by an earlier run): read its text
        try:
            return os.readlink(full)
        except OSError:
            return None
    with os.fdopen(fd, "rb") as f:
        data = f.read(MAX_LINK_BYTES + 1)
    if len(data) > MAX_LINK_BYTES:
        return None
    return data.decode("utf-8", "surrogateescape")


def _make_link(full: Path, text: str) -> None:
    if full.is_symlink() and os.readlink(full) == text:
        return
    temp = full.with_name(f".{full.name}.link-{secrets.token_hex(6)}")
    os.symlink(text, temp)
    os.replace(temp, full)  # atomic: readers see the plain file or the link


def _make_plain(full: Path, text: str) -> None:
    temp = full.with_name(f".{full.name}.file-{secrets.token_hex(6)}")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
    with os.fdopen(fd, "w", encoding="utf-8", errors="surrogateescape") as f:
        f.write(text)
    os.replace(temp, full)


def links_beside(repo: Path, notebook: str) -> list[tuple[Path, str]]:
    """In-repository links in the notebook's folder: (real target, name) to recreate
    beside the student's copy, pointing into the read-only checkout."""
    folder = PurePosixPath(notebook).parent
    base = repo / folder
    if not base.is_dir() or base.is_symlink():
        return []
    found = []
    for entry in sorted(os.scandir(base), key=lambda e: e.name):
        if entry.name.startswith(".") or not entry.is_symlink():
            continue
        relative = entry.name if str(folder) == "." else f"{folder}/{entry.name}"
        try:
            found.append((safe_relative_path(repo, relative), entry.name))
        except PathRejected:
            continue
    return found

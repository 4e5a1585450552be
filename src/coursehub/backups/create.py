"""`coursehub backup DEST`: a consistent online backup of a site, with a manifest.

A backup is a directory DEST/<timestamp>/ (mode 0700) holding

    db/         coursehub.sqlite and jupyterhub.sqlite (SQLite's backup API), or
                postgresql.dump (pg_dump) when the site uses PostgreSQL
    data/       the data directory, minus databases, runtime pid/port files and logs
    config/     coursehub.yaml and the roster file
    homes/      student homes (workspaces) of the local backend
    manifest.json, manifest.sha256

It is written to DEST/<timestamp>.partial and renamed when complete, so a backup
cut short never looks like one. Files are copied, never hard-linked, keeping mode,
owner and mtime; the manifest records each file's size, sha256, mode and owner (by
number and by name, since numbers may differ on another machine).
"""

from __future__ import annotations

import grp
import hashlib
import json
import os
import pwd
import re
import shutil
import sqlite3
import stat
import subprocess
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO

from coursehub.config.layout import DataLayout
from coursehub.config.loader import LoadedConfig
from coursehub.config.machine import effective_config
from coursehub.core.errors import CoursehubError
from coursehub.core.safe_dirs import DIR_FLAGS, closing_fd

FORMAT_VERSION = 1
MANIFEST = "manifest.json"
MANIFEST_SUM = "manifest.sha256"
PARTIAL = ".partial"
STAMP_RE = re.compile(r"^\d{8}T\d{6}Z(-\d+)?$")
BLOCK = 1 << 20
# Parts of a home that are caches or live only while a server runs.
HOME_SKIP = {".cache", ".local/share/jupyter/runtime"}
FILE_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC


class BackupError(CoursehubError):
    """A backup could not be taken or restored (the message says why)."""


class BackupInvalid(BackupError):
    """A backup is incomplete or was changed after it was taken; nothing was restored."""

    exit_code = 2

    def __init__(self, path: str, reason: str):
        self.path = path
        self.reason = reason
        super().__init__(
            f"backup refused: {path}: {reason}; nothing was restored "
            "(use another backup, or take a new one)"
        )


@dataclass(frozen=True)
class BackupSources:
    """What a site keeps where; built from its configuration by `from_config`."""

    data_dir: Path
    config_file: Path | None = None
    roster_file: Path | None = None
    database_url: str | None = None  # None: the SQLite files in the data directory
    home_root: Path | None = None  # local backend: homes named <prefix><user> below it
    user_prefix: str = ""
    with_logs: bool = False

    @classmethod
    def from_config(cls, loaded: LoadedConfig, with_logs: bool = False) -> BackupSources:
        config = effective_config(loaded.config)
        local = config.spawn.backend == "local"
        return cls(
            data_dir=Path(config.site.data_dir),
            config_file=loaded.path,
            roster_file=config.roster.file,
            database_url=config.database.url,
            home_root=config.spawn.local.home_root if local else None,
            user_prefix=config.spawn.local.user_prefix,
            with_logs=with_logs,
        )


@dataclass
class _Writer:
    """Copies into a backup directory and records every entry for the manifest."""

    root: Path
    entries: list[dict] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    _dirs: list[tuple[Path, os.stat_result]] = field(default_factory=list)

    def tree(self, source: Path, rel: str, skip: set[Path], skip_names: set[str]) -> None:
        """Copy `source` to `rel` without following symlinks; `skip` are absolute
        paths left out, `skip_names` relative paths (from `source`) left out.

        Homes are their students' to change while root copies them: any name may be
        swapped for a link at any moment. So each folder is listed through a
        descriptor that is checked to be the folder seen when its parent was listed,
        and each file is opened relative to it without following a link; a file's
        content, mode and owner all come from that one descriptor. Whatever changed
        kind meanwhile is left out, as a file removed meanwhile is."""
        try:
            st = os.lstat(source)
        except FileNotFoundError:
            return
        if not stat.S_ISDIR(st.st_mode):
            with closing_fd(os.open(source.parent, DIR_FLAGS)) as parent:
                self._one(parent, source.name, rel, st)
            return
        self._dir(rel, st)
        stack = [(source, rel, "", st)]
        while stack:
            path, here, inner, seen = stack.pop()
            fd = _open_seen_folder(path, seen)
            if fd is None:
                continue
            folders = []
            with closing_fd(fd):
                for name in sorted(os.listdir(fd)):
                    child_inner = f"{inner}/{name}" if inner else name
                    if path / name in skip or child_inner in skip_names:
                        continue
                    try:
                        child = os.stat(name, dir_fd=fd, follow_symlinks=False)
                    except FileNotFoundError:
                        continue
                    if stat.S_ISDIR(child.st_mode):
                        self._dir(f"{here}/{name}", child)
                        folders.append((path / name, f"{here}/{name}", child_inner, child))
                    else:
                        self._one(fd, name, f"{here}/{name}", child)
            stack.extend(reversed(folders))

    def _dir(self, rel: str, st: os.stat_result) -> None:
        target = self.root / rel
        target.mkdir(mode=0o700)
        self._dirs.append((target, st))
        self._record(rel, "dir", st)

    def _one(self, dir_fd: int, name: str, rel: str, st: os.stat_result) -> None:
        """Copy the link or file `name` of the folder `dir_fd` (listed as `st`)."""
        target = self.root / rel
        mode = st.st_mode
        if stat.S_ISLNK(mode):
            try:
                link = os.readlink(name, dir_fd=dir_fd)
            except OSError:
                return  # removed, or no longer a link
            os.symlink(link, target)
            _set_owner(target, st, follow=False)
            self._record(rel, "symlink", st, target=link, sha256=_sha(link.encode()))
        elif stat.S_ISREG(mode):
            try:
                fd = os.open(name, FILE_FLAGS, dir_fd=dir_fd)
            except OSError:
                return  # removed, or swapped for a link, a FIFO, a folder
            with os.fdopen(fd, "rb") as src:
                st = os.fstat(fd)
                if not stat.S_ISREG(st.st_mode):
                    return
                size, digest = _copy_open(src, target)
            _apply_meta(target, st)
            self._record(rel, "file", st, size=size, sha256=digest)
        else:
            self.skipped.append(rel)  # sockets, FIFOs, devices

    def add_file(self, target: Path, rel: str, like: os.stat_result | None) -> None:
        """Record a file already written at `target` (a database copy)."""
        if like is not None:
            _apply_meta(target, like)
        st = os.lstat(target)
        size, digest = _hash_file(target)
        self._record(rel, "file", like or st, size=size, sha256=digest)

    def _record(self, rel: str, kind: str, st: os.stat_result, **extra: object) -> None:
        self.entries.append(
            {
                "path": rel,
                "type": kind,
                "mode": stat.S_IMODE(st.st_mode),
                "uid": st.st_uid,
                "gid": st.st_gid,
                "user": _user_name(st.st_uid),
                "group": _group_name(st.st_gid),
                "mtime": st.st_mtime,
                **extra,
            }
        )

    def finish_dirs(self) -> None:
        # Deepest first, so a read-only directory is closed after its contents.
        for target, st in reversed(self._dirs):
            _apply_meta(target, st)


def take_backup(sources: BackupSources, dest: Path, version: str = "") -> Path:
    """Back up the site described by `sources` into a new directory below `dest`."""
    if not sources.data_dir.is_dir():
        raise BackupError(f"data directory {sources.data_dir} does not exist")
    dest = dest.absolute()
    dest.mkdir(parents=True, exist_ok=True)
    stamp = _new_stamp(dest)
    work = dest / (stamp + PARTIAL)
    work.mkdir(mode=0o700)
    os.chmod(work, 0o700)
    try:
        writer = _Writer(work)
        (work / "db").mkdir(mode=0o700)
        # Databases first, files after: every file a database row names (a submission,
        # a course checkout) was there before the row was copied, so it is in the backup.
        kind = _backup_databases(sources, work / "db", writer)
        _backup_data(sources, dest, writer)
        config_files = _backup_config(sources, writer)
        homes = _backup_homes(sources, dest, writer)
        writer.finish_dirs()
        manifest = {
            "format": FORMAT_VERSION,
            "coursehub_version": version or _version(),
            "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "source": {
                "data_dir": str(sources.data_dir),
                "config_file": str(sources.config_file) if sources.config_file else None,
                "home_root": str(sources.home_root) if sources.home_root else None,
                "user_prefix": sources.user_prefix,
            },
            "database": kind,
            "config": config_files,
            "homes": homes,
            "skipped": writer.skipped,
            "entries": writer.entries,
        }
        text = json.dumps(manifest, indent=1, sort_keys=True).encode()
        _write_private(work / MANIFEST, text)
        _write_private(work / MANIFEST_SUM, (_sha(text) + "  " + MANIFEST + "\n").encode())
        final = dest / stamp
        os.rename(work, final)
        os.chmod(final, 0o700)
        return final
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise


def list_backups(dest: Path) -> list[Path]:
    """Complete backups in `dest`, oldest first; partial ones are ignored."""
    if not dest.is_dir():
        return []
    found = [
        p
        for p in dest.iterdir()
        if STAMP_RE.match(p.name) and p.is_dir() and (p / MANIFEST_SUM).is_file()
    ]
    return sorted(found, key=lambda p: _stamp_key(p.name))


def prune_backups(dest: Path, keep: int, partial_age: float = 86400) -> list[Path]:
    """Remove all but the `keep` newest complete backups, and partial ones older than
    `partial_age` seconds (left by a crash); returns what was removed."""
    removed = list_backups(dest)[:-keep] if keep > 0 else []
    now = time.time()
    for p in dest.iterdir() if dest.is_dir() else []:
        if p.name.endswith(PARTIAL) and now - p.lstat().st_mtime > partial_age:
            removed.append(p)
    for p in removed:
        shutil.rmtree(p, ignore_errors=True)
    return removed


def backup_time(path: Path) -> datetime:
    """When the backup at `path` was taken (from its name)."""
    return datetime.strptime(path.name[:16], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)


def sha256_file(path: Path) -> str:
    return _hash_file(path)[1]


# --- the parts --------------------------------------------------------------------


def _backup_databases(sources: BackupSources, out: Path, writer: _Writer) -> dict:
    if sources.database_url and sources.database_url.startswith("postgresql"):
        target = out / "postgresql.dump"
        _pg_dump(sources.database_url, target)
        writer.add_file(target, "db/postgresql.dump", None)
        return {"kind": "postgresql", "dump": "db/postgresql.dump"}
    layout = DataLayout(sources.data_dir)
    url = sources.database_url or f"sqlite:///{layout.coursehub_db_file}"
    files = {"coursehub": Path(url.removeprefix("sqlite:///")), "jupyterhub": layout.hub_db_file}
    done = {}
    for name, source in files.items():
        if not source.is_file():
            continue
        target = out / f"{name}.sqlite"
        _sqlite_backup(source, target)
        writer.add_file(target, f"db/{name}.sqlite", os.stat(source))
        done[name] = f"db/{name}.sqlite"
    return {"kind": "sqlite", "files": done}


def _sqlite_backup(source: Path, target: Path) -> None:
    """A consistent copy while other processes write (SQLite's online backup API)."""
    src = sqlite3.connect(source, timeout=30)
    dst = sqlite3.connect(target)
    try:
        src.backup(dst)
        # One self-contained file: the restored site switches back to WAL itself.
        dst.execute("PRAGMA journal_mode=DELETE")
    except sqlite3.Error as exc:
        raise BackupError(f"could not back up the database {source}: {exc}") from exc
    finally:
        dst.close()
        src.close()


def _pg_dump(url: str, target: Path) -> None:
    exe = shutil.which("pg_dump")
    if exe is None:
        raise BackupError(
            "the site uses PostgreSQL and pg_dump is not installed; install the "
            "PostgreSQL client (Debian: apt install postgresql-client) and try again"
        )
    plain = re.sub(r"^postgresql\+\w+://", "postgresql://", url)
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    os.close(fd)
    done = subprocess.run(
        [exe, "--format=custom", "--no-owner", f"--file={target}", f"--dbname={plain}"],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        raise BackupError(f"pg_dump failed: {done.stderr.strip()[-500:]}")


def _backup_data(sources: BackupSources, dest: Path, writer: _Writer) -> None:
    layout = DataLayout(sources.data_dir)
    db = layout.coursehub_db_file
    skip = {dest, writer.root}
    for base in (db, layout.hub_db_file):
        skip |= {Path(f"{base}{suffix}") for suffix in ("", "-wal", "-shm", "-journal")}
    if not sources.with_logs:
        skip.add(layout.logs)
    skip |= {layout.ports_file, layout.root / "grading-work"}
    if layout.runtime.is_dir():
        skip |= {p for p in layout.runtime.iterdir() if p.suffix == ".pid"}
    writer.tree(sources.data_dir, "data", skip, set())


def _backup_config(sources: BackupSources, writer: _Writer) -> dict:
    done: dict[str, str | None] = {"config_file": None, "roster": None}
    (writer.root / "config").mkdir(mode=0o700)
    for key, path in (("config_file", sources.config_file), ("roster", sources.roster_file)):
        if path is not None and path.is_file():
            rel = f"config/{key}-{path.name}"
            writer.tree(path, rel, set(), set())
            done[key] = rel
    return done


def _backup_homes(sources: BackupSources, dest: Path, writer: _Writer) -> list[str]:
    root = sources.home_root
    if root is None or not sources.user_prefix or not root.is_dir():
        return []
    homes = sorted(
        p.name for p in root.iterdir() if p.name.startswith(sources.user_prefix) and p.is_dir()
    )
    if homes:
        (writer.root / "homes").mkdir(mode=0o700)
    for name in homes:
        writer.tree(root / name, f"homes/{name}", {dest, writer.root}, HOME_SKIP)
    return homes


# --- small helpers ------------------------------------------------------------------


def _copy_file(source: Path, target: Path) -> tuple[int, str]:
    """Copy and hash in one pass, so the manifest describes exactly the copy."""
    fd = os.open(source, FILE_FLAGS)
    with os.fdopen(fd, "rb") as src:
        if not stat.S_ISREG(os.fstat(src.fileno()).st_mode):
            raise FileNotFoundError(source)
        return _copy_open(src, target)


def _copy_open(src: BinaryIO, target: Path) -> tuple[int, str]:
    out = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    digest = hashlib.sha256()
    size = 0
    with os.fdopen(out, "wb") as dst:
        for block in iter(lambda: src.read(BLOCK), b""):
            digest.update(block)
            dst.write(block)
            size += len(block)
    return size, digest.hexdigest()


def _open_seen_folder(path: Path, seen: os.stat_result) -> int | None:
    """A descriptor of the folder at `path` if it is still the one listed as `seen`
    (a link anywhere on the way leads to another folder, or fails), else None."""
    try:
        fd = os.open(path, DIR_FLAGS)
    except OSError:
        return None
    st = os.fstat(fd)
    if (st.st_dev, st.st_ino) != (seen.st_dev, seen.st_ino):
        os.close(fd)
        return None
    return fd


def _hash_file(path: Path) -> tuple[int, str]:
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(BLOCK), b""):
            digest.update(block)
            size += len(block)
    return size, digest.hexdigest()


def _apply_meta(target: Path, st: os.stat_result) -> None:
    _set_owner(target, st, follow=True)
    os.chmod(target, stat.S_IMODE(st.st_mode))
    os.utime(target, ns=(st.st_atime_ns, st.st_mtime_ns))


def _set_owner(target: Path, st: os.stat_result, follow: bool) -> None:
    if os.geteuid() == 0:
        os.chown(target, st.st_uid, st.st_gid, follow_symlinks=follow)


def _write_private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _user_name(uid: int) -> str | None:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return None


def _group_name(gid: int) -> str | None:
    try:
        return grp.getgrgid(gid).gr_name
    except KeyError:
        return None


def _new_stamp(dest: Path) -> str:
    base = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    stamp, n = base, 0
    while (dest / stamp).exists() or (dest / (stamp + PARTIAL)).exists():
        n += 1
        stamp = f"{base}-{n}"
    return stamp


def _stamp_key(name: str) -> tuple[str, int]:
    base, _, n = name.partition("-")
    return base, int(n or 0)


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("coursehub")
    except PackageNotFoundError:
        return "unknown"

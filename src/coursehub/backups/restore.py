"""`coursehub restore SRC --data-dir NEW`: check a backup completely, then restore it.

Nothing is written until every checksum, the manifest's own checksum and the set of
files agree, and until the targets are known to be empty: a truncated or tampered
backup, or a restore over a live site, changes nothing.
"""

from __future__ import annotations

import contextlib
import grp
import json
import os
import pwd
import re
import shutil
import stat
import subprocess
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath

import yaml

from coursehub.backups.create import (
    BLOCK,
    FORMAT_VERSION,
    MANIFEST,
    MANIFEST_SUM,
    PARTIAL,
    BackupError,
    BackupInvalid,
    _copy_file,
    _sha,
    sha256_file,
)
from coursehub.config.layout import DataLayout
from coursehub.core import safe_dirs

TOP = ("db", "data", "config", "homes")


@dataclass
class RestoreResult:
    data_dir: Path
    config_file: Path
    files: int = 0
    notes: list[str] = field(default_factory=list)


def verify_backup(src: Path) -> dict:
    """The manifest of the backup at `src`, once every file in it checks out.

    Raises BackupInvalid naming the first bad file: manifest first, then each entry in
    manifest order, then any file the manifest does not list."""
    if src.name.endswith(PARTIAL):
        raise BackupInvalid(src.name, "an unfinished backup (it was cut short)")
    if not src.is_dir():
        raise BackupInvalid(str(src), "no backup directory here")
    for name in (MANIFEST, MANIFEST_SUM):
        if not (src / name).is_file():
            raise BackupInvalid(name, "missing: not a complete backup")
    recorded = (src / MANIFEST_SUM).read_text(errors="replace").split()
    if not recorded or recorded[0] != sha256_file(src / MANIFEST):
        raise BackupInvalid(MANIFEST, "does not match manifest.sha256 (edited or damaged)")
    try:
        manifest = json.loads((src / MANIFEST).read_text())
        entries = manifest["entries"]
        version = int(manifest["format"])
    except (ValueError, KeyError, TypeError) as exc:
        raise BackupInvalid(MANIFEST, f"unreadable ({exc})") from None
    if version > FORMAT_VERSION:
        raise BackupError(
            f"{src} was made by a newer coursehub (backup format {version}); "
            "restore it with that version"
        )
    known = set()
    for entry in entries:
        rel = _safe_rel(entry.get("path"))
        known.add(rel)
        problem = _check_entry(src / rel, entry)
        if problem:
            raise BackupInvalid(rel, problem)
    for dirpath, dirnames, filenames in os.walk(src):
        for name in sorted(dirnames) + sorted(filenames):
            rel = (Path(dirpath) / name).relative_to(src).as_posix()
            if rel in known or rel in (MANIFEST, MANIFEST_SUM) or rel in TOP:
                continue
            raise BackupInvalid(rel, "not in the manifest (added after the backup)")
    return manifest


def restore_backup(
    src: Path,
    data_dir: Path,
    config_out: Path | None = None,
    home_root: Path | None = None,
    database_url: str | None = None,
) -> RestoreResult:
    """Restore the backup at `src` into the new, empty `data_dir`.

    Student homes go to `home_root` (default: where they were); a PostgreSQL site is
    restored into `database_url` (default: the original URL), which must be empty."""
    src = src.absolute()
    manifest = verify_backup(src)
    data_dir = data_dir.absolute()
    config_out = (config_out or data_dir.parent / "coursehub.yaml").absolute()
    source = manifest.get("source", {})
    if home_root is None and source.get("home_root"):
        home_root = Path(source["home_root"])
    db = manifest.get("database", {})
    original = _original_config(src, manifest)
    if db.get("kind") == "postgresql":
        database_url = database_url or (original.get("database") or {}).get("url")
        if not database_url:
            raise BackupError("the backup holds a PostgreSQL dump: pass --database-url")
    plan = _Plan(src, data_dir, home_root, manifest)
    _refuse_existing(plan, config_out, manifest)
    if database_url:
        _refuse_nonempty_database(database_url)

    result = RestoreResult(data_dir=data_dir, config_file=config_out)
    plan.run(result)
    if db.get("kind") == "postgresql":
        _pg_restore(src / db["dump"], database_url or "")
    _write_config(plan, original, config_out, database_url, home_root, result)
    return result


class _Plan:
    """Where each backup entry goes, and writing it there with its owner and mode."""

    def __init__(self, src: Path, data_dir: Path, home_root: Path | None, manifest: dict):
        self.src = src
        self.layout = DataLayout(data_dir)
        self.home_root = home_root
        self.entries = manifest["entries"]
        self._missing: dict[str, int] = {}

    def target(self, rel: str) -> Path | None:
        parts = PurePosixPath(rel).parts
        if parts[0] == "data":
            return self.layout.root.joinpath(*parts[1:])
        if parts[0] == "homes" and self.home_root is not None:
            return self.home_root.joinpath(*parts[1:])
        if rel == "db/coursehub.sqlite":
            return self.layout.coursehub_db_file
        if rel == "db/jupyterhub.sqlite":
            return self.layout.hub_db_file
        return None  # config files and a PostgreSQL dump are handled apart

    def place(self, target: Path) -> tuple[Path, list[str]]:
        """The folder only root can change that `target` lies below (the data
        directory, the home root), and the names from there down to `target`."""
        for anchor in (self.layout.root, self.home_root):
            if anchor is not None and (target == anchor or anchor in target.parents):
                return anchor, safe_dirs.parts_below(anchor, target)
        return target.parent, [target.name]

    def run(self, result: RestoreResult) -> None:
        """Write every entry. Homes already in the home root are their students' to
        change while root writes into them, so every entry is reached by descriptors
        from the data directory or the home root, never through a link, and gets its
        owner and mode on its own descriptor."""
        if self.layout.root.parent != self.layout.root:
            self.layout.root.parent.mkdir(parents=True, exist_ok=True)
        if self.home_root is not None and not self.home_root.exists():
            self.home_root.mkdir(parents=True, mode=0o711)
            os.chmod(self.home_root, 0o711)
        dirs = []
        order = sorted(self.entries, key=lambda e: e["path"].startswith("db/"))
        for entry in order:
            rel = entry["path"]
            target = self.target(rel)
            if target is None:
                continue
            anchor, parts = self.place(target)
            if not parts:  # the data directory or the home root itself
                _make_dir(target)
                dirs.append((target, entry))
                continue
            with safe_dirs.closing_fd(_open_folder(anchor, parts[:-1], target)) as parent:
                self._write(parent, parts[-1], target, entry, result)
            if entry["type"] == "dir":
                dirs.append((target, entry))
        for target, entry in reversed(dirs):
            with safe_dirs.closing_fd(_open_folder(*self.place(target), target)) as fd:
                self._meta_fd(fd, entry)
        if os.geteuid() != 0:
            result.notes.append("not running as root: every file is owned by this account")
        for name, uid in sorted(self._missing.items()):
            result.notes.append(
                f"account {name} does not exist here: its files keep uid {uid} "
                "(create the account, then chown its home)"
            )

    def _write(
        self, parent: int, name: str, target: Path, entry: dict, result: RestoreResult
    ) -> None:
        """Entry `name` in the folder `parent`: a folder (kept if there), a link or a file."""
        kind = entry["type"]
        if kind == "dir":
            try:
                os.close(safe_dirs.make_dir_at(parent, name, 0o700, shown=str(target)))
            except safe_dirs.UnsafePathError:
                raise BackupError(f"{target} exists and is not a directory") from None
        elif kind == "symlink":
            os.symlink(entry["target"], name, dir_fd=parent)
            if os.geteuid() == 0:
                os.chown(name, *self._owner(entry), dir_fd=parent, follow_symlinks=False)
        else:
            flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
            fd = os.open(name, flags, 0o600, dir_fd=parent)
            with os.fdopen(fd, "wb") as out, open(self.src / entry["path"], "rb") as src:
                shutil.copyfileobj(src, out, BLOCK)
                out.flush()
                self._meta_fd(out.fileno(), entry)
            result.files += 1

    def _meta(self, target: Path, entry: dict) -> None:
        fd = os.open(target, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        with safe_dirs.closing_fd(fd):
            self._meta_fd(fd, entry)

    def _meta_fd(self, fd: int, entry: dict) -> None:
        if os.geteuid() == 0:
            os.fchown(fd, *self._owner(entry))
        os.fchmod(fd, entry["mode"])
        os.utime(fd, (entry["mtime"], entry["mtime"]))

    def _owner(self, entry: dict) -> tuple[int, int]:
        uid, gid = entry["uid"], entry["gid"]
        if entry.get("user"):
            try:
                uid = pwd.getpwnam(entry["user"]).pw_uid
            except KeyError:
                self._missing[entry["user"]] = uid
        if entry.get("group"):
            with contextlib.suppress(KeyError):
                gid = grp.getgrnam(entry["group"]).gr_gid
        return uid, gid


def _open_folder(anchor: Path, parts: list[str], target: Path) -> int:
    try:
        return safe_dirs.open_below(anchor, parts)
    except safe_dirs.UnsafePathError:
        raise BackupError(
            f"a folder on the way to {target} is a symbolic link or is not a directory; "
            "nothing more was restored"
        ) from None


def _refuse_existing(plan: _Plan, config_out: Path, manifest: dict) -> None:
    root = plan.layout.root
    if root.exists() and (not root.is_dir() or any(root.iterdir())):
        raise BackupError(f"{root} is not empty; restore only into a new or empty directory")
    if config_out.exists():
        raise BackupError(f"{config_out} already exists; choose another --config-out")
    roster = (manifest.get("config") or {}).get("roster")
    if roster and (config_out.parent / _config_name(roster)).exists():
        raise BackupError(
            f"{config_out.parent / _config_name(roster)} already exists; "
            "choose another --config-out folder"
        )
    for entry in plan.entries:
        if entry["path"].startswith("homes/") and entry["type"] != "dir":
            target = plan.target(entry["path"])
            if target is not None and os.path.lexists(target):
                raise BackupError(
                    f"{target} already exists; restore student homes into an empty "
                    "home root (--home-root)"
                )


def _refuse_nonempty_database(url: str) -> None:
    from sqlalchemy import create_engine, inspect

    engine = create_engine(url)
    try:
        tables = inspect(engine).get_table_names()
    except Exception as exc:  # noqa: BLE001 - any driver error means we cannot go on
        raise BackupError(f"cannot reach the database to restore into: {exc}") from None
    finally:
        engine.dispose()
    if tables:
        raise BackupError(
            "the database to restore into already has tables; create an empty database "
            "and pass its URL with --database-url"
        )


def _pg_restore(dump: Path, url: str) -> None:
    exe = shutil.which("pg_restore")
    if exe is None:
        raise BackupError(
            "pg_restore is not installed; install the PostgreSQL client "
            "(Debian: apt install postgresql-client) and run restore again"
        )
    plain = re.sub(r"^postgresql\+\w+://", "postgresql://", url)
    done = subprocess.run(
        [exe, "--no-owner", "--exit-on-error", f"--dbname={plain}", str(dump)],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        raise BackupError(f"pg_restore failed: {done.stderr.strip()[-500:]}")


def _original_config(src: Path, manifest: dict) -> dict:
    rel = (manifest.get("config") or {}).get("config_file")
    if not rel:
        return {}
    try:
        loaded = yaml.safe_load((src / rel).read_text())
    except yaml.YAMLError as exc:
        raise BackupError(f"the backed-up coursehub.yaml is not valid YAML: {exc}") from None
    return loaded if isinstance(loaded, dict) else {}


def _write_config(
    plan: _Plan,
    original: dict,
    config_out: Path,
    database_url: str | None,
    home_root: Path | None,
    result: RestoreResult,
) -> None:
    config = dict(original)
    config["site"] = {**(config.get("site") or {}), "data_dir": str(plan.layout.root)}
    database = dict(config.get("database") or {})
    if database_url:
        database["url"] = database_url
    elif database.get("url"):
        # One SQLite file held both databases; it is now in the new data directory.
        database["url"] = f"sqlite:///{plan.layout.coursehub_db_file}"
    config["database"] = database
    if home_root is not None:
        spawn = dict(config.get("spawn") or {})
        spawn["local"] = {**(spawn.get("local") or {}), "home_root": str(home_root)}
        config["spawn"] = spawn
    roster = next((e for e in plan.entries if e["path"].startswith("config/roster-")), None)
    if roster is not None:
        target = config_out.parent / _config_name(roster["path"])
        config_out.parent.mkdir(parents=True, exist_ok=True)
        _copy_file(plan.src / roster["path"], target)
        plan._meta(target, roster)
        config["roster"] = {**(config.get("roster") or {}), "file": str(target)}
    header = (
        f"# Restored by `coursehub restore` from {plan.src} on "
        f"{datetime.now(UTC).isoformat(timespec='seconds')}.\n"
        "# The original file's comments are not kept; see coursehub config show --help-all.\n"
    )
    config_out.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(config_out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(header + yaml.safe_dump(config, sort_keys=False))


def _config_name(rel: str) -> str:
    return PurePosixPath(rel).name.split("-", 1)[1]


def _make_dir(target: Path) -> None:
    """Create `target`, or accept an existing real directory (never a symlink)."""
    try:
        target.mkdir(mode=0o700)
    except FileExistsError:
        if not stat.S_ISDIR(os.lstat(target).st_mode):
            raise BackupError(f"{target} exists and is not a directory") from None


def _safe_rel(rel: object) -> str:
    if not isinstance(rel, str) or not rel:
        raise BackupInvalid(MANIFEST, "an entry has no path")
    path = PurePosixPath(rel)
    if path.is_absolute() or ".." in path.parts or path.parts[0] not in TOP or "\\" in rel:
        raise BackupInvalid(rel, "unsafe path in the manifest")
    return path.as_posix()


def _check_entry(path: Path, entry: dict) -> str | None:
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return "missing from the backup"
    kind = entry.get("type")
    if kind == "dir":
        return None if stat.S_ISDIR(st.st_mode) else "should be a directory"
    if kind == "symlink":
        if not stat.S_ISLNK(st.st_mode):
            return "should be a symbolic link"
        if _sha(os.readlink(path).encode()) != entry.get("sha256"):
            return "link target differs from the manifest (changed)"
        return None
    if kind != "file" or not stat.S_ISREG(st.st_mode):
        return "should be a regular file"
    if st.st_size != entry.get("size"):
        return (
            f"size {st.st_size} differs from the manifest's {entry.get('size')} (truncated "
            "or changed)"
        )
    if sha256_file(path) != entry.get("sha256"):
        return "checksum differs from the manifest (changed or damaged)"
    return None

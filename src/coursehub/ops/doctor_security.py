"""`coursehub doctor`'s security report: the settings and file modes that decide what a
student can reach (docs/security.md explains each)."""

from __future__ import annotations

import ipaddress
import stat
from pathlib import Path
from urllib.parse import urlsplit

from coursehub.config.layout import DataLayout
from coursehub.config.models import CoursehubConfig
from coursehub.config.translate.jupyterhub import (
    coursehub_database_url,
    hub_database_url,
    public_url,
)
from coursehub.db.session import sqlite_file
from coursehub.ops.doctor import Check

SQLITE_SIDE_FILES = ("", "-wal", "-shm", "-journal")


def security_checks(config: CoursehubConfig, layout: DataLayout) -> list[Check]:
    return [
        https_check(config),
        database_files_check(config, layout),
        database_backend_check(config),
        logs_check(layout),
        anchor_folders_check(config, layout),
        link_protection_check(),
    ]


def _loopback(host: str) -> bool:
    if host in ("localhost", "") or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def https_check(config: CoursehubConfig) -> Check:
    """Passwords, cookies and LTI launches need HTTPS once anyone but this machine
    connects."""
    url = urlsplit(public_url(config))
    if url.scheme == "https":
        return Check("https", "ok", f"students reach the hub at {url.geturl()}")
    if _loopback(url.hostname or "") and _loopback(config.site.bind_address):
        return Check("https", "info", "plain HTTP on this machine only (loopback)")
    return Check(
        "https",
        "warn",
        f"students reach the hub over plain HTTP ({url.geturl()}): passwords and session "
        "cookies travel in clear",
        "put HTTPS in front (docs/admin.md) and set site.public_url to its https:// address",
    )


def database_files_check(config: CoursehubConfig, layout: DataLayout) -> Check:
    """The SQLite files hold password hashes, grades and share tokens; students know
    where the data directory is."""
    files: list[Path] = []
    for url in {coursehub_database_url(config, layout), hub_database_url(config, layout)}:
        path = sqlite_file(url)
        if path is not None:
            files.extend(Path(f"{path}{suffix}") for suffix in SQLITE_SIDE_FILES)
    present = [p for p in files if p.exists()]
    if not files:
        return Check("database files", "ok", "PostgreSQL: no database file in the data directory")
    loose = [p for p in present if p.lstat().st_mode & (stat.S_IRWXG | stat.S_IRWXO)]
    if loose:
        names = " ".join(str(p) for p in loose)
        return Check(
            "database files",
            "fail",
            f"readable by other accounts: {names}",
            f"chmod 600 {names} (coursehub up also does it at its next start)",
        )
    if not present:
        return Check("database files", "ok", "will be created mode 600 at the first start")
    return Check("database files", "ok", f"{len(present)} SQLite file(s), all mode 600")


def database_backend_check(config: CoursehubConfig) -> Check:
    if config.database.url and not config.database.url.startswith("sqlite"):
        return Check("database", "ok", "PostgreSQL (database.url)")
    return Check(
        "database",
        "info",
        "SQLite in the data directory: right for one machine and a class or two; "
        "for a whole department use PostgreSQL (database.url)",
    )


def logs_check(layout: DataLayout) -> Check:
    """Server logs carry students' paths and errors; the hub's carry user names."""
    if not layout.logs.exists():
        return Check("logs", "ok", f"{layout.logs} will be created private")
    open_to_others = [
        p
        for p in (layout.logs, *layout.logs.rglob("*"))
        if not p.is_symlink() and p.stat().st_mode & (stat.S_IROTH | stat.S_IWOTH)
    ]
    if open_to_others:
        first = ", ".join(str(p) for p in open_to_others[:3])
        return Check(
            "logs",
            "warn",
            f"{len(open_to_others)} log path(s) readable by other accounts: {first}",
            f"chmod -R o-rwx {layout.logs}",
        )
    return Check("logs", "ok", f"{layout.logs} is private")


def _unsafe_ancestor(folder: Path) -> str | None:
    """The first folder from `folder` up to / that is not root's or that others may
    write to: root walks below these folders by name."""
    for part in (folder, *folder.parents):
        try:
            info = part.stat()
        except FileNotFoundError:
            continue
        if info.st_uid != 0:
            return f"{part} is owned by uid {info.st_uid}, not root"
        if info.st_mode & (stat.S_IWGRP | stat.S_IWOTH) and not info.st_mode & stat.S_ISVTX:
            return f"{part} may be written by other accounts ({stat.filemode(info.st_mode)})"
    return None


def anchor_folders_check(config: CoursehubConfig, layout: DataLayout) -> Check:
    """Root reaches homes and the data directory by name from these folders and opens
    everything below them without following links: they must be root's alone."""
    folders = [layout.root]
    if config.spawn.backend == "local":
        folders.append(config.spawn.local.home_root)
    problems = [p for p in map(_unsafe_ancestor, folders) if p]
    if problems:
        return Check(
            "root's folders",
            "fail",
            "; ".join(problems),
            "make every folder above the data directory and the home root root's, "
            "not writable by group or others (chown root: and chmod go-w)",
        )
    names = " and ".join(str(f) for f in folders)
    return Check("root's folders", "ok", f"{names} and every folder above are root's alone")


def link_protection_check(proc_sys: Path = Path("/proc/sys/fs")) -> Check:
    """Linux's own refusals to follow students' links and hard links in shared
    folders: a second wall behind coursehub's own care."""
    wanted = ("protected_symlinks", "protected_hardlinks", "protected_regular")
    off = []
    for name in wanted:
        try:
            if (proc_sys / name).read_text().strip() in ("", "0"):
                off.append(name)
        except OSError:
            off.append(name)
    if off:
        settings = " ".join(f"fs.{n}=1" for n in off)
        return Check(
            "link protection",
            "warn",
            "the kernel follows other accounts' links in shared folders: " + ", ".join(off),
            f"sysctl -w {settings} (and put it in /etc/sysctl.d/)",
        )
    return Check("link protection", "ok", "the kernel's link protections are on")

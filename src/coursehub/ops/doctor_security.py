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

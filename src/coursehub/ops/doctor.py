"""`coursehub doctor`: check the machine and the configuration; every failure says its fix."""

from __future__ import annotations

import shutil
import stat
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console

from ..config.layout import DataLayout
from ..config.loader import load_config
from ..config.translate import coursehub_database_url
from ..errors import ConfigError, SetupError
from ..hub.limits import Cgroups, Limits, systemd_is_init
from ..runtime import effective_config, is_root
from .ports import port_is_free
from .proxy import find_proxy

MIN_FREE_BYTES = 2 * 1024**3


@dataclass(frozen=True)
class Check:
    name: str
    status: str  # ok, warn, fail
    detail: str
    fix: str = ""


def run_checks(config_path: Path) -> list[Check]:
    checks: list[Check] = []
    try:
        loaded = load_config(config_path)
    except ConfigError as exc:
        return [Check("configuration", "fail", str(exc), "fix the lines named above")]
    checks.append(Check("configuration", "ok", f"{loaded.path} is valid"))
    config = effective_config(loaded.config)
    layout = DataLayout(config.site.data_dir)

    if is_root():
        checks.append(Check("root", "ok", "running as root: one Unix account per student"))
    else:
        checks.append(
            Check(
                "root",
                "warn",
                "not root: demo mode, every server runs as this account",
                "run coursehub as root for real per-student isolation",
            )
        )
    if is_root() and config.spawn.backend == "local":
        checks.append(_student_python_check())
    checks.append(_proxy_check())
    checks.append(_port_check(config.site.port, config.site.bind_address, layout))
    checks.append(_database_check(coursehub_database_url(config, layout)))
    checks.append(_disk_check(layout.root))
    checks.extend(_permission_checks(layout))
    checks.append(_grading_dir_check(layout.root))
    limits = config.servers.limits
    checks.append(_limits_check(Limits(limits.memory, limits.cpu, limits.processes)))
    return checks


def _student_python_check() -> Check:
    """Servers run this Python as each student: it must not live under /root."""
    import subprocess
    import sys

    probe = subprocess.run(
        ["runuser", "-u", "nobody", "--", sys.executable, "-c", "import jupyterhub"],
        capture_output=True,
        timeout=60,
    )
    if probe.returncode == 0:
        return Check("server python", "ok", f"{sys.executable} runs for student accounts")
    return Check(
        "server python",
        "fail",
        f"student accounts cannot run {sys.executable} (it resolves to "
        f"{Path(sys.executable).resolve()})",
        "install coursehub in a virtual environment made with a system Python "
        "such as /usr/bin/python3 (./dev setup does this)",
    )


def _proxy_check() -> Check:
    try:
        path = find_proxy()
    except SetupError as exc:
        return Check("proxy", "fail", "configurable-http-proxy not found", str(exc))
    if shutil.which("node") is None:
        return Check("proxy", "fail", "node is not installed", "install Node.js 18 or newer")
    return Check("proxy", "ok", path)


def _port_check(port: int, host: str, layout: DataLayout) -> Check:
    if port_is_free(port, host):
        return Check("port", "ok", f"{host}:{port} is free")
    if layout.up_pid_file.exists():
        return Check("port", "ok", f"{host}:{port} is in use by this coursehub (running)")
    return Check(
        "port",
        "fail",
        f"{host}:{port} is in use by another program",
        "stop that program (see `ss -ltnp`) or change site.port",
    )


def _database_check(url: str) -> Check:
    from sqlalchemy import text

    from ..db.session import make_engine

    shown = url.split("@")[-1] if "@" in url else url
    if url.startswith("sqlite") and not Path(url.removeprefix("sqlite:///")).exists():
        return Check("database", "ok", f"{shown} will be created by `coursehub up`")
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as exc:  # noqa: BLE001 - any driver error means unreachable
        return Check(
            "database",
            "fail",
            f"{shown}: {exc.__class__.__name__}",
            "check database.url, that the server runs and accepts this user",
        )
    finally:
        engine.dispose()
    return Check("database", "ok", f"{shown} reachable")


def _disk_check(root: Path) -> Check:
    probe = root if root.exists() else root.parent
    while not probe.exists():
        probe = probe.parent
    free = shutil.disk_usage(probe).free
    gib = free / 1024**3
    if free < MIN_FREE_BYTES:
        return Check(
            "disk", "fail", f"{gib:.1f} GiB free at {probe}", "free space or move site.data_dir"
        )
    return Check("disk", "ok", f"{gib:.1f} GiB free at {probe}")


def _permission_checks(layout: DataLayout) -> list[Check]:
    if not layout.root.exists():
        return [Check("data dir", "ok", f"{layout.root} will be created (mode 711)")]
    checks = []
    mode = layout.root.stat().st_mode
    # 0711: others may traverse to the course files below, but not list or write.
    if mode & (stat.S_IRGRP | stat.S_IWGRP | stat.S_IROTH | stat.S_IWOTH):
        checks.append(
            Check(
                "data dir",
                "fail",
                f"{layout.root} is open to other accounts ({stat.filemode(mode)})",
                f"chmod 711 {layout.root}",
            )
        )
    else:
        checks.append(Check("data dir", "ok", f"{layout.root} is private"))
    if layout.secrets.exists():
        loose = [
            p.name
            for p in layout.secrets.iterdir()
            if p.stat().st_mode & (stat.S_IRWXG | stat.S_IRWXO)
        ]
        if loose:
            checks.append(
                Check(
                    "secrets",
                    "fail",
                    "readable by others: " + ", ".join(loose),
                    f"chmod 600 {layout.secrets}/*",
                )
            )
        else:
            checks.append(Check("secrets", "ok", "all secret files are mode 600"))
    return checks


def _grading_dir_check(root: Path) -> Check:
    from ..grading.sandbox import hidden_in_sandbox

    private = hidden_in_sandbox(root)
    if private is None:
        return Check("grading", "ok", f"grading work directories under {root}")
    return Check(
        "grading",
        "warn",
        f"{root} is under {private}, which every grading sandbox replaces with an empty one: "
        "autograding cannot run",
        f"set site.data_dir to a directory outside {private} (e.g. /srv/coursehub)",
    )


def _limits_check(limits: Limits) -> Check:
    if is_root() and systemd_is_init():
        return Check("limits", "ok", "memory, CPU and process limits enforced (systemd scopes)")
    enforced = Cgroups().enforced(limits)
    missing = [name for name, ok in enforced.items() if not ok and getattr(limits, name, None)]
    if not missing:
        how = "cgroups" if Cgroups().controllers() else "rlimits"
        return Check("limits", "ok", f"memory, CPU and process limits enforced ({how})")
    return Check(
        "limits",
        "warn",
        "not enforced here: " + ", ".join(missing),
        "run as root on a machine with writable cgroups (or systemd) to enforce them",
    )


def print_report(checks: list[Check], console: Console) -> int:
    marks = {"ok": "[green]ok  [/]", "warn": "[yellow]warn[/]", "fail": "[red]FAIL[/]"}
    for c in checks:
        console.print(f"{marks[c.status]} {c.name}: ", end="")
        console.print(c.detail, markup=False)
        if c.fix and c.status != "ok":
            console.print("       fix: ", end="")
            console.print(c.fix, markup=False)
    failed = sum(c.status == "fail" for c in checks)
    console.print(f"{failed} problem(s) found" if failed else "[green]All checks passed[/green]")
    return 1 if failed else 0

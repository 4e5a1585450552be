"""Per-student limits: real cgroups where writable, systemd-run where systemd is init."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from coursehub.engines.limits import (
    Cgroups,
    Limits,
    apply_in_child,
    systemd_adopt_command,
    systemd_run_prefix,
)

LIMITS = Limits(memory=256 * 1024**2, cpu=0.5, processes=64, file_size=10 * 1024**2)


def test_systemd_scope_command_carries_every_limit_and_the_account() -> None:
    # systemd is not PID 1 on this machine: the command is checked, not run.
    cmd = systemd_run_prefix("ch-alice", LIMITS, uid=1234, gid=1234)
    assert cmd[:2] == ["systemd-run", "--scope"]
    assert "--unit=coursehub-ch-alice" in cmd
    assert "--uid=1234" in cmd and "--gid=1234" in cmd
    props = [cmd[i + 1] for i, part in enumerate(cmd) if part == "-p"]
    assert f"MemoryMax={256 * 1024**2}" in props
    assert "CPUQuota=50%" in props
    assert "TasksMax=64" in props
    assert cmd[-1] == "--"


def test_no_limits_means_no_properties() -> None:
    cmd = systemd_run_prefix("ch-bob", Limits(), uid=1, gid=1)
    assert "-p" not in cmd


@pytest.mark.skipif(os.geteuid() != 0, reason="writing cgroups needs root")
def test_real_cgroup_limits_a_process_memory() -> None:
    cgroups = Cgroups()
    if "memory" not in cgroups.controllers():
        pytest.skip("no writable memory cgroup controller here")
    unit = f"test-{os.getpid()}"
    procs = cgroups.prepare(unit, Limits(memory=64 * 1024**2, processes=32))
    try:
        # A child joins the cgroup before exec, then tries to allocate 200 MB.
        code = "b = bytearray(200 * 1024 * 1024); b[::4096] = b'x' * len(b[::4096])"
        result = subprocess.run(
            [sys.executable, "-c", code],
            preexec_fn=lambda: apply_in_child(procs, Limits(memory=64 * 1024**2), False),
            capture_output=True,
            timeout=60,
        )
        assert result.returncode != 0  # killed by the OOM killer or MemoryError
    finally:
        cgroups.remove(unit)
    assert not any(Path(p).parent.exists() for p in procs)


def test_file_size_rlimit_stops_a_large_write(tmp_path: Path) -> None:
    target = tmp_path / "big"
    code = f"open({str(target)!r}, 'wb').write(b'x' * (20 * 1024 * 1024))"
    result = subprocess.run(
        [sys.executable, "-c", code],
        preexec_fn=lambda: apply_in_child([], Limits(file_size=1024 * 1024), False),
        capture_output=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert target.stat().st_size <= 1024 * 1024


def test_a_forked_server_is_adopted_into_a_systemd_scope_with_every_limit() -> None:
    # systemd is not PID 1 on this machine: the D-Bus call is checked, not made.
    cmd = systemd_adopt_command("ch-alice", LIMITS, pid=4321)
    assert cmd[:8] == [
        "busctl",
        "call",
        "--quiet",
        "org.freedesktop.systemd1",
        "/org/freedesktop/systemd1",
        "org.freedesktop.systemd1.Manager",
        "StartTransientUnit",
        "ssa(sv)a(sa(sv))",
    ]
    assert cmd[8:10] == ["coursehub-ch-alice.scope", "fail"]
    props = cmd[11:-1]
    assert cmd[10] == "6"  # PIDs, memory, swap, CPU, tasks, collect mode
    text = " ".join(props)
    assert "PIDs au 1 4321" in text
    assert f"MemoryMax t {LIMITS.memory}" in text and "MemorySwapMax t 0" in text
    assert f"CPUQuotaPerSecUSec t {round(LIMITS.cpu * 1_000_000)}" in text
    assert f"TasksMax t {LIMITS.processes}" in text
    assert cmd[-1] == "0"  # no auxiliary units
    assert systemd_adopt_command("ch-bob", Limits(), pid=1)[10] == "2"  # PIDs, CollectMode

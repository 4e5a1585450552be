"""What the grading sandbox can use on this machine, for `coursehub doctor`.

The box itself (namespaces, pivot_root, its own /proc) is tried for real: a run of
``true`` as nobody in an empty work directory, as every grading run starts. Without
it no submission can be graded. The memory cgroup is optional: without one, memory
is bounded per process (RLIMIT_AS) and SysV shared memory and tmpfs by their own
sizes, but several processes of one run together can hold more than the limit.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass

from coursehub.engines.limits import Cgroups
from coursehub.grading.sandbox import SandboxLimits, box_command

NOBODY = 65534
PROBE_SECONDS = 30


@dataclass(frozen=True)
class SandboxSupport:
    box: bool  # PID, IPC, network, mount and UTS namespaces with a root of its own
    box_detail: str
    memory_cgroup: bool  # one memory cgroup per run bounds all its processes together
    memory_detail: str


def memory_cgroup_support(cgroups: Cgroups | None = None) -> tuple[bool, str]:
    """Whether each grading run gets a memory cgroup here, and why (not)."""
    cgroups = cgroups or Cgroups()
    if os.geteuid() != 0:
        return False, "not root: no cgroup can be made"
    if "memory" in cgroups.controllers():
        kind = "cgroup v2" if cgroups.v2 else "cgroup v1 memory controller"
        return True, f"one memory cgroup per run ({kind} under {cgroups.root})"
    if cgroups.v2:
        where = f"{cgroups.root}/cgroup.controllers has no writable memory controller"
    else:
        where = f"no cgroup v2 at {cgroups.root} and no writable {cgroups.root}/memory"
    return False, f"{where}: memory is bounded per process only"


def box_support() -> tuple[bool, str]:
    """Whether a grading sandbox can be built here: tried for real."""
    if os.geteuid() != 0:
        return False, "not root: the sandbox needs root (throwaway accounts, namespaces)"
    work = tempfile.mkdtemp(prefix="coursehub-sandbox-probe-", dir="/var/tmp")
    limits = SandboxLimits(cpu_seconds=5, processes=4, tmp_size=1024 * 1024)
    command = box_command(["/bin/true"], NOBODY, NOBODY, work, limits)
    try:
        done = subprocess.run(
            command, capture_output=True, text=True, timeout=PROBE_SECONDS, cwd="/"
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return False, f"the sandbox could not be tried: {exc}"
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if done.returncode != 0:
        why = done.stderr.strip()[-300:] or f"exit status {done.returncode}"
        return False, f"the sandbox cannot be built here: {why}"
    return True, "PID, IPC, network, mount and UTS namespaces; a read-only root of its own"


def sandbox_support() -> SandboxSupport:
    """What `coursehub doctor` reports about grading runs on this machine."""
    box, box_detail = box_support()
    memory, memory_detail = memory_cgroup_support()
    return SandboxSupport(box, box_detail, memory, memory_detail)

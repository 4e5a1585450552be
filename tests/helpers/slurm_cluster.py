"""A real one-node Slurm cluster on this machine, private to one test session.

Debian's slurmctld, slurmd and munge (installed by `./dev test`) run with their own
munge key and socket, their own slurm.conf, state and spool folders and free ports,
so nothing is shared with a Slurm the machine may already run. The node is this
machine at 127.0.0.1. It declares 16 CPUs per real core, so that many mostly idle
servers share the cores, as a teaching partition would let them (docs/slurm.md).
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

DAEMONS = ("/usr/sbin/munged", "/usr/sbin/slurmctld", "/usr/sbin/slurmd")
PARTITION = "teach"
OTHER_PARTITION = "lab"  # a second partition, for per-course options


class SlurmUnavailable(Exception):
    """Why no cluster can be started here (the tests skip with this reason)."""


def why_unavailable() -> str | None:
    if os.geteuid() != 0:
        return "starting slurmd and munged needs root"
    missing = [d for d in (*DAEMONS, "/usr/bin/sbatch") if not Path(d).exists()]
    if missing:
        return (
            f"Slurm is not installed ({', '.join(missing)} missing): "
            "apt-get install slurmctld slurmd munge slurm-client (./dev test does it)"
        )
    try:
        pwd.getpwnam("munge")
    except KeyError:
        return "the munge account is missing (reinstall Debian's munge package)"
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _memory_mib() -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) // 1024
    return 4096


@dataclass
class SlurmCluster:
    root: Path
    conf: Path
    munge_socket: Path
    node: str

    @property
    def env(self) -> dict[str, str]:
        return {"SLURM_CONF": str(self.conf)}

    def run(self, *argv: str, user: str | None = None, **kwargs) -> subprocess.CompletedProcess:
        """A Slurm command against this cluster, as root or as `user`."""
        prefix = ["runuser", "-u", user, "--", "env", f"SLURM_CONF={self.conf}"] if user else []
        return subprocess.run(
            [*prefix, *argv],
            env={**os.environ, **self.env},
            capture_output=True,
            text=True,
            timeout=30,
            **kwargs,
        )

    def jobs(self) -> list[dict[str, str]]:
        """Jobs the cluster knows of: id, name, user, state."""
        done = self.run("squeue", "--noheader", "--format=%i|%j|%u|%T")
        rows = []
        for line in done.stdout.splitlines():
            job_id, name, user, state = line.strip().split("|")
            rows.append({"id": job_id, "name": name, "user": user, "state": state})
        return rows

    def wait_idle(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            done = self.run("sinfo", "--noheader", "--format=%T", "--partition", PARTITION)
            if done.returncode == 0 and done.stdout.strip() in ("idle", "mixed", "allocated"):
                return
            time.sleep(0.2)
        log = (self.root / "slurmd.log").read_text(errors="replace")[-2000:]
        raise SlurmUnavailable(f"the node did not come up in {timeout} s; slurmd log: {log}")


def _write_conf(root: Path, node: str, munge_socket: Path) -> Path:
    cpus = os.cpu_count() or 1  # declared x16 (config_overrides): servers mostly idle
    memory = max(_memory_mib() * 2, 65536)  # not enforced (task/none): declared generously
    conf = root / "slurm.conf"
    conf.write_text(
        f"""# coursehub test cluster: one node, this machine
ClusterName=coursehubtest
SlurmctldHost={node}(127.0.0.1)
SlurmUser=root
SlurmdUser=root
SlurmctldPort={_free_port()}
SlurmdPort={_free_port()}
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket={munge_socket}
StateSaveLocation={root}/state
SlurmdSpoolDir={root}/spool
SlurmctldPidFile={root}/slurmctld.pid
SlurmdPidFile={root}/slurmd.pid
SlurmctldLogFile={root}/slurmctld.log
SlurmdLogFile={root}/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
SlurmdParameters=config_overrides
ReturnToService=2
MpiDefault=none
MailProg=/bin/true
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SchedulerType=sched/backfill
SchedulerParameters=sched_interval=1
KillWait=5
MinJobAge=30
PrivateData=jobs
NodeName={node} NodeAddr=127.0.0.1 CPUs={max(cpus * 16, 32)} RealMemory={memory} State=UNKNOWN
PartitionName={PARTITION} Nodes={node} Default=YES MaxTime=INFINITE State=UP
PartitionName={OTHER_PARTITION} Nodes={node} Default=NO MaxTime=INFINITE State=UP
"""
    )
    return conf


def start_cluster(root: Path) -> SlurmCluster:
    """munged, slurmctld and slurmd under `root`; raises SlurmUnavailable."""
    reason = why_unavailable()
    if reason:
        raise SlurmUnavailable(reason)
    root.mkdir(parents=True, exist_ok=True)
    root.chmod(0o755)  # students' sbatch reads slurm.conf and the munge socket
    munge_dir = root / "munge"
    munge_dir.mkdir(mode=0o755)
    munge_user = pwd.getpwnam("munge")
    os.chown(munge_dir, munge_user.pw_uid, munge_user.pw_gid)
    key = munge_dir / "munge.key"
    key.write_bytes(os.urandom(1024))
    os.chown(key, munge_user.pw_uid, munge_user.pw_gid)
    key.chmod(0o400)
    munge_socket = munge_dir / "munge.socket"
    subprocess.run(
        [
            "runuser", "-u", "munge", "--", "/usr/sbin/munged",
            f"--socket={munge_socket}", f"--key-file={key}",
            f"--pid-file={munge_dir}/munged.pid", f"--log-file={munge_dir}/munged.log",
            f"--seed-file={munge_dir}/munged.seed",
        ],
        check=True, capture_output=True, timeout=30,
    )  # fmt: skip
    for sub in ("state", "spool"):
        (root / sub).mkdir(mode=0o700)
    node = socket.gethostname().split(".")[0]
    conf = _write_conf(root, node, munge_socket)
    env = {**os.environ, "SLURM_CONF": str(conf)}
    for daemon in ("slurmctld", "slurmd"):
        done = subprocess.run(
            [f"/usr/sbin/{daemon}", "-f", str(conf)], env=env, capture_output=True, text=True
        )
        if done.returncode != 0:
            cluster = SlurmCluster(root, conf, munge_socket, node)
            stop_cluster(cluster)
            raise SlurmUnavailable(f"{daemon} did not start: {done.stderr.strip()}")
    cluster = SlurmCluster(root, conf, munge_socket, node)
    try:
        cluster.wait_idle()
    except SlurmUnavailable:
        stop_cluster(cluster)
        raise
    return cluster


def _kill_pidfile(path: Path, timeout: float = 10) -> None:
    try:
        pid = int(path.read_text().strip())
    except (OSError, ValueError):
        return
    try:
        os.kill(pid, 15)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.1)
    with suppress(ProcessLookupError):
        os.kill(pid, 9)


def stop_cluster(cluster: SlurmCluster) -> None:
    """Cancel every job, stop the daemons, remove the cluster's folder."""
    cluster.run("scancel", "--full", "--quiet", "--state=RUNNING")
    cluster.run("scancel", "--quiet", "--state=PENDING")
    root = cluster.root
    _kill_pidfile(root / "slurmd.pid")
    _kill_pidfile(root / "slurmctld.pid")
    _kill_pidfile(root / "munge" / "munged.pid")
    shutil.rmtree(root, ignore_errors=True)


@contextmanager
def one_node_cluster(root: Path) -> Iterator[SlurmCluster]:
    cluster = start_cluster(root)
    try:
        yield cluster
    finally:
        stop_cluster(cluster)

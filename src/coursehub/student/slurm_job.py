"""Runs inside a server's Slurm job, as the student: limits, a free port on this node,
the rendezvous file that tells the hub the port, then the server itself (exec).

    python -m coursehub.student.slurm_job --rendezvous FILE --ip 0.0.0.0 \
        -- python -m coursehub.student.singleuser
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import socket
import sys
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

EX_CONFIG = 78  # the job was started wrongly: nothing to retry


def free_port(ip: str) -> int:
    """A port nothing listens on at `ip` on this node (the server binds it next)."""
    family = socket.AF_INET6 if ":" in ip else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.bind((ip, 0))
        return sock.getsockname()[1]


def lower_limit(which: int, value: int) -> None:
    """Lower a limit's soft and hard values to `value` (never raise either)."""
    soft, hard = resource.getrlimit(which)
    new_hard = value if hard == resource.RLIM_INFINITY else min(value, hard)
    new_soft = new_hard if soft == resource.RLIM_INFINITY else min(soft, new_hard)
    resource.setrlimit(which, (new_soft, new_hard))


def write_rendezvous(path: Path, port: int) -> None:
    """{"port": N, "host": name, "job": id}, written whole (a rename) so the hub
    never reads half of it."""
    record = {
        "port": port,
        "host": socket.gethostname(),
        "job": os.environ.get("SLURM_JOB_ID", ""),
    }
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    with contextlib.suppress(FileNotFoundError):
        tmp.unlink()
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump(record, fh)
    os.replace(tmp, path)


def service_url(url: str, ip: str, port: int) -> str:
    """JUPYTERHUB_SERVICE_URL with this job's address and port."""
    parts = urlsplit(url)
    host = f"[{ip}]" if ":" in ip else ip
    return urlunsplit((parts.scheme or "http", f"{host}:{port}", parts.path, "", ""))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m coursehub.student.slurm_job")
    parser.add_argument("--rendezvous", type=Path, required=True)
    parser.add_argument("--ip", default="0.0.0.0")
    parser.add_argument("--processes", type=int, default=0)
    parser.add_argument("--file-size", type=int, default=0)
    parser.add_argument("server", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    server = args.server[1:] if args.server[:1] == ["--"] else args.server
    if not server:
        print("coursehub.student.slurm_job: no server command after --", file=sys.stderr)
        return EX_CONFIG
    if args.processes:
        lower_limit(resource.RLIMIT_NPROC, args.processes)
    if args.file_size:
        lower_limit(resource.RLIMIT_FSIZE, args.file_size)
    port = free_port(args.ip)
    os.environ["JUPYTERHUB_SERVICE_URL"] = service_url(
        os.environ.get("JUPYTERHUB_SERVICE_URL", ""), args.ip, port
    )
    # Kernels start inside this job: a kernel template on the hub's machine would put
    # them outside the job's allocation (and on another node's sockets).
    os.environ["COURSEHUB_KERNELS"] = "cold"
    write_rendezvous(args.rendezvous, port)
    print(f"coursehub: server of job {os.environ.get('SLURM_JOB_ID', '?')} on "
          f"{socket.gethostname()} port {port}", flush=True)  # fmt: skip
    os.execvp(server[0], server)
    return 0  # not reached


if __name__ == "__main__":
    sys.exit(main())

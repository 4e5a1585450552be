"""Where coursehub keeps things inside its data directory, and which ports it uses."""

from __future__ import annotations

import json
import sys
from dataclasses import asdict, dataclass
from pathlib import Path


@dataclass(frozen=True)
class Ports:
    """Loopback ports of the parts behind the public proxy port."""

    hub: int
    proxy_api: int
    service: int

    @classmethod
    def read(cls, path: Path) -> Ports | None:
        try:
            return cls(**json.loads(path.read_text()))
        except (FileNotFoundError, ValueError, TypeError):
            return None

    def write(self, path: Path) -> None:
        path.write_text(json.dumps(asdict(self)))


@dataclass(frozen=True)
class DataLayout:
    """Paths inside the data directory (nothing here touches the disk)."""

    root: Path

    @property
    def secrets(self) -> Path:
        return self.root / "secrets"

    @property
    def runtime(self) -> Path:
        return self.root / "runtime"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def server_logs(self) -> Path:
        return self.logs / "servers"

    @property
    def lab_settings(self) -> Path:
        # JupyterLab setting defaults for student servers (readable by them)
        return self.root / "lab-settings"

    @property
    def shares(self) -> Path:
        """Static HTML snapshots of shared notebooks (see courses/shares.py)."""
        return self.root / "shares"

    @property
    def slurm_jobs(self) -> Path:
        """Per-student folders for server jobs' logs and rendezvous files (slurm backend;
        on storage the compute nodes share)."""
        return self.root / "slurm-jobs"

    @property
    def demo_homes(self) -> Path:
        return self.root / "demo-homes"

    @property
    def hub_db_file(self) -> Path:
        return self.root / "jupyterhub.sqlite"

    @property
    def coursehub_db_file(self) -> Path:
        return self.root / "coursehub.sqlite"

    @property
    def hub_config_file(self) -> Path:
        return self.runtime / "jupyterhub_config.py"

    @property
    def server_template_socket(self) -> Path:
        return self.runtime / "server-template.sock"

    @property
    def ports_file(self) -> Path:
        return self.runtime / "ports.json"

    @property
    def hub_pid_file(self) -> Path:
        return self.runtime / "jupyterhub.pid"

    @property
    def proxy_pid_file(self) -> Path:
        return self.runtime / "proxy.pid"

    @property
    def up_pid_file(self) -> Path:
        return self.runtime / "coursehub-up.pid"

    def secret_file(self, name: str) -> Path:
        return self.secrets / name

    @property
    def courses(self) -> Path:
        """Course checkouts; 0755 so students' servers can read them."""
        return self.root / "courses"

    def course_dir(self, name: str) -> Path:
        # Names are validated by the course store; this only stops path tricks.
        if not name or "/" in name or name.startswith("."):
            raise ValueError(f"not a course name: {name!r}")
        return self.courses / name

    def course_repo(self, name: str) -> Path:
        return self.course_dir(name) / "repo"


def python_command() -> str:
    return sys.executable

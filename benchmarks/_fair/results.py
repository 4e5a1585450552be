"""Raw results: one JSON file per storm, written as soon as it ends.

``benchmarks/results/<benchmark>/<scenario>/<date>-<sha>-<target>-<rep>.json`` holds the
commit, the date, the machine, the settings the target ran with and every student's
result. A long matrix that stops half-way is resumed by running it again: a storm whose
file exists for the same commit, target, repetition and settings is not run again.
The docs are rendered from the files git has (``committed``), never from a local run.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import re
import subprocess
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
RESULTS = REPO / "benchmarks" / "results"
# what a result's commit means: the code that ran (a dirty tree is flagged, never hidden)
CODE_PATHS = ("src", "benchmarks", "pyproject.toml")
_SAFE = re.compile(r"[^A-Za-z0-9_.+-]+")


def _git(*args: str) -> str:
    done = subprocess.run(["git", "-C", str(REPO), *args], capture_output=True, text=True)
    return done.stdout.strip() if done.returncode == 0 else ""


def commit() -> dict[str, Any]:
    """The commit the code ran from, and whether src/ or benchmarks/ had changes on top."""
    sha = _git("rev-parse", "--short=10", "HEAD") or "unknown"
    status = _git("status", "--porcelain", "--untracked-files=no", "--", *CODE_PATHS)
    return {"sha": sha, "dirty": bool(status), "branch": _git("rev-parse", "--abbrev-ref", "HEAD")}


def _versions(dists: tuple[str, ...]) -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for dist in dists:
        try:
            out[dist] = version(dist)
        except PackageNotFoundError:
            out[dist] = None
    return out


def machine() -> dict[str, Any]:
    """What a reader needs to compare two results: cores, CPU, memory, OS, Python."""
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
        mem_kib = int(Path("/proc/meminfo").read_text().split()[1])
    except (OSError, ValueError, IndexError):
        mem_kib = 0
    os_name = ""
    try:
        for line in Path("/etc/os-release").read_text().splitlines():
            if line.startswith("PRETTY_NAME="):
                os_name = line.split("=", 1)[1].strip('"')
    except OSError:
        pass
    return {
        "cores": os.cpu_count(),
        "cpu": model,
        "memory_gib": round(mem_kib / 2**20, 1),
        "os": os_name,
        "kernel": platform.release(),
        "python": platform.python_version(),
        "packages": _versions(("coursehub", "jupyterhub", "jupyterlab", "jupyter_server",
                               "nbgitpuller", "ipykernel", "httpx", "websockets")),
    }  # fmt: skip


def settings_key(settings: Mapping[str, Any]) -> str:
    """A short stable digest of a target's settings: same digest, same measurement."""
    blob = json.dumps(settings, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:12]


def storm_path(
    benchmark: str, scenario: str, target: str, rep: int, sha: str, date: datetime | None = None
) -> Path:
    day = (date or datetime.now(UTC)).strftime("%Y%m%d")
    name = f"{day}-{sha}-{_SAFE.sub('_', target)}-{rep}.json"
    return RESULTS / benchmark / _SAFE.sub("_", scenario) / name


def find_done(
    benchmark: str, scenario: str, target: str, rep: int, sha: str, settings: Mapping[str, Any]
) -> Path | None:
    """A result of this storm already measured from the same commit with the same settings."""
    folder = RESULTS / benchmark / _SAFE.sub("_", scenario)
    if not folder.is_dir():
        return None
    key = settings_key(settings)
    for path in sorted(folder.glob(f"*-{sha}-{_SAFE.sub('_', target)}-{rep}.json")):
        try:
            doc = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        if doc.get("settings_key") == key and not doc.get("commit", {}).get("dirty"):
            return path
    return None


def write(path: Path, doc: Mapping[str, Any]) -> Path:
    """Write atomically; never overwrite another result (a suffix is added instead)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    final, n = path, 2
    while final.exists():
        final = path.with_name(f"{path.stem}.{n}{path.suffix}")
        n += 1
    tmp = final.with_suffix(".tmp")
    tmp.write_text(json.dumps(doc, indent=1, default=str) + "\n")
    tmp.replace(final)
    return final


def committed(benchmark: str) -> Iterator[tuple[Path, dict[str, Any]]]:
    """Every result of `benchmark` that git has (as committed at HEAD), oldest name first."""
    listed = _git("ls-tree", "-r", "--name-only", "HEAD", "--", f"benchmarks/results/{benchmark}")
    for rel in sorted(line for line in listed.splitlines() if line.endswith(".json")):
        blob = _git("show", f"HEAD:{rel}")
        if blob:
            yield REPO / rel, json.loads(blob)


MEASURED_PATHS = ("src", "pyproject.toml", "benchmarks/recordings")


def changed_since(sha: str) -> bool:
    """Whether the code being measured (src/, its dependencies, the recorded client)
    changed between `sha` and HEAD."""
    done = subprocess.run(
        ["git", "-C", str(REPO), "diff", "--quiet", sha, "HEAD", "--", *MEASURED_PATHS],
        capture_output=True,
    )
    return done.returncode != 0


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def json_load(path: Path) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(path.read_text())
    return loaded

"""The live class benchmark's site: one real `coursehub up` (hub, proxy, service) with a
course, N students and one instructor enrolled, hub tokens for all of them, and the
processes whose CPU the benchmark reads.

Built from the storm helpers: the course is ``course_repo.served_course`` (a git
repository served by ``git daemon``) and the site is ``targets.coursehub`` (fresh
``coursehub init``, roster import, ``up``; stopped and cleaned up however the block is
left). Only what the live class view needs is added before ``up``: the per-student
event rate limit switched off (``events: {rate: 0}``), the course, its enrolments and
the instructor. No student server is started: the simulated students post the
requests their servers' extension would post, with real hub tokens.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import psutil
from ruamel.yaml import YAML

from _storm import targets
from _storm.accounts import Credentials
from _storm.course_repo import LINKED, served_course
from _storm.procs import TargetError, run_checked

LABEL = "live-class"
COURSE = "live"
INSTRUCTOR = "liveteacher"
SERVICE_PREFIX = "/services/coursehub"
TOKEN_SECONDS = 3 * 3600  # outlives any run; the tokens die with the hub's database anyway


@dataclass(frozen=True)
class LiveSite:
    public_url: str  # through the proxy, as a browser sees the site
    events_url: str  # the service itself, where course servers post (COURSEHUB_EVENTS_URL)
    stream_url: str  # the instructor's event stream for the notebook, through the proxy
    course: str
    notebook: str  # path of the notebook in the course, e.g. notebooks/01-intro.ipynb
    students: list[str]
    tokens: dict[str, str]  # student -> hub token
    instructor_token: str
    pids: dict[str, int]  # "service", "hub", "proxy" -> pid
    notes: tuple[str, ...] = ()


def _rate_limit_off(config: Path) -> None:
    """events: {rate: 0} in coursehub.yaml, keeping the comments `init` wrote."""
    yaml = YAML()
    doc = yaml.load(config.read_text()) or {}
    doc.setdefault("events", {})["rate"] = 0
    with config.open("w") as f:
        yaml.dump(doc, f)


def _data_dir(config: Path) -> Path:
    doc = YAML(typ="safe").load(config.read_text()) or {}
    return Path(doc["site"]["data_dir"])


def _hub_api(data_dir: Path) -> tuple[str, dict[str, str]]:
    ports = json.loads((data_dir / "runtime" / "ports.json").read_text())
    cli_token = (data_dir / "secrets" / "cli_token").read_text().strip()
    return f"http://127.0.0.1:{ports['hub']}/hub/api", {"Authorization": f"token {cli_token}"}


def make_tokens(data_dir: Path, names: list[str]) -> dict[str, str]:
    """Create the hub users (as their first sign-in would) and a hub token for each,
    with the CLI's service token, as tests/helpers/hubproc.RunningHub.user_token does."""
    api, auth = _hub_api(data_dir)
    with httpx.Client(timeout=30, headers=auth) as hub:
        r = hub.post(f"{api}/users", json={"usernames": names})
        if r.status_code not in (201, 409):
            raise TargetError(f"creating hub users: {r.status_code} {r.text[:300]}")
        tokens = {}
        for name in names:
            r = hub.post(
                f"{api}/users/{name}/tokens",
                json={"note": "live-class benchmark", "expires_in": TOKEN_SECONDS},
            )
            if r.status_code != 201:
                raise TargetError(f"token for {name}: {r.status_code} {r.text[:300]}")
            tokens[name] = r.json()["token"]
    return tokens


def find_pids(data_dir: Path) -> dict[str, int]:
    """The hub (its pid file), the coursehub service (the hub's child running
    ``-m coursehub.service``) and the proxy (started by `up` beside the hub)."""
    hub_pid = int((data_dir / "runtime" / "jupyterhub.pid").read_text().strip())
    hub = psutil.Process(hub_pid)
    family = hub.children(recursive=True)
    parent = hub.parent()
    if parent is not None:
        family += [p for p in parent.children(recursive=True) if p.pid != hub_pid]
    pids = {"hub": hub_pid}
    for proc in family:
        try:
            cmd = " ".join(proc.cmdline())
        except psutil.Error:
            continue
        if "coursehub.service" in cmd:
            pids.setdefault("service", proc.pid)
        elif "configurable-http-proxy" in cmd:
            pids.setdefault("proxy", proc.pid)
    if "service" not in pids:
        raise TargetError("the coursehub service process (-m coursehub.service) was not found")
    return pids


@contextmanager
def live_site(n: int, keep_logs: Path | None = None) -> Iterator[LiveSite]:
    """The running site; everything it made is stopped and deleted when the block ends."""
    with served_course(LABEL) as course:
        seen: dict[str, Path] = {}

        def prepare(config: Path, students: list[Credentials]) -> None:
            seen["config"] = config
            _rate_limit_off(config)
            argv = targets.cli_argv
            run_checked(
                argv(config, "users", "add", INSTRUCTOR, "--role", "instructor",
                     "--password-stdin"),
                input=secrets.token_urlsafe(12) + "\n",
            )  # fmt: skip
            run_checked(argv(config, "course", "add", COURSE, "--repo", course.url,
                             "--branch", course.branch))  # fmt: skip
            names = [c.username for c in students]
            run_checked(argv(config, "course", "enrol", COURSE, *names, "--role", "student"))
            run_checked(argv(config, "course", "enrol", COURSE, INSTRUCTOR, "--role", "instructor"))

        with targets.coursehub(n, keep_logs, kind="lvc", label=LABEL, before_up=prepare) as hub:
            data_dir = _data_dir(seen["config"])
            names = [c.username for c in hub.students]
            tokens = make_tokens(data_dir, [*names, INSTRUCTOR])
            ports = json.loads((data_dir / "runtime" / "ports.json").read_text())
            service = f"http://127.0.0.1:{ports['service']}{SERVICE_PREFIX}"
            stream = f"{hub.base_url}{SERVICE_PREFIX}/course/{COURSE}/live/stream"
            yield LiveSite(
                public_url=hub.base_url,
                events_url=f"{service}/api/events",
                stream_url=f"{stream}?path={LINKED}",
                course=COURSE,
                notebook=LINKED,
                students=names,
                tokens={name: tokens[name] for name in names},
                instructor_token=tokens[INSTRUCTOR],
                pids=find_pids(data_dir),
                notes=hub.notes,
            )

"""Student course servers as real Slurm jobs, on a one-node cluster started here.

The cluster is Debian's slurmctld, slurmd and munge (tests/helpers/slurm_cluster.py),
private to this module. The same site first runs with the local backend; switching
is one key (spawn.backend: slurm), and the same users, courses and notebook links
keep working, now with each server a job running as the student.
"""

from __future__ import annotations

import json
import secrets
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from tests.helpers import hubproc
from tests.helpers.assignments import answer_nbgrader, nbgrader_source
from tests.helpers.browserless import login, start_server
from tests.helpers.gitrepo import EMPTY_NOTEBOOK
from tests.helpers.kernel import run_code
from tests.helpers.slurm_cluster import (
    OTHER_PARTITION,
    PARTITION,
    SlurmCluster,
    SlurmUnavailable,
    start_cluster,
    stop_cluster,
)

pytestmark = [pytest.mark.integration, pytest.mark.root]

USERS = {"alice": "alice-pass-123", "bob": "bob-pass-456", "tina": "tina-pass-789"}
SERVICE = "/services/coursehub"
LIMITS = "servers:\n  limits:\n    memory: 600M\n    cpu: 1.5\n"
GRADING = "grading:\n  run_on: slurm\n  slurm: {partition: lab}\n"
# the hub's own culler stops physics servers idle 15 s
IDLE = "timeout: 0\ncheck_every: 1s\ncourses:\n  physics: {timeout: 15s}\n"


def _wait(what: str, check: Callable[[], object], hub: hubproc.RunningHub, timeout: float = 60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if found := check():
            return found
        time.sleep(0.3)
    raise AssertionError(f"timed out waiting for {what}\n{hub.log_tail(80)}")


@pytest.fixture(scope="module")
def cluster() -> Iterator[SlurmCluster]:
    root = Path(f"/tmp/coursehub-slurm-{secrets.token_hex(4)}")
    try:
        found = start_cluster(root)
    except SlurmUnavailable as exc:
        pytest.skip(f"no Slurm cluster here: {exc}")
    try:
        yield found
    finally:
        stop_cluster(found)


def _slurm_yaml(cluster: SlurmCluster) -> str:
    return (
        f"backend: slurm\nslurm:\n  conf: {cluster.conf}\n  time: 2h\n"
        "  options: [--comment=coursehub-test]\n"
    )


def _courses_yaml() -> str:
    return f"courses:\n  settings:\n    physics:\n      slurm: {{partition: {OTHER_PARTITION}}}\n"


@pytest.fixture(scope="module")
def hub(
    cluster: SlurmCluster,
    tmp_path_factory: pytest.TempPathFactory,
    start_hub: Callable[..., hubproc.RunningHub],
    make_course_repo: Callable[..., Path],
) -> hubproc.RunningHub:
    """The site, run first with the local backend (the switching test), then Slurm."""
    sources = tmp_path_factory.mktemp("sources")
    repo = make_course_repo(
        {"notebooks/intro.ipynb": EMPTY_NOTEBOOK, "course.yaml": "title: Slurm course\n"}
    )
    source = str(nbgrader_source(sources / "ps1"))
    return start_hub(
        "slurm",
        outside_tmp=True,  # it grades
        users=USERS,
        roles={"tina": "instructor"},
        idle_yaml=IDLE,
        extra_yaml=LIMITS + GRADING + _courses_yaml(),
        courses={
            "algebra": hubproc.Course(repo, ("alice", "bob"), {"tina": "instructor"}),
            "physics": hubproc.Course(repo, ("alice",)),
        },
        then=[("assignment", "create", "algebra", "ps1", "--from", source)],
    )


def _switch_to_slurm(hub: hubproc.RunningHub, cluster: SlurmCluster) -> None:
    text = hub.config.read_text()
    if "backend: slurm" in text:
        return
    hubproc.interrupt(hub)
    # one key (plus where this test cluster's slurm.conf is)
    hub.config.write_text(text.replace("spawn:\n", "spawn:\n" + _indent(_slurm_yaml(cluster)), 1))
    hubproc.start(hub)


def _indent(text: str) -> str:
    return "".join(f"  {line}\n" for line in text.splitlines())


def _open_link(client: httpx.Client, link: str, user: str, course: str) -> httpx.Response:
    """Follow a notebook link like a browser, waiting on the hub's progress page."""
    response = client.get(link, follow_redirects=True)
    if "/lab/tree/" not in str(response.url):
        events = start_server(client, user, server=course)
        assert events[-1].get("ready"), events
        response = client.get(link, follow_redirects=True)
    assert response.status_code == 200, response.text[-600:]
    return response


def _job_of(cluster: SlurmCluster, hub: hubproc.RunningHub, user: str, course: str) -> dict | None:
    name = f"coursehub-{hub.unix_name(user)}-{course}"
    live = [j for j in cluster.jobs() if j["name"] == name and j["state"] == "RUNNING"]
    return live[0] if live else None


def _job_details(cluster: SlurmCluster, job_id: str) -> dict[str, str]:
    out = cluster.run("scontrol", "--oneliner", "show", "job", job_id).stdout
    return dict(word.split("=", 1) for word in out.split() if "=" in word)


def test_switching_backend_is_one_key_and_links_keep_working(
    hub: hubproc.RunningHub, cluster: SlurmCluster
) -> None:
    link = f"{hub.url}{SERVICE}/open/algebra/notebooks/intro.ipynb"
    client = login(hub.url, "alice", USERS["alice"])
    _open_link(client, link, "alice", "algebra")
    workspace = hub.home_root / hub.unix_name("alice") / "courses" / "algebra"
    notebook = workspace / "notebooks" / "intro.ipynb"
    assert notebook.exists()
    assert _job_of(cluster, hub, "alice", "algebra") is None  # local backend: no job
    # the student's own work in the notebook
    notebook.write_text(notebook.read_text().replace('"cells": []', '"cells": [], "mine": 1'))

    _switch_to_slurm(hub, cluster)
    # The server of the local backend was stopped with the hub's switch: the same link
    # now starts a Slurm job, and the student's copy is the one they changed.
    client = login(hub.url, "alice", USERS["alice"])
    response = _open_link(client, link, "alice", "algebra")
    assert str(response.url).endswith("/user/alice/algebra/lab/tree/notebooks/intro.ipynb")
    assert '"mine": 1' in notebook.read_text()
    job = _job_of(cluster, hub, "alice", "algebra")
    assert job is not None, cluster.jobs()
    assert job["user"] == hub.unix_name("alice")


def test_the_server_and_its_kernel_run_inside_the_students_job(
    hub: hubproc.RunningHub, cluster: SlurmCluster
) -> None:
    _switch_to_slurm(hub, cluster)
    client = login(hub.url, "alice", USERS["alice"])
    events = start_server(client, "alice", server="algebra")
    assert events[-1].get("ready"), f"{events}\n{hub.log_tail()}"
    job = _job_of(cluster, hub, "alice", "algebra")
    assert job is not None
    out = run_code(
        f"{hub.url}/user/alice/algebra/",
        hub.user_token("alice"),
        "import os, pwd; print(os.environ.get('SLURM_JOB_ID'), "
        "pwd.getpwuid(os.getuid()).pw_name, os.getcwd(), "
        "open(f'/proc/{os.getppid()}/cmdline').read().replace(chr(0), ' '))",
    )
    job_id, account, cwd, parent = out["stdout"].split(" ", 3)
    assert job_id == job["id"]
    assert account == hub.unix_name("alice")
    assert Path(cwd) == hub.home_root / hub.unix_name("alice") / "courses" / "algebra"
    # the kernel is the server's own child (started in the job), not a template's
    assert "coursehub.student.singleuser" in parent
    # memory, CPUs and wall time asked of Slurm come from coursehub.yaml
    details = _job_details(cluster, job["id"])
    assert details["MinMemoryNode"] == "600M"
    assert details["CPUs/Task"] == "2"
    assert details["TimeLimit"] == "02:00:00"
    assert details["Partition"] == PARTITION
    assert details["Comment"] == "coursehub-test"
    assert details["UserId"].startswith(hub.unix_name("alice") + "(")


def test_per_course_partition(hub: hubproc.RunningHub, cluster: SlurmCluster) -> None:
    _switch_to_slurm(hub, cluster)
    client = login(hub.url, "alice", USERS["alice"])
    events = start_server(client, "alice", server="physics")
    assert events[-1].get("ready"), f"{events}\n{hub.log_tail()}"
    job = _job_of(cluster, hub, "alice", "physics")
    assert job is not None
    assert _job_details(cluster, job["id"])["Partition"] == OTHER_PARTITION


def test_a_student_not_enrolled_gets_no_job(hub: hubproc.RunningHub, cluster: SlurmCluster) -> None:
    _switch_to_slurm(hub, cluster)
    client = login(hub.url, "bob", USERS["bob"])
    events = start_server(client, "bob", server="physics")
    assert events[-1].get("failed"), events
    assert "not enrolled" in json.dumps(events)
    assert not [
        j for j in cluster.jobs() if j["name"].startswith(f"coursehub-{hub.unix_name('bob')}")
    ]


def test_stopping_a_server_cancels_its_job(hub: hubproc.RunningHub, cluster: SlurmCluster) -> None:
    _switch_to_slurm(hub, cluster)
    client = login(hub.url, "bob", USERS["bob"])
    events = start_server(client, "bob", server="algebra")
    assert events[-1].get("ready"), f"{events}\n{hub.log_tail()}"
    job = _job_of(cluster, hub, "bob", "algebra")
    assert job is not None
    _stop(hub, "bob", "algebra")
    _wait(
        "the job to end",
        lambda: all(j["id"] != job["id"] or j["state"] != "RUNNING" for j in cluster.jobs()),
        hub,
    )
    state = _job_details(cluster, job["id"]).get("JobState", "gone")
    assert state in ("CANCELLED", "COMPLETED", "gone"), state


def test_a_job_slurm_ends_is_a_stopped_server_and_restarts(
    hub: hubproc.RunningHub, cluster: SlurmCluster
) -> None:
    """An admin's scancel (or the wall time): the hub sees the server gone, and the
    student's next visit starts a new job."""
    _switch_to_slurm(hub, cluster)
    client = login(hub.url, "bob", USERS["bob"])
    events = start_server(client, "bob", server="algebra")
    assert events[-1].get("ready"), events
    job = _job_of(cluster, hub, "bob", "algebra")
    assert job is not None
    assert cluster.run("scancel", job["id"]).returncode == 0

    def noticed() -> bool:
        # a visit to the dead server makes the hub poll it, as JupyterHub does
        httpx.get(f"{hub.url}/user/bob/algebra/api", timeout=10)
        return "algebra" not in _servers(hub, "bob")

    _wait("the hub to see the job gone", noticed, hub, timeout=90)
    events = start_server(client, "bob", server="algebra")
    assert events[-1].get("ready"), events
    again = _job_of(cluster, hub, "bob", "algebra")
    assert again is not None and again["id"] != job["id"]


def test_culling_cancels_the_job(hub: hubproc.RunningHub, cluster: SlurmCluster) -> None:
    """The hub's culler stops an idle physics server (15 s): its job is cancelled."""
    _switch_to_slurm(hub, cluster)
    client = login(hub.url, "alice", USERS["alice"])
    events = start_server(client, "alice", server="physics")
    assert events[-1].get("ready"), events
    job = _job_of(cluster, hub, "alice", "physics")
    assert job is not None
    _wait(
        "the culler to cancel the idle server's job",
        lambda: all(j["id"] != job["id"] or j["state"] != "RUNNING" for j in cluster.jobs()),
        hub,
        timeout=120,
    )
    _wait("the hub to list it stopped", lambda: "physics" not in _servers(hub, "alice"), hub)


def _stop(hub: hubproc.RunningHub, user: str, server: str) -> None:
    stopped = httpx.delete(
        f"{hub.url}/hub/api/users/{user}/servers/{server}",
        headers={"Authorization": f"token {hub.user_token(user)}"},
        timeout=90,
    )
    assert stopped.status_code in (202, 204), stopped.text
    _wait("the server to stop", lambda: server not in _servers(hub, user), hub)


def _servers(hub: hubproc.RunningHub, user: str) -> dict:
    got = httpx.get(
        f"{hub.url}/hub/api/users/{user}",
        headers={"Authorization": f"token {hub.user_token(user)}"},
    )
    return got.json().get("servers", {})


def test_servers_outlive_a_hub_restart(hub: hubproc.RunningHub, cluster: SlurmCluster) -> None:
    _switch_to_slurm(hub, cluster)
    client = login(hub.url, "alice", USERS["alice"])
    events = start_server(client, "alice", server="algebra")
    assert events[-1].get("ready"), events
    job = _job_of(cluster, hub, "alice", "algebra")
    assert job is not None
    hubproc.restart_hub(hub)
    out = run_code(f"{hub.url}/user/alice/algebra/", hub.user_token("alice"), "print(6 * 7)")
    assert out["stdout"].strip() == "42"
    assert _job_of(cluster, hub, "alice", "algebra") == job


def test_a_planted_link_in_the_job_folder_is_not_followed(
    hub: hubproc.RunningHub, cluster: SlurmCluster
) -> None:
    """The job folder is the student's: a link they put where the hub writes the log
    must not make root write through it."""
    _switch_to_slurm(hub, cluster)
    victim = Path(f"/root/coursehub-victim-{secrets.token_hex(3)}")
    victim.write_text("untouched\n")
    try:
        _stop(hub, "bob", "algebra")
        folder = hub.data_dir / "slurm-jobs" / hub.unix_name("bob")
        assert folder.is_dir()
        (folder / "algebra.log").unlink(missing_ok=True)
        subprocess.run(
            ["runuser", "-u", hub.unix_name("bob"), "--", "ln", "-s", str(victim),
             str(folder / "algebra.log")],
            check=True,
        )  # fmt: skip
        client = login(hub.url, "bob", USERS["bob"])
        events = start_server(client, "bob", server="algebra")
        assert events[-1].get("ready"), events
        assert victim.read_text() == "untouched\n"
        assert not (folder / "algebra.log").is_symlink()
    finally:
        victim.unlink(missing_ok=True)


def test_grading_runs_as_a_slurm_job(hub: hubproc.RunningHub, cluster: SlurmCluster) -> None:
    """grading.run_on: slurm: a submission is graded by a job in the grading partition,
    in the same sandbox, and its score reaches the student."""
    _switch_to_slurm(hub, cluster)
    api = f"{hub.url}{SERVICE}/api/courses/algebra/assignments"
    login(hub.url, "tina", USERS["tina"])
    released = httpx.post(
        f"{api}/ps1/release", headers={"Authorization": f"token {hub.user_token('tina')}"}
    )
    assert released.status_code == 200, released.text
    client = login(hub.url, "alice", USERS["alice"])
    events = start_server(client, "alice", server="algebra")
    assert events[-1].get("ready"), events
    token = hub.user_token("alice")
    auth = {"Authorization": f"token {token}"}
    answer = answer_nbgrader(hub.data_dir / "released" / "algebra" / "ps1" / "ps1.ipynb",
                             "    return x * x\n")  # fmt: skip
    saved = httpx.put(
        f"{hub.url}/user/alice/algebra/api/contents/assignments/ps1/ps1.ipynb",
        headers=auth,
        json={"type": "notebook", "format": "json", "content": json.loads(answer)},
        timeout=30,
    )
    assert saved.status_code == 200, saved.text
    submitted = httpx.post(f"{api}/ps1/submit", headers=auth, timeout=60)
    assert submitted.status_code == 201, submitted.text

    def graded() -> dict | None:
        mine = httpx.get(f"{api}/ps1/submissions", headers=auth).json()
        done = [a for a in mine["attempts"] if a["status"] in ("done", "failed")]
        return done[0] if done else None

    attempt = _wait("the grading job", graded, hub, timeout=240)
    assert attempt["status"] == "done", attempt
    assert attempt["questions"]["test_square"]["points"] == 2, attempt
    grading_jobs = [
        j for j in cluster.run(
            "squeue", "--noheader", "--states=all", "--format=%j|%u|%T|%P"
        ).stdout.split()
        if j.startswith("coursehub-grade-")
    ]  # fmt: skip
    assert grading_jobs, "no grading job ran"
    name, user, state, partition = grading_jobs[-1].split("|")
    assert (user, state, partition) == ("root", "COMPLETED", OTHER_PARTITION)

"""An instructor (any LMS instructor: launches create courses) tries to become root.

Everything a course's instructor writes is theirs to make hostile: the course's
requirements (a package may ship a ``.pth`` file, which Python runs at start-up) and
the assignments they upload (otter writes test files that the service used to run).
Each attack below records the uid its code ran as, and whether it could read the
site's secrets, into a world-writable folder; none of it may run as root.

Real hub, real course environment built by `coursehub course build`, its real kernel
template, a real student account, and the real upload API as a real instructor.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import pwd
import re
import time
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import nbformat
import pytest

from coursehub.courses.kernels import kernel_name, template_socket
from coursehub.student.kernel_provisioner import template_status
from tests.helpers import hubproc
from tests.helpers.browserless import login, start_server
from tests.helpers.gitrepo import EMPTY_NOTEBOOK
from tests.helpers.kernel import run_code

pytestmark = [pytest.mark.integration, pytest.mark.root]

USERS = {"alice": "alice-pass-123", "tina": "tina-pass-456"}
COURSE = "rootless"
API = f"/services/coursehub/api/courses/{COURSE}/assignments"
# the site's secrets (the hub's folder is made below /srv with this label)
SECRETS = "/srv/coursehub-test-instructor-root-*/data/secrets/*"
PROBE = "import os, json; print(json.dumps([os.getuid(), os.getppid()]))"


def _record_line(records: Path, tag: str) -> str:
    """Python source (one line) that appends `tag uid secrets-readable` to a record."""
    return (
        "import os, glob; "
        f"p = {str(records / tag)!r}; "
        f"s = glob.glob({SECRETS!r}); "
        # no name lookups in nested scopes: run by exec() inside a function, they fail
        "r = 'READ' if any(map(lambda f: __import__('os').access(f, 4), s)) else 'NOREAD'; "
        # one file per account: another's, made 0644, could not be appended to
        "f = open(f'{p}-{os.getuid()}', 'a'); f.write(f'{os.getuid()} {r}\\n'); f.close()"
    )


def _wheel(records: Path) -> bytes:
    """probe_pth-1.0: a wheel holding only a .pth file that records who ran it, as
    any requirement of a course may ship."""
    files = {
        "probe_pth.pth": _record_line(records, "pth") + "\n",
        "probe_pth-1.0.dist-info/METADATA": "Metadata-Version: 2.1\nName: probe-pth\n"
        "Version: 1.0\n",
        "probe_pth-1.0.dist-info/WHEEL": "Wheel-Version: 1.0\nGenerator: by hand\n"
        "Root-Is-Purelib: true\nTag: py3-none-any\n",
    }
    record = []
    for name, text in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=")
        record.append(f"{name},sha256={digest.decode()},{len(text.encode())}")
    record.append("probe_pth-1.0.dist-info/RECORD,,")
    files["probe_pth-1.0.dist-info/RECORD"] = "\n".join(record) + "\n"
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as wheel:
        for name, text in files.items():
            wheel.writestr(name, text)
    return out.getvalue()


@pytest.fixture(scope="module")
def records() -> Iterator[Path]:
    # outside /tmp (the grading sandbox has its own), writable by every account
    with hubproc.outside_tmp("instructor-records") as base:
        folder = base / "records"
        folder.mkdir()
        folder.chmod(0o1777)
        yield folder


@pytest.fixture(scope="module")
def hub(
    start_hub: Callable[..., hubproc.RunningHub],
    make_course_repo: Callable[..., Path],
    records: Path,
) -> hubproc.RunningHub:
    wheel = "probe_pth-1.0-py3-none-any.whl"
    repo = make_course_repo(
        {
            "intro.ipynb": EMPTY_NOTEBOOK,
            "course.yaml": "title: Rootless\nenvironment:\n  requirements: requirements.txt\n",
            "requirements.txt": f"./{wheel}\n",
            wheel: _wheel(records),
        }
    )
    return start_hub(
        "instructor-root",
        outside_tmp=True,
        users=USERS,
        courses={COURSE: hubproc.Course(repo, ("alice",), {"tina": "instructor"})},
        then=[("course", "build", COURSE)],
    )


def _uids(path: Path) -> list[tuple[int, str]]:
    """What the records of `path` (one file per account) say: (uid, READ/NOREAD)."""
    rows = []
    for record in sorted(path.parent.glob(f"{path.name}-*")):
        for line in record.read_text().splitlines():
            uid, readable = line.split()
            rows.append((int(uid), readable))
    return rows


def _template(hub: hubproc.RunningHub) -> dict:
    socket = str(template_socket(hub.data_dir, COURSE))
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        status = template_status(socket)
        if status:
            return status
        time.sleep(0.2)
    raise AssertionError(f"no kernel template answers on {socket}\n{hub.log_tail()}")


def test_a_requirements_pth_file_never_runs_as_root(
    hub: hubproc.RunningHub, records: Path
) -> None:
    template = _template(hub)
    client = login(hub.url, "alice", USERS["alice"])
    events = start_server(client, "alice", server=COURSE)
    assert events[-1].get("ready"), events
    server = f"{hub.url}/user/alice/{COURSE}/"
    ran = run_code(server, hub.user_token("alice"), PROBE, kernel=kernel_name(COURSE))
    assert ran["error"] is None, ran
    uid, parent = json.loads(ran["stdout"])
    alice = pwd.getpwnam(hub.unix_name("alice")).pw_uid
    assert uid == alice
    assert parent == _template(hub)["pid"] == template["pid"], "the kernel was not forked"
    seen = _uids(records / "pth")
    assert seen, "the .pth file never ran: the attack was not made"
    assert all(uid != 0 for uid, _ in seen), seen
    # it does run, as the student, in the student's own kernel
    assert (alice, "NOREAD") in seen, seen


def _record_or_tell(records: Path, tag: str) -> str:
    """`_record_line`, or where the records folder cannot be reached (the grading
    sandbox shows nothing of the host's /srv), the same record in an error, which the
    service's refusal repeats."""
    line = _record_line(records, tag)
    return (
        f"try:\n    {line}\nexcept OSError:\n"
        "    raise RuntimeError(f'RECORD {os.getuid()} {r}') from None\n"
    )


def _hostile_otter_master(records: Path) -> bytes:
    """An otter master whose (exception-format, file-based) test carries a decorator:
    it runs wherever the test file is executed."""
    raw = nbformat.v4.new_raw_cell
    decorator = "@(lambda f: (exec(" + repr(_record_or_tell(records, "otter")) + "), f)[1])"
    test = nbformat.v4.new_code_cell(f"{decorator}\ndef test_q1(sq):\n    assert sq == 49\n")
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3"}
    nb.cells = [
        raw("# ASSIGNMENT CONFIG\nrequirements: null\nexport_cell: false\ngenerate: false\n"
            "check_all_cell: false\ninit_cell: false\nrun_tests: false\n"
            "tests:\n  files: true\n  ok_format: false\n"),
        raw("# BEGIN QUESTION\nname: q1\npoints: 2"),
        raw("# BEGIN SOLUTION"),
        nbformat.v4.new_code_cell("sq = 7 ** 2 # SOLUTION"),
        raw("# END SOLUTION"),
        raw("# BEGIN TESTS"),
        test,
        raw("# END TESTS"),
        raw("# END QUESTION"),
    ]  # fmt: skip
    return nbformat.writes(nb).encode()


def test_an_uploaded_otter_test_file_never_runs_as_root(
    hub: hubproc.RunningHub, records: Path
) -> None:
    login(hub.url, "tina", USERS["tina"])
    token = hub.user_token("tina")
    answer = httpx.post(
        f"{hub.url}{API}?name=hostile",
        headers={"Authorization": f"token {token}"},
        files=[("files", ("hostile.ipynb", _hostile_otter_master(records)))],
        timeout=300,
    )
    told = re.findall(r"RECORD (\d+) (NOREAD|READ)", answer.text)
    seen = _uids(records / "otter") + [(int(uid), readable) for uid, readable in told]
    assert seen, f"the test file never ran: no attack made ({answer.text})\n{hub.log_tail()}"
    assert all(uid != 0 for uid, _ in seen), seen
    assert all(readable == "NOREAD" for _, readable in seen), seen
    assert answer.status_code < 500, answer.text  # a clear refusal at worst


SANDBOXED_FORK = """
import json, socket
from coursehub.core import kernel_wire as kt
with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
    s.settimeout(20)
    s.connect({socket!r})
    s.sendall(kt.FORK)
    try:
        kt.send_request(s, {{"argv": [{python!r}, "-m", "ipykernel_launcher", "-f",
                                     "/nonexistent.json"], "env": {{}}, "cwd": "/"}}, [])
    except OSError:
        pass
    print(json.dumps(kt.recv_line(s)))
"""


def test_a_grading_sandbox_cannot_have_the_template_fork_a_kernel(
    hub: hubproc.RunningHub,
) -> None:
    """Two walls: the sandbox shows no host socket at all, and the template itself
    forks only for login accounts in its own namespaces (shown from outside the box,
    as `nobody`, a system account that can reach the socket)."""
    import subprocess
    import sys

    from coursehub.grading.sandbox import run_sandboxed

    _template(hub)
    socket = str(template_socket(hub.data_dir, COURSE))
    python = str(hub.data_dir / "courses" / COURSE / "env" / "bin" / "python")
    work = hub.data_dir / "grading-work" / "peer-attack"
    work.mkdir(parents=True)
    code = SANDBOXED_FORK.format(socket=socket, python=python)
    boxed = run_sandboxed([sys.executable, "-c", code], work)
    assert b"pid" not in boxed.stdout, boxed.stdout  # a kernel outside the sandbox
    outside = subprocess.run(
        ["runuser", "-u", "nobody", "--", sys.executable, "-c", code],
        capture_output=True,
        timeout=60,
    )
    assert outside.returncode == 0, outside.stderr.decode()
    answer = json.loads(outside.stdout)
    assert "pid" not in answer, answer
    assert "error" in answer

"""In-repository links kept in a course give a student nothing they could not reach.

A course (structure of flotpython/course at 30d6211a1d52fe6663cd231a4b60095f1c2b3e5a)
whose author also committed links out of it: to /etc/shadow, to a sibling course's
checkout, through a kept link (w1/up -> ..) and back out. The student, a real account,
opens notebooks through the real service and looks around from their own kernel.
"""

from __future__ import annotations

import os
import secrets
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from coursehub.config.layout import DataLayout
from tests.helpers import hubproc
from tests.helpers.browserless import login, start_server
from tests.helpers.course_formats import nbhosting_course, notebook, write_files
from tests.helpers.gitrepo import commit_all
from tests.helpers.kernel import run_code

pytestmark = [pytest.mark.integration, pytest.mark.root]

USERS = {"alice": "alice-pass-123"}
SERVICE = "/services/coursehub"
HOSTILE = {
    "w1/shadow": "/etc/shadow",
    "w1/evil.ipynb": "/etc/shadow",
    "w1/up": "..",  # inside: kept
    "w1/chain.ipynb": "up/../exam/repo/solutions.ipynb",  # out through the kept link
    "w1/exam": "../../../exam/repo",  # the sibling course's checkout, by '..'
}


@pytest.fixture(scope="module")
def repos() -> Iterator[dict[str, Path]]:
    mooc = Path(f"/tmp/coursehub-test-links-{secrets.token_hex(4)}")
    nbhosting_course(mooc)
    for name, target in HOSTILE.items():
        os.symlink(target, mooc / name)
    commit_all(mooc, "first")
    exam = Path(f"/tmp/coursehub-test-exam-{secrets.token_hex(4)}")
    write_files(exam, {"solutions.ipynb": notebook("answer = 42  # SECRET")})
    commit_all(exam, "first")
    yield {"mooc": mooc, "exam": exam}
    shutil.rmtree(mooc, ignore_errors=True)
    shutil.rmtree(exam, ignore_errors=True)


@pytest.fixture(scope="module")
def hub(start_hub: Callable[..., hubproc.RunningHub], repos: dict[str, Path]) -> hubproc.RunningHub:
    courses = {
        "mooc": hubproc.Course(repos["mooc"], ("alice",)),
        "exam": hubproc.Course(repos["exam"], ()),  # alice is not enrolled
    }
    return start_hub("repo-links", users=USERS, courses=courses)


def _open(client: httpx.Client, path: str) -> httpx.Response:
    link = f"{SERVICE}/open/mooc/{path}"
    response = client.get(link, follow_redirects=True)
    if "/lab/tree/" not in str(response.url) and response.status_code == 200:
        events = start_server(client, "alice", server="mooc")
        assert events[-1].get("ready"), events
        response = client.get(link, follow_redirects=True)
    return response


def test_kept_links_lead_only_into_the_course_and_are_read_only(hub: hubproc.RunningHub) -> None:
    client = login(hub.url, "alice", USERS["alice"])
    client.base_url = httpx.URL(hub.url)
    assert _open(client, "w1/w1-s6-x1-flottants.md").status_code == 200
    checkout = DataLayout(hub.data_dir).course_repo("mooc").resolve()
    out = run_code(
        f"{hub.url}/user/alice/mooc/",
        hub.user_token("alice"),
        "import os\n"
        "for n in sorted(os.listdir('w1')):\n"
        "    p = 'w1/' + n\n"
        "    if os.path.islink(p):\n"
        "        print(n, os.path.realpath(p))\n"
        "try:\n    open('w1/up/README.md', 'a')\n"
        "except OSError as e:\n    print('denied', e.errno)\n",
    )
    lines = out["stdout"].strip().splitlines()
    links = dict(line.split(" ", 1) for line in lines if not line.startswith("denied"))
    assert set(links) == {"data", "media", "up"}, out  # shadow, exam, chain: not there
    for target in links.values():
        assert target == str(checkout) or target.startswith(f"{checkout}/"), links
    assert lines[-1].startswith("denied"), out


def test_links_out_are_never_followed_by_the_service(hub: hubproc.RunningHub) -> None:
    client = login(hub.url, "alice", USERS["alice"])
    client.base_url = httpx.URL(hub.url)
    workspace = hub.home_root / hub.unix_name("alice") / "courses" / "mooc"
    # the link to /etc/shadow is the plain file git wrote: its copy holds only the text
    evil = _open(client, "w1/evil.ipynb")
    if evil.status_code == 200:
        assert (workspace / "w1" / "evil.ipynb").read_text() == "/etc/shadow"
    # the chain out through w1/up, and the sibling course's checkout: nothing copied
    for path in ("w1/chain.ipynb", "w1/exam/solutions.ipynb"):
        response = _open(client, path)
        copied = workspace / path
        assert not copied.exists() or "SECRET" not in copied.read_text(), path
        assert response.status_code in (200, 400, 404), (path, response.status_code)
    assert not any("SECRET" in p.read_text(errors="replace") for p in workspace.rglob("*.ipynb"))

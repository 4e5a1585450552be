"""Links teachers already published keep working, through a real `coursehub up`: the
proxy sends nbgitpuller's /hub/user-redirect/git-pull and nbhosting's
/notebookLazyCopy/... to the service (JupyterHub's own `Proxy.extra_routes`), sign-in
decides who the student is, and the student lands in JupyterLab on their own copy.

The course copies the layout of a real nbhosting course, flotpython/course at
30d6211a1d52fe6663cd231a4b60095f1c2b3e5a (the MOOC "Python 3" on FUN, whose pages link
to /notebookLazyCopy/flotpython3/<notebook>/<student>): MyST notebooks named without
their suffix in the URLs, a few .ipynb beside them, `.nbhosting/nbhosting.yaml`.
"""

from __future__ import annotations

import json
import pwd
from collections.abc import Callable
from pathlib import Path
from urllib.parse import unquote, urlencode, urlsplit

import httpx
import pytest

from tests.helpers import hubproc
from tests.helpers.browserless import login, start_server
from tests.helpers.course_formats import myst

pytestmark = [pytest.mark.integration, pytest.mark.root]

USERS = {"alice": "alice-pass-123", "bob": "bob-pass-456", "carol": "carol-pass-789"}
COURSE = "flotpython3"
MYST = myst('# Installer la distribution standard Python\n\n```{code-cell}\nprint("hello")\n```')
IPYNB = json.dumps(
    {
        "cells": [{"cell_type": "markdown", "id": "a", "metadata": {}, "source": "# Vidéo 1"}],
        "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3"}},
        "nbformat": 4,
        "nbformat_minor": 5,
    }
)
NBHOSTING_YAML = """static-mappings:
  - source: data
    destination: data
tracks:
- name: "mooc"
  id: mooc
  sections:
  - name: '1. prise en mains'
    notebooks:
    - w1/w*-s*-[cx]*.md
"""


@pytest.fixture(scope="module")
def repo(make_course_repo: Callable[..., Path]) -> Path:
    return make_course_repo(
        {
            ".nbhosting/nbhosting.yaml": NBHOSTING_YAML,
            "w1/w1-s1-av.ipynb": IPYNB,
            "w1/w1-s2-c1-installer-python.md": MYST,
            "w2/w2-s1-c1-chaines.md": MYST,
            "data/lorem_ipsum.txt": "lorem\n",
        }
    )


@pytest.fixture(scope="module")
def hub(start_hub: Callable[..., hubproc.RunningHub], repo: Path) -> hubproc.RunningHub:
    return start_hub(
        "legacy-links", users=USERS, courses={COURSE: hubproc.Course(repo, ("alice", "bob"))}
    )


def _land(client: httpx.Client, user: str, link: str) -> httpx.Response:
    """Follow a published link like a browser, starting the course server when the
    hub's spawn page asks for it, to the page it ends on."""
    response = client.get(link, follow_redirects=True)
    if "/spawn" in str(response.url) or "/spawn-pending/" in str(response.url):
        events = start_server(client, user, server=COURSE)
        assert events[-1].get("ready"), events
        response = client.get(link, follow_redirects=True)
    return response


def _copy(hub: hubproc.RunningHub, user: str, path: str) -> Path:
    return hub.home_root / hub.unix_name(user) / "courses" / COURSE / path


def test_an_nbgitpuller_link_opens_the_students_copy_in_jupyterlab(
    hub: hubproc.RunningHub, repo: Path
) -> None:
    alice = login(hub.url, "alice", USERS["alice"])
    # as nbgitpuller's link generator writes it, with the repository spelled otherwise
    query = urlencode(
        {
            "repo": f"file://{repo}.git/",
            "urlpath": f"lab/tree/{repo.name}/w1/w1-s1-av.ipynb",
            "branch": "main",
        }
    )
    landed = _land(alice, "alice", f"/hub/user-redirect/git-pull?{query}")
    assert landed.status_code == 200, landed.text[-500:]
    assert str(landed.url).endswith(f"/user/alice/{COURSE}/lab/tree/w1/w1-s1-av.ipynb")
    copy = _copy(hub, "alice", "w1/w1-s1-av.ipynb")
    assert copy.stat().st_uid == pwd.getpwnam(hub.unix_name("alice")).pw_uid
    assert json.loads(copy.read_text())["cells"][0]["source"] == "# Vidéo 1"
    # no default server was started for the link (JupyterHub's user-redirect would)
    model = httpx.get(
        f"{hub.url}/hub/api/users/alice",
        headers={"Authorization": f"token {hub.user_token('alice')}"},
        timeout=30,
    ).json()
    assert "" not in (model.get("servers") or {}), model.get("servers")


def test_a_link_to_the_course_server_by_name_lands_on_the_stable_link_too(
    hub: hubproc.RunningHub, repo: Path
) -> None:
    # the link generator's "named server" field: /hub/user-redirect/<server>/git-pull,
    # which the hub sends to the course server; it answers with the service's page
    alice = login(hub.url, "alice", USERS["alice"])
    query = urlencode(
        {"repo": str(repo), "urlpath": f"lab/tree/{repo.name}/w2/w2-s1-c1-chaines.md"}
    )
    landed = _land(alice, "alice", f"/hub/user-redirect/{COURSE}/git-pull?{query}")
    assert landed.status_code == 200, landed.text[-500:]
    assert str(landed.url).endswith(f"/user/alice/{COURSE}/lab/tree/w2/w2-s1-c1-chaines.md")
    assert _copy(hub, "alice", "w2/w2-s1-c1-chaines.md").is_file()
    # nothing was cloned into the workspace
    assert not _copy(hub, "alice", repo.name).exists()


def test_an_nbhosting_url_lands_on_the_signed_in_students_copy_not_the_named_one(
    hub: hubproc.RunningHub,
) -> None:
    bob = login(hub.url, "bob", USERS["bob"])
    # the URL names alice as the student: bob signed in, so bob gets his own copy
    landed = _land(bob, "bob", f"/notebookLazyCopy/{COURSE}/w1/w1-s2-c1-installer-python/alice")
    assert landed.status_code == 200, landed.text[-500:]
    assert str(landed.url).endswith(f"/user/bob/{COURSE}/lab/tree/w1/w1-s2-c1-installer-python.md")
    copy = _copy(hub, "bob", "w1/w1-s2-c1-installer-python.md")
    assert copy.stat().st_uid == pwd.getpwnam(hub.unix_name("bob")).pw_uid
    assert not _copy(hub, "alice", "w1/w1-s2-c1-installer-python.md").exists()
    # the older name of the same URL
    again = _land(bob, "bob", f"/ipythonExercice/{COURSE}/w1/w1-s1-av.ipynb/alice")
    assert str(again.url).endswith(f"/user/bob/{COURSE}/lab/tree/w1/w1-s1-av.ipynb")


def test_outsiders_get_a_clear_page_and_anonymous_browsers_sign_in_first(
    hub: hubproc.RunningHub, repo: Path
) -> None:
    carol = login(hub.url, "carol", USERS["carol"])  # not in the course
    query = urlencode({"repo": str(repo), "urlpath": f"lab/tree/{repo.name}/w1/w1-s1-av.ipynb"})
    refused = carol.get(f"/hub/user-redirect/git-pull?{query}", follow_redirects=True)
    assert refused.status_code == 404
    assert "None of your courses uses the repository" in refused.text
    nbhosting = carol.get(f"/notebookLazyCopy/{COURSE}/w1/w1-s1-av/carol", follow_redirects=True)
    assert nbhosting.status_code == 404 and "that you are enrolled in" in nbhosting.text
    with httpx.Client(base_url=hub.url, timeout=30) as anonymous:
        page = anonymous.get(f"/hub/user-redirect/git-pull?{query}", follow_redirects=True)
        assert page.status_code == 200 and "/hub/login" in str(page.url)
    # the hub's own user-redirect still answers everything else
    other = carol.get("/hub/user-redirect/lab")
    assert other.status_code == 302 and "/user/carol/lab" in unquote(other.headers["location"])


@pytest.mark.parametrize(
    "urlpath",
    [
        "//evil.example/lab/tree/x.ipynb",
        "https://evil.example/",
        "lab/tree/x/..%2F..%2F..%2Fetc%2Fpasswd",
        "lab/tree/x/../../../../etc/passwd",
    ],
)
def test_hostile_links_never_leave_the_site_nor_the_course(
    hub: hubproc.RunningHub, repo: Path, urlpath: str
) -> None:
    alice = login(hub.url, "alice", USERS["alice"])
    link = f"/hub/user-redirect/git-pull?{urlencode({'repo': str(repo), 'urlpath': urlpath})}"
    for _ in range(10):  # every hop, as a browser would take it
        response = alice.get(link)
        if response.status_code != 302:
            break
        link = response.headers["location"]
        where = urlsplit(link)  # the link itself may ride along in a query
        assert not where.scheme and not where.netloc and link.startswith("/"), link
        assert "evil.example" not in where.path and "passwd" not in where.path, link
    assert response.status_code == 400, response.text[-300:]
    assert "root:" not in response.text


def test_other_user_redirect_links_lead_to_my_courses_without_a_default_server(
    hub: hubproc.RunningHub,
) -> None:
    # a link written for a one-server hub; JupyterHub would start the default server
    carol = login(hub.url, "carol", USERS["carol"])
    landed = carol.get("/hub/user-redirect/lab/tree/notes.ipynb", follow_redirects=True)
    assert landed.status_code == 200
    assert urlsplit(str(landed.url)).path == "/services/coursehub/"
    # a course server of a course carol is not in leads there too, starting nothing
    landed = carol.get(f"/hub/user-redirect/{COURSE}/lab", follow_redirects=True)
    assert urlsplit(str(landed.url)).path == "/services/coursehub/"
    model = httpx.get(
        f"{hub.url}/hub/api/users/carol",
        headers={"Authorization": f"token {hub.user_token('carol')}"},
        timeout=30,
    ).json()
    assert not model.get("servers"), model.get("servers")

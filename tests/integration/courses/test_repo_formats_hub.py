"""Course repositories added as they are, on a real hub: an nbhosting course, a Binder
repository and a Jupyter Book, each opened by a student who runs cells in it.

The repositories copy the structure of real public ones (tests/helpers/course_formats.py
names each and its commit): flotpython/course (nbhosting.yaml with globs and
static-mappings, MyST notebooks, in-repository links), binder-examples/requirements
(a Binder requirements.txt), executablebooks/quantecon-mini-example (a _toc.yml in a
folder, a conda environment.yml).
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from coursehub.config.layout import DataLayout
from coursehub.courses.kernels import kernel_name
from tests.helpers import hubproc
from tests.helpers.browserless import login, start_server
from tests.helpers.course_formats import (
    binder_course,
    jupyter_book_course,
    myst,
    nbhosting_course,
    write_files,
)
from tests.helpers.gitrepo import commit_all
from tests.helpers.kernel import run_code

pytestmark = [pytest.mark.integration, pytest.mark.root]

USERS = {"alice": "alice-pass-123", "tina": "tina-pass-456"}
SERVICE_PATH = "/services/coursehub"
PWNED = f"/tmp/coursehub-postbuild-ran-{secrets.token_hex(4)}"
# A conda environment.yml: a package on PyPI, one that is not a Python package
# (r-base), one PyPI does not have, and a pip part.
CONDA_ENVIRONMENT = """\
name: mini
channels: [conda-forge]
dependencies:
  - python=3.11
  - pip
  - six>=1.16
  - r-base
  - coursehub-no-such-conda-package
  - pip:
    - tabulate
"""


def _repo(make: Callable[[Path], Path], extra: Callable[[Path], None] | None = None) -> Path:
    repo = Path(f"/tmp/coursehub-test-formats-{secrets.token_hex(4)}")
    make(repo)
    if extra is not None:
        extra(repo)
    commit_all(repo, "first")
    return repo


def _nbhosting_extra(repo: Path) -> None:
    # links someone with push access could try: out to /etc/shadow and to a sibling course
    os.symlink("/etc/shadow", repo / "w1" / "shadow")
    os.symlink("../../other-course", repo / "w1" / "other")
    os.symlink("up/..", repo / "w1" / "escape")
    os.symlink("..", repo / "w1" / "up")


def _binder_extra(repo: Path) -> None:
    write_files(
        repo,
        {
            "binder/requirements.txt": "tabulate\n",
            "binder/postBuild": f"#!/bin/bash\ntouch {PWNED}\n",
            # ignored, as repo2docker ignores it beside binder/: it would fail the build
            "requirements.txt": "coursehub-no-such-package-at-the-top\n",
        },
    )


def _book_extra(repo: Path) -> None:
    (repo / "environment.yml").write_text(CONDA_ENVIRONMENT)
    (repo / "mini_book/docs/about_py.md").write_text(
        myst("# About\n\n```{code-cell}\nimport six, tabulate\n```")
    )


@pytest.fixture(scope="module")
def repos() -> Iterator[dict[str, Path]]:
    made = {
        "mooc": _repo(nbhosting_course, _nbhosting_extra),
        "binder": _repo(binder_course, _binder_extra),
        "book": _repo(jupyter_book_course, _book_extra),
    }
    yield made
    for repo in made.values():
        shutil.rmtree(repo, ignore_errors=True)
    Path(PWNED).unlink(missing_ok=True)


@pytest.fixture(scope="module")
def hub(start_hub: Callable[..., hubproc.RunningHub], repos: dict[str, Path]) -> hubproc.RunningHub:
    staff = {"tina": "instructor"}
    courses = {name: hubproc.Course(repo, ("alice",), staff) for name, repo in repos.items()}
    return start_hub("repo-formats", users=USERS, roles=staff, courses=courses)


def _open(client: httpx.Client, course: str, path: str) -> httpx.Response:
    link = f"{client.base_url}{SERVICE_PATH}/open/{course}/{path}"
    response = client.get(link, follow_redirects=True)
    if "/lab/tree/" not in str(response.url):
        events = start_server(client, "alice", server=course)
        assert events[-1].get("ready"), events
        response = client.get(link, follow_redirects=True)
    assert response.status_code == 200, response.text[-500:]
    return response


def _client(hub: hubproc.RunningHub, user: str) -> httpx.Client:
    client = login(hub.url, user, USERS[user])
    client.base_url = httpx.URL(hub.url)
    return client


def test_course_show_says_which_file_each_part_came_from(hub: hubproc.RunningHub) -> None:
    shown = hub.cli("course", "show", "mooc")
    assert shown.returncode == 0, shown.stderr
    assert re.search(r"tracks:\s+from \.nbhosting/nbhosting\.yaml", shown.stdout), shown.stdout
    assert re.search(r"mappings:\s+from \.nbhosting/nbhosting\.yaml", shown.stdout)
    assert "myst.yml is not used for tracks" in shown.stdout
    book = hub.cli("course", "show", "book").stdout
    assert re.search(r"tracks:\s+from mini_book/_toc\.yml", book), book
    assert re.search(r"environment:\s+from environment\.yml", book)


def test_nbhosting_course_tracks_mappings_and_links_for_a_student(
    hub: hubproc.RunningHub,
) -> None:
    client = _client(hub, "alice")
    page = client.get(f"{SERVICE_PATH}/course/mooc", follow_redirects=True).text
    assert "1. prise en mains" in page and "w1/w1-s6-x1-flottants.md" in page
    _open(client, "mooc", "w1/w1-s6-x1-flottants.md")
    checkout = DataLayout(hub.data_dir).course_repo("mooc")
    out = run_code(
        f"{hub.url}/user/alice/mooc/",
        hub.user_token("alice"),
        "import os\n"
        "print(open('w1/data/cities.txt').read().split()[0])\n"  # the link, beside the copy
        "print(os.path.realpath('w1/data'))\n"
        "print(sorted(n for n in os.listdir('w1') if os.path.islink('w1/' + n)))\n"
        "try:\n    open('w1/data/new.txt', 'w')\nexcept OSError:\n    print('read-only')\n"
        "print(open('w1/up/w1/data/cities.txt').read().split()[1])\n",
    )
    lines = out["stdout"].split("\n")
    assert lines[0] == "Paris", out
    assert lines[1] == str((checkout / "data").resolve())
    # refused links (out to /etc/shadow, to a sibling course, through w1/up) are not there
    assert lines[2] == "['data', 'media', 'up']"
    assert lines[3:5] == ["read-only", "Lyon"]
    assert (checkout / "w1" / "data").is_symlink()
    assert not (checkout / "w1" / "shadow").is_symlink()
    assert not (checkout / "w1" / "escape").is_symlink()


def test_binder_course_builds_from_binder_folder_and_never_runs_postbuild(
    hub: hubproc.RunningHub,
) -> None:
    built = hub.cli("course", "build", "binder")
    assert built.returncode == 0, built.stdout + built.stderr
    assert "coursehub-no-such-package-at-the-top" not in built.stdout
    assert "binder/postBuild is refused" in built.stdout
    assert not os.path.exists(PWNED)
    shown = hub.cli("course", "show", "binder").stdout
    assert "binder/postBuild is refused" in shown, shown
    client = _client(hub, "alice")
    _open(client, "binder", "index.ipynb")
    out = run_code(
        f"{hub.url}/user/alice/binder/",
        hub.user_token("alice"),
        "import tabulate, sys\nprint(tabulate.__name__, sys.prefix.endswith('/env'))",
        kernel=kernel_name("binder"),
        timeout=120,
    )
    assert out["stdout"].split() == ["tabulate", "True"], out


def test_jupyter_book_with_conda_environment(hub: hubproc.RunningHub) -> None:
    built = hub.cli("course", "build", "book")
    assert built.returncode == 0, built.stdout + built.stderr
    assert "coursehub-no-such-conda-package" in built.stdout  # named as not installed
    staff = _client(hub, "tina")
    page = staff.get(f"{SERVICE_PATH}/course/book/staff", follow_redirects=True).text
    environment = re.search(r'<td id="environment">(.*?)</td>', page, re.S)
    assert environment, page[-2000:]
    assert "r-base" in environment.group(1)
    assert "coursehub-no-such-conda-package" in environment.group(1)
    assert "python" not in environment.group(1)  # the server's own Python, always there
    assert "six" not in environment.group(1).replace("not installed", "")
    sources = re.search(r'<td id="sources">(.*?)</td>', page, re.S)
    assert sources and "mini_book/_toc.yml" in sources.group(1)
    client = _client(hub, "alice")
    course_page = client.get(f"{SERVICE_PATH}/course/book", follow_redirects=True).text
    names = ("docs/index.md", "docs/about_py.md", "docs/getting_started.md")
    order = [course_page.index(n) for n in names]
    assert order == sorted(order)  # the table of contents' order
    _open(client, "book", "mini_book/docs/about_py.md")
    out = run_code(
        f"{hub.url}/user/alice/book/",
        hub.user_token("alice"),
        "import six, tabulate\nprint(six.__name__, tabulate.__name__)",
        kernel=kernel_name("book"),
        timeout=120,
    )
    assert out["stdout"].split() == ["six", "tabulate"], out

"""`coursehub course image COURSE`: the Containerfile of a course's environment, from
a real course (git repository, course.yaml, requirements) added with `course add`.
Nothing is built: no container engine runs here, and the command never builds."""

from __future__ import annotations

import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import pytest

from tests.helpers.gitrepo import commit_all


def coursehub(site: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "coursehub.cli.main",
            "--config",
            str(site / "coursehub.yaml"),
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=site,
    )


def add_course(site: Path, files: dict[str, str]) -> None:
    source = site / "ds101-src"
    for name, content in files.items():
        (source / name).parent.mkdir(parents=True, exist_ok=True)
        (source / name).write_text(content)
    commit_all(source, "course")
    done = coursehub(site, "course", "add", "ds101", "--repo", str(source))
    assert done.returncode == 0, done.stderr


@pytest.fixture
def site(tmp_path: Path) -> Path:
    (tmp_path / "coursehub.yaml").write_text("site:\n  data_dir: ./data\n")
    return tmp_path


COURSE = {
    "course.yaml": 'title: Data science 101\nenvironment:\n  python: "3.12"\n',
    "requirements.txt": "numpy>=1.26\n-r more.txt\n./helpers\n",
    "more.txt": "pandas\n",
    "helpers/pyproject.toml": "[project]\nname = 'ds101-helpers'\nversion = '1'\n",
    "week1/intro.ipynb": "{}\n",
    "data/secret-answers.csv": "q,a\n",
}


def test_containerfile_installs_the_environment_not_the_course(site: Path) -> None:
    add_course(site, COURSE)
    out = site / "image"
    done = coursehub(site, "course", "image", "ds101", "--output", str(out))
    assert done.returncode == 0, done.stderr
    text = (out / "Containerfile").read_text()
    assert text.startswith("# Environment of the course ds101 (Data science 101)")
    assert "FROM docker.io/library/python:3.12-slim" in text
    # the hub's own versions of JupyterHub and JupyterLab, and coursehub's extension
    assert f'"jupyterhub=={version("jupyterhub")}"' in text
    assert f'"jupyterlab=={version("jupyterlab")}"' in text
    assert "COPY coursehub-*.whl /tmp/wheels/" in text
    assert "ENV JUPYTER_CONFIG_PATH=/opt/coursehub-server-config" in text
    assert "-r requirements.txt" in text
    # a non-root user runs the server
    assert "useradd --uid 1000 --gid 100" in text
    assert text.index("USER 1000:100") > text.index("pip install")
    assert text.rstrip().endswith('CMD ["python3", "-m", "coursehub.student.singleuser"]')
    # what pip reads is copied, as in the repository; notebooks and data are not
    copied = sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file())
    assert copied == [
        "Containerfile",
        "requirements/helpers/pyproject.toml",
        "requirements/more.txt",
        "requirements/requirements.txt",
    ]
    assert "intro.ipynb" not in text and "secret-answers" not in text
    assert "courses.settings.ds101.image" in done.stdout
    assert "build -t IMAGE:TAG" in done.stdout and "pip wheel --no-deps" in done.stdout


def test_bad_requirements_give_the_same_error_as_course_build(site: Path) -> None:
    add_course(
        site,
        {"requirements.txt": "numpy\n--extra-index-url https://pypi.example.com/simple\n"},
    )
    image = coursehub(site, "course", "image", "ds101", "--output", str(site / "image"))
    build = coursehub(site, "course", "build", "ds101")
    assert image.returncode == build.returncode == 2
    assert "Traceback" not in image.stderr
    assert "requirements.txt:2: --extra-index-url is not allowed" in image.stderr
    assert image.stderr == build.stderr
    assert not (site / "image" / "Containerfile").exists()


def test_a_python_too_old_for_the_server_extension_is_refused(site: Path) -> None:
    add_course(site, {"course.yaml": 'environment:\n  python: "3.9"\n'})
    done = coursehub(site, "course", "image", "ds101")
    assert done.returncode != 0 and "Traceback" not in done.stderr
    assert 'environment.python: "3.9"' in done.stderr and "3.11 or newer" in done.stderr


def test_an_unknown_course_is_named(site: Path) -> None:
    done = coursehub(site, "course", "image", "nope")
    assert done.returncode != 0 and "nope" in done.stderr and "Traceback" not in done.stderr


def test_without_requirements_and_with_another_base(site: Path) -> None:
    add_course(site, {"week1/intro.ipynb": "{}\n"})
    out = site / "img"
    done = coursehub(
        site, "course", "image", "ds101", "-o", str(out), "--base", "quay.io/jupyter/base:2025"
    )
    assert done.returncode == 0, done.stderr
    text = (out / "Containerfile").read_text()
    assert "FROM quay.io/jupyter/base:2025" in text and "course-requirements" not in text
    assert not (out / "requirements").exists()

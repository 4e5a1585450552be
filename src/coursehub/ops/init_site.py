"""`coursehub init`: a commented starter coursehub.yaml, a demo course and demo accounts."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from coursehub.core.errors import CoursehubError

DEMO_ACCOUNTS = (
    ("teacher", "Demo Teacher", "instructor"),
    ("assistant", "Demo Assistant", "ta"),
    ("student1", "Demo Student One", "student"),
    ("student2", "Demo Student Two", "student"),
    ("student3", "Demo Student Three", "student"),
)


@dataclass
class InitResult:
    config_file: Path
    course_dir: Path
    credentials: list[tuple[str, str, str]] = field(default_factory=list)  # name, role, password
    credentials_file: Path | None = None


def init_site(
    directory: Path,
    *,
    port: int = 8000,
    site_name: str = "coursehub demo",
    demo_accounts: bool = True,
    force: bool = False,
) -> InitResult:
    """Write the starter files into `directory`; never overwrites without `force`."""
    check_init_options(port=port, site_name=site_name)
    if directory.exists() and not directory.is_dir():
        raise CoursehubError(f"{directory} is a file: give a folder to write the site into")
    directory.mkdir(parents=True, exist_ok=True)
    config_file = directory / "coursehub.yaml"
    if config_file.exists() and not force:
        raise CoursehubError(
            f"{config_file} already exists; edit it, or pass --force to replace it"
        )
    roster_file = directory / "roster.csv"
    roster_line = "file: ./roster.csv" if demo_accounts else "# file: ./roster.csv"
    template = resources.files("coursehub.starter").joinpath("coursehub.yaml.tmpl").read_text()
    config_file.write_text(
        template.format(site_name=yaml_string(site_name), port=port, roster_line=roster_line)
    )
    result = InitResult(config_file=config_file, course_dir=_demo_course(directory / "demo-course"))
    if demo_accounts:
        if roster_file.exists() and not force:
            result.credentials_file = directory / "demo-credentials.txt"
            return result
        result.credentials = [
            (name, role, secrets.token_urlsafe(9)) for name, _, role in DEMO_ACCOUNTS
        ]
        _write_private(
            roster_file,
            "username,full_name,email,role,password\n"
            + "".join(
                f"{name},{full},,{role},{pw}\n"
                for (name, full, role), (_, _, pw) in zip(
                    DEMO_ACCOUNTS, result.credentials, strict=True
                )
            ),
        )
        result.credentials_file = directory / "demo-credentials.txt"
        _write_private(
            result.credentials_file,
            "Demo accounts (change or remove them before real use):\n"
            + "".join(f"  {n:<10} {r:<10} {p}\n" for n, r, p in result.credentials),
        )
    return result


def check_init_options(*, port: int, site_name: str) -> None:
    """Refuse options that would write a coursehub.yaml `config check` rejects."""
    if not 1 <= port <= 65535:
        raise CoursehubError(f"--port {port} is not a port: use a number from 1 to 65535")
    if not site_name.strip():
        raise CoursehubError("--name is empty: give the site a name, e.g. --name 'Data School'")
    try:
        site_name.encode("utf-8")
    except UnicodeEncodeError:
        message = "--name is not valid UTF-8 text: check the terminal's encoding"
        raise CoursehubError(message) from None


def yaml_string(text: str) -> str:
    """`text` as a YAML scalar that reads back as the same string, whatever its quotes,
    colons, '#' or backslashes (a JSON string is a YAML double-quoted scalar). Letters
    stay readable; what YAML would read as a line break or drop is escaped."""
    quoted = json.dumps(text, ensure_ascii=False)
    return "".join(ch if ch.isprintable() else _escape(ch) for ch in quoted)


def _escape(ch: str) -> str:
    code = ord(ch)
    return f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}"


def _write_private(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
    os.chmod(path, 0o600)


DEMO_FILES = {
    "course.yaml": "course.yaml",
    "requirements.txt": "requirements.txt",
    "basics/01-welcome.ipynb": "01-welcome.ipynb",
    "basics/02-data.ipynb": "02-data.ipynb",
    "extras/03-myst.md": "03-myst.md",
    "data/cities.csv": "cities.csv",
}


def _demo_course(course: Path) -> Path:
    """A small course repository (two tracks, a data mapping, its own requirements),
    committed with git when git is available."""
    source = resources.files("coursehub.starter").joinpath("demo_course")
    for target, name in DEMO_FILES.items():
        path = course / target
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(source.joinpath(name).read_text())
    readme = course / "README.md"
    if not readme.exists():
        readme.write_text("# Demo course\n\nA first course to check that everything works.\n")
    git = shutil.which("git")
    if git and not (course / ".git").exists():
        env = {
            **os.environ,
            "GIT_AUTHOR_NAME": "coursehub",
            "GIT_AUTHOR_EMAIL": "coursehub@localhost",
            "GIT_COMMITTER_NAME": "coursehub",
            "GIT_COMMITTER_EMAIL": "coursehub@localhost",
        }
        for args in (
            ["init", "-q", "-b", "main"],
            ["add", "."],
            ["commit", "-q", "-m", "Demo course"],
        ):
            subprocess.run([git, *args], cwd=course, env=env, check=True)
    return course

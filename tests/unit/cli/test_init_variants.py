"""Every way of running `coursehub init` writes a coursehub.yaml that `coursehub config
check` accepts, run as an admin would: the real commands, one after the other."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from coursehub.config.loader import load_config


def coursehub(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "coursehub.cli", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=120,
    )


def check(config: Path) -> subprocess.CompletedProcess[str]:
    done = coursehub("--config", str(config), "config", "check")
    assert done.returncode == 0, f"config check rejected {config}:\n{done.stderr}"
    assert "is valid" in done.stdout
    assert "Traceback" not in done.stderr
    return done


# What a site folder held before: nothing, a demo site, a site without demo accounts.
BEFORE = {"new": None, "over-demo": [], "over-no-demo": ["--no-demo-accounts"]}


@pytest.mark.parametrize("demo_accounts", [True, False], ids=["demo", "no-demo"])
@pytest.mark.parametrize("before", list(BEFORE), ids=list(BEFORE))
@pytest.mark.parametrize(
    "options",
    [[], ["--port", "8443", "--name", "Data School 2026"]],
    ids=["defaults", "port-and-name"],
)
def test_each_init_variant_writes_a_config_that_config_check_accepts(
    tmp_path: Path, demo_accounts: bool, before: str, options: list[str]
) -> None:
    site = tmp_path / "site with spaces"
    earlier = BEFORE[before]
    if earlier is not None:
        assert coursehub("init", str(site), *earlier).returncode == 0
    args = ["init", str(site), *options]
    if not demo_accounts:
        args.append("--no-demo-accounts")
    if earlier is not None:
        args.append("--force")
    done = coursehub(*args)
    assert done.returncode == 0, done.stderr
    config_file = site / "coursehub.yaml"
    check(config_file)

    config = load_config(config_file).config
    assert config.site.port == (8443 if options else 8000)
    assert config.site.name == ("Data School 2026" if options else "coursehub demo")
    if demo_accounts:
        assert config.roster.file == site / "roster.csv"
        assert config.roster.file.exists()
        assert "Next: coursehub --config" in done.stdout and "up" in done.stdout
    else:
        assert config.roster.file is None
        assert "student1" not in done.stdout
        # no accounts at all: the next step says how to make the first admin
        assert "users add NAME --role admin" in done.stdout


def test_init_into_the_current_folder_by_default(tmp_path: Path) -> None:
    done = coursehub("init", "--no-demo-accounts", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    check(tmp_path / "coursehub.yaml")


@pytest.mark.parametrize(
    "name",
    [
        'Dr. "Quotes" Summer School',
        "Physique: cours #1 — l'Été",
        "back\\slash {braces} %s",
        "- [a list?]",
        "yes",
        "  leading and trailing spaces  ",
        "two\nlines\u2028and a separator",
        "tab\tand emoji 🎓",
    ],
)
def test_any_site_name_is_written_so_that_it_reads_back_the_same(tmp_path: Path, name: str) -> None:
    done = coursehub("init", str(tmp_path), "--no-demo-accounts", "--name", name)
    assert done.returncode == 0, done.stderr
    check(tmp_path / "coursehub.yaml")
    assert load_config(tmp_path / "coursehub.yaml").config.site.name == name


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--port", "0"], "--port 0 is not a port"),
        (["--port", "70000"], "--port 70000 is not a port"),
        (["--name", "   "], "--name is empty"),
    ],
)
def test_options_that_cannot_make_a_valid_config_are_refused_before_writing(
    tmp_path: Path, args: list[str], message: str
) -> None:
    done = coursehub("init", str(tmp_path / "site"), *args)
    assert done.returncode != 0
    assert message in done.stderr
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "site" / "coursehub.yaml").exists()


def test_a_file_in_place_of_the_folder_is_refused_with_a_message(tmp_path: Path) -> None:
    taken = tmp_path / "site"
    taken.write_text("not a folder\n")
    done = coursehub("init", str(taken))
    assert done.returncode != 0
    assert "is a file" in done.stderr and "Traceback" not in done.stderr

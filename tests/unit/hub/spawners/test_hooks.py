"""Start-up hooks: order, environment, timeouts, refusal of unsafe folders, logs."""

from __future__ import annotations

import asyncio
import os
import pwd
import secrets
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from jupyterhub.spawner import set_user_setuid

from coursehub.hub.spawners.hooks import (
    REASON_MAX,
    HookContext,
    HookError,
    UnsafeHooksError,
    run_hooks,
)

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="hooks are owned by root")


@pytest.fixture
def base() -> Iterator[Path]:
    # Outside pytest's 0700 tmp dirs: the as-user hooks run as `nobody`.
    path = Path(f"/tmp/coursehub-test-hooks-{secrets.token_hex(4)}")
    path.mkdir(mode=0o755)
    os.chmod(path, 0o755)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def site(base: Path) -> dict[str, Path]:
    hooks = base / "hooks"
    workspace = base / "home" / "courses" / "algebra"
    for folder in (hooks, hooks / "site", hooks / "algebra", workspace):
        folder.mkdir(parents=True, mode=0o755)
    # the workspace is the student's own, as make_workspace leaves it
    os.chmod(workspace, 0o777)
    return {"hooks": hooks, "workspace": workspace, "log": base / "logs" / "alice-algebra.log"}


def hook(path: Path, body: str) -> Path:
    path.write_text("#!/bin/sh\n" + body)
    os.chmod(path, 0o755)
    return path


def context(site: dict[str, Path], course: str = "algebra") -> HookContext:
    return HookContext(
        user="alice",
        course=course,
        home=site["workspace"].parent.parent,
        workspace=site["workspace"],
        unix_user="nobody",
    )


async def run(site: dict[str, Path], timeout: float = 30, course: str = "algebra") -> None:
    await run_hooks(
        site["hooks"], context(site, course), timeout, site["log"], set_user_setuid("nobody")
    )


async def test_root_hooks_run_first_then_the_students_site_before_course(
    site: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("JUPYTERHUB_API_TOKEN", "hub-secret")
    monkeypatch.setenv("COURSEHUB_SERVICE_TOKEN", "service-secret")
    trace = site["workspace"] / "trace"
    trace.touch()
    os.chmod(trace, 0o666)
    line = 'echo "$1$(basename $(dirname $0))/$(basename $0) $(id -un) $(pwd)" >> trace\n'
    for scope in ("site", "algebra"):
        for kind in ("as-root", "as-user"):
            hook(site["hooks"] / scope / kind, line + "env > env-$(basename $0)-$(id -u)\n")
    await run(site)
    ws = site["workspace"]
    nobody = pwd.getpwnam("nobody").pw_uid
    assert trace.read_text().splitlines() == [
        f"site/as-root root {ws}",
        f"algebra/as-root root {ws}",
        f"site/as-user nobody {ws}",
        f"algebra/as-user nobody {ws}",
    ]
    env = dict(
        line.split("=", 1) for line in (ws / f"env-as-user-{nobody}").read_text().splitlines()
    )
    assert env["COURSEHUB_USER"] == "alice"
    assert env["COURSEHUB_COURSE"] == "algebra"
    assert env["COURSEHUB_HOME"] == str(ws.parent.parent)
    assert env["COURSEHUB_WORKSPACE"] == str(ws)
    assert env["COURSEHUB_UNIX_USER"] == "nobody"
    assert env["HOME"] == str(ws.parent.parent)
    for name in ("env-as-root-0", f"env-as-user-{nobody}"):
        text = (ws / name).read_text()
        assert "secret" not in text and "JUPYTERHUB" not in text
    # files written by each part belong to who ran it
    assert (ws / "env-as-root-0").stat().st_uid == 0
    assert (ws / f"env-as-user-{nobody}").stat().st_uid == nobody


async def test_a_server_that_is_not_a_course_server_runs_only_the_site_hooks(
    site: dict[str, Path],
) -> None:
    hook(site["hooks"] / "site" / "as-root", "touch site-ran\n")
    hook(site["hooks"] / "algebra" / "as-root", "touch course-ran\n")
    await run(site, course="")
    assert (site["workspace"] / "site-ran").exists()
    assert not (site["workspace"] / "course-ran").exists()


async def test_the_log_is_roots_and_shows_the_students_uid(site: dict[str, Path]) -> None:
    hook(site["hooks"] / "site" / "as-user", "echo uid=$(id -u)\n")
    await run(site)
    await run(site)
    log = site["log"]
    text = log.read_text()
    assert text.count(f"uid={pwd.getpwnam('nobody').pw_uid}\n") == 2
    assert text.count("--- ") == 2 and "site/as-user" in text and "as nobody: exit 0" in text
    st = log.stat()
    assert st.st_uid == 0 and st.st_mode & 0o777 == 0o600
    assert log.parent.stat().st_mode & 0o777 == 0o700


async def test_a_failing_hook_stops_the_start_with_its_last_line(site: dict[str, Path]) -> None:
    hook(site["hooks"] / "site" / "as-root", "echo preparing\necho 'no quota left' >&2\nexit 3\n")
    hook(site["hooks"] / "algebra" / "as-root", "touch course-ran\n")
    with pytest.raises(HookError) as failure:
        await run(site)
    assert str(failure.value) == "The site's start-up script failed (exit 3): no quota left"
    assert not (site["workspace"] / "course-ran").exists()
    assert "preparing\nno quota left\n" in site["log"].read_text()


async def test_output_is_bounded_in_the_log_and_on_the_progress_page(
    site: dict[str, Path],
) -> None:
    # 4 MB of output, then one very long last line
    hook(
        site["hooks"] / "algebra" / "as-user",
        "head -c 4000000 /dev/zero | tr '\\0' 'x' | fold -w 100; echo\n"
        "printf 'y%.0s' $(seq 1 5000)\nexit 1\n",
    )
    with pytest.raises(HookError) as failure:
        await run(site)
    message = str(failure.value)
    assert message.startswith("The course's start-up script failed (exit 1): yyy")
    assert len(message) < REASON_MAX + 100
    text = site["log"].read_text()
    assert "bytes of output left out" in text
    assert site["log"].stat().st_size < 100_000


def _gone(pid: int) -> bool:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return True
    return "State:\tZ" in status


async def test_a_hook_past_its_timeout_is_stopped_with_everything_it_started(
    site: dict[str, Path],
) -> None:
    pids = site["workspace"] / "pids"
    hook(
        site["hooks"] / "site" / "as-user",
        "sleep 300 &\necho $! > pids\necho $$ >> pids\nwait\n",
    )
    with pytest.raises(HookError) as failure:
        await run(site, timeout=2)
    assert str(failure.value) == "The site's start-up script did not finish within 2 s"
    started = [int(p) for p in pids.read_text().split()]
    assert len(started) == 2
    deadline = time.monotonic() + 30
    while not all(_gone(p) for p in started) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert all(_gone(p) for p in started)
    assert "as nobody: timed out" in site["log"].read_text()


async def test_something_left_running_does_not_hold_up_the_start(site: dict[str, Path]) -> None:
    # the hook exits at once but a background child keeps its output open
    hook(site["hooks"] / "site" / "as-root", "sleep 300 &\necho $! > bg\necho started\n")
    await run(site, timeout=60)
    pid = int((site["workspace"] / "bg").read_text())
    deadline = time.monotonic() + 30
    while not _gone(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _gone(pid)
    assert "started" in site["log"].read_text()


@pytest.mark.parametrize(
    "spoil",
    [
        lambda hooks: os.chmod(hooks, 0o775),
        lambda hooks: os.chmod(hooks / "algebra", 0o777),
        lambda hooks: os.chmod(hooks / "algebra" / "as-root", 0o757),
        lambda hooks: os.chown(hooks / "algebra" / "as-root", pwd.getpwnam("nobody").pw_uid, 0),
        lambda hooks: os.chown(hooks / "algebra", pwd.getpwnam("nobody").pw_uid, 0),
        lambda hooks: os.chmod(hooks.parent, 0o777),
    ],
    ids=[
        "dir-group-writable",
        "course-world-writable",
        "hook-writable",
        "hook-owner",
        "course-owner",
        "parent-writable",
    ],
)
async def test_hooks_others_could_change_are_refused_and_nothing_runs(
    site: dict[str, Path], spoil
) -> None:  # noqa: ANN001
    hook(site["hooks"] / "site" / "as-root", "touch site-ran\n")
    hook(site["hooks"] / "algebra" / "as-root", "touch course-ran\n")
    spoil(site["hooks"])
    with pytest.raises(UnsafeHooksError):
        await run(site)
    assert not list(site["workspace"].iterdir())


async def test_a_link_to_a_script_others_may_change_is_refused(
    site: dict[str, Path], base: Path
) -> None:
    planted = hook(base / "planted", "touch ran\n")
    os.chmod(planted, 0o777)
    (site["hooks"] / "site" / "as-root").symlink_to(planted)
    with pytest.raises(UnsafeHooksError):
        await run(site)
    assert not (site["workspace"] / "ran").exists()


async def test_a_missing_folder_or_a_script_that_cannot_run_fails_the_start(
    site: dict[str, Path],
) -> None:
    (site["hooks"] / "site" / "as-root").write_text("#!/bin/sh\ntrue\n")
    os.chmod(site["hooks"] / "site" / "as-root", 0o644)
    with pytest.raises(UnsafeHooksError, match="not executable"):
        await run(site)
    shutil.rmtree(site["hooks"])
    with pytest.raises(UnsafeHooksError, match="does not exist"):
        await run(site)


async def test_a_start_given_up_during_a_hook_stops_the_hook(site: dict[str, Path]) -> None:
    started = site["workspace"] / "pid"
    hook(site["hooks"] / "site" / "as-root", "echo $$ > pid.tmp\nmv pid.tmp pid\nsleep 300\n")
    task = asyncio.ensure_future(run(site, timeout=300))
    deadline = time.monotonic() + 30
    while not started.exists() and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    pid = int(started.read_text())
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    deadline = time.monotonic() + 30
    while not _gone(pid) and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    assert _gone(pid)

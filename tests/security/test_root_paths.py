"""A student tries to make root act on a path of their choosing by swapping a name root
walks through in their home for a symbolic link, between root's check and root's use
(renameat2 RENAME_EXCHANGE swaps two names in one step, so at every instant one of them
is the real folder and the other the link), or by planting a link where root will go.

The attacker is a real student account: code run in the student's own notebook in
their course server (through the real hub) plants the links or starts the swap loop.
Root's side is each time the function the hub, the service or the CLI calls, run as
root in this process on the same site: the spawner's workspace preparation
(`CoursehubLocalSpawner.make_workspace`, on a spawner set up as the hub sets up its
own), the start-up hooks (`run_hooks`), `take_backup` and `restore_backup`. A race
needs up to thousands of tries, and a real server start, `coursehub backup` or
`coursehub restore` per try would leave a test running for hours. Notebook copies go
through the real service.

Each race runs a number of tries, counted from when the student's loop is seen swapping
the names, and at most RACE_SECONDS. The counts are many times what deliberately
check-then-use variants of root's side needed to lose (measured on this suite's 2-core
machine, 8 runs each, the racers as here): a chown of the workspace by path after
checking each level for a link lost within 10 tries, a descriptor walk that checked
each name with lstat before opening it within 500; a backup that opened a listed
folder again by its path lost within 4 tries; a restore that checked with lstat before
opening within 32."""

from __future__ import annotations

import asyncio
import contextlib
import os
import pwd
import shutil
import signal
import stat
import time
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace

import pytest

from coursehub.backups.create import BackupError, BackupSources, take_backup
from coursehub.backups.restore import restore_backup
from coursehub.hub.spawners.hooks import HookContext, HookError, run_hooks
from coursehub.hub.spawners.local import CoursehubLocalSpawner
from tests.helpers import hubproc
from tests.helpers.browserless import login, start_server
from tests.helpers.kernel import run_code

pytestmark = [pytest.mark.integration, pytest.mark.root]

USERS = {"alice": "alice-pass-123"}
COURSE = "ds101"
RACE_SECONDS = 60  # the bound; the race is usually won within a second
WORKSPACE_TRIES = 100_000  # a few seconds; the check-then-use variants: at most 500
BACKUP_TRIES = 40  # each a whole backup; the path-reopening variant: at most 4
RESTORE_TRIES = 200  # each a whole restore; the check-then-open variant: at most 32

# Run from alice's notebook: starts the swap loop in the background, prints its pid.
# `~/decoy` points at the site's course folder (the checkout, the environment root
# later runs); with the names swapped, ~/courses/ds101 is that folder.
START_RACER = r"""
import os, subprocess, sys
home = os.path.expanduser("~")
target = {target!r}
if not os.path.lexists(os.path.join(home, "decoy")):
    os.symlink(target, os.path.join(home, "decoy"))
racer = subprocess.Popen(
    [sys.executable, "-I", "-c", {loop!r}, home, {course!r}, str({seconds})],
    stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    start_new_session=True,
)
print("RACER", racer.pid)
"""

LOOP = r"""
import ctypes, os, sys, time
home, course, seconds = sys.argv[1], sys.argv[2], float(sys.argv[3])
libc = ctypes.CDLL(None, use_errno=True)
renameat2 = libc.renameat2
renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
AT_FDCWD, RENAME_EXCHANGE = -100, 2
os.chdir(home)
end = time.monotonic() + seconds
while time.monotonic() < end:
    for _ in range(200):
        renameat2(AT_FDCWD, b"courses", AT_FDCWD, b"decoy", RENAME_EXCHANGE)
    # Take the workspace away so root makes it again. Through the link this fails:
    # the course folder is root's.
    for path in ("courses/" + course, "decoy/" + course):
        try:
            os.rmdir(path)
        except OSError:
            try:  # not empty: the running server's files
                os.rename(path, path + ".kept-%d" % time.monotonic_ns())
            except OSError:
                pass
"""


@pytest.fixture(scope="module")
def hub(
    start_hub: Callable[..., hubproc.RunningHub], make_course_repo: Callable[..., Path]
) -> hubproc.RunningHub:
    notebook = '{"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}\n'
    repo = make_course_repo({"intro.ipynb": notebook, "week1/lesson.ipynb": notebook})
    return start_hub(
        "root-paths",
        outside_tmp=True,
        users=USERS,
        courses={COURSE: hubproc.Course(repo, students=["alice"])},
    )


def _wait_until_swapping(name: Path) -> None:
    """Until `name` has been seen both as a link and as a folder: the student's loop
    runs, so every try counted from now on meets it."""
    seen: set[bool] = set()
    deadline = time.monotonic() + 30
    while len(seen) < 2:
        assert time.monotonic() < deadline, f"the swap loop never swapped {name}"
        seen.add(os.path.islink(name))


def _owner_and_mode(path: Path) -> tuple[int, int, int]:
    st = os.lstat(path)
    return st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)


def _put_back(home: Path, before: tuple[int, int, int], victim: Path) -> None:
    """Undo what the attack did, so the site can be removed and reused."""
    courses, decoy = home / "courses", home / "decoy"
    if courses.is_symlink() and decoy.is_dir() and not decoy.is_symlink():
        os.rename(decoy, home / "courses.real")
        os.unlink(courses)
        os.rename(home / "courses.real", courses)
    with contextlib.suppress(FileNotFoundError):
        os.unlink(decoy)
    uid, gid, mode = before
    os.chown(victim, uid, gid, follow_symlinks=False)
    os.chmod(victim, mode)


def test_a_student_cannot_redirect_roots_chown_of_their_workspace(
    hub: hubproc.RunningHub,
) -> None:
    client = login(hub.url, "alice", USERS["alice"])
    events = start_server(client, "alice", server=COURSE)
    assert events and events[-1].get("ready"), f"{events}\n{hub.log_tail()}"
    victim = hub.data_dir / "courses" / COURSE
    before = _owner_and_mode(victim)
    assert before[0] == 0, before

    spawner = CoursehubLocalSpawner(
        user=SimpleNamespace(name="alice"),
        user_prefix=hub.prefix,
        home_root=str(hub.home_root),
    )
    home = Path(spawner.home_dir)
    workspace = home / "courses" / COURSE

    code = START_RACER.format(
        target=str(victim.parent), loop=LOOP, course=COURSE, seconds=RACE_SECONDS + 10
    )
    out = run_code(f"{hub.url}/user/alice/{COURSE}/", hub.user_token("alice"), code)
    racer = int(out["stdout"].split("RACER")[1].split()[0])
    tries = refused = 0
    after = before
    try:
        _wait_until_swapping(home / "courses")
        deadline = time.monotonic() + RACE_SECONDS
        while tries < WORKSPACE_TRIES and time.monotonic() < deadline:
            tries += 1
            try:
                spawner.make_workspace(workspace)  # as the hub does before each start
            except Exception:  # noqa: BLE001 - a refused start is what the hub would show
                refused += 1
            after = _owner_and_mode(victim)
            if after != before:
                break
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(racer, signal.SIGKILL)
        time.sleep(0.2)
        _put_back(home, before, victim)

    assert after == before, f"root changed {victim} to {after} after {tries} tries"
    assert tries > 1000, (tries, refused)  # the race was really run

    # Without the attacker, a start through the hub still makes a private workspace.
    auth = {"Authorization": f"token {hub.user_token('alice')}"}
    stop = client.delete(f"/hub/api/users/alice/servers/{COURSE}", headers=auth)
    assert stop.status_code in (202, 204), stop.text
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if COURSE not in client.get("/hub/api/users/alice", headers=auth).json()["servers"]:
            break
        time.sleep(0.5)
    with contextlib.suppress(OSError):
        os.rmdir(workspace)  # empty unless the server wrote there
    events = start_server(client, "alice", server=COURSE)
    assert events and events[-1].get("ready"), f"{events}\n{hub.log_tail()}"
    entry = os.lstat(workspace)
    assert stat.S_ISDIR(entry.st_mode) and stat.S_IMODE(entry.st_mode) == 0o700
    assert (entry.st_uid, entry.st_gid) == (os.lstat(home).st_uid, os.lstat(home).st_gid)


# Run from alice's notebook: the workspace her server runs in is put aside and a link
# to a folder of root's takes its name, as a swap right after the spawner's check would.
SWAP_WORKSPACE = r"""
import os
ws = os.path.expanduser("~/courses/{course}")
os.rename(ws, ws + ".real")
os.symlink({target!r}, ws)
print("SWAPPED", os.path.islink(ws))
"""


def test_a_student_cannot_move_an_as_root_hook_into_a_folder_of_roots(
    hub: hubproc.RunningHub, site_folder: Callable[..., Path]
) -> None:
    """The hooks run right after the workspace is checked; the student's link is put in
    place before `run_hooks` is called, as the spawner's `_run_hooks` calls it."""
    client = login(hub.url, "alice", USERS["alice"])
    events = start_server(client, "alice", server=COURSE)
    assert events and events[-1].get("ready"), f"{events}\n{hub.log_tail()}"
    base = site_folder("root-hooks", outside_tmp=True)
    target = base / "roots-own"
    target.mkdir(mode=0o755)
    hooks = base / "hooks"
    (hooks / "site").mkdir(parents=True, mode=0o755)
    script = hooks / "site" / "as-root"
    script.write_text("#!/bin/sh\ntouch hook-was-here\n")
    script.chmod(0o755)

    spawner = CoursehubLocalSpawner(
        user=SimpleNamespace(name="alice"), user_prefix=hub.prefix, home_root=str(hub.home_root)
    )
    home = Path(spawner.home_dir)
    workspace = home / "courses" / COURSE
    code = SWAP_WORKSPACE.format(course=COURSE, target=str(target))
    out = run_code(f"{hub.url}/user/alice/{COURSE}/", hub.user_token("alice"), code)
    assert "SWAPPED True" in out["stdout"], out
    context = HookContext(
        user="alice",
        course=COURSE,
        home=home,
        workspace=workspace,
        unix_user=spawner.system_username,
    )
    refused = ""
    try:
        asyncio.run(run_hooks(hooks, context, 30, base / "hooks.log", spawner.switch_user()))
    except HookError as exc:
        refused = str(exc)  # what the spawn page shows
    finally:
        os.unlink(workspace)
        os.rename(home / "courses" / f"{COURSE}.real", workspace)
    assert list(target.iterdir()) == []
    assert "course folder" in refused and "symbolic link" in refused, refused


ROOTS_SECRET = "root's secret: only root may read this\n"

# Run from alice's notebook: ~/work holds a file of hers named like root's file; the
# loop keeps swapping ~/work with a link to root's folder while root backs up homes.
START_BACKUP_RACER = r"""
import os, subprocess, sys
home = os.path.expanduser("~")
os.makedirs(os.path.join(home, "work"), exist_ok=True)
with open(os.path.join(home, "work", "secret"), "w") as f:
    f.write("alice's own notes\n")
if not os.path.lexists(os.path.join(home, "decoy")):
    os.symlink({target!r}, os.path.join(home, "decoy"))
loop = '''
import ctypes, os, sys, time
libc = ctypes.CDLL(None, use_errno=True)
renameat2 = libc.renameat2
renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
os.chdir(sys.argv[1])
end = time.monotonic() + float(sys.argv[2])
while time.monotonic() < end:
    for _ in range(1000):
        renameat2(-100, b"work", -100, b"decoy", 2)
'''
racer = subprocess.Popen(
    [sys.executable, "-I", "-c", loop, home, str({seconds})],
    stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    start_new_session=True,
)
print("RACER", racer.pid)
"""


def test_a_student_cannot_get_roots_file_into_their_home_through_a_backup(
    hub: hubproc.RunningHub, site_folder: Callable[..., Path]
) -> None:
    """Root's side is `take_backup`, the function `coursehub backup` and the service's
    backup task call, run in this process as root once per try (a whole `coursehub
    backup` per try would only be slower). A backup that records root's file as one of
    alice's would give it to her at the next restore."""
    client = login(hub.url, "alice", USERS["alice"])
    events = start_server(client, "alice", server=COURSE)
    assert events and events[-1].get("ready"), f"{events}\n{hub.log_tail()}"
    base = site_folder("root-backup", outside_tmp=True)
    secret_dir = base / "roots-own"
    secret_dir.mkdir(mode=0o700)
    (secret_dir / "secret").write_text(ROOTS_SECRET)
    dest = base / "backups"
    sources = BackupSources(data_dir=hub.data_dir, home_root=hub.home_root, user_prefix=hub.prefix)
    code = START_BACKUP_RACER.format(target=str(secret_dir), seconds=RACE_SECONDS + 10)
    out = run_code(f"{hub.url}/user/alice/{COURSE}/", hub.user_token("alice"), code)
    racer = int(out["stdout"].split("RACER")[1].split()[0])
    tries, leaked, failed = 0, [], []
    try:
        _wait_until_swapping(Path(pwd.getpwnam(hub.unix_name("alice")).pw_dir) / "work")
        deadline = time.monotonic() + RACE_SECONDS
        while tries < BACKUP_TRIES and time.monotonic() < deadline and not leaked:
            tries += 1
            try:
                taken = take_backup(sources, dest)
            except OSError as exc:  # a name changed kind under the walk
                failed.append(str(exc))
                continue
            homes = taken / "homes"
            leaked = [
                str(p.relative_to(taken))
                for p in homes.rglob("*")
                if p.is_file() and not p.is_symlink() and p.read_bytes() == ROOTS_SECRET.encode()
            ]
            shutil.rmtree(taken)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(racer, signal.SIGKILL)
    assert leaked == [], f"root's file went into the backup of alice's home after {tries} tries"
    assert tries > 10, tries  # the race was really run
    assert failed == [], f"{len(failed)} of {tries} backups failed: {failed[:3]}"


# Run from alice's notebook: ~/restore-here is an empty folder of hers, swapped over and
# over with a link to root's folder while root restores a backup into the home root.
START_RESTORE_RACER = r"""
import os, subprocess, sys
home = os.path.expanduser("~")
os.makedirs(os.path.join(home, "restore-here"), exist_ok=True)
if not os.path.lexists(os.path.join(home, "restore-decoy")):
    os.symlink({target!r}, os.path.join(home, "restore-decoy"))
loop = '''
import ctypes, os, sys, time
libc = ctypes.CDLL(None, use_errno=True)
renameat2 = libc.renameat2
renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
os.chdir(sys.argv[1])
end = time.monotonic() + float(sys.argv[2])
while time.monotonic() < end:
    for _ in range(1000):
        renameat2(-100, b"restore-here", -100, b"restore-decoy", 2)
'''
racer = subprocess.Popen(
    [sys.executable, "-I", "-c", loop, home, str({seconds})],
    stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    start_new_session=True,
)
print("RACER", racer.pid)
"""


def test_a_student_cannot_make_a_restore_write_into_roots_folder(
    hub: hubproc.RunningHub, site_folder: Callable[..., Path]
) -> None:
    """A restore of student homes into a home root where the students' accounts and
    homes already are (the default: where they were). Root's side is `restore_backup`,
    as `coursehub restore` calls it, run in this process once per try into a new data
    directory (a whole `coursehub restore` per try would only be slower)."""
    client = login(hub.url, "alice", USERS["alice"])
    events = start_server(client, "alice", server=COURSE)
    assert events and events[-1].get("ready"), f"{events}\n{hub.log_tail()}"
    alice = pwd.getpwnam(hub.unix_name("alice"))
    base = site_folder("root-restore", outside_tmp=True)
    roots_own = base / "roots-own"
    roots_own.mkdir(mode=0o755)
    # A backup whose only home is alice's, holding restore-here/notes.
    src_home = base / "src-homes" / alice.pw_name
    (src_home / "restore-here").mkdir(parents=True, mode=0o700)
    (src_home / "restore-here" / "notes").write_text("alice's notes\n")
    for path in (src_home, src_home / "restore-here", src_home / "restore-here" / "notes"):
        os.chown(path, alice.pw_uid, alice.pw_gid)
    sources = BackupSources(
        data_dir=hub.data_dir, home_root=src_home.parent, user_prefix=hub.prefix
    )
    backup = take_backup(sources, base / "backups")
    home = Path(alice.pw_dir)

    code = START_RESTORE_RACER.format(target=str(roots_own), seconds=RACE_SECONDS + 10)
    out = run_code(f"{hub.url}/user/alice/{COURSE}/", hub.user_token("alice"), code)
    racer = int(out["stdout"].split("RACER")[1].split()[0])
    tries = refused = 0
    try:
        _wait_until_swapping(home / "restore-here")
        deadline = time.monotonic() + RACE_SECONDS
        while tries < RESTORE_TRIES and time.monotonic() < deadline:
            tries += 1
            into = base / f"try-{tries}"
            try:
                restore_backup(
                    backup, into / "data", into / "coursehub.yaml", home_root=hub.home_root
                )
            except (BackupError, OSError):
                refused += 1  # a refused restore is fine; one written into root's folder is not
            if any(roots_own.iterdir()):
                break
            shutil.rmtree(into, ignore_errors=True)
            _remove_restored(home)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(racer, signal.SIGKILL)
    found = {p.name: os.lstat(p).st_uid for p in roots_own.iterdir()}
    assert found == {}, f"the restore wrote {found} into root's folder after {tries} tries"
    assert tries > 10, (tries, refused)  # the race was really run


def _remove_restored(home: Path) -> None:
    """Remove the restored notes from alice's real folder, whichever name it has now."""
    with contextlib.ExitStack() as stack:
        fd = os.open(home, os.O_RDONLY | os.O_DIRECTORY)
        stack.callback(os.close, fd)
        for name in ("restore-here", "restore-decoy"):
            try:
                folder = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=fd)
            except OSError:
                continue  # the link
            stack.callback(os.close, folder)
            with contextlib.suppress(FileNotFoundError):
                os.unlink("notes", dir_fd=folder)


# Run from alice's notebook: links in her workspace where the course's files will go.
PLANT_LINKS = r"""
import os
ws = os.path.expanduser("~/courses/{course}")
for name, target in (("intro.ipynb", {file!r}), ("week1", {folder!r})):
    path = os.path.join(ws, name)
    if os.path.lexists(path):
        os.rename(path, path + ".before")
    os.symlink(target, path)
print("PLANTED", sorted(os.listdir(ws)))
"""


def test_links_in_a_workspace_never_lead_a_notebook_copy_into_roots_files(
    hub: hubproc.RunningHub, site_folder: Callable[..., Path]
) -> None:
    """Opening a notebook link copies the course's notebook into the workspace (a
    release of an assignment copies the same way). Links the student planted where
    those files go must lead nowhere the student could not write already."""
    client = login(hub.url, "alice", USERS["alice"])
    events = start_server(client, "alice", server=COURSE)
    assert events and events[-1].get("ready"), f"{events}\n{hub.log_tail()}"
    base = site_folder("root-copies", outside_tmp=True)
    roots_file = base / "roots-file"
    roots_file.write_text(ROOTS_SECRET)
    roots_file.chmod(0o644)
    roots_folder = base / "roots-folder"
    roots_folder.mkdir(mode=0o755)
    code = PLANT_LINKS.format(course=COURSE, file=str(roots_file), folder=str(roots_folder))
    out = run_code(f"{hub.url}/user/alice/{COURSE}/", hub.user_token("alice"), code)
    assert "PLANTED" in out["stdout"], out
    kept = client.get(f"/services/coursehub/open/{COURSE}/intro.ipynb", follow_redirects=True)
    assert "/lab/tree/intro.ipynb" in str(kept.url)  # her own entry is kept, as any file
    # signed out of the coursehub pages, the hub opens the link (hub/course_links.py);
    # either way the click ends on the refusal, and nothing was copied
    link = f"/services/coursehub/open/{COURSE}/week1/lesson.ipynb"
    refused = client.get(link, follow_redirects=True)
    assert refused.status_code >= 400 and "copying the notebook" in refused.text, refused.url
    assert _owner_and_mode(roots_file) == (0, 0, 0o644)
    assert roots_file.read_text() == ROOTS_SECRET
    assert list(roots_folder.iterdir()) == []


# Run from alice's notebook: ~/courses put aside, a link to root's folder in its place.
PLANT_COURSES_LINK = r"""
import os
courses = os.path.expanduser("~/courses")
os.rename(courses, courses + ".real")
os.symlink({target!r}, courses)
print("PLANTED", os.path.islink(courses))
"""


def test_a_link_in_place_of_the_courses_folder_stops_the_start_and_says_so(
    hub: hubproc.RunningHub, site_folder: Callable[..., Path]
) -> None:
    client = login(hub.url, "alice", USERS["alice"])
    events = start_server(client, "alice", server=COURSE)
    assert events and events[-1].get("ready"), f"{events}\n{hub.log_tail()}"
    base = site_folder("root-courses-link", outside_tmp=True)
    roots_folder = base / "roots-folder"
    roots_folder.mkdir(mode=0o755)
    code = PLANT_COURSES_LINK.format(target=str(roots_folder))
    out = run_code(f"{hub.url}/user/alice/{COURSE}/", hub.user_token("alice"), code)
    assert "PLANTED True" in out["stdout"], out
    home = Path(pwd.getpwnam(hub.unix_name("alice")).pw_dir)
    auth = {"Authorization": f"token {hub.user_token('alice')}"}
    try:
        stop = client.delete(f"/hub/api/users/alice/servers/{COURSE}", headers=auth)
        assert stop.status_code in (202, 204), stop.text
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if COURSE not in client.get("/hub/api/users/alice", headers=auth).json()["servers"]:
                break
            time.sleep(0.5)
        events = start_server(client, "alice", server=COURSE)
    finally:
        os.unlink(home / "courses")
        os.rename(home / "courses.real", home / "courses")
    shown = " ".join(str(e.get("message", "")) for e in events)
    assert not events[-1].get("ready"), events
    assert "symbolic link" in shown and str(home / "courses") in shown, events
    assert _owner_and_mode(roots_folder) == (0, 0, 0o755)
    assert list(roots_folder.iterdir()) == []

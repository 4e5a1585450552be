"""One Python environment per course, built from the course's requirements file.

Layout: ``env_dir`` is a symlink to a generation directory next to it
(``<name>.<12 hex>``). A build creates a new generation, installs into it and only
then repoints the symlink with rename(2), so a running server or kernel never sees a
half-built environment and a failed build leaves the previous one in place. A venv is
not relocatable (console-script shebangs and compiled files embed its path), which is
why the generation is never renamed; kernels use the stable ``env_dir/bin/python``.
The previous generation is removed right after the swap: running kernels keep what
they have already loaded (unlinked files stay readable) and import anything else
through ``env_dir``, i.e. from the new generation; a kernel restart gets it entirely.

Builds run with umask 022 and a final pass that makes everything world-readable,
because students' servers run under their own accounts. On a hub (as root) pip runs
as an unprivileged build account (``run_as``), never as root: a course's requirements
may run arbitrary code (sdists' setup.py). That account gets only the new generation
and a cache; afterwards its leftover processes are killed and the generation is
handed back to root, so no later build can change what students run.
"""

from __future__ import annotations

import fcntl
import json
import os
import pwd
import re
import secrets
import shlex
import shutil
import signal
import stat
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

from coursehub.core import safe_dirs
from coursehub.core.reach import closed_folders, unreachable_message
from coursehub.courses.environment_errors import EnvironmentBuildError, RequirementsError
from coursehub.courses.requirements import (
    PROJECT_NAME,
    Requirement,
    RequirementInputs,
    canonical_name,
    check_requirements,
    read_requirements,
)

__all__ = [
    "BuildResult",
    "EnvironmentBuildError",
    "RequirementsError",
    "build_environment",
    "check_requirements",
    "expected_stamp",
    "needs_rebuild",
    "read_stamp",
    "remove_environment",
]

IPYKERNEL_REQUIREMENT = "ipykernel>=6.29,<8"
STAMP_NAME = "coursehub-environment.json"
NOT_INSTALLED_NAME = "coursehub-not-installed.json"  # conda packages pip could not install
STAMP_FORMAT = 1
TAIL_LINES = 40
MAX_LINE_BYTES = 8192

Log = Callable[[str], None]


@dataclass(frozen=True)
class BuildResult:
    built: bool  # False: the stamp matched and nothing was done
    env_dir: Path
    python: Path  # env_dir/bin/python, the path kernelspecs use
    requirements_sha256: str
    seconds: float


# --- stamp ----------------------------------------------------------------------------

_QUERY = (
    "import json, os, sys; print(json.dumps({'executable': "
    "os.path.realpath(getattr(sys, '_base_executable', sys.executable)), "
    "'version': '%d.%d' % sys.version_info[:2]}))"
)


def _interpreter(python: str) -> dict[str, str]:
    """The base interpreter behind `python` (a venv's python resolves to it) and its X.Y."""
    try:
        out = subprocess.run(
            [python, "-I", "-c", _QUERY], capture_output=True, text=True, timeout=60, check=True
        )
        info = json.loads(out.stdout)
        return {"executable": str(info["executable"]), "version": str(info["version"])}
    except (OSError, subprocess.SubprocessError, ValueError, KeyError, TypeError) as exc:
        raise EnvironmentBuildError(f"cannot run the interpreter {python!r}: {exc}") from None


def _stamp(inputs: RequirementInputs, interpreter: dict[str, str]) -> dict[str, object]:
    # X.Y, not the patch release: a venv links to its base and survives patch upgrades.
    return {
        "format": STAMP_FORMAT,
        "requirements_sha256": inputs.digest,
        "python": interpreter["executable"],
        "python_version": interpreter["version"],
        "ipykernel": IPYKERNEL_REQUIREMENT,
    }


def read_stamp(env_dir: Path) -> dict[str, object] | None:
    try:
        stamp = json.loads(_read_own_file(env_dir, STAMP_NAME))
    except (OSError, ValueError):
        return None
    return stamp if isinstance(stamp, dict) else None


def _up_to_date(env_dir: Path, expected: dict[str, object]) -> bool:
    return read_stamp(env_dir) == expected and os.access(env_dir / "bin" / "python", os.X_OK)


def expected_stamp(
    requirements: Path | None, python: str = sys.executable, *, root: Path | None = None
) -> dict[str, object]:
    """The stamp a build from these inputs writes (raises RequirementsError on a bad file)."""
    return _stamp(read_requirements(requirements, root), _interpreter(python))


def needs_rebuild(
    requirements: Path | None,
    env_dir: Path,
    python: str = sys.executable,
    *,
    root: Path | None = None,
) -> bool:
    """Whether build_environment would rebuild (raises RequirementsError on a bad file)."""
    return not _up_to_date(Path(env_dir), expected_stamp(requirements, python, root=root))


# --- running pip ----------------------------------------------------------------------

_KEEP_ENV = {"PATH", "HOME", "LANG", "LC_ALL", "LC_CTYPE", "TMPDIR", "SSL_CERT_FILE"}
_KEEP_ENV |= {"SSL_CERT_DIR", "REQUESTS_CA_BUNDLE", "XDG_CONFIG_HOME", "XDG_CONFIG_DIRS"}
_KEEP_ENV |= {"XDG_CACHE_HOME", "http_proxy", "https_proxy", "no_proxy", "HTTP_PROXY"}
_KEEP_ENV |= {"HTTPS_PROXY", "NO_PROXY"}


def _child_env() -> dict[str, str]:
    # Only what pip needs: the hub's environment may hold tokens, and PYTHONPATH or
    # VIRTUAL_ENV would leak coursehub's own packages into the build.
    env = {k: v for k, v in os.environ.items() if k in _KEEP_ENV or k.startswith("PIP_")}
    env.setdefault("PATH", os.defpath)
    env.update(PYTHONUNBUFFERED="1", PIP_NO_INPUT="1", PIP_DISABLE_PIP_VERSION_CHECK="1")
    return env


@dataclass(frozen=True)
class BuildAccount:
    """The unprivileged account pip runs as, and the folder it may write to."""

    uid: int
    gid: int
    cache: Path


def _run(
    cmd: list[str],
    *,
    cwd: Path,
    log: Log | None,
    deadline: float,
    tail: deque[str],
    account: BuildAccount | None = None,
) -> int:
    """Run `cmd`, streaming its output lines to `log`; keep only the last lines."""
    env = _child_env()
    as_account: dict = {}
    if account is not None:
        env.update(HOME=str(account.cache), XDG_CACHE_HOME=str(account.cache))
        as_account = {"user": account.uid, "group": account.gid, "extra_groups": []}
    proc = subprocess.Popen(
        cmd,
        cwd=cwd,
        env=env,
        **as_account,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        umask=0o022,
        start_new_session=True,  # so a timeout also stops the compilers pip started
    )
    timed_out = threading.Event()

    def kill() -> None:
        if proc.poll() is None:
            timed_out.set()
            os.killpg(proc.pid, signal.SIGKILL)

    timer = threading.Timer(max(deadline - time.monotonic(), 0), kill)
    timer.start()
    try:
        assert proc.stdout is not None
        while chunk := proc.stdout.readline(MAX_LINE_BYTES):
            line = chunk.decode("utf-8", "replace").rstrip("\r\n")
            tail.append(line)
            if log is not None:
                log(line)
        code = proc.wait()
    finally:
        timer.cancel()
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()
    if timed_out.is_set():
        raise EnvironmentBuildError("the build took too long and was stopped", list(tail))
    return code


def _explain(lines: list[str], found: list[Requirement], code: int) -> str:
    """Turn pip's output into one sentence saying what to fix."""
    text = "\n".join(lines)
    if match := re.search(r"No matching distribution found for (\S+)", text):
        spec = match[1]
        name = PROJECT_NAME.match(spec)
        where = [r.where for r in found if name and r.name == canonical_name(name[1])]
        if where:
            file, _, line = where[0].rpartition(":")
            return (
                f"line {line} of {file}: no matching distribution for {spec} "
                "(check the name and version on PyPI, and that it supports this Python)"
            )
        return f"no matching distribution for {spec}, which a listed requirement needs"
    if "ResolutionImpossible" in text or "conflicting dependencies" in text:
        cannot = re.search(r"ERROR: (Cannot install .*)", text)
        detail = cannot[1] if cannot else "see pip's explanation below"
        return (
            f"the requirements conflict with each other or with {IPYKERNEL_REQUIREMENT}: {detail}"
        )
    if match := re.search(r"Failed (?:building wheel for|to build) (\S+)", text):
        return (
            f"{match[1]} could not be built from source: pin a version that has a wheel "
            "for this Python, or ask an admin to install its build dependencies"
        )
    if re.search(r"NewConnectionError|Max retries exceeded|Temporary failure in name", text):
        return "the package index could not be reached: check the hub's network or proxy"
    errors = [line for line in lines if line.startswith("ERROR:")]
    if errors:
        return errors[-1].removeprefix("ERROR:").strip()
    return f"pip exited with status {code}"


# --- building -------------------------------------------------------------------------


def _world_executable(path: Path) -> bool:
    try:
        return all(os.stat(p).st_mode & stat.S_IXOTH for p in (path, *path.parents))
    except OSError:
        return False


def _open_to_everyone(top: Path) -> None:
    # umask 022 covers what pip writes, but wheels and sdists may carry tighter modes.
    for dirpath, dirnames, filenames in os.walk(top):
        for name in [*dirnames, *filenames]:
            path = os.path.join(dirpath, name)
            mode = os.lstat(path).st_mode
            if stat.S_ISLNK(mode):
                continue
            wanted = mode | 0o444
            if stat.S_ISDIR(mode) or mode & stat.S_IXUSR:
                wanted |= 0o111
            if wanted != mode:
                os.chmod(path, stat.S_IMODE(wanted))


def _venv_failure(base: Path, generation: Path, run_as: str | None, tail: deque[str]) -> str:
    """Why `python -m venv` failed, from its output: only a missing ensurepip means the
    python3-venv package is missing."""
    text = "\n".join(tail)
    what = f"could not create a virtual environment with {base}"
    if "ensurepip" in text:
        return f"{what} (on Debian/Ubuntu install the python3-venv package)"
    if match := re.search(r"Permission denied: '([^']+)'", text):
        who = f"the build account {run_as}" if run_as else "this account"
        return (
            f"{what}: permission denied on {match[1]}; {who} must be able to reach and "
            f"write {generation.parent}"
        )
    return what


def _account(name: str, cache: Path) -> BuildAccount:
    try:
        entry = pwd.getpwnam(name)
    except KeyError:
        raise EnvironmentBuildError(f"the build account {name!r} does not exist") from None
    if entry.pw_uid == 0:
        raise EnvironmentBuildError(f"the build account {name!r} must not be root")
    cache.mkdir(mode=0o700, exist_ok=True)
    os.chown(cache, entry.pw_uid, entry.pw_gid)
    return BuildAccount(entry.pw_uid, entry.pw_gid, cache)


def _link(src: str, dst: str) -> None:
    try:
        os.link(src, dst)
    except OSError:  # another file system
        shutil.copy2(src, dst)


@contextmanager
def _build_tree(root: Path, env_dir: Path, account: BuildAccount) -> Iterator[Path]:
    tree = env_dir.parent / f".{env_dir.name}.build-src"
    shutil.rmtree(tree, ignore_errors=True)
    try:
        shutil.copytree(
            root, tree, symlinks=True, ignore=shutil.ignore_patterns(".git"), copy_function=_link
        )
        for dirpath, _dirs, _files in os.walk(tree):
            os.chown(dirpath, account.uid, account.gid)
        yield tree
    finally:
        shutil.rmtree(tree, ignore_errors=True)


def _stop_processes_of(uid: int) -> None:
    """Whatever a build left running as the build account (daemons included); again
    until none is left, since one may fork while the list is read."""
    import psutil

    for _ in range(50):
        found = False
        for proc in psutil.process_iter(["uids"]):
            uids = proc.info["uids"]
            if uids is not None and uid in (uids.real, uids.effective):
                found = True
                with suppress(psutil.Error):
                    proc.kill()
        if not found:
            return
        time.sleep(0.02)


def _take_back(top: Path) -> None:
    """Make root (the caller) own the whole generation again, links included."""
    safe_dirs.chown_tree(top, os.getuid(), os.getgid())


def _account_lock(account: str) -> Path:
    """The machine-wide lock of a build account, in root's own /run (a lock file in a
    folder others may write could be taken by anyone)."""
    return Path("/run") / f"coursehub-build-{account}.lock"


@contextmanager
def _locked(env_dir: Path, deadline: float, lock_path: Path | None = None) -> Iterator[None]:
    """Serialise builds of one environment (across processes too)."""
    lock_path = lock_path or env_dir.parent / f".{env_dir.name}.lock"
    with open(lock_path, "a") as lock:
        while True:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise EnvironmentBuildError(
                        f"another build of {env_dir} is still running"
                    ) from None
                time.sleep(0.2)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _generations(env_dir: Path) -> list[Path]:
    pattern = re.compile(re.escape(env_dir.name) + r"\.[0-9a-f]{12}")
    return [p for p in env_dir.parent.iterdir() if pattern.fullmatch(p.name)]


def _current(env_dir: Path) -> Path | None:
    if env_dir.is_symlink():
        return env_dir.parent / os.readlink(env_dir)
    return None


def _remove_stale(env_dir: Path) -> None:
    """Generations left by a crashed build (only called under the lock)."""
    current = _current(env_dir)
    for generation in _generations(env_dir):
        if generation != current:
            shutil.rmtree(generation, ignore_errors=True)


def _swap(env_dir: Path, generation: Path) -> Path | None:
    """Point env_dir at `generation` atomically; return the generation it replaced."""
    old = _current(env_dir)
    if old is not None and old not in _generations(env_dir):
        old = None  # a symlink someone else made: replace it, never delete its target
    if env_dir.exists() and not env_dir.is_symlink():
        # A plain directory from elsewhere: move it aside once (not atomic, one time).
        old = env_dir.parent / f"{env_dir.name}.{secrets.token_hex(6)}"
        env_dir.rename(old)
    link = env_dir.parent / f".{env_dir.name}.link-{secrets.token_hex(6)}"
    os.symlink(generation.name, link)
    os.replace(link, env_dir)
    return old


def build_environment(
    course: str,
    requirements: Path | None,
    env_dir: Path,
    *,
    python: str = sys.executable,
    log: Log | None = None,
    timeout: float = 1800,
    root: Path | None = None,
    force: bool = False,
    run_as: str | None = None,
) -> BuildResult:
    """Build (or reuse) the environment of `course` at `env_dir`; see the module doc.

    ``run_as``: a Unix account (not root) that runs venv and pip; needs root.

    ``python`` may be a venv's interpreter: the venv is made from the interpreter behind
    it, which every student account must be able to run. ``root`` is the course
    repository (default: the requirements file's directory); pip runs there, so local
    paths in the file are relative to it. A local package directory is not hashed: it
    is reinstalled when the requirements change or with ``force``.
    """
    started = time.monotonic()
    deadline = started + timeout
    env_dir = Path(env_dir).absolute()
    inputs = read_requirements(requirements, root)
    interpreter = _interpreter(python)
    base = Path(interpreter["executable"])
    if not _world_executable(base):
        raise EnvironmentBuildError(
            f"{base} cannot be run by student accounts (it or a parent directory is not "
            "world-executable): use a system interpreter such as /usr/bin/python3"
        )
    expected = _stamp(inputs, interpreter)

    def result(built: bool) -> BuildResult:
        seconds = time.monotonic() - started
        return BuildResult(built, env_dir, env_dir / "bin" / "python", inputs.digest, seconds)

    if not force and _up_to_date(env_dir, expected):
        return result(False)
    env_dir.parent.mkdir(parents=True, exist_ok=True)
    with ExitStack() as held:
        if run_as is not None:
            # One build at a time per build account, on the whole machine (sites share
            # the account): the leftover-process sweep after a build must not hit
            # another course's pip.
            held.enter_context(_locked(env_dir, deadline, _account_lock(run_as)))
        held.enter_context(_locked(env_dir, deadline))
        if not force and _up_to_date(env_dir, expected):
            return result(False)  # another process built it while we waited
        _remove_stale(env_dir)
        if closed := closed_folders(env_dir.parent):
            where = f"the environment folder of course {course}, {env_dir.parent},"
            if run_as is not None:
                # The build account could not even make the venv: stop with the cause.
                who = f"the account {run_as} that builds course environments, nor by students"
                raise EnvironmentBuildError(unreachable_message(where, closed, who))
            if log is not None:
                log("warning: " + unreachable_message(where, closed, "student accounts"))
        generation = env_dir.parent / f"{env_dir.name}.{secrets.token_hex(6)}"
        tail: deque[str] = deque(maxlen=TAIL_LINES)
        cwd = Path(root or (requirements.parent if requirements else env_dir.parent))
        account = None
        req_file = Path(requirements).absolute() if requirements is not None else None
        if run_as is not None:
            account = _account(run_as, env_dir.parent / f".{env_dir.name}.build-cache")
            generation.mkdir(mode=0o755)
            os.chown(generation, account.uid, account.gid)
            if req_file is not None:
                # Local packages are built in place (egg-info, build/): give the account
                # its own tree of the course, files hard-linked, folders its own.
                source = Path(root).absolute() if root is not None else req_file.parent
                tree = held.enter_context(_build_tree(source, env_dir, account))
                cwd = tree
                req_file = tree / req_file.relative_to(source)

        def step(cmd: list[str]) -> int:
            tail.clear()
            if log is not None:
                log("coursehub: running " + shlex.join(cmd))
            return _run(cmd, cwd=cwd, log=log, deadline=deadline, tail=tail, account=account)

        env_python = str(generation / "bin" / "python")
        pip_install = [env_python, "-m", "pip", "install", "--progress-bar", "off"]
        pip_install += ["--no-warn-script-location"]
        pip = [*pip_install, IPYKERNEL_REQUIREMENT]
        if req_file is not None and inputs.pip_text is not None:
            # environment.yml: pip reads its pip part from a file beside it, so that
            # `-r` in it means what it means to conda
            req_file = _pip_part_file(req_file, inputs.pip_text, held)
        if req_file is not None:
            pip += ["-r", str(req_file)]
        try:
            if step([str(base), "-m", "venv", str(generation)]):
                raise EnvironmentBuildError(
                    _venv_failure(base, generation, run_as, tail), list(tail)
                )
            failed: list[str] = []
            if (code := step([*pip, *inputs.conda])) and inputs.conda:
                if log is not None:
                    log("coursehub: trying the conda packages one by one on PyPI")
                code = step(pip)
                failed = [spec for spec in inputs.conda if code == 0 and step([*pip_install, spec])]
            if code:
                why = _explain(list(tail), inputs.requirements, code)
                raise EnvironmentBuildError(f"course {course}: {why}", list(tail))
            # A requirement can pin something ipykernel needs to a version it cannot use.
            if step([env_python, "-c", "import ipykernel.kernelapp"]):
                raise EnvironmentBuildError(
                    f"course {course}: the kernel cannot start in the new environment "
                    "(a requirement probably pins an ipykernel dependency too old or new)",
                    list(tail),
                )
            if account is not None:
                _stop_processes_of(account.uid)
                _take_back(generation)
            _open_to_everyone(generation)
            # only now: the generation is root's again, no build process is left in it
            _write_not_installed(generation, inputs.skipped, failed, log)
            _write_own_file(generation, STAMP_NAME, json.dumps(expected, indent=1) + "\n")
            old = _swap(env_dir, generation)
        except BaseException:
            if account is not None:
                _stop_processes_of(account.uid)
            shutil.rmtree(generation, ignore_errors=True)
            raise
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    return result(True)


def _pip_part_file(req_file: Path, text: str, held: ExitStack) -> Path:
    path = req_file.parent / f".coursehub-pip-{secrets.token_hex(6)}.txt"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    held.callback(lambda: path.unlink(missing_ok=True))
    return path


def _write_not_installed(
    generation: Path, skipped: list[str], failed: list[str], log: Log | None
) -> None:
    if not skipped and not failed:
        return
    if log is not None:
        if skipped:
            log("coursehub: conda packages with no Python package on PyPI: " + ", ".join(skipped))
        if failed:
            log("coursehub: conda packages pip could not install: " + ", ".join(failed))
    _write_own_file(
        generation, NOT_INSTALLED_NAME, json.dumps({"skipped": skipped, "failed": failed}) + "\n"
    )


def _write_own_file(generation: Path, name: str, text: str) -> None:
    """Root's file `name` in a generation the build account filled: made new under a
    random name and renamed over whatever is there, so a link the build left at `name`
    is replaced, never followed."""
    fresh = generation / f".{name}.{secrets.token_hex(6)}"
    fd = os.open(fresh, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
    try:
        with os.fdopen(fd, "w") as f:
            os.fchmod(f.fileno(), 0o644)
            f.write(text)
        os.replace(fresh, generation / name)
    except BaseException:
        fresh.unlink(missing_ok=True)
        raise


def _read_own_file(env_dir: Path, name: str) -> str:
    """A file coursehub wrote in the environment, never through a link left at its name."""
    fd = os.open(Path(env_dir) / name, os.O_RDONLY | os.O_NOFOLLOW)
    with os.fdopen(fd) as f:
        return f.read(1_000_000)


def not_installed(env_dir: Path) -> list[str]:
    """The conda packages of environment.yml the built environment lacks, by name."""
    try:
        data = json.loads(_read_own_file(env_dir, NOT_INSTALLED_NAME))
        return [str(n) for key in ("skipped", "failed") for n in data.get(key, [])]
    except (OSError, ValueError, AttributeError, TypeError):
        return []


def remove_environment(env_dir: Path) -> None:
    """Remove the environment and all its generations (idempotent)."""
    env_dir = Path(env_dir).absolute()
    if not env_dir.parent.is_dir():
        return
    with _locked(env_dir, time.monotonic() + 60):
        if env_dir.is_symlink():
            env_dir.unlink()
        elif env_dir.exists():
            shutil.rmtree(env_dir)
        for generation in _generations(env_dir):
            shutil.rmtree(generation, ignore_errors=True)
    # The lock file stays: unlinking it could let two builders lock different files.

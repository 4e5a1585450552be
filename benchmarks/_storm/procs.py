"""Processes, ports and waiting: the bounded plumbing both targets share."""

from __future__ import annotations

import contextlib
import signal
import socket
import subprocess
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import httpx
import psutil


class TargetError(RuntimeError):
    """A target could not be set up (its students never got a chance)."""


def free_ports(count: int) -> list[int]:
    """Distinct free loopback ports (all sockets held open together so none repeats)."""
    socks = []
    try:
        for _ in range(count):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def run_checked(argv: Sequence[str], *, timeout: float = 120, input: str | None = None) -> str:
    """Run a short command; raise TargetError with its output when it fails."""
    try:
        done = subprocess.run(
            list(argv), input=input, capture_output=True, text=True, timeout=timeout, check=False
        )
    except subprocess.TimeoutExpired as e:
        raise TargetError(f"{argv[0]} took more than {timeout:.0f} s") from e
    except OSError as e:
        raise TargetError(f"cannot run {argv[0]}: {e}") from e
    if done.returncode != 0:
        out = (done.stderr or done.stdout).strip()[-2000:]
        raise TargetError(f"{' '.join(argv)} exited {done.returncode}: {out}")
    return done.stdout


def start_logged(
    argv: Sequence[str], *, cwd: Path, log: Path, env: dict[str, str]
) -> subprocess.Popen[bytes]:
    """Start a long-running process in its own session, output to a log file.

    Its own session keeps a Ctrl-C in our terminal from reaching it directly, so
    that we (not the terminal) decide the order in which things stop.
    """
    with log.open("ab") as out:
        return subprocess.Popen(
            list(argv),
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def tail(path: Path, lines: int = 25) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def wait_healthy(
    url: str,
    proc: subprocess.Popen[bytes],
    log: Path,
    *,
    timeout: float,
    headers: dict[str, str] | None = None,
) -> None:
    """Poll url until it answers 200; fail early if proc exits. headers: e.g. the Host
    a site answers on when that name does not resolve here."""
    end = time.monotonic() + timeout
    with httpx.Client(timeout=5, headers=headers) as client:
        while time.monotonic() < end:
            if proc.poll() is not None:
                raise TargetError(f"exited {proc.returncode} before {url} answered:\n{tail(log)}")
            with contextlib.suppress(httpx.HTTPError):
                if client.get(url).status_code == 200:
                    return
            time.sleep(0.25)
    raise TargetError(f"{url} did not answer 200 within {timeout:.0f} s:\n{tail(log)}")


def stop_tree(
    proc: subprocess.Popen[bytes] | None, signals: Sequence[tuple[signal.Signals, float]]
) -> None:
    """Stop proc politely (each signal, then wait its grace), then kill what it left behind.

    The descendants are listed before the first signal: once the parent is gone
    its children are re-parented and can no longer be found from it.
    """
    if proc is None:
        return
    try:
        leftovers = psutil.Process(proc.pid).children(recursive=True)
    except psutil.Error:
        leftovers = []
    for sig, grace in signals:
        if proc.poll() is not None:
            break
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(sig)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(grace)
    if proc.poll() is None:
        proc.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(10)
    kill_processes(leftovers)


def kill_processes(procs: list[psutil.Process]) -> None:
    """SIGKILL each still-running process (psutil guards against reused pids)."""
    alive = []
    for p in procs:
        with contextlib.suppress(psutil.Error):
            if p.is_running():
                p.kill()
                alive.append(p)
    psutil.wait_procs(alive, timeout=10)


@contextlib.contextmanager
def sigint_deferred() -> Iterator[None]:
    """Let cleanup finish even if Ctrl-C is pressed again while it runs."""
    try:
        previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    except ValueError:  # not the main thread: nothing to protect
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


class HubCpu:
    """CPU seconds (user + system) of one hub process, read on demand."""

    def __init__(self, pid: int) -> None:
        try:
            self._proc: psutil.Process | None = psutil.Process(pid)
        except psutil.Error:
            self._proc = None

    def __call__(self) -> float | None:
        if self._proc is None:
            return None
        try:
            t = self._proc.cpu_times()
        except psutil.Error:
            return None
        return t.user + t.system

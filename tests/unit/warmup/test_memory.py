"""The memory bound: PSS measured on the servers and kernels that run (told apart by
their parents, which a student cannot fake), defaults when none runs, and how many
more students fit."""

from __future__ import annotations

from pathlib import Path

from coursehub.warmup import memory

MIB = 2**20


def _proc(root: Path, pid: int, uid: int, ppid: int, cmdline: str, pss_kib: int = 0) -> None:
    folder = root / str(pid)
    folder.mkdir()
    (folder / "status").write_text(
        f"Name:\tpython\nPPid:\t{ppid}\nUid:\t{uid}\t{uid}\t{uid}\t{uid}\n"
    )
    (folder / "cmdline").write_bytes(cmdline.replace(" ", "\0").encode() + b"\0")
    if pss_kib:
        (folder / "smaps_rollup").write_text(f"Rss:    {pss_kib * 2} kB\nPss:    {pss_kib} kB\n")


def fake_proc(root: Path) -> Path:
    (root / "meminfo").write_text("MemTotal: 8000000 kB\nMemAvailable:    4194304 kB\n")
    _proc(root, 1, 0, 0, "/sbin/init")
    _proc(root, 10, 0, 1, "python -m jupyterhub -f config.py")
    _proc(root, 11, 0, 10, "python -m coursehub.forking.servers.template --socket=/x")
    _proc(root, 12, 0, 10, "python /srv/coursehub/forking/kernels/template.py --socket /y")
    # forked servers (children of the template), one cold (child of the hub)
    _proc(root, 20, 1001, 11, "python -m coursehub.student.singleuser", 40 * 1024)
    _proc(root, 21, 1002, 11, "python -m coursehub.student.singleuser", 50 * 1024)
    _proc(root, 22, 1003, 10, "python -m coursehub.student.singleuser", 120 * 1024)
    # a cold kernel (child of a server) and a forked one (child of a kernel template)
    _proc(root, 30, 1001, 20, "python -m ipykernel_launcher -f k.json", 30 * 1024)
    _proc(
        root,
        31,
        1002,
        12,
        "python /srv/coursehub/forking/kernels/template.py --socket /y",
        20 * 1024,
    )
    # a student's own processes named like a server or a kernel: their children, not root's
    _proc(root, 40, 1001, 30, "python -m coursehub.student.singleuser", 1024)
    _proc(root, 41, 1001, 40, "python -m ipykernel_launcher", 1024)
    _proc(root, 42, 1001, 1, "python -m coursehub.student.singleuser", 1024)  # reparented
    return root


def test_servers_and_kernels_are_told_apart_by_their_parents(tmp_path: Path) -> None:
    figures = memory.measure(fake_proc(tmp_path))
    assert figures.available == 4 * 2**30
    assert sorted(figures.server_samples) == [40 * 1024 * 1024, 50 * MIB, 120 * MIB]
    assert sorted(figures.kernel_samples) == [20 * MIB, 30 * MIB]


def test_the_median_of_the_running_ones_or_the_defaults(tmp_path: Path) -> None:
    figures = memory.measure(fake_proc(tmp_path))
    per = memory.per_student(figures, 80 * MIB, 70 * MIB)
    assert (per.server, per.kernel) == (50 * MIB, 25 * MIB)
    assert (per.server_measured, per.kernel_measured) == (3, 2)
    nothing = memory.MemoryFigures(available=2**30, server_samples=(), kernel_samples=())
    per = memory.per_student(nothing, 80 * MIB, 70 * MIB)
    assert (per.total, per.server_measured) == (150 * MIB, 0)


def test_how_many_fit() -> None:
    figures = memory.MemoryFigures(available=4 * 2**30, server_samples=(), kernel_samples=())
    bound = memory.bound(figures, reserve=2**30, server_default=100 * MIB, kernel_default=28 * MIB)
    assert bound.fits == 24  # (4 GiB - 1 GiB) / 128 MiB
    assert memory.bound(figures, 5 * 2**30, 100 * MIB, 0).fits == 0  # the reserve is larger


def test_unreadable_proc_gives_nothing_to_warm(tmp_path: Path) -> None:
    figures = memory.measure(tmp_path / "missing")
    assert figures.available == 0 and not figures.server_samples
    assert memory.bound(figures, 0, MIB, MIB).fits == 0


def test_this_machine_can_be_measured() -> None:
    assert memory.measure().available > 0


def test_a_student_planting_small_kernels_does_not_lower_the_estimate(tmp_path: Path) -> None:
    """From a terminal a student can `exec -a ipykernel sleep` as a direct child of
    their server: each account gives one sample, its largest, so 20 planted 1 MiB
    'kernels' neither outvote the real ones nor drag the median down."""
    root = fake_proc(tmp_path)
    for n in range(20):
        _proc(root, 100 + n, 1001, 20, "ipykernel sleep 3600", 1024)
    figures = memory.measure(root)
    assert sorted(figures.kernel_samples) == [20 * MIB, 30 * MIB]
    assert memory.per_student(figures, 80 * MIB, 70 * MIB).kernel == 25 * MIB

"""The kernels a course server offers (student/kernelspecs.py), with real kernelspecs
on disk and jupyter_client's own lookup."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from jupyter_client.kernelspec import NoSuchKernel

from coursehub.courses.kernels import KernelOptions, write_kernelspec
from coursehub.student.kernelspecs import CourseKernelSpecManager


def other_kernel(root: Path, name: str, language: str) -> None:
    folder = root / "kernels" / name
    folder.mkdir(parents=True)
    (folder / "kernel.json").write_text(
        f'{{"argv": ["x", "{{connection_file}}"], "display_name": "{name}", '
        f'"language": "{language}"}}'
    )


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A machine with an R kernel and another Python kernel installed beside ours."""
    shared = tmp_path / "share"
    other_kernel(shared, "ir", "R")
    other_kernel(shared, "python3", "python")  # the server's own, as ipykernel installs it
    monkeypatch.setenv("JUPYTER_PATH", str(shared))
    monkeypatch.setenv("JUPYTER_DATA_DIR", str(tmp_path / "data"))
    return tmp_path


def manager(spec_dir: Path | str) -> CourseKernelSpecManager:
    return CourseKernelSpecManager(course_kernel_dir=str(spec_dir))


def course_spec(site: Path, **options: object) -> Path:
    return write_kernelspec(
        "ds",
        "Data Science",
        site / "env",
        site / "course" / "kernels",
        socket=site / "kernel-templates" / "ds.sock",
        options=KernelOptions(**options),  # type: ignore[arg-type]
    )


def test_the_course_kernel_is_python3_and_the_only_kernel(site: Path) -> None:
    spec_dir = course_spec(site, aliases=("conda-env-ds-py",))
    ksm = manager(spec_dir)
    specs = ksm.get_all_specs()
    assert list(specs) == ["python3"]
    listed = specs["python3"]["spec"]
    assert listed["display_name"] == "Data Science (course)"
    assert listed["argv"][0] == str(site / "env" / "bin" / "python")
    assert listed["metadata"]["kernel_provisioner"]["provisioner_name"] == "coursehub-forked"
    for name in ("python3", "Python3", "coursehub-ds", "conda-env-ds-py"):
        assert ksm.get_kernel_spec(name).argv[0] == str(site / "env" / "bin" / "python")
    for name in ("ir", "python2", "python3-server", "julia-1.9"):
        with pytest.raises(NoSuchKernel):
            ksm.get_kernel_spec(name)


def test_the_server_python_when_the_course_asks(site: Path) -> None:
    ksm = manager(course_spec(site, server_python=True))
    specs = ksm.get_all_specs()
    assert sorted(specs) == ["python3", "python3-server"]
    server = ksm.get_kernel_spec("python3-server")
    assert server.argv[0] == sys.executable and server.display_name == "Python 3 (server)"
    assert ksm.get_kernel_spec("python3").display_name == "Data Science (course)"


def test_a_rewritten_spec_is_read_again(site: Path) -> None:
    spec_dir = course_spec(site)
    ksm = manager(spec_dir)
    with pytest.raises(NoSuchKernel):
        ksm.get_kernel_spec("py311")
    course_spec(site, aliases=("py311",))  # a pull found a new name
    assert ksm.get_kernel_spec("py311").display_name == "Data Science (course)"


def test_without_a_course_kernel_nothing_changes(site: Path) -> None:
    for ksm in (manager(""), manager(site / "not-built")):
        assert set(ksm.find_kernel_specs()) >= {"ir", "python3"}
        assert ksm.get_kernel_spec("ir").language == "R"

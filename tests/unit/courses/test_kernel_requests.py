"""Which kernels a course's notebooks ask for, and the kernelspec made from that."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from coursehub.config.layout import DataLayout
from coursehub.courses import kernel_requests
from coursehub.courses.course_kernel import (
    OfferedKernel,
    import_path,
    kernel_options,
    offered_kernels,
    refresh_course_kernel,
    unmet_kernel,
    write_course_kernel,
)
from coursehub.courses.kernel_requests import KernelRequest, notebook_kernel, scan_repository
from coursehub.courses.manifest import ManifestError, load_manifest
from coursehub.courses.store import CourseStore
from tests.helpers.course_formats import myst
from tests.helpers.gitrepo import commit_all


def ipynb(name: str | None, language: str | None = None, info: str | None = None) -> str:
    metadata: dict[str, object] = {}
    if name is not None:
        spec: dict[str, str] = {"name": name, "display_name": name.upper()}
        if language:
            spec["language"] = language
        metadata["kernelspec"] = spec
    if info:
        metadata["language_info"] = {"name": info}
    return json.dumps({"cells": [], "metadata": metadata, "nbformat": 4, "nbformat_minor": 5})


MYST = myst("# Text\n\n```{code-cell} ipython3\n1 + 1\n```")

PERCENT = """# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#   kernelspec:
#     display_name: Python [conda env:ds]
#     language: python
#     name: conda-env-ds-py
# ---

# %%
print(1)
"""

JULIA_MD = """---
kernelspec:
  display_name: Julia 1.9
  language: julia
  name: julia-1.9
---

```{code-cell}
1 + 1
```
"""


def write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def test_a_notebook_names_its_kernel(tmp_path: Path) -> None:
    files = {
        "a.ipynb": ipynb("python3", "python"),
        "b.ipynb": ipynb("ir", "R"),
        "c.ipynb": ipynb("py39", info="python"),  # language only in language_info
        "d.ipynb": ipynb("python2"),  # name alone
        "e.ipynb": ipynb(None),
        "f.md": MYST,
        "g.py": PERCENT,
        "h.md": JULIA_MD,
    }
    write(tmp_path, files)
    got = {name: notebook_kernel(tmp_path / name) for name in files}
    assert got["a.ipynb"] == KernelRequest("python3", "python", "PYTHON3")
    assert got["b.ipynb"] == KernelRequest("ir", "R", "IR")
    assert got["c.ipynb"] == KernelRequest("py39", "python", "PY39")
    assert got["d.ipynb"] is not None and got["d.ipynb"].is_python
    assert got["e.ipynb"] is None
    assert got["f.md"] == KernelRequest("python3", "python", "Python 3 (ipykernel)")
    assert got["g.py"] == KernelRequest("conda-env-ds-py", "python", "Python [conda env:ds]")
    assert got["h.md"] == KernelRequest("julia-1.9", "julia", "Julia 1.9")
    assert not got["b.ipynb"].is_python and not got["h.md"].is_python
    assert got["b.ipynb"].describe() == "'ir' (IR)"


@pytest.mark.parametrize(
    "text",
    [
        "not json",
        '{"metadata": []}',
        '{"metadata": {"kernelspec": "python3"}}',
        '{"metadata": {"kernelspec": {"name": 3}}}',
        "[" * 100_000,  # deeper than the JSON parser goes
        "---\nkernelspec: [unclosed\n---\n",
        "---\nkernelspec:\n  name: python3\n",  # header never closed
    ],
)
def test_broken_metadata_names_no_kernel(tmp_path: Path, text: str) -> None:
    for suffix in (".ipynb", ".md"):
        path = tmp_path / f"nb{suffix}"
        path.write_text(text)
        assert notebook_kernel(path) is None


def test_a_symlinked_notebook_is_not_read(tmp_path: Path) -> None:
    outside = tmp_path / "outside.ipynb"
    outside.write_text(ipynb("secret-kernel", "python"))
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "link.ipynb").symlink_to(outside)
    (repo / "dir").symlink_to(tmp_path, target_is_directory=True)
    assert notebook_kernel(repo / "link.ipynb") is None
    assert scan_repository(repo).python_names == set()


def test_scan_collects_python_names_and_other_languages(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "w1/a.ipynb": ipynb("python3", "python"),
            "w1/b.ipynb": ipynb("Conda-Root-Py", "python"),
            "w2/r.ipynb": ipynb("ir", "R"),
            "w2/c.md": MYST,
            "w2/d.py": PERCENT,
            "w2/j.md": JULIA_MD,
            ".hidden/x.ipynb": ipynb("hidden-py", "python"),
            ".ipynb_checkpoints/x.ipynb": ipynb("checkpoint-py", "python"),
            "bad name.ipynb": ipynb("has space", "python"),
            "README.md": "# not a notebook\n",
            "modules/helpers.py": "def f(): pass\n",
        },
    )
    scan = scan_repository(tmp_path)
    assert scan.python_names == {"python3", "conda-root-py", "conda-env-ds-py"}
    assert set(scan.others) == {"ir", "julia-1.9"}
    assert scan.notebooks == 7


def test_scan_is_bounded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(kernel_requests, "MAX_NOTEBOOKS", 3)
    monkeypatch.setattr(kernel_requests, "MAX_NAMES", 2)
    monkeypatch.setattr(kernel_requests, "MAX_NOTEBOOK_BYTES", 1000)
    write(tmp_path, {f"n{i}.ipynb": ipynb(f"py{i}", "python") for i in range(5)})
    (tmp_path / "big.ipynb").write_text(ipynb("big-py", "python") + " " * 2000)
    scan = scan_repository(tmp_path)
    assert scan.notebooks == 3 and scan.skipped == 3
    assert len(scan.python_names) == 2 and "big-py" not in scan.python_names


# --- the kernelspec a course's repository makes ----------------------------------------


def course(tmp_path: Path, files: dict[str, str]) -> DataLayout:
    layout = DataLayout(tmp_path / "data")
    write(layout.course_repo("ds"), files)
    return layout


def test_the_course_kernel_answers_for_its_notebooks_names(tmp_path: Path) -> None:
    layout = course(
        tmp_path,
        {
            "course.yaml": "title: Data Science\nkernels:\n  aliases: [py38]\n",
            "a.ipynb": ipynb("python3", "python"),
            "b.ipynb": ipynb("conda-env-ds-py", "python"),
            "r.ipynb": ipynb("ir", "R"),
            "modules/helpers.py": "X = 1\n",
        },
    )
    spec_dir = write_course_kernel(layout, "ds")
    spec = json.loads((spec_dir / "kernel.json").read_text())
    assert spec["display_name"] == "Data Science (course)"
    assert spec["metadata"]["coursehub"]["aliases"] == ["conda-env-ds-py", "py38"]
    assert "server_python" not in spec["metadata"]["coursehub"]
    repo = layout.course_repo("ds").resolve()
    assert spec["env"] == {"PYTHONPATH": str(repo / "modules")}
    # forked: the kernel template's provisioner stays
    assert spec["metadata"]["kernel_provisioner"]["provisioner_name"] == "coursehub-forked"

    # a pull brings a notebook naming another kernel: the refresh picks it up
    write(layout.course_repo("ds"), {"c.ipynb": ipynb("py311", "python")})
    assert refresh_course_kernel(layout, "ds")
    spec = json.loads((spec_dir / "kernel.json").read_text())
    assert "py311" in spec["metadata"]["coursehub"]["aliases"]


def test_no_kernelspec_is_made_by_a_refresh_before_a_build(tmp_path: Path) -> None:
    layout = course(tmp_path, {"a.ipynb": ipynb("python3", "python")})
    assert not refresh_course_kernel(layout, "ds")
    assert not (layout.course_dir("ds") / "jupyter").exists()


def test_python_path_folders_are_the_checkouts(tmp_path: Path) -> None:
    layout = course(
        tmp_path,
        {
            "course.yaml": "kernels:\n  python_path: [lib, src/, modules, '.']\n"
            "  server_python: true\n",
            "lib/a.py": "",
            "src/b.py": "",
            "modules/c.py": "",
        },
    )
    repo = layout.course_repo("ds")
    manifest = load_manifest(repo, "ds")
    real = repo.resolve()
    assert import_path(repo, manifest) == (real / "modules", real / "lib", real / "src", real)
    options = kernel_options(repo, "ds", manifest)
    assert options.server_python and options.aliases == ()


def test_modules_is_optional_and_never_a_link_out(tmp_path: Path) -> None:
    layout = course(tmp_path, {"a.ipynb": ipynb("python3", "python")})
    repo = layout.course_repo("ds")
    manifest = load_manifest(repo, "ds")
    assert import_path(repo, manifest) == ()
    (repo / "modules").symlink_to(tmp_path, target_is_directory=True)  # outside the checkout
    assert import_path(repo, manifest) == ()


@pytest.mark.parametrize(
    ("yaml", "expected"),
    [
        ("python_path: [../other]", "'..' component"),
        ("python_path: [/usr/lib/python3]", "absolute path"),
        ("python_path: [.git]", "hidden component"),
        ("python_path: [missing]", "not found in the course repository"),
        ("python_path: [file.txt]", "is not a folder of the course repository"),
        ("python_path: [escape]", "leads outside the allowed directory"),
        ("python_path: lib", "list"),
        ("aliases: [Python 3]", "is not a kernel name"),
        ("server_python: maybe", "bool"),
        ("unknown: 1", "unknown"),
    ],
)
def test_bad_kernels_keys_are_refused(tmp_path: Path, yaml: str, expected: str) -> None:
    repo = write(tmp_path / "repo", {"file.txt": "", "course.yaml": f"kernels:\n  {yaml}\n"})
    (repo / "escape").symlink_to(tmp_path, target_is_directory=True)
    with pytest.raises(ManifestError) as caught:
        load_manifest(repo, "ds")
    assert expected in str(caught.value)
    assert "course.yaml:2" in str(caught.value)


def test_a_pull_that_brings_new_notebooks_rewrites_the_kernelspec(
    course_store: CourseStore, tmp_path: Path
) -> None:
    source = write(tmp_path / "source", {"a.ipynb": ipynb("python3", "python")})
    commit_all(source, "first")
    course_store.add("ds", str(source))
    spec_dir = write_course_kernel(course_store.layout, "ds")  # as a build does
    spec = json.loads((spec_dir / "kernel.json").read_text())
    assert "aliases" not in spec["metadata"]["coursehub"] and spec["env"] == {}

    write(source, {"b.ipynb": ipynb("py311", "python"), "modules/m.py": ""})
    commit_all(source, "second")
    assert course_store.pull("ds").changed
    spec = json.loads((spec_dir / "kernel.json").read_text())
    assert spec["metadata"]["coursehub"]["aliases"] == ["py311"]
    assert spec["env"]["PYTHONPATH"].endswith("/repo/modules")

    # a broken course.yaml keeps the last kernelspec; the pull itself succeeds
    write(source, {"course.yaml": "kernels:\n  python_path: [../x]\n"})
    commit_all(source, "third")
    assert course_store.pull("ds").ok
    assert json.loads((spec_dir / "kernel.json").read_text()) == spec


def test_what_a_link_page_says_about_a_notebooks_kernel(tmp_path: Path) -> None:
    layout = course(
        tmp_path,
        {
            "course.yaml": "title: DS\nkernels:\n  aliases: [sos]\n  server_python: true\n",
            "py.ipynb": ipynb("conda-root-py", info="python"),
            "r.ipynb": ipynb("ir", "R"),
            "sos.ipynb": ipynb("sos", "sos"),  # course.yaml says the course kernel answers
            "none.ipynb": ipynb(None),
        },
    )
    repo = layout.course_repo("ds")
    # before the environment is built: the server's own Python
    assert offered_kernels(layout, "ds") == [OfferedKernel("Python 3", "Python")]
    write_course_kernel(layout, "ds")
    assert offered_kernels(layout, "ds") == [
        OfferedKernel("DS (course)", "Python"),
        OfferedKernel("Python 3 (server)", "Python"),
    ]
    assert unmet_kernel(layout, "ds", repo / "r.ipynb") == KernelRequest("ir", "R", "IR")
    for fine in ("py.ipynb", "sos.ipynb", "none.ipynb", "missing.ipynb"):
        assert unmet_kernel(layout, "ds", repo / fine) is None, fine

"""A course environment's JupyterLab extensions: which become active, which are left
out and why, as JupyterLab itself then finds them.

The package.json files copy the ones real wheels install (metadata only, no code):
plotly 7.1.0 (jupyterlab-plotly), jupyterlab_widgets 3.0.17
(@jupyter-widgets/jupyterlab-manager 5.0.x for JupyterLab 4), jupyterlab_widgets
1.1.7 (the same extension at 3.1.7, made for JupyterLab 3) and ipympl 0.10.0
(jupyter-matplotlib, which states its shared packages); jupyterlab-myst 2.7.0 asks for
@jupyter/ydoc ^3.0.0 (JupyterLab 4.6 has 4), as the real one does.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from jupyterlab_server.config import get_federated_extensions

from coursehub.courses import labextensions as labext
from coursehub.courses.labextensions import publish, read_report, server_jupyterlab

BUILD = {"_build": {"load": "static/remoteEntry.0123456789abcdef.js", "extension": "./extension"}}

PLOTLY = {
    "name": "jupyterlab-plotly",
    "version": "7.1.0",
    "dependencies": {"@lumino/widgets": "~2.9.0"},
    "jupyterlab": {"mimeExtension": "lib/jupyterlab-plugin", **BUILD},
}
WIDGETS_LAB4 = {
    "name": "@jupyter-widgets/jupyterlab-manager",
    "version": "5.0.17",
    "dependencies": {
        "@jupyterlab/application": "^4.0.0",
        "@jupyterlab/notebook": "^4.0.0",
        "@jupyterlab/services": "^7.0.0",
        "@lumino/widgets": "^2.0.0",
    },
    "jupyterlab": {"extension": True, **BUILD},
}
WIDGETS_LAB3 = {
    "name": "@jupyter-widgets/jupyterlab-manager",
    "version": "3.1.7",
    "dependencies": {
        "@jupyterlab/application": "^3.0.0",
        "@jupyterlab/notebook": "^3.0.0",
        "@lumino/widgets": "^1.19.0",
    },
    "jupyterlab": {"extension": True, **BUILD},
}
MATPLOTLIB = {
    "name": "jupyter-matplotlib",
    "version": "0.12.0",
    "dependencies": {},
    "jupyterlab": {
        "extension": "lib/plugin",
        "sharedPackages": {"@jupyter-widgets/base": {"bundled": False, "singleton": True}},
        **BUILD,
    },
}


def add(env: Path, package: dict[str, Any], folder: str | None = None) -> Path:
    where = env / "share" / "jupyter" / "labextensions" / (folder or package["name"])
    (where / "static").mkdir(parents=True)
    (where / "package.json").write_text(json.dumps(package))
    (where / package["jupyterlab"].get("_build", {}).get("load", "static/x.js")).write_text("")
    return where


@pytest.fixture
def env(tmp_path: Path) -> Path:
    """A course environment as the data layout has it: `env` links to a generation."""
    generation = tmp_path / "env.0123456789ab"
    generation.mkdir()
    (tmp_path / "env").symlink_to(generation.name)
    return tmp_path / "env"


def seen_by_jupyterlab(jupyter_dir: Path) -> dict[str, str]:
    found = get_federated_extensions([str(jupyter_dir / "labextensions")])
    return {name: data["version"] for name, data in found.items()}


def test_extensions_that_fit_are_linked_where_jupyterlab_finds_them(
    env: Path, tmp_path: Path
) -> None:
    add(env, PLOTLY)
    (env / "lib" / "python3.11" / "site-packages" / "nbformat-5.10.4.dist-info").mkdir(parents=True)
    add(env, WIDGETS_LAB4)
    add(env, MATPLOTLIB)
    jupyter = tmp_path / "jupyter"
    report = publish(env, jupyter)
    assert report.problems == []
    assert report.active == [
        "@jupyter-widgets/jupyterlab-manager 5.0.17",
        "jupyter-matplotlib 0.12.0",
        "jupyterlab-plotly 7.1.0",
    ]
    assert seen_by_jupyterlab(jupyter) == {
        "@jupyter-widgets/jupyterlab-manager": "5.0.17",
        "jupyter-matplotlib": "0.12.0",
        "jupyterlab-plotly": "7.1.0",
    }
    # through the stable env link: a rebuild's new generation needs no new links
    link = jupyter / "labextensions" / "jupyterlab-plotly"
    assert link.is_symlink() and "env.0123456789ab" not in os.readlink(link)
    assert read_report(jupyter) == report


def test_an_extension_made_for_another_jupyterlab_is_left_out_with_what_to_do(
    env: Path, tmp_path: Path
) -> None:
    add(env, MATPLOTLIB)
    add(env, WIDGETS_LAB3)
    jupyter = tmp_path / "jupyter"
    report = publish(env, jupyter)
    assert report.active == ["jupyter-matplotlib 0.12.0"]
    [problem] = report.problems
    lab = server_jupyterlab().version
    assert problem.startswith(
        f"@jupyter-widgets/jupyterlab-manager 3.1.7 does not match this server's JupyterLab {lab}"
    )
    assert "@jupyterlab/application ^3.0.0 (JupyterLab has ~" in problem
    assert (
        f"pin a release of the Python package that provides it which supports JupyterLab {lab}"
        in problem
    )
    # coursehub's own environment has ipywidgets' extension: that one stays in use
    assert "the server's own @jupyter-widgets/jupyterlab-manager" in problem
    assert "@jupyter-widgets/jupyterlab-manager" not in seen_by_jupyterlab(jupyter)


MYST = {
    "name": "jupyterlab-myst",
    "version": "2.7.0",
    "dependencies": {
        "@jupyter/ydoc": "^3.0.0",
        "@jupyterlab/application": "^4.0.0",
        "@jupyterlab/notebook": "^4.0.0",
        "@lumino/widgets": "^2.8.0",
    },
    "jupyterlab": {"extension": True, **BUILD},
}


def test_other_shared_packages_out_of_range_only_warn(env: Path, tmp_path: Path) -> None:
    """JupyterLab loads such an extension with the versions it has; many work."""
    add(env, MYST)
    jupyter = tmp_path / "jupyter"
    lab = server_jupyterlab()
    ydoc = lab.core_data["resolutions"]["@jupyter/ydoc"]
    if labext.mismatches(MYST, lab) == []:
        pytest.skip(f"this JupyterLab's @jupyter/ydoc {ydoc} fits jupyterlab-myst 2.7.0")
    report = publish(env, jupyter)
    assert report.active == ["jupyterlab-myst 2.7.0"]
    assert seen_by_jupyterlab(jupyter) == {"jupyterlab-myst": "2.7.0"}
    [warning] = report.problems
    assert warning.startswith(
        f"jupyterlab-myst 2.7.0 is active but may not work fully with this server's "
        f"JupyterLab {lab.version}: it asks for @jupyter/ydoc ^3.0.0 (JupyterLab has {ydoc})"
    )


def test_shared_packages_ranges_count_as_the_extension_states_them(
    env: Path, tmp_path: Path
) -> None:
    stated = json.loads(json.dumps(MATPLOTLIB))
    stated["jupyterlab"]["sharedPackages"]["@jupyterlab/services"] = {
        "bundled": False,
        "singleton": True,
        "requiredVersion": "^6.0.0",  # JupyterLab 3's services
    }
    add(env, stated)
    report = publish(env, tmp_path / "jupyter")
    assert report.active == []
    assert "@jupyterlab/services ^6.0.0" in report.problems[0]


def test_folders_jupyterlab_cannot_load_are_named_and_left_out(env: Path, tmp_path: Path) -> None:
    source = {**PLOTLY, "name": "source-only", "jupyterlab": {"extension": True}}
    add(env, source)
    add(env, {**PLOTLY, "name": "other-name"}, folder="misnamed")
    add(env, {**PLOTLY, "name": "<script>" * 10_000, "version": "9" * 10_000}, folder="huge")
    broken = add(env, {**PLOTLY, "name": "broken"})
    (broken / "package.json").write_text("{not json")
    outside = tmp_path / "elsewhere"
    add(outside, {**PLOTLY, "name": "linked"})
    top = env / "share" / "jupyter" / "labextensions"
    (top / "linked").symlink_to(outside / "share" / "jupyter" / "labextensions" / "linked")
    secret = tmp_path / "secret.json"
    secret.write_text(json.dumps({**PLOTLY, "name": "sneaky"}))
    (top / "sneaky").mkdir()
    (top / "sneaky" / "package.json").symlink_to(secret)
    jupyter = tmp_path / "jupyter"
    report = publish(env, jupyter)
    assert report.active == []
    text = "\n".join(report.problems)
    assert "source-only 7.1.0 is not a prebuilt extension" in text
    assert "misnamed: its package.json names it 'other-name'" in text
    [huge] = [p for p in report.problems if p.startswith("huge:")]
    assert len(huge) < 300 and "…" in huge  # a course's file, shown in a page
    assert "broken: its package.json cannot be read" in text
    assert "linked: not a folder of the environment" in text
    assert "sneaky: its package.json cannot be read" in text  # never read through a link
    assert seen_by_jupyterlab(jupyter) == {}


def test_plotly_without_nbformat_is_active_with_what_to_add(env: Path, tmp_path: Path) -> None:
    add(env, PLOTLY)
    report = publish(env, tmp_path / "jupyter")
    assert report.active == ["jupyterlab-plotly 7.1.0"]
    assert report.problems == [
        "jupyterlab-plotly draws figures only when nbformat is installed too (without it "
        "every figure shows an error): add nbformat to the requirements"
    ]


def test_a_labextensions_folder_leading_out_of_the_environment_is_not_read(
    env: Path, tmp_path: Path
) -> None:
    outside = tmp_path / "outside"
    add(outside, PLOTLY)
    (env / "share").mkdir()
    (env / "share" / "jupyter").symlink_to(outside / "share" / "jupyter")
    report = publish(env, tmp_path / "jupyter")
    assert report.active == []
    assert report.problems == [
        "share/jupyter/labextensions leads out of the environment; no extension is used"
    ]


def test_a_rebuild_replaces_the_set_and_leaves_no_old_one(env: Path, tmp_path: Path) -> None:
    plotly = add(env, PLOTLY)
    add(env, WIDGETS_LAB4)
    jupyter = tmp_path / "jupyter"
    assert len(publish(env, jupyter).active) == 2
    for path in sorted(plotly.rglob("*"), reverse=True):
        path.rmdir() if path.is_dir() else path.unlink()
    plotly.rmdir()
    report = publish(env, jupyter)
    assert report.active == ["@jupyter-widgets/jupyterlab-manager 5.0.17"]
    assert seen_by_jupyterlab(jupyter) == {"@jupyter-widgets/jupyterlab-manager": "5.0.17"}
    sets = [p.name for p in jupyter.iterdir() if p.name.startswith(".labextensions.")]
    assert len(sets) == 1 and (jupyter / "labextensions").resolve().name == sets[0]


def test_an_environment_without_extensions_has_none(env: Path, tmp_path: Path) -> None:
    report = publish(env, tmp_path / "jupyter")
    assert report.active == [] and report.problems == []
    assert labext.log_lines(report) == ["coursehub: JupyterLab extensions of the course: none"]
    assert seen_by_jupyterlab(tmp_path / "jupyter") == {}


def test_no_report_before_the_first_build_or_when_it_is_damaged(tmp_path: Path) -> None:
    assert read_report(tmp_path) is None
    (tmp_path / "labextensions.json").write_text('{"active": 3}')
    assert read_report(tmp_path) is None

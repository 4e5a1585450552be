"""A course's JupyterLab extensions in a student's browser: an ipywidgets slider moved
by the mouse updates the page from the kernel's reply, a plotly figure draws, and the
staff page says which extensions are active and which one does not fit.

Real hub, proxy, course server, Chromium, and a course environment built by
`coursehub course build` from PyPI (ipywidgets, plotly: about a minute). plotly's lab
extension exists only in the course environment, so its figure drawing through the
extension (not plotly's HTML fallback) shows the environment's extensions are found.
The course also installs a local wheel whose lab extension was made for JupyterLab 3:
its package.json copies the dependency ranges of jupyterlab_widgets 1.1.7's
(@jupyter-widgets/jupyterlab-manager 3.1.7, PyPI, 2023).
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import re
import subprocess
import sys
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest

from coursehub.courses.kernels import kernel_name
from tests.helpers import hubproc
from tests.helpers.browser import CHROMIUM, SHOTS, chromium

pytestmark = [pytest.mark.integration, pytest.mark.root]

USERS = {"lena": "lena-pass-123", "omar": "omar-pass-456"}
STAFF = {"omar": "instructor"}
COURSE = "plots"
OLD_EXT = "lab3-era-extension"
BUILD_TIMEOUT = 900

SLIDER = """from ipywidgets import interact

@interact(n=(0, 10))
def square(n=3):
    print(f"square of {n} is {n * n}")
"""
FIGURE = """import plotly.graph_objects as go

go.Figure(go.Bar(x=["mon", "tue", "wed"], y=[3, 1, 2]))
"""


def _notebook(*sources: str) -> str:
    cells = [
        {"cell_type": "code", "execution_count": None, "metadata": {}, "outputs": [], "source": s}
        for s in sources
    ]
    kernel = {"name": kernel_name(COURSE), "display_name": "Plots", "language": "python"}
    meta = {"kernelspec": kernel}
    return json.dumps({"cells": cells, "metadata": meta, "nbformat": 4, "nbformat_minor": 5})


def _old_extension_wheel() -> bytes:
    """A wheel installing a prebuilt lab extension made for JupyterLab 3."""
    name, version = "lab3_era_extension", "1.0"
    data = f"{name}-{version}.data/data/share/jupyter/labextensions/{OLD_EXT}"
    package = {
        "name": OLD_EXT,
        "version": "3.1.7",
        "dependencies": {
            "@jupyterlab/application": "^3.0.0",
            "@jupyterlab/notebook": "^3.0.0",
            "@lumino/widgets": "^1.19.0",
        },
        "jupyterlab": {"extension": True, "_build": {"load": "static/remoteEntry.js"}},
    }
    dist = f"{name}-{version}.dist-info"
    files = {
        f"{data}/package.json": json.dumps(package),
        f"{data}/static/remoteEntry.js": "// built for JupyterLab 3\n",
        f"{dist}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n",
        f"{dist}/WHEEL": "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\n"
        "Tag: py3-none-any\n",
    }
    record = []
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as wheel:
        for path, text in files.items():
            raw = text.encode()
            digest = base64.urlsafe_b64encode(hashlib.sha256(raw).digest()).rstrip(b"=")
            record.append(f"{path},sha256={digest.decode()},{len(raw)}")
            wheel.writestr(path, raw)
        wheel.writestr(f"{dist}/RECORD", "\n".join([*record, f"{dist}/RECORD,,"]) + "\n")
    return buffer.getvalue()


@pytest.fixture(scope="module")
def hub(
    start_hub: Callable[..., hubproc.RunningHub], make_course_repo: Callable[..., Path]
) -> hubproc.RunningHub:
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"{CHROMIUM} is not installed (./dev setup installs Debian's chromium)")
    wheel = "wheels/lab3_era_extension-1.0-py3-none-any.whl"
    repo = make_course_repo(
        {
            "course.yaml": "title: Plots\nenvironment:\n  requirements: requirements.txt\n",
            "requirements.txt": f"ipywidgets\nplotly\nnbformat\n./{wheel}\n",
            wheel: _old_extension_wheel(),
            "plots.ipynb": _notebook(SLIDER, FIGURE),
        }
    )
    course = hubproc.Course(repo, ("lena",), STAFF)
    running = start_hub("labext-site", users=USERS, roles=STAFF, courses={COURSE: course})
    built = subprocess.run(
        [sys.executable, "-m", "coursehub.cli", "--config", str(running.config)]
        + ["course", "build", COURSE],
        capture_output=True,
        text=True,
        timeout=BUILD_TIMEOUT,
    )
    assert built.returncode == 0, built.stdout[-3000:] + built.stderr
    running.extra["build_output"] = built.stdout
    return running


def _sign_in(page, hub: hubproc.RunningHub, user: str, url: str) -> None:  # noqa: ANN001
    page.goto(url)
    page.fill("#username_input", user)
    page.fill("#password_input", USERS[user])
    page.click("#login_submit")


def _course_dir(hub: hubproc.RunningHub) -> Path:
    return hub.data_dir / "courses" / COURSE


def test_the_build_says_which_extensions_are_active_and_which_do_not_fit(
    hub: hubproc.RunningHub,
) -> None:
    out = " ".join(hub.extra["build_output"].split())
    active = re.search(r"JupyterLab extensions of the course: (.*?) coursehub:", out)
    assert active, out[-2000:]
    assert "jupyterlab-plotly" in active[1] and "@jupyter-widgets/jupyterlab-manager" in active[1]
    assert OLD_EXT not in active[1]
    assert f"warning: {OLD_EXT} 3.1.7 does not match this server's JupyterLab" in out


def test_a_slider_moved_by_the_student_updates_the_page_and_a_plotly_figure_draws(
    hub: hubproc.RunningHub,
) -> None:
    with chromium() as browser:
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        _sign_in(page, hub, "lena", f"{hub.url}/services/coursehub/open/{COURSE}/plots.ipynb")
        try:
            _run_all_cells(page)
            output = page.locator(".jp-OutputArea-output pre", has_text="square of")
            output.wait_for(timeout=120_000)
            assert "square of 3 is 9" in output.inner_text()
            page.screenshot(path=str(SHOTS / "labext-before.png"))
            _drag_slider(page, to=0.8)
            readout = page.locator(".widget-readout").first
            page.wait_for_function(
                "el => el.textContent.trim() !== '3'", arg=readout.element_handle(), timeout=30_000
            )
            n = int(readout.inner_text().strip())
            assert 5 <= n <= 10, n
            # the kernel ran square(n) again and its output replaced the old one
            answer = page.locator(".jp-OutputArea-output pre", has_text=f"square of {n} is {n * n}")
            answer.wait_for(timeout=30_000)
            assert page.locator(".jp-OutputArea-output pre", has_text="square of").count() == 1
            page.screenshot(path=str(SHOTS / "labext-slider.png"))
            figure = page.locator(".jp-RenderedPlotly.js-plotly-plot svg.main-svg").first
            figure.wait_for(timeout=60_000)
            figure.scroll_into_view_if_needed()
            assert page.locator(".jp-RenderedPlotly .barlayer .point").count() == 3
            assert page.locator(".jp-OutputArea-output[data-mime-type*='error']").count() == 0
        finally:
            page.screenshot(path=str(SHOTS / "labext-notebook.png"))
        config = json.loads(page.inner_text("#jupyter-config-data"))
        loaded = {ext["name"] for ext in config["federated_extensions"]}
        assert "jupyterlab-plotly" in loaded and OLD_EXT not in loaded
    # found by a server forked from the template, which had imported JupyterLab before
    assert hub.log is not None and f"Forked lena:{COURSE} from the server template" in (
        hub.log.read_text()
    )


def _run_all_cells(page) -> None:  # noqa: ANN001
    """Once the notebook's kernel is connected (JupyterLab runs nothing before): Run >
    Run All Cells."""
    page.wait_for_url(f"**/user/lena/{COURSE}/lab/**", timeout=180_000, wait_until="commit")
    page.wait_for_selector(".jp-Notebook .jp-CodeCell", timeout=120_000)
    status = page.locator(".jp-StatusBar-Widget", has_text=re.compile(r"\| Idle"))
    status.first.wait_for(timeout=120_000)
    page.click(".lm-MenuBar-itemLabel:text-is('Run')")
    page.click(".lm-Menu-itemLabel:text-is('Run All Cells')")


def _drag_slider(page, to: float) -> None:  # noqa: ANN001
    """Drag the first slider's handle with the mouse to `to` (0..1) of its track."""
    handle = page.locator(".widget-slider .noUi-handle").first.bounding_box()
    track = page.locator(".widget-slider .noUi-target").first.bounding_box()
    assert handle is not None and track is not None
    y = handle["y"] + handle["height"] / 2
    page.mouse.move(handle["x"] + handle["width"] / 2, y)
    page.mouse.down()
    page.mouse.move(track["x"] + track["width"] * to, y, steps=8)
    page.mouse.up()


def test_extensions_from_the_students_home_stay_out_and_the_course_ones_cannot_change(
    hub: hubproc.RunningHub,
) -> None:
    """The student's home and writable folders add nothing to what their JupyterLab
    loads, and the course's extensions are root's: the student cannot swap them."""
    student = hub.unix_name("lena")
    home = hub.home_root / student
    planted = []
    for where in (".local/share/jupyter/labextensions", ".jupyter/labextensions"):
        folder = home / where / "planted-extension"
        package = {"name": "planted-extension", "version": "1.0.0", "jupyterlab": {}}
        package["jupyterlab"] = {"_build": {"load": "static/remoteEntry.js"}}
        script = (
            f"import json, os; os.makedirs({str(folder / 'static')!r}, exist_ok=True); "
            f"open({str(folder / 'package.json')!r}, 'w').write({json.dumps(package)!r})"
        )
        done = subprocess.run(["runuser", "-u", student, "--", "python3", "-c", script])
        assert done.returncode == 0
        planted.append(folder)
    links = _course_dir(hub) / "jupyter" / "labextensions"
    environment = _course_dir(hub) / "env" / "share" / "jupyter" / "labextensions"
    for target in (links, links.resolve(), environment / "jupyterlab-plotly"):
        attempt = subprocess.run(
            ["runuser", "-u", student, "--", "touch", str(target / "planted")],
            capture_output=True,
            text=True,
        )
        assert attempt.returncode != 0 and "Permission denied" in attempt.stderr, target
    with chromium() as browser:
        page = browser.new_page()
        _sign_in(page, hub, "lena", f"{hub.url}/user/lena/{COURSE}/lab")
        page.wait_for_selector("#jupyter-config-data", state="attached", timeout=120_000)
        config = json.loads(page.inner_text("#jupyter-config-data"))
    loaded = {ext["name"] for ext in config["federated_extensions"]}
    assert "jupyterlab-plotly" in loaded
    assert "planted-extension" not in loaded, planted


def test_staff_see_the_active_extensions_and_why_one_is_left_out(
    hub: hubproc.RunningHub,
) -> None:
    with chromium() as browser:
        page = browser.new_page(viewport={"width": 1200, "height": 900})
        _sign_in(page, hub, "omar", f"{hub.url}/services/coursehub/course/{COURSE}/staff")
        cell = page.locator("#labextensions")
        cell.wait_for(timeout=60_000)
        text = " ".join(cell.inner_text().split())
        cell.scroll_into_view_if_needed()
        page.screenshot(path=str(SHOTS / "labext-staff.png"))
    assert "jupyterlab-plotly" in text
    assert f"{OLD_EXT} 3.1.7 does not match this server's JupyterLab" in text
    assert "@jupyterlab/application ^3.0.0" in text and "which supports JupyterLab 4." in text

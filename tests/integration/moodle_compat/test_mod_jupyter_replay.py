"""The moodle-mod_jupyter plugin against a real coursehub, with only its URLs changed.

There is no Moodle here: `ModJupyter` below makes the requests exactly as the plugin's
PHP builds them (forschungsprojekte-II-ws2223/moodle-mod_jupyter, main branch at commit
c48fea6208a11db70be03c305f23e43605c9a31f: classes/jupyterhub.php, classes/gradeservice.php,
view.php, lib.php), raises on 4xx/5xx as Guzzle does, and reads the answers the way the
PHP code reads them. Its settings: jupyterhub_url and gradeservice_url point at
/services/coursehub/compat/moodle-jupyter[/gradeservice], jupyterhub_api_token holds the
site's compat API token (no hub token), jupyterhub_jwt_secret the compat JWT secret.
"""

from __future__ import annotations

import base64
import http.server
import json
import os
import pwd
import secrets
import stat
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import jwt
import nbformat
import pytest

from coursehub.courses.servers import workspace_for
from tests.helpers import hubproc
from tests.helpers.assignments import answer_otter, otter_master
from tests.helpers.browser import SHOTS, chromium
from tests.helpers.browserless import _hub_xsrf

pytestmark = [pytest.mark.integration, pytest.mark.root]

PLUGIN_COMMIT = "c48fea6208a11db70be03c305f23e43605c9a31f"
COMPAT = "/services/coursehub/compat/moodle-jupyter"
MOODLE_COURSE, ACTIVITY = 7, 12  # Moodle's course id and the activity instance id
COURSE = "ds101"
TEACHER, STUDENT, OTHER = "mteacher", "mstudent", "mother"
FILENAME = "demo.ipynb"  # the plugin's documentation/demo.ipynb is an otter master too


class ModJupyter:
    """The plugin's PHP, line for line, on httpx (Guzzle throws on status >= 400)."""

    def __init__(self, hub_url: str, grade_url: str, api_token: str, jwt_secret: bytes):
        self.hub_url, self.grade_url = hub_url.rstrip("/"), grade_url.rstrip("/")
        self.api_token, self.jwt_secret = api_token, jwt_secret

    # view.php: $jwt = JWT::encode(["name" => $user], jupyterhub_jwt_secret, 'HS256')
    def jwt_for(self, moodle_username: str) -> str:
        return jwt.encode({"name": moodle_username.lower()}, self.jwt_secret, "HS256")

    def _hub(self) -> httpx.Client:
        headers = {"Authorization": "token " + self.api_token}
        return httpx.Client(headers=headers, timeout=300, follow_redirects=True)

    @staticmethod
    def _ok(response: httpx.Response) -> httpx.Response:
        if response.status_code >= 400:
            raise GuzzleRequestError(response)
        return response

    # jupyterhub.php check_user_status
    def check_user_status(self, user: str) -> None:
        route = f"{self.hub_url}/hub/api/users/{user}"
        with self._hub() as client:
            try:
                res = self._ok(client.get(route))
            except GuzzleRequestError as e:
                if e.code != 404:
                    raise
                res = self._ok(client.post(route))
            if res.json()["server"] in (None, ""):  # PHP: == null
                self._ok(client.post(route + "/server"))

    # jupyterhub.php load_notebook; returns the path view.php appends to jupyterhub_url
    def load_notebook(self, user: str, course: int, instance: int, name: str, data: bytes) -> str:
        self.check_user_status(user)
        route = f"{self.hub_url}/user/{user}/api/contents"
        with self._hub() as client:
            try:
                self._ok(client.get(f"{route}/{course}/{instance}/{name}", params={"content": "0"}))
            except GuzzleRequestError as e:
                if e.code != 404:
                    raise
                self._ok(client.put(f"{route}/{course}", json={"type": "directory"}))
                self._ok(client.put(f"{route}/{course}/{instance}", json={"type": "directory"}))
                content = base64.b64encode(data).decode()
                body = {"type": "file", "format": "base64", "content": content}
                self._ok(client.put(f"{route}/{course}/{instance}/{name}", json=body))
        return f"/hub/user-redirect/lab/tree/{course}/{instance}/{name}"

    # view.php: 'login' => $jupyterhuburl . $notebookpath . "?auth_token=" . $jwt
    def login_link(self, path: str, user: str) -> str:
        return f"{self.hub_url}{path}?auth_token={self.jwt_for(user)}"

    # jupyterhub.php reset_notebook
    def reset_notebook(self, user: str, course: int, instance: int, name: str, data: bytes) -> None:
        route = f"{self.hub_url}/user/{user}/api/contents/{course}/{instance}/{name}"
        body = {"type": "file", "format": "base64", "content": base64.b64encode(data).decode()}
        stamp = datetime.now(UTC).strftime("%Y-%m-%d-%H:%M:%S")  # date('Y-m-d-H:i:s')
        with self._hub() as client:
            try:
                self._ok(client.patch(route, json={"path": f"{course}/{instance}/{stamp}_{name}"}))
                self._ok(client.put(route, json=body))
            except GuzzleRequestError as e:
                if e.code != 404:
                    raise
                self._ok(client.put(route, json=body))

    # jupyterhub.php get_notebook
    def get_notebook(self, user: str, course: int, instance: int, name: str) -> bytes:
        route = f"{self.hub_url}/user/{user}/api/contents/{course}/{instance}/{name}"
        params = {"content": "1", "format": "base64", "type": "file"}
        with self._hub() as client:
            return base64.b64decode(self._ok(client.get(route, params=params)).json()["content"])

    # gradeservice.php create_assignment, as view.php calls it with the viewer's $jwt
    def create_assignment(self, course: int, instance: int, name: str, data: bytes,
                          token: str) -> tuple[bytes, dict[int, float], float]:  # fmt: skip
        route = f"{self.grade_url}/{course}/{instance}"
        res = self._ok(httpx.post(route, headers={"Authorization": token},
                                  files=[("file", (name, data))], timeout=600)).json()  # fmt: skip
        student_version = base64.b64decode(res[name])
        questions = {int(nr): float(maxpoints) for nr, maxpoints in res["points"].items()}
        return student_version, questions, float(res["total"])

    # gradeservice.php submit_assignment
    def submit_assignment(self, user: str, course: int, instance: int, name: str,
                          token: str) -> dict[str, Any]:  # fmt: skip
        file = self.get_notebook(user, course, instance, name)
        route = f"{self.grade_url}/{course}/{instance}/{user}"
        res = self._ok(httpx.post(route, headers={"Authorization": token},
                                  files=[("file", (name, file))], timeout=600)).json()  # fmt: skip
        return {
            "total": float(res["total"]),
            "points": {int(nr): float(p) for nr, p in res["points"].items()},
            "output": {int(nr): res["output"][nr] for nr in res["points"]},
        }

    # gradeservice.php delete_assignment (lib.php jupyter_delete_instance)
    def delete_assignment(self, course: int, instance: int, token: str) -> None:
        route = f"{self.grade_url}/{course}/{instance}"
        self._ok(httpx.delete(route, headers={"Authorization": token}, timeout=60))


class GuzzleRequestError(Exception):
    def __init__(self, response: httpx.Response):
        self.response, self.code = response, response.status_code
        super().__init__(f"{response.status_code}: {response.text[:500]}")


def _secret(path: Path) -> str:
    value = secrets.token_hex(32)
    path.write_text(value + "\n")
    path.chmod(0o600)
    return value


@pytest.fixture(scope="module")
def site(
    site_folder: Callable[..., Path],
    start_hub: Callable[..., hubproc.RunningHub],
    make_course_repo: Callable[..., Path],
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[hubproc.RunningHub, ModJupyter, Path]:
    base = site_folder("moodle", outside_tmp=True)
    jwt_secret = _secret(base / "moodle-jwt.secret")
    api_token = _secret(base / "moodle-api.token")
    _secret(base / "hub-jwt.secret")
    repo = make_course_repo({"intro.ipynb": nbformat.writes(nbformat.v4.new_notebook())})
    extra = (
        "auth:\n  methods: [local, jwt]\n"
        f"  jwt:\n    secret_file: {base / 'hub-jwt.secret'}\n    issuer: coursehub\n"
        "grading:\n  limits:\n    cell_time: 5s\n    wall_time: 40s\n"
        "  moodle_compat:\n    enabled: true\n"
        f"    jwt_secret_file: {base / 'moodle-jwt.secret'}\n"
        f"    api_token_file: {base / 'moodle-api.token'}\n"
        f"    courses:\n      '{MOODLE_COURSE}': {COURSE}\n"
    )
    moodle_port = hubproc.free_port()
    hub = start_hub(
        base, users={"admin1": "admin-pass-123"}, roles={"admin1": "admin"},
        site_yaml=f"frame_ancestors: ['http://127.0.0.1:{moodle_port}']\n",
        extra_yaml=extra, courses={COURSE: hubproc.Course(repo)}, data_dir=base / "data",
    )  # fmt: skip
    plugin = ModJupyter(hub.url + COMPAT, hub.url + COMPAT + "/gradeservice/",
                        api_token, jwt_secret.encode())  # fmt: skip
    hub.extra["moodle_port"] = moodle_port
    master = otter_master(tmp_path_factory.mktemp("moodle") / FILENAME)
    return hub, plugin, master


@pytest.fixture(scope="module")
def activity(site: tuple[hubproc.RunningHub, ModJupyter, Path]) -> dict[str, Any]:
    """The teacher adds the activity and opens it (view.php): the account is made
    through the plugin, the site admin makes them the course's instructor, and their
    first view creates the graded assignment."""
    hub, plugin, master = site
    plugin.check_user_status(TEACHER)
    done = hub.cli("course", "enrol", COURSE, TEACHER, "--role", "instructor")
    assert done.returncode == 0, done.stdout + done.stderr
    student_nb, questions, total = plugin.create_assignment(
        MOODLE_COURSE, ACTIVITY, FILENAME, master.read_bytes(), plugin.jwt_for(TEACHER)
    )
    return {"student_nb": student_nb, "questions": questions, "total": total}


def _hub_user(hub: hubproc.RunningHub, name: str) -> dict[str, Any]:
    """The hub's model of `name` ({} when the hub does not know them yet)."""
    cli_token = (hub.data_dir / "secrets" / "cli_token").read_text().strip()
    response = httpx.get(f"{hub.url}/hub/api/users/{name}",
                         headers={"Authorization": f"token {cli_token}"})  # fmt: skip
    if response.status_code == 404:
        return {}
    response.raise_for_status()
    return response.json()


def open_in_frame(hub: hubproc.RunningHub, browser: httpx.Client, link: str, user: str) -> str:
    """What the iframe does with the plugin's link: follow redirects; on the hub's spawn
    progress page (its script waits for the server) wait the same way, then go on."""
    response = browser.get(link, follow_redirects=True)
    if "/spawn" in response.url.path:
        deadline = time.monotonic() + 180
        while not (_hub_user(hub, user).get("servers", {}).get(COURSE) or {}).get("ready"):
            assert time.monotonic() < deadline, hub.log_tail()
            time.sleep(0.5)
        back = response.url.params.get("next") or f"{COMPAT}/open/{link.split('/tree/')[1]}"
        response = browser.get(hub.url + back.split("?")[0], follow_redirects=True)
    assert response.status_code == 200, (response.url, response.text[:300])
    return str(response.url)


def placed_file(hub: hubproc.RunningHub, name: str = FILENAME) -> Path:
    home = Path(hub.home_root) / hub.unix_name(STUDENT)
    return workspace_for(home, COURSE) / "moodle" / str(ACTIVITY) / name


def test_the_teachers_first_view_makes_the_graded_activity(activity: dict[str, Any]) -> None:
    assert activity["questions"] == {1: 2.0, 2: 3.0}  # jupyter_questions.questionnr: int
    assert activity["total"] == 5.0  # becomes $jupyter->grade
    nb = nbformat.reads(activity["student_nb"].decode(), as_version=4)
    sources = "\n".join(c.source for c in nb.cells)
    assert "sq =" in sources and "7 ** 2" not in sources  # the solution is gone


def test_a_student_opens_the_activity_in_their_course_server(
    site: tuple[hubproc.RunningHub, ModJupyter, Path], activity: dict[str, Any]
) -> None:
    hub, plugin, _ = site
    user = "MStudent".lower()  # view.php: mb_strtolower($USER->username)
    path = plugin.load_notebook(user, MOODLE_COURSE, ACTIVITY, FILENAME, activity["student_nb"])
    assert path == f"/hub/user-redirect/lab/tree/{MOODLE_COURSE}/{ACTIVITY}/{FILENAME}"
    # the plugin asked for a default server: none was started, nor anything else yet
    assert not _hub_user(hub, STUDENT).get("servers")

    with httpx.Client(timeout=120) as browser:
        landed = open_in_frame(hub, browser, plugin.login_link(path, STUDENT), STUDENT)
        assert f"/user/{STUDENT}/{COURSE}/lab/tree/moodle/{ACTIVITY}/{FILENAME}" in landed
        me = browser.get(f"{hub.url}/hub/api/user", headers={"X-XSRFToken": _hub_xsrf(browser)})
        assert me.json()["name"] == STUDENT
    assert set(_hub_user(hub, STUDENT)["servers"]) == {COURSE}  # the course's server only

    # in the student's ds101 workspace, written as the student
    placed = placed_file(hub)
    assert placed.read_bytes() == activity["student_nb"]
    assert placed.stat().st_uid == pwd.getpwnam(hub.unix_name(STUDENT)).pw_uid
    assert not placed.stat().st_mode & (stat.S_IRWXG | stat.S_IRWXO)

    # the next view finds it there and leaves the student's work alone
    placed.write_bytes(b'{"my": "work"}')
    plugin.load_notebook(STUDENT, MOODLE_COURSE, ACTIVITY, FILENAME, activity["student_nb"])
    assert placed.read_bytes() == b'{"my": "work"}'
    placed.write_bytes(activity["student_nb"])
    log = hub.log.read_text(errors="replace")
    assert plugin.jwt_for(STUDENT) not in log


def test_the_student_submits_and_the_plugin_reads_the_grade(
    site: tuple[hubproc.RunningHub, ModJupyter, Path],
    activity: dict[str, Any],
    tmp_path: Path,
) -> None:
    hub, plugin, _ = site
    plugin.load_notebook(STUDENT, MOODLE_COURSE, ACTIVITY, FILENAME, activity["student_nb"])
    placed = placed_file(hub)
    released = tmp_path / "released.ipynb"
    released.write_bytes(activity["student_nb"])
    answered = answer_otter(released, "7 * 7", "    return x + x\n")
    placed.write_bytes(answered)  # what the student saved in JupyterLab

    result = plugin.submit_assignment(STUDENT, MOODLE_COURSE, ACTIVITY, FILENAME,
                                      plugin.jwt_for(STUDENT))  # fmt: skip
    assert result["total"] == 5.0, result
    assert result["points"] == {1: 2.0, 2: 3.0}
    assert set(result["output"]) == {1, 2}

    wrong = answer_otter(released, "'49'", "    return x\n")
    placed.write_bytes(wrong)
    result = plugin.submit_assignment(STUDENT, MOODLE_COURSE, ACTIVITY, FILENAME,
                                      plugin.jwt_for(STUDENT))  # fmt: skip
    assert result["total"] == 0.0 and result["points"] == {1: 0.0, 2: 0.0}
    assert all(isinstance(text, str) for text in result["output"].values())


def test_reset_keeps_the_students_version_beside_a_fresh_copy(
    site: tuple[hubproc.RunningHub, ModJupyter, Path], activity: dict[str, Any]
) -> None:
    hub, plugin, _ = site
    folder = placed_file(hub).parent
    plugin.load_notebook(STUDENT, MOODLE_COURSE, ACTIVITY, FILENAME, activity["student_nb"])
    (folder / FILENAME).write_bytes(b'{"mine": true}')
    plugin.reset_notebook(STUDENT, MOODLE_COURSE, ACTIVITY, FILENAME, activity["student_nb"])
    assert (folder / FILENAME).read_bytes() == activity["student_nb"]
    kept = [p for p in folder.iterdir() if p.name.endswith("_" + FILENAME)]
    assert len(kept) == 1 and kept[0].read_bytes() == b'{"mine": true}'


def test_the_moodle_page_shows_jupyterlab_with_the_notebook_in_its_iframe(
    site: tuple[hubproc.RunningHub, ModJupyter, Path], activity: dict[str, Any]
) -> None:
    """templates/manage.mustache: <iframe id="iframe" src={{login}}>, on a page of the
    Moodle site (same site as coursehub, another port), in Chromium."""
    hub, plugin, _ = site
    user = "mframe"
    path = plugin.load_notebook(user, MOODLE_COURSE, ACTIVITY, FILENAME, activity["student_nb"])
    page_html = (
        f'<body><div align="center"><iframe id="iframe" style="width:1200px;'
        f'height:800px" src={plugin.login_link(path, user)}></iframe></div></body>'
    )

    class Moodle(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.end_headers()
            self.wfile.write(page_html.encode())

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", hub.extra["moodle_port"]), Moodle)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        with chromium() as browser:
            page = browser.new_page(viewport={"width": 1300, "height": 900})
            page.goto(f"http://127.0.0.1:{hub.extra['moodle_port']}/mod/jupyter/view.php?id=1")
            frame = page.frame_locator("#iframe")
            wanted = f"/user/{user}/{COURSE}/lab/tree/moodle/{ACTIVITY}/{FILENAME}"
            frame.locator(".jp-Notebook").first.wait_for(timeout=180_000)
            shown = frame.locator(".jp-RenderedMarkdown", has_text="Put the square of 7")
            try:
                shown.first.wait_for(timeout=60_000)
            finally:
                page.screenshot(path=str(SHOTS / "moodle-mod-jupyter-iframe.png"))
            urls = [f.url for f in page.frames]
            assert any(wanted in u for u in urls), urls
    finally:
        server.shutdown()
    assert set(_hub_user(hub, user)["servers"]) == {COURSE}


# ---- attacks -------------------------------------------------------------------------


def _error(response: httpx.Response, status: int) -> str:
    assert response.status_code == status, (response.status_code, response.text[:500])
    assert response.headers["content-type"].startswith("application/json"), response.text[:200]
    return response.json()["error"]["message"]


def test_hub_calls_need_the_compat_api_token_and_a_hub_token_is_not_one(
    site: tuple[hubproc.RunningHub, ModJupyter, Path], activity: dict[str, Any]
) -> None:
    hub, plugin, _ = site
    users = f"{plugin.hub_url}/hub/api/users/{STUDENT}"
    contents = f"{plugin.hub_url}/user/{STUDENT}/api/contents/{MOODLE_COURSE}/{ACTIVITY}/{FILENAME}"
    cli_token = (hub.data_dir / "secrets" / "cli_token").read_text().strip()
    for headers in ({}, {"Authorization": "token wrong"}, {"Authorization": f"token {cli_token}"},
                    {"Authorization": f"token {hub.user_token(STUDENT)}"},
                    {"Authorization": f"Bearer {plugin.api_token}"}):  # fmt: skip
        assert "API token" in _error(httpx.get(users, headers=headers), 401)
        _error(httpx.get(contents, headers=headers, params={"content": "1"}), 401)
        _error(httpx.put(contents, headers=headers, json={"type": "directory"}), 401)


def test_paths_and_names_that_leave_the_workspace_are_refused(
    site: tuple[hubproc.RunningHub, ModJupyter, Path], activity: dict[str, Any]
) -> None:
    hub, plugin, _ = site
    auth = {"Authorization": "token " + plugin.api_token}
    body = {"type": "file", "format": "base64", "content": base64.b64encode(b"x").decode()}
    base = f"{plugin.hub_url}/user/{STUDENT}/api/contents"
    for path in (f"{MOODLE_COURSE}/../../../.bashrc", f"{MOODLE_COURSE}/%2e%2e/%2e%2e/x",
                 f"{MOODLE_COURSE}/{ACTIVITY}/.jupyter/jupyter_server_config.py",
                 f"{MOODLE_COURSE}/..%2F..%2Fescape"):  # fmt: skip
        response = httpx.put(f"{base}/{path}", headers=auth, json=body)
        assert response.status_code in (400, 404), (path, response.status_code, response.text)
    for user in ("..%2F" + STUDENT, "a%2Fb", "Root", "..", "x" * 300):
        response = httpx.get(f"{plugin.hub_url}/hub/api/users/{user}", headers=auth)
        assert response.status_code in (400, 404), (user, response.status_code)
        response = httpx.put(f"{plugin.hub_url}/user/{user}/api/contents/{MOODLE_COURSE}/x",
                             headers=auth, json=body)  # fmt: skip
        assert response.status_code in (400, 404), (user, response.status_code)
    # a Moodle course that is not linked to a coursehub course
    message = _error(httpx.put(f"{base}/99/{ACTIVITY}/{FILENAME}", headers=auth, json=body), 404)
    assert "grading.moodle_compat.courses" in message
    # a rename out of the course folder
    response = httpx.patch(f"{base}/{MOODLE_COURSE}/{ACTIVITY}/{FILENAME}", headers=auth,
                           json={"path": "../../.profile"})  # fmt: skip
    assert response.status_code == 400
    assert not list(Path(hub.home_root).glob("*/.profile-moodle"))


def test_a_students_symlink_does_not_lead_the_plugins_writes_out(
    site: tuple[hubproc.RunningHub, ModJupyter, Path], activity: dict[str, Any]
) -> None:
    """mframe (opened in the iframe test) swaps their activity folder for a link to
    mstudent's and to a root-only folder: the plugin's writes run as mframe and fail."""
    hub, plugin, _ = site
    user = "mframe"
    home = Path(hub.home_root) / hub.unix_name(user)
    folder = workspace_for(home, COURSE) / "moodle" / str(ACTIVITY + 5)
    uid = pwd.getpwnam(hub.unix_name(user)).pw_uid
    root_only = hub.config.parent / "root-only"
    root_only.mkdir(mode=0o700, exist_ok=True)
    victim = placed_file(hub).parent
    auth = {"Authorization": "token " + plugin.api_token}
    body = {"type": "file", "format": "base64", "content": base64.b64encode(b"x").decode()}
    route = f"{plugin.hub_url}/user/{user}/api/contents/{MOODLE_COURSE}/{ACTIVITY + 5}/evil.ipynb"
    for target in (victim, root_only):
        folder.unlink(missing_ok=True)
        folder.symlink_to(target)
        os.lchown(folder, uid, uid)
        _error(httpx.put(route, headers=auth, json=body), 400)
        assert not (target / "evil.ipynb").exists()
        # nor is anything read through it
        response = httpx.get(route.replace("evil.ipynb", FILENAME), headers=auth)
        assert response.status_code == 404
    folder.unlink()


def test_gradeservice_tokens_are_checked_and_name_who_may_act(
    site: tuple[hubproc.RunningHub, ModJupyter, Path], activity: dict[str, Any]
) -> None:
    hub, plugin, master = site
    notebook = [("file", (FILENAME, activity["student_nb"]))]
    submit = f"{plugin.grade_url}/{MOODLE_COURSE}/{ACTIVITY}/{STUDENT}"
    forged = jwt.encode({"name": STUDENT}, b"not-the-secret-but-long-enough-0123456789", "HS256")
    none = base64.urlsafe_b64encode(b'{"alg":"none","typ":"JWT"}').rstrip(b"=").decode()
    none += "." + base64.urlsafe_b64encode(json.dumps({"name": STUDENT}).encode()).rstrip(
        b"=").decode() + "."  # fmt: skip
    expired = jwt.encode({"name": STUDENT, "exp": int(time.time()) - 10},
                         plugin.jwt_secret, "HS256")  # fmt: skip
    for token in ("", "garbage", forged, none, expired, "token " + plugin.api_token):
        headers = {"Authorization": token} if token else {}
        _error(httpx.post(submit, headers=headers, files=notebook), 401)
    # one student's token does not submit for another
    other = {"Authorization": plugin.jwt_for(OTHER)}
    assert "cannot submit" in _error(httpx.post(submit, headers=other, files=notebook), 403)
    # a student's token (they all have one in the page) neither makes nor deletes activities
    mine = {"Authorization": plugin.jwt_for(STUDENT)}
    make = f"{plugin.grade_url}/{MOODLE_COURSE}/{ACTIVITY + 1}"
    files = [("file", (FILENAME, master.read_bytes()))]
    assert "instructor" in _error(httpx.post(make, headers=mine, files=files), 403)
    gone = f"{plugin.grade_url}/{MOODLE_COURSE}/{ACTIVITY}"
    _error(httpx.delete(gone, headers=mine), 403)
    # names in the path
    for student in ("..%2F" + OTHER, "a%2Fb"):
        response = httpx.post(f"{plugin.grade_url}/{MOODLE_COURSE}/{ACTIVITY}/{student}",
                              headers=mine, files=notebook)  # fmt: skip
        assert response.status_code in (400, 403, 404), (student, response.status_code)
    _error(httpx.post(f"{plugin.grade_url}/x/{ACTIVITY}/{STUDENT}", headers=mine,
                      files=notebook), 400)  # fmt: skip


def test_oversize_bodies_are_refused(
    site: tuple[hubproc.RunningHub, ModJupyter, Path], activity: dict[str, Any]
) -> None:
    hub, plugin, _ = site
    mine = {"Authorization": plugin.jwt_for(STUDENT)}
    big = b"{" + b" " * (60 * 1024 * 1024) + b"}"
    submit = f"{plugin.grade_url}/{MOODLE_COURSE}/{ACTIVITY}/{STUDENT}"
    _error(httpx.post(submit, headers=mine, files=[("file", (FILENAME, big))], timeout=120), 413)
    auth = {"Authorization": "token " + plugin.api_token}
    route = f"{plugin.hub_url}/user/{STUDENT}/api/contents/{MOODLE_COURSE}/{ACTIVITY}/big.ipynb"
    body = {"type": "file", "format": "base64", "content": base64.b64encode(big).decode()}
    _error(httpx.put(route, headers=auth, json=body, timeout=120), 413)


def test_a_bad_sign_in_link_shows_a_page_and_signs_nobody_in(
    site: tuple[hubproc.RunningHub, ModJupyter, Path],
) -> None:
    hub, plugin, _ = site
    path = f"/hub/user-redirect/lab/tree/{MOODLE_COURSE}/{ACTIVITY}/{FILENAME}"
    forged = jwt.encode({"name": STUDENT}, b"not-the-secret-but-long-enough-0123456789", "HS256")
    with httpx.Client(timeout=60) as browser:
        response = browser.get(f"{plugin.hub_url}{path}?auth_token={forged}")
        assert response.status_code == 401
        assert "This Moodle link cannot open" in response.text
        assert "jupyterhub-hub-login" not in browser.cookies


def test_the_teacher_deletes_the_activity(
    site: tuple[hubproc.RunningHub, ModJupyter, Path], activity: dict[str, Any]
) -> None:
    _hub, plugin, _ = site
    # the last test of the module: the activity is gone afterwards
    plugin.delete_assignment(MOODLE_COURSE, ACTIVITY, plugin.jwt_for(TEACHER))
    with pytest.raises(GuzzleRequestError) as refused:
        plugin.submit_assignment(STUDENT, MOODLE_COURSE, ACTIVITY, FILENAME,
                                 plugin.jwt_for(STUDENT))  # fmt: skip
    assert refused.value.code == 400 and "doesn't exist" in refused.value.response.text

"""The staff servers page: runaway kernels, older environments, stop and restart.

The hub's REST API and the student servers' kernel API are answered by an
httpx.MockTransport here (no hub runs in unit tests); the integration test
ops/test_culling_hub.py drives the same page against a real hub and real kernels.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import quote, unquote

import httpx
import pytest

from coursehub.config.layout import DataLayout
from coursehub.courses.build import env_dir
from coursehub.courses.environment import STAMP_NAME
from coursehub.db.session import Database
from coursehub.monitor.census import KernelState, ServerState
from coursehub.monitor.kernel_watch import update_watch
from coursehub.monitor.rollout import restartable, to_restart
from coursehub.service import cookies
from coursehub.service.context import context_of
from coursehub.service.routes.staff.servers_page import server_rows
from tests.helpers import stats_week as week
from tests.helpers.fake_hub import API_TOKEN, PREFIX, bearer, client, service_on, user

NOW = datetime.now(UTC)
BUILT = NOW - timedelta(hours=1)


def _kernel(kid: str, state: str) -> KernelState:
    return KernelState(kid, "python3", state, NOW, 1)


def _server(name: str, started: datetime | None, *kernels: KernelState, ready=True) -> ServerState:
    return ServerState(name, week.COURSE, ready, started, NOW, tuple(kernels))


# --- the decisions -----------------------------------------------------------------


def test_restart_idle_picks_older_servers_whose_kernels_are_all_idle() -> None:
    old, new = BUILT - timedelta(minutes=5), BUILT + timedelta(minutes=5)
    servers = [
        _server("amy", old, _kernel("a", "idle"), _kernel("b", "idle")),
        _server("bob", old, _kernel("c", "idle"), _kernel("d", "busy")),  # working
        _server("cat", old),  # no kernel at all: nothing to interrupt
        _server("dan", new, _kernel("e", "idle")),  # already has the new environment
        _server("eve", old, _kernel("f", "starting")),
        _server("fay", old, ready=False),
        ServerState("gus", week.COURSE, True, old, NOW, None),  # did not answer
    ]
    assert [s.username for s in to_restart(servers, BUILT)] == ["amy", "cat"]
    assert not any(restartable(s, None) for s in servers)  # never built: nothing older


def test_rows_flag_runaway_kernels_and_older_environments() -> None:
    servers = [
        _server("amy", BUILT - timedelta(days=1), _kernel("k1", "busy"), _kernel("k2", "idle")),
        _server("bob", BUILT + timedelta(minutes=1), _kernel("k3", "busy")),
    ]
    busy_since = {
        ("amy", "k1"): NOW - timedelta(minutes=45),
        ("bob", "k3"): NOW - timedelta(minutes=5),
    }
    rows = server_rows(servers, busy_since, timedelta(minutes=30), BUILT, NOW)
    amy, bob = rows
    assert amy.older_environment and not bob.older_environment
    assert [k.id for k in amy.runaway] == ["k1"] and amy.busy == 1
    assert amy.runaway[0].busy_for == timedelta(minutes=45)
    assert bob.runaway == [] and bob.kernels[0].busy_for == timedelta(minutes=5)
    # runaway_after 0: nothing is ever runaway
    assert not any(r.runaway for r in server_rows(servers, busy_since, timedelta(0), BUILT, NOW))


# --- the page ----------------------------------------------------------------------


class FakeHubApi:
    """The hub's /users list, DELETE server and token API, the servers' kernels API.

    The service's token is good for the hub API only: a server accepts only a token
    issued for that one server."""

    def __init__(self, servers: list[ServerState]):
        self.servers = {s.username: s for s in servers}
        self.calls: list[tuple[str, str]] = []
        self.issued: dict[str, tuple[str, str]] = {}  # token -> (owner, server)
        self.notices: list[tuple[str, str]] = []  # (owner, notice id) the servers took

    def __call__(self, request: httpx.Request) -> httpx.Response:
        path = request.url.raw_path.decode().split("?")[0]
        self.calls.append((request.method, path))
        if not path.startswith("/hub/api/"):
            return self._server(request, path)
        assert request.headers["authorization"] == f"token {API_TOKEN}"
        m = re.fullmatch(r"/hub/api/users/([^/]+)/tokens", path)
        if request.method == "POST" and m:
            owner = unquote(m[1])
            body = json.loads(request.content)
            (scope,) = body["scopes"]
            server = scope.removeprefix(f"access:servers!server={owner}/")
            assert scope != server and 0 < body["expires_in"] <= 3600, body
            token = f"server-token-{len(self.issued)}"
            self.issued[token] = (owner, server)
            return httpx.Response(201, json={"token": token})
        if request.method == "GET" and path == "/hub/api/users":
            items = [
                {
                    "name": s.username,
                    "servers": {
                        s.course: {
                            "ready": s.ready,
                            "started": s.started.isoformat() if s.started else None,
                            "last_activity": NOW.isoformat(),
                        }
                    },
                }
                for s in self.servers.values()
            ]
            return httpx.Response(200, json={"items": items, "_pagination": {"next": None}})
        m = re.fullmatch(r"/hub/api/users/([^/]+)", path)
        if request.method == "GET" and m:
            found = self.servers.get(unquote(m[1]))
            if found is None:
                return httpx.Response(200, json={"name": unquote(m[1]), "servers": {}})
            model = {"ready": found.ready, "started": found.started and found.started.isoformat()}
            return httpx.Response(
                200, json={"name": found.username, "servers": {week.COURSE: model}}
            )
        m = re.fullmatch(r"/hub/api/users/([^/]+)/servers/([^/]+)", path)
        if request.method == "DELETE" and m:
            assert not request.content  # never {"remove": true}
            return httpx.Response(204 if self.servers.pop(unquote(m[1]), None) else 404)
        return httpx.Response(404)

    def _server(self, request: httpx.Request, path: str) -> httpx.Response:
        token = request.headers["authorization"].removeprefix("token ")
        assert token != API_TOKEN, "the service's own token went to a student's server"
        lab = re.fullmatch(r"/user/([^/]+)/([^/]+)/coursehub/lab/(kernels|notices)", path)
        if lab:
            if self.issued.get(token) != (unquote(lab[1]), unquote(lab[2])):
                return httpx.Response(403)
            server = self.servers.get(unquote(lab[1]))
            if server is None:
                return httpx.Response(404)
            if lab[3] == "notices":  # the student's server took the notice's id
                self.notices.append((unquote(lab[1]), json.loads(request.content)["id"]))
                return httpx.Response(200, json={"delivered": 1, "acked": True})
            started = (NOW - timedelta(minutes=12)).isoformat()
            kernels = [
                {"id": k.id, "path": f"week1/{k.id}.ipynb", "started": started}
                for k in server.kernels or ()
            ]
            if unquote(lab[1]) == "bob":  # a server that says odd things
                kernels = [{"id": "k-b", "path": ["x"], "started": "2026-01-01T00:00"}, "junk"]
            return httpx.Response(200, json=kernels)
        m = re.fullmatch(r"/user/([^/]+)/([^/]+)/api/kernels(?:/([^/]+))?", path)
        if m and self.issued.get(token) != (unquote(m[1]), unquote(m[2])):
            return httpx.Response(403)
        if m and unquote(m[1]) in self.servers:
            server = self.servers[unquote(m[1])]
            if request.method == "GET":
                return httpx.Response(
                    200,
                    json=[
                        {"id": k.id, "name": k.name, "execution_state": k.execution_state}
                        for k in server.kernels or ()
                    ],
                )
            kept = tuple(k for k in server.kernels or () if k.id != m[3])
            if len(kept) == len(server.kernels or ()):
                return httpx.Response(404)
            self.servers[unquote(m[1])] = ServerState(**{**server.__dict__, "kernels": kept})
            return httpx.Response(204)
        return httpx.Response(404)


@pytest.fixture
def site(db: Database, tmp_path: Path):  # noqa: ANN201
    week.populate(db, tmp_path / "data", tmp_path, NOW)
    old = BUILT - timedelta(hours=2)
    servers = [
        _server("amy", old, _kernel("k-run", "busy"), _kernel("k-idle", "idle")),
        _server("bob", old, _kernel("k-b", "idle")),
        _server(
            "<img src=x onerror=alert(1)>cat", BUILT + timedelta(minutes=1), _kernel("k-c", "idle")
        ),
    ]
    update_watch(db, servers, NOW - timedelta(hours=1))
    db.dispose()
    env = env_dir(DataLayout(tmp_path / "data"), week.COURSE)
    env.mkdir(parents=True)
    (env / STAMP_NAME).write_text("{}")
    os.utime(env / STAMP_NAME, (BUILT.timestamp(), BUILT.timestamp()))
    app = service_on(
        db.url,
        tmp_path / "data",
        {
            "tok-amy": user("amy", ("coursehub-students",)),
            "tok-tom": user("tom", ("coursehub-tas",)),
        },
        COURSEHUB_OPS=json.dumps({"proxy_url": "http://proxy", "idle": {"runaway_after": 1800}}),
    )
    fake = FakeHubApi(servers)
    context_of(app).hub_api = httpx.AsyncClient(transport=httpx.MockTransport(fake))
    return app, fake


URL = f"{PREFIX}course/{week.COURSE}/staff/servers"


async def _signed_in(c: httpx.AsyncClient, token: str) -> str:
    signed = cookies.sign(cookies.signing_key(API_TOKEN), "service-coursehub", token)
    c.cookies.set("service-coursehub", signed)
    page = await c.get(URL, headers={"Sec-Fetch-Mode": "navigate"})
    assert page.status_code == 200
    return re.search(r'name="coursehub-xsrf" content="([^"]+)"', page.text).group(1)


async def test_staff_see_runaway_kernels_and_older_servers_students_do_not(site) -> None:  # noqa: ANN001
    app, _ = site
    async with client(app) as c:
        for token in ("tok-inst", "tok-tom", "tok-admin"):
            page = await c.get(URL, headers=bearer(token))
            assert page.status_code == 200, token
        text = page.text
        amy = text[text.index('data-user="amy"') : text.index('data-user="bob"')]
        assert "runaway" in amy and "older environment" in amy and re.search(r"busy\s+for 1h", amy)
        bob = text[text.index('data-user="bob"') :]
        assert "runaway" not in bob.split("</tr>")[0]
        # a hostile user name is escaped; cat started after the build
        assert "<img" not in text and "&lt;img src=x onerror=alert(1)&gt;cat" in text
        cat = text[text.index('data-user="&lt;img') :].split("</tr>")[0]
        assert "older environment" not in cat
        assert "stops the 1 server(s)" in text  # bob only: amy has a busy kernel
        assert (await c.get(URL, headers=bearer("tok-amy"))).status_code == 403
        assert (await c.get(URL, headers=bearer("tok-student"))).status_code == 404


async def test_stop_kernel_stop_server_and_restart_idle(site) -> None:  # noqa: ANN001
    app, fake = site
    async with client(app) as c:
        xsrf = await _signed_in(c, "tok-tom")
        nav = {"Sec-Fetch-Mode": "navigate", "Sec-Fetch-Site": "same-origin"}
        # without the XSRF field: refused, nothing stopped
        got = await c.post(f"{URL}/amy/kernels/k-run/stop", data={}, headers=nav)
        assert (
            got.status_code == 403
            and ("DELETE", "/user/amy/algebra/api/kernels/k-run") not in fake.calls
        )
        got = await c.post(f"{URL}/amy/kernels/k-run/stop", data={"_xsrf": xsrf}, headers=nav)
        assert got.status_code == 303 and got.headers["location"].endswith("?done=kernel")
        assert [k.id for k in fake.servers["amy"].kernels] == ["k-idle"]
        # amy's server was told, after the kernel stopped, by the id of a notice for her
        ((owner, notice_id),) = fake.notices
        stopped = fake.calls.index(("DELETE", "/user/amy/algebra/api/kernels/k-run"))
        told = fake.calls.index(("POST", "/user/amy/algebra/coursehub/lab/notices"))
        assert owner == "amy" and told > stopped
        notice = context_of(app).stop_notices.get(notice_id, "amy", week.COURSE)
        assert notice.by == "tom" and notice.path == "week1/k-run.ipynb"
        page = await c.get(got.headers["location"], headers={"Sec-Fetch-Mode": "navigate"})
        assert "The kernel was stopped." in page.text
        bad = await c.post(f"{URL}/amy/kernels/..%2Fx/stop", data={"_xsrf": xsrf}, headers=nav)
        assert bad.status_code in (400, 404)
        # now amy's kernels are all idle: restart-idle stops amy and bob, not cat
        got = await c.post(f"{URL}/restart-idle", data={"_xsrf": xsrf}, headers=nav)
        assert got.status_code == 303 and got.headers["location"].endswith("done=restarted&n=2")
        assert set(fake.servers) == {"<img src=x onerror=alert(1)>cat"}
        cat = "<img src=x onerror=alert(1)>cat"
        got = await c.post(f"{URL}/{quote(cat, safe='')}/stop", data={"_xsrf": xsrf}, headers=nav)
        assert got.status_code == 303 and fake.servers == {}
        # each stopped server was told before it stopped: amy and bob (restart), then cat
        owners = [owner for owner, _ in fake.notices]
        assert owners[0] == "amy" and sorted(owners[1:3]) == ["amy", "bob"] and owners[3] == cat
        server = f"/hub/api/users/{quote(cat, safe='')}/servers/{week.COURSE}"
        told = fake.calls.index(
            ("POST", f"/user/{quote(cat, safe='')}/algebra/coursehub/lab/notices")
        )
        assert told < fake.calls.index(("DELETE", server))
        missing = await c.post(f"{URL}/amy/stop", data={"_xsrf": xsrf}, headers=nav)
        assert missing.status_code == 404
    # a student of the course, with a valid form token of their own, cannot stop anything
    async with client(app) as c:
        signed = cookies.sign(cookies.signing_key(API_TOKEN), "service-coursehub", "tok-amy")
        c.cookies.set("service-coursehub", signed)
        own = hmac.new(context_of(app).cookie_key, f"xsrf|{signed}".encode(), hashlib.sha256)
        got = await c.post(f"{URL}/bob/stop", data={"_xsrf": own.hexdigest()[:40]}, headers=nav)
        assert got.status_code == 403 and "instructors" in got.text


async def test_each_stop_is_asked_first_on_a_page_that_says_what_it_does(site) -> None:  # noqa: ANN001
    app, fake = site
    async with client(app) as c:
        await _signed_in(c, "tok-tom")
        nav = {"Sec-Fetch-Mode": "navigate"}
        page = await c.get(URL, headers=nav)
        amy = page.text[page.text.index('data-user="amy"') : page.text.index('data-user="bob"')]
        # each kernel with its notebook and age; the buttons lead to the questions
        assert "week1/k-run.ipynb" in amy and re.search(r"started \d+m\d\ds ago", amy)
        assert f'href="{URL}/amy/kernels/k-run/stop">Stop…' in amy
        assert f'href="{URL}/amy/stop">Stop server…' in amy
        bob = page.text[page.text.index('data-user="bob"') :].split("</tr>")[0]
        assert "no notebook known" in bob and "started" not in bob
        kernel = await c.get(f"{URL}/amy/kernels/k-run/stop", headers=nav)
        assert kernel.status_code == 200
        text = " ".join(kernel.text.split())
        assert "Stop amy&#39;s kernel?" in text and "week1/k-run.ipynb" in text
        assert "you (tom) stopped the kernel" in text and 'action="' + URL in text
        server = await c.get(f"{URL}/amy/stop", headers=nav)
        text = " ".join(server.text.split())
        assert "Stop amy&#39;s server?" in text and "2, 1 busy" in text
        assert "saves their open notebooks first" in text
        restart = await c.get(f"{URL}/restart-idle", headers=nav)
        assert "<strong>bob</strong>" in restart.text and "Restart 1 server(s)" in restart.text
        # asking stopped nothing and told nobody
        assert not [call for call in fake.calls if call[0] == "DELETE"] and fake.notices == []
        gone = await c.get(f"{URL}/zed/stop", headers=nav)
        assert gone.status_code == 404 and "not running" in gone.text
        assert (await c.get(f"{URL}/amy/kernels/k-gone/stop", headers=nav)).status_code == 404
    async with client(app) as c:  # a student of the course is not shown the question
        assert (await c.get(f"{URL}/bob/stop", headers=bearer("tok-amy"))).status_code == 403


async def test_a_notice_is_given_only_to_the_server_of_its_own_student(site) -> None:  # noqa: ANN001
    app, _ = site
    notice = context_of(app).stop_notices.write("amy", week.COURSE, "server", "tom", "m {time}")
    api = f"{PREFIX}api/lab/notices/{notice.id}?course={week.COURSE}"
    async with client(app) as c:
        mine = await c.get(api, headers=bearer("tok-amy"))
        assert mine.status_code == 200 and mine.json()["by"] == "tom"
        assert mine.json()["message"] == "m {time}" and mine.json()["kind"] == "server"
        # another student, another course, a made-up id, no token: nothing
        assert (await c.get(api, headers=bearer("tok-student"))).status_code == 404
        other = f"{PREFIX}api/lab/notices/{notice.id}?course=geometry"
        assert (await c.get(other, headers=bearer("tok-amy"))).status_code == 404
        made_up = f"{PREFIX}api/lab/notices/{'0' * 32}?course={week.COURSE}"
        assert (await c.get(made_up, headers=bearer("tok-amy"))).status_code == 404
        assert (await c.get(api)).status_code == 401


async def test_the_hubs_not_running_page_learns_only_the_viewers_own_stop(site) -> None:  # noqa: ANN001
    app, _ = site
    context_of(app).courses.enrol(week.COURSE, "amy")  # her server is of her course
    context_of(app).stop_notices.write("amy", week.COURSE, "server", "tom", "m {time}")
    frame = f"{PREFIX}course/{week.COURSE}/stopped"
    async with client(app) as c:
        mine = await c.get(frame, headers=bearer("tok-amy"))
        text = " ".join(mine.text.split())
        assert mine.status_code == 200
        assert f"Course staff (tom) stopped your {week.COURSE} server at" in text
        assert "Your files are kept" in text
        for token in ("tok-student", "tok-tom"):  # another person: nothing
            other = await c.get(frame, headers=bearer(token))
            assert other.status_code in (200, 404) and "stopped-notice" not in other.text
        elsewhere = await c.get(f"{PREFIX}course/geometry/stopped", headers=bearer("tok-amy"))
        assert elsewhere.status_code == 404 and "stopped-notice" not in elsewhere.text

"""The live class view below the browser: tails, the live table, the broker, and who
may see the dashboard pages and stream.

The hub is faked (tokens → users, tests/helpers/fake_hub.py); the course is a real git
repository cloned by the real CourseStore into a real SQLite database.
"""

from __future__ import annotations

import asyncio
import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from coursehub.core.notebook_tail import NotebookTail, tail_of
from coursehub.core.subdomains import host_header, server_url
from coursehub.courses.store import CourseStore
from coursehub.db.session import Database
from coursehub.events import live as live_module
from coursehub.events.broker import LiveBroker
from coursehub.events.live import LiveStore
from coursehub.events.schema import EventIn
from coursehub.service import cookies
from coursehub.service.context import context_of
from coursehub.service.routes.live.pages import stream_ticket
from tests.helpers.coursedb import add_courses
from tests.helpers.fake_hub import API_TOKEN, PREFIX, assert_error, bearer, client, service_on, user
from tests.helpers.gitrepo import make_repo

NB = "lab/one.ipynb"


def _cell(src: str, count: int | None = None, outputs: list | None = None, tags=()) -> dict:
    return {
        "cell_type": "code",
        "source": src,
        "execution_count": count,
        "outputs": outputs or [],
        "metadata": {"tags": list(tags)},
    }


def _nb(*cells: dict) -> dict:
    return {"cells": list(cells), "metadata": {}, "nbformat": 4, "nbformat_minor": 5}


# tails


def test_the_tail_ends_where_the_student_last_ran_code() -> None:
    nb = _nb(
        {"cell_type": "markdown", "source": "# Lab"},
        _cell("a = 1", 1),
        _cell("b = a + 1", 3, [{"output_type": "stream", "name": "stdout", "text": "ok\n"}]),
        _cell("c = 3", 2),
        _cell("d = 4"),
        _cell("e = 5"),
    )
    tail = tail_of(nb)
    # the cell run last (count 3) is the end; two cells before it come along
    assert [c["index"] for c in tail["cells"]] == [0, 1, 2]
    assert tail["cells"][2]["outputs"] == [{"kind": "text", "text": "ok"}]
    assert tail["summary"] == {
        "cells": 5,
        "executed": 3,
        "errors": 0,
        "last_error": None,
        "finished": False,
    }
    NotebookTail.model_validate(tail)  # what the server sends, the service accepts


def test_rich_outputs_become_labels_and_everything_is_cut_short() -> None:
    html = {"output_type": "display_data", "data": {"text/html": "<script>alert(1)</script>"}}
    image = {"output_type": "display_data", "data": {"image/png": "iVBOR", "text/plain": "<Fig>"}}
    error = {"output_type": "error", "ename": "ValueError", "evalue": "bad " * 500, "traceback": []}
    long_source = "\n".join(f"line {i}" for i in range(500))
    tail = tail_of(_nb(_cell(long_source, 1, [html, image, error])))
    cell = tail["cells"][0]
    assert [o["kind"] for o in cell["outputs"]] == ["html", "image", "error"]
    assert "<script>" not in json.dumps(tail)
    assert cell["outputs"][2]["text"].startswith("ValueError: bad")
    assert len(cell["source"]) <= 1300 and cell["source"].endswith("line 499")
    assert tail["summary"]["last_error"] == "ValueError"
    NotebookTail.model_validate(tail)


def test_finished_means_all_ran_cleanly_or_the_finish_cell_ran() -> None:
    assert tail_of(_nb(_cell("a", 1), _cell("b", 2)))["summary"]["finished"]
    assert not tail_of(_nb(_cell("a", 1), _cell("b")))["summary"]["finished"]
    marker = _nb(_cell("a", 1), _cell("done()", 2, tags=["finish"]), _cell("extra"))
    assert tail_of(marker)["summary"]["finished"]
    assert not tail_of(_nb())["summary"]["finished"]  # nothing to run is not finished


@pytest.mark.parametrize("junk", [{}, {"cells": "no"}, {"cells": [1, None, {"x": 1}]}, []])
def test_any_json_gives_a_valid_tail(junk) -> None:  # noqa: ANN001
    NotebookTail.model_validate(tail_of(junk))


# the live table


def _event(type_: str, **kw) -> EventIn:
    return EventIn.model_validate({"type": type_, "course": "algebra", "path": NB, **kw})


@pytest.fixture
def live(db: Database) -> LiveStore:
    return LiveStore(db)


def test_states_follow_the_latest_event(live: LiveStore) -> None:
    now = datetime.now(UTC)
    assert live.apply("sam", [_event("notebook_opened", timestamp=now.isoformat())])[0].status == (
        "working"
    )
    ran = live.apply(
        "sam",
        [
            _event(
                "cell_executed",
                timestamp=(now + timedelta(seconds=1)).isoformat(),
                data={"status": "error", "error": "NameError"},
            )
        ],
    )[0]
    assert (ran.status, ran.error) == ("error", "NameError")
    # a later save whose notebook ran cleanly to the end: finished
    clean = tail_of(_nb(_cell("a", 1), _cell("b", 2)))
    saved = live.apply(
        "sam",
        [
            _event(
                "notebook_saved",
                timestamp=(now + timedelta(seconds=2)).isoformat(),
                data={"sha256": "ab" * 32},
                tail=clean,
            )
        ],
    )[0]
    assert (saved.status, saved.sha256) == ("finished", "ab" * 32)
    # kept across a restart (a new store on the same database), one row per student
    again = LiveStore(live.db).notebook("algebra", NB)
    assert [(s.username, s.status) for s in again] == [("sam", "finished")]
    assert again[0].opened_at is not None and again[0].tail == clean
    # events without a course or path do not touch the table
    assert live.apply("sam", [EventIn.model_validate({"type": "kernel_started"})]) == []


def test_each_students_rows_are_bounded_and_the_oldest_go(
    live: LiveStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(live_module, "MAX_PER_STUDENT", 5)
    for n in range(8):
        live.apply("sam", [_event("notebook_opened", path=f"junk/{n}.ipynb")])
    live.apply("sam", [_event("notebook_opened", path="junk/3.ipynb")])  # touched again
    live.apply("ann", [_event("notebook_opened")])
    sams = {s.path for s in live.course("algebra") if s.username == "sam"}
    assert sams == {"junk/3.ipynb", "junk/4.ipynb", "junk/5.ipynb", "junk/6.ipynb", "junk/7.ipynb"}
    # another student's rows are untouched
    assert [s.username for s in live.notebook("algebra", NB)] == ["ann"]
    # one batch larger than the bound keeps its newest rows
    live.apply("sam", [_event("notebook_opened", path=f"more/{n}.ipynb") for n in range(9)])
    sams = {s.path for s in live.course("algebra") if s.username == "sam"}
    assert sams == {f"more/{n}.ipynb" for n in range(4, 9)}


def test_a_tail_comes_only_with_saves_and_is_checked() -> None:
    with pytest.raises(ValueError, match="only notebook_saved"):
        _event("cell_executed", tail={"cells": [], "summary": {}})
    with pytest.raises(ValueError):
        _event(
            "notebook_saved", tail={"cells": [{"index": 0, "type": "code", "source": "x" * 5000}]}
        )
    with pytest.raises(ValueError):
        _event("notebook_saved", tail={"cells": [], "summary": {}, "html": "<b>"})


async def test_a_slow_dashboard_is_told_to_reload_not_waited_for() -> None:
    broker = LiveBroker()
    fast = broker.subscribe("algebra", NB)
    other = broker.subscribe("algebra", "lab/two.ipynb")
    broker.publish("algebra", [{"path": NB, "user": "sam"}] * 2500)
    assert fast.lagged and fast.queue.qsize() == 2000
    assert other.queue.empty() and not other.lagged
    broker.unsubscribe(fast)
    broker.unsubscribe(other)
    assert broker.subscribers("algebra") == 0


# pages and stream


@pytest.fixture
def site(course_store: CourseStore, tmp_path: Path):  # noqa: ANN201
    repo = make_repo(tmp_path / "repo", {NB: json.dumps(_nb(_cell("x = 1")))})
    members = {
        "algebra": {"sam": "student", "ines": "instructor"},
        "physics": {"tara": "instructor"},
    }
    add_courses(course_store, repo, members)
    return service_on(
        course_store.db.url,
        course_store.layout.root,
        {"tok-tara": user("tara", ("coursehub-instructors",))},
    )


async def test_staff_see_the_dashboard_and_nobody_else(site) -> None:  # noqa: ANN001
    async with client(site) as c:
        page = await c.get(f"{PREFIX}course/algebra/live/nb/{NB}", headers=bearer("tok-inst"))
        assert page.status_code == 200
        assert 'id="live-grid"' in page.text and "static/live.js" in page.text
        overview = await c.get(f"{PREFIX}course/algebra/live", headers=bearer("tok-inst"))
        assert re.search(r"lab/one.ipynb</a></td>\s*<td class=\"count\">1</td>", overview.text)
        # a student (refused for their role); another course's instructor (not found)
        for token, status in (("tok-student", 403), ("tok-tara", 404)):
            for path in ("live", f"live/nb/{NB}", f"live/view/sam/{NB}", f"live/render/sam/{NB}"):
                r = await c.get(f"{PREFIX}course/algebra/{path}", headers=bearer(token))
                assert r.status_code == status, (token, path)
                assert "sam" not in r.text or token == "tok-student"
        # not a notebook of the course, not a student of it
        r = await c.get(
            f"{PREFIX}course/algebra/live/nb/lab/nope.ipynb", headers=bearer("tok-inst")
        )
        assert r.status_code == 404
        r = await c.get(f"{PREFIX}course/algebra/live/view/ines/{NB}", headers=bearer("tok-inst"))
        assert r.status_code == 404


async def test_the_stream_needs_course_staff_and_our_page_ticket(site) -> None:  # noqa: ANN001
    async with client(site) as c:
        url = f"{PREFIX}course/algebra/live/stream"
        for token, status, why in (
            ("tok-student", 403, "instructors and teaching assistants"),
            ("tok-tara", 404, "no course called"),
        ):
            r = await c.get(url, headers=bearer(token))
            assert r.status_code == status and why in r.text
        r = await c.get(url)  # no ticket, no token
        assert r.status_code == 403 and "Reload the page" in r.text
        # A browser's cookie alone is not enough: another page on this origin could use it.
        c.cookies.set("service-coursehub", "whatever")
        r = await c.get(url, params={"ticket": "forged"})
        assert r.status_code == 403 and "Reload the page" in r.text


def test_tickets_are_bound_to_the_cookie_and_course(site) -> None:  # noqa: ANN001
    class Req:
        def __init__(self, cookie: str) -> None:
            self.cookies = {"service-coursehub": cookie}
            self.app = site

    a = stream_ticket(Req("cookie-a"), "algebra")  # type: ignore[arg-type]
    assert a and a != stream_ticket(Req("cookie-b"), "algebra")  # type: ignore[arg-type]
    assert a != stream_ticket(Req("cookie-a"), "physics")  # type: ignore[arg-type]
    assert stream_ticket(Req(""), "algebra") == ""  # type: ignore[arg-type]


async def test_posted_events_are_published_to_the_course_dashboards(site) -> None:  # noqa: ANN001

    sub = context_of(site).broker.subscribe("algebra", NB)
    async with client(site) as c:
        tail = tail_of(
            _nb(_cell("1/0", 1, [{"output_type": "error", "ename": "ZeroDivisionError"}]))
        )
        event = {"type": "notebook_saved", "course": "algebra", "path": NB, "tail": tail}
        r = await c.post(f"{PREFIX}api/events", json=event, headers=bearer("tok-student"))
        assert r.status_code == 201, r.text
        bad = {**event, "tail": {"cells": [], "summary": {"cells": -1}}}
        r = await c.post(f"{PREFIX}api/events", json=bad, headers=bearer("tok-student"))
        assert_error(r, 400, "bad_request")
    update = await asyncio.wait_for(sub.queue.get(), 5)
    assert (update["user"], update["status"], update["error"]) == (
        "sam",
        "error",
        "ZeroDivisionError",
    )
    assert sub.queue.empty()  # the refused batch published nothing


async def test_concurrent_batches_share_one_transaction(live: LiveStore) -> None:
    from coursehub.events.ingest import EventWriter
    from coursehub.events.store import EventFilter, EventStore

    published: list[list] = []
    writer = EventWriter(live.db, published.append)
    students = [f"s{n}" for n in range(20)]
    ids = await asyncio.gather(
        *(
            writer.submit(name, [_event("notebook_opened"), _event("cell_executed")])
            for name in students
        )
    )
    # every caller gets its own ids, in the order of its events
    assert all(len(i) == 2 and i[0] < i[1] for i in ids)
    assert len({i for pair in ids for i in pair}) == 40
    assert writer.writes < len(students)  # batches that arrived together, written together
    stored = EventStore(live.db).query(EventFilter(course="algebra"), limit=100)
    assert {(e.id, e.user) for e in stored} == {
        (i, name) for name, pair in zip(students, ids, strict=True) for i in pair
    }
    states = [s for group in published for s in group]
    assert sorted(s.username for s in states) == sorted(students)


# help: read-only without per-user subdomains; forms only from our own origin

NAVIGATE = {"Sec-Fetch-Mode": "navigate", "Sec-Fetch-Site": "same-origin"}


async def _signed_in(c, token: str, page: str) -> tuple[str, str]:  # noqa: ANN001
    signed = cookies.sign(cookies.signing_key(API_TOKEN), "service-coursehub", token)
    c.cookies.set("service-coursehub", signed)
    got = await c.get(page, headers={"Sec-Fetch-Mode": "navigate"})
    assert got.status_code == 200, got.text[-300:]
    found = re.search(r'name="coursehub-xsrf" content="([^"]+)"', got.text)
    assert found
    return got.text, found.group(1)


async def test_without_subdomains_help_is_the_read_only_view(site) -> None:  # noqa: ANN001
    view = f"{PREFIX}course/algebra/live/view/sam/{NB}"
    async with client(site) as c:
        board = await c.get(f"{PREFIX}course/algebra/live/nb/{NB}", headers=bearer("tok-inst"))
        assert 'data-live-help="0"' in board.text
        page, xsrf = await _signed_in(c, "tok-inst", view)
        assert 'data-help="read-only"' in page and "site.user_subdomains" in page
        assert f"live/help/sam/{NB}" not in page  # no form that would open the live lab
        # A form posted anyway (an old page) shows the read-only view; nothing is shared
        # (the fake hub would refuse any call).
        helped = await c.post(
            f"{PREFIX}course/algebra/live/help/sam/{NB}", data={"_xsrf": xsrf}, headers=NAVIGATE
        )
        assert helped.status_code == 303 and helped.headers["location"] == view


async def test_with_subdomains_help_offers_the_students_own_origin(
    course_store: CourseStore, tmp_path: Path
) -> None:
    repo = make_repo(tmp_path / "repo", {NB: json.dumps(_nb(_cell("x = 1")))})
    add_courses(course_store, repo, {"algebra": {"sam": "student", "ines": "instructor"}})
    app = service_on(
        course_store.db.url,
        course_store.layout.root,
        COURSEHUB_SUBDOMAIN_HOST="http://hub.test:8000",
    )
    async with client(app) as c:
        board = await c.get(f"{PREFIX}course/algebra/live/nb/{NB}", headers=bearer("tok-inst"))
        assert 'data-live-help="1"' in board.text
        view = f"{PREFIX}course/algebra/live/view/sam/{NB}"
        page, _ = await _signed_in(c, "tok-inst", view)
        assert 'data-help="live"' in page and f"live/help/sam/{NB}" in page
        # the Help form may lead to a student's own host, and nowhere else
        policy = (await c.get(view, headers=bearer("tok-inst"))).headers["content-security-policy"]
        assert "form-action 'self' http://*.hub.test:8000;" in policy
    assert server_url("/", "http://hub.test:8000", "sam", "algebra") == (
        "http://sam.hub.test:8000/user/sam/algebra/"
    )
    assert host_header("http://hub.test:8000", "sam") == {"Host": "sam.hub.test:8000"}
    assert host_header("", "sam") == {}


@pytest.mark.parametrize(
    ("origin", "status"),
    [
        ("http://testserver", 303),  # our own page
        ("http://sam.testserver", 403),  # a student's subdomain: same site, other origin
        ("https://evil.example", 403),
        ("null", 403),  # a sandboxed frame
        ("http://testserver:99999", 403),  # malformed
    ],
)
async def test_forms_are_taken_only_from_our_own_origin(site, origin: str, status: int) -> None:  # noqa: ANN001
    view = f"{PREFIX}course/algebra/live/view/sam/{NB}"
    async with client(site) as c:
        _, xsrf = await _signed_in(c, "tok-inst", view)
        # Even with the right XSRF value (which other origins cannot read anyway).
        sent = await c.post(
            f"{PREFIX}course/algebra/live/help/sam/{NB}",
            data={"_xsrf": xsrf},
            headers={**NAVIGATE, "Origin": origin},
        )
        assert sent.status_code == status, sent.text
        if status == 403:
            assert "another site" in sent.text

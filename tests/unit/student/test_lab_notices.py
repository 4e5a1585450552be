"""A course server's notices from course staff: pages waiting for the next one, the
service's answer checked before anything is kept, acknowledgements."""

from __future__ import annotations

import asyncio

import pytest

from coursehub.student.lab.notices import NoticeBoard, NoticeError, parse
from coursehub.student.lab.service_client import error_message, service_page, service_url

NOTICE_ID = "0123456789abcdef0123456789abcdef"


def _fields(kind: str = "kernel", notice_id: str = NOTICE_ID) -> dict[str, str]:
    return {
        "id": notice_id,
        "kind": kind,
        "message": "Course staff (ivan) stopped the kernel of lab1.ipynb at {time}.",
        "at": "2026-12-07T10:02:00+00:00",
        "by": "ivan",
        "path": "lab1.ipynb",
    }


async def test_a_waiting_page_gets_the_next_notice_at_once() -> None:
    board = NoticeBoard()
    waiting = asyncio.create_task(board.wait(board.last, timeout=10))
    await asyncio.sleep(0.05)
    assert board.listeners == 1
    board.publish(_fields())
    found = await asyncio.wait_for(waiting, 1)
    assert [n.by for n in found] == ["ivan"] and found[0].seq == 1
    assert board.listeners == 0
    # the same id again is the same notice, not a second one
    board.publish(_fields())
    assert board.last == 1 and board.since(0)[0].message.startswith("Course staff (ivan)")


async def test_a_page_that_was_away_gets_what_it_missed_and_a_quiet_wait_ends_empty() -> None:
    board = NoticeBoard()
    board.publish(_fields(notice_id="a" * 32))
    board.publish(_fields("server", "b" * 32))
    assert [n.kind for n in await board.wait(0, timeout=5)] == ["kernel", "server"]
    assert [n.kind for n in await board.wait(1, timeout=5)] == ["server"]
    assert await board.wait(board.last, timeout=0.05) == []


async def test_a_server_notice_is_acknowledged_by_a_page_that_saved() -> None:
    board = NoticeBoard()
    notice = board.publish(_fields("server"))
    waiting = asyncio.create_task(board.acknowledged(notice.id, timeout=5))
    await asyncio.sleep(0.05)
    assert board.ack(notice.id)
    assert await waiting is True
    assert not board.ack("f" * 32)  # nothing to acknowledge
    other = board.publish(_fields("server", "c" * 32))
    assert await board.acknowledged(other.id, timeout=0.05) is False


@pytest.mark.parametrize(
    "answer",
    [
        None,
        [],
        {**_fields(), "id": "f" * 32},  # another notice than the one asked for
        {**_fields(), "kind": "grade"},
        {**_fields(), "message": ""},
        {**_fields(), "message": "x" * 601},
        {**_fields(), "by": 3},
        {k: v for k, v in _fields().items() if k != "at"},
    ],
)
def test_only_a_proper_notice_of_the_service_is_kept(answer: object) -> None:
    with pytest.raises(NoticeError):
        parse(answer, NOTICE_ID)


def test_a_proper_notice_keeps_only_its_known_fields() -> None:
    fields = parse({**_fields(), "html": "<script>alert(1)</script>"}, NOTICE_ID)
    assert set(fields) == {"id", "kind", "message", "at", "by", "path"}
    assert parse({**_fields(), "path": ""}, NOTICE_ID)["path"] == ""


def test_the_service_is_where_the_server_posts_its_events() -> None:
    env = {
        "COURSEHUB_EVENTS_URL": "http://127.0.0.1:8090/services/coursehub/api/events",
        "JUPYTERHUB_HOST": "https://hub.example.edu",
        "JUPYTERHUB_BASE_URL": "/",
    }
    assert service_url(env) == "http://127.0.0.1:8090/services/coursehub"
    assert service_url({}) == ""
    assert service_page("course/a/assignments/b", env) == (
        "https://hub.example.edu/services/coursehub/course/a/assignments/b"
    )
    body = b'{"error": {"code": 409, "message": "Nothing to submit."}}'
    assert error_message(body, 409) == "Nothing to submit."
    assert "did not answer" in error_message(b"", 599)
    assert error_message(b"<html>", 502) == "the course service answered 502"

"""Stop notices: each given only to the student and course it was written for, kept
for a while and never without bound, worded to say who stopped what and that the
student's files are kept."""

from __future__ import annotations

from coursehub.monitor.stop_notices import StopNotices, kernel_message, server_message


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_notice_is_given_only_for_its_own_student_and_course() -> None:
    notices = StopNotices()
    written = notices.write(
        "nina", "algebra", "kernel", "ivan", kernel_message("ivan", "a/lab1.ipynb")
    )
    assert len(written.id) == 32 and written.at.tzinfo is not None
    assert notices.get(written.id, "nina", "algebra") == written
    assert notices.get(written.id, "omar", "algebra") is None
    assert notices.get(written.id, "nina", "geometry") is None
    assert notices.get("0" * 32, "nina", "algebra") is None
    assert written.as_json()["message"].startswith(
        "Course staff (ivan) stopped the kernel of lab1.ipynb"
    )
    assert set(written.as_json()) == {"id", "kind", "by", "at", "message", "path"}


def test_notices_expire_and_the_store_stays_bounded() -> None:
    clock = Clock()
    notices = StopNotices(keep_for=60, max_kept=3, clock=clock)
    first = notices.write("nina", "algebra", "server", "ivan", "m")
    clock.now += 61
    assert notices.get(first.id, "nina", "algebra") is None
    ids = [notices.write(f"s{i}", "algebra", "server", "ivan", "m").id for i in range(5)]
    assert notices.get(ids[0], "s0", "algebra") is None
    assert notices.get(ids[4], "s4", "algebra") is not None
    assert notices.latest("s4", "algebra", "server").id == ids[4]
    assert notices.latest("s4", "algebra", "kernel") is None


def test_the_words_name_who_and_say_the_files_are_kept() -> None:
    kernel = kernel_message("ivan", "")
    assert "the kernel of a notebook" in kernel and "{time}" in kernel and "kept" in kernel
    assert (
        len(kernel_message("ivan", "assignments/ps1/ps1.ipynb").replace("{time}", "10:02 AM CET"))
        < 140
    )
    server = server_message("ivan", "algebra")
    assert server.startswith("Course staff (ivan) stopped your algebra server at {time}.")
    assert "files are kept" in server and "Reload the page" in server
    assert "updated environment" in server_message("ivan", "algebra", restart=True)

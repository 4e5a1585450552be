"""The default (unnamed) server's spawn page leads to My courses; course servers keep
JupyterHub's own behaviour (no options form: they start at once)."""

from __future__ import annotations

import asyncio

from coursehub.hub.spawners.default_server import (
    COURSES_INSTEAD_ID,
    CoursesInsteadOfDefaultServer,
    courses_instead_form,
)


class _Spawner:
    """JupyterHub's Spawner.get_options_form, as far as it matters here."""

    options_form = ""

    async def get_options_form(self) -> str:
        return self.options_form


class _Ours(CoursesInsteadOfDefaultServer, _Spawner):
    def __init__(self, name: str) -> None:
        self.name = name


def test_the_default_server_gets_a_note_leading_to_my_courses() -> None:
    form = asyncio.run(_Ours("").get_options_form())
    assert COURSES_INSTEAD_ID in form and 'href="/services/coursehub/"' in form
    assert "<input" not in form and "<button" not in form


def test_a_course_server_gets_no_form_and_starts_at_once() -> None:
    assert asyncio.run(_Ours("ds101").get_options_form()) == ""


def test_the_courses_url_is_escaped() -> None:
    form = courses_instead_form('/x"><script>')
    assert "<script>" not in form and "&quot;&gt;&lt;script&gt;" in form

"""Attacks on who the moodle-mod_jupyter plugin's tokens act as (service/routes/moodle_compat).

The plugin's JWT names a *Moodle* username. For sign-in, such a name opens only an
account made by LMS links (method `jwt`): a local, GitHub or LTI account with the same
name is refused (accounts.signins, hub_api.create_user, hub/auth/jwt.py). The
gradeservice routes check the same name's *course role* instead, without asking which
way that account signs in: a Moodle user whose username happens to be a coursehub
instructor's (Moodle sites with self-registration let people pick it) gets an
instructor's power over the course's Moodle activities (delete one: every submission
and grade of it goes).
"""

from __future__ import annotations

from pathlib import Path

import jwt
import pytest

from coursehub.accounts.signins import AccountSignIns
from coursehub.config.layout import DataLayout
from coursehub.config.service_sections import GradingSection
from coursehub.courses.store import CourseStore
from tests.helpers.coursedb import add_courses, open_database, sqlite_url
from tests.helpers.fake_hub import PREFIX, client, service_on
from tests.helpers.gitrepo import make_repo

JWT_SECRET = "j" * 64
API_TOKEN = "a" * 64
GRADESERVICE = PREFIX + "compat/moodle-jupyter/gradeservice/7/12"


def _secret(path: Path, value: str) -> Path:
    path.write_text(value + "\n")
    path.chmod(0o600)
    return path


@pytest.fixture
def app(tmp_path: Path):  # noqa: ANN201
    repo = make_repo(tmp_path / "ds101", {"a.ipynb": "{}"})
    db = open_database(sqlite_url(tmp_path, "c.sqlite"))
    store = CourseStore(db, DataLayout(tmp_path / "data"))
    # ines: the course's instructor, who signs in with a password (a local account)
    AccountSignIns(db).claim("ines", "local", create=True)
    add_courses(store, repo, {"ds101": {"ines": "instructor"}})
    db.engine.dispose()
    grading = GradingSection.model_validate(
        {
            "moodle_compat": {
                "enabled": True,
                "jwt_secret_file": str(_secret(tmp_path / "jwt", JWT_SECRET)),
                "api_token_file": str(_secret(tmp_path / "api", API_TOKEN)),
                "courses": {"7": "ds101"},
            },
            "remote_api": {"wait": "1s"},  # a grading call answers 408 after a second
        }
    ).model_dump_json()
    return service_on(
        sqlite_url(tmp_path, "c.sqlite"), tmp_path / "data", COURSEHUB_GRADING=grading
    )


async def test_a_moodle_user_named_like_a_local_instructor_cannot_delete_activities(
    app,  # noqa: ANN001
) -> None:
    # The plugin's token for the Moodle user "ines" (another person than coursehub's ines)
    moodle_ines = jwt.encode({"name": "ines"}, JWT_SECRET.encode(), "HS256")
    async with client(app) as http:
        response = await http.delete(GRADESERVICE, headers={"Authorization": moodle_ines})
    # Refused as the hub's sign-in refuses this name: not a staff member's token.
    assert response.status_code in (401, 403), (response.status_code, response.text)


async def test_a_moodle_user_who_is_no_instructor_is_refused(app) -> None:  # noqa: ANN001
    """The control of the attack above: the staff check itself works."""
    zed = jwt.encode({"name": "zed"}, JWT_SECRET.encode(), "HS256")
    async with client(app) as http:
        response = await http.delete(GRADESERVICE, headers={"Authorization": zed})
    assert response.status_code == 403, response.text


async def test_a_moodle_user_outside_the_course_cannot_have_its_activity_graded(
    app,  # noqa: ANN001
) -> None:
    """The activity's feedback (each question's test output) and a stored submission
    belong to the course's members: a Moodle user the plugin never showed the activity
    to (no enrolment in the linked course) is refused before any grading. (The unit
    test makes the activity row directly, with no otter run; without the
    check the call is stored and queued, and answered 408 after the wait.)"""
    from coursehub.service.context import context_of

    questions = [{"name": "q1", "points": 2.0, "kind": "auto", "notebook": "squares.ipynb"}]
    context_of(app).grading.store.save_assignment(
        "moodle+7", "12", "otter", questions, ["squares.ipynb"], "squares.ipynb", None, "moodle"
    )
    notebook = b'{"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}'
    zed = jwt.encode({"name": "zed"}, JWT_SECRET.encode(), "HS256")
    async with client(app) as http:
        graded = await http.post(
            GRADESERVICE + "/zed",
            headers={"Authorization": zed},
            files={"file": ("squares.ipynb", notebook, "application/octet-stream")},
        )
    assert context_of(app).courses.role_of("ds101", "zed") is None
    assert graded.status_code in (403, 404), (graded.status_code, graded.text)

"""Settings of the first steps (where sign-in lands) and of GitHub teams giving course
enrolments (auth.github.team_courses): checked at load, carried to the hub."""

from __future__ import annotations

from pathlib import Path

import pytest

from coursehub.config.layout import DataLayout, Ports
from coursehub.config.loader import LoadedConfig, load_config, load_config_text
from coursehub.config.translate.helm import helm_values
from coursehub.config.translate.jupyterhub import HubSecrets, Machine, translate
from coursehub.core.errors import ConfigError
from coursehub.db import models
from coursehub.ops.config_check import team_course_warnings
from tests.helpers.chart_values import values_problems
from tests.helpers.coursedb import opened_database
from tests.helpers.k8s_site import load_site

GITHUB = (
    "auth:\n  methods: [local, github]\n  github:\n    client_id: abc\n"
    "    client_secret_file: gh.secret\n    organization: school\n"
)


def _translate(text: str, tmp_path: Path) -> dict:
    path = tmp_path / "coursehub.yaml"
    path.write_text(text)
    config = load_config(path).config
    ports = Ports(hub=18081, proxy_api=18001, service=18090)
    secrets = HubSecrets("proxy-secret", "service-secret", "cli-secret")
    return translate(config, DataLayout(config.site.data_dir), ports, secrets, Machine("py", 2))


def _problem(text: str) -> str:
    with pytest.raises(ConfigError) as caught:
        load_config_text(text)
    return str(caught.value)


def test_sign_in_lands_on_my_courses_and_never_starts_a_server(tmp_path: Path) -> None:
    hub = _translate("", tmp_path)["JupyterHub"]
    assert hub["default_url"] == "/services/coursehub/"
    assert hub["redirect_to_server"] is False
    assert hub["template_vars"]["coursehub_home"] == "/services/coursehub/"
    # the hub's home and spawn pages are ours (templates/home.html, spawn.html)
    templates = Path(hub["template_paths"][0])
    assert (templates / "home.html").is_file() and (templates / "spawn.html").is_file()


def test_the_same_first_steps_on_kubernetes(tmp_path: Path) -> None:
    values = helm_values(load_site(tmp_path).config)
    hub = values["hub"]["config"]["JupyterHub"]
    assert hub["default_url"] == "/services/coursehub/"
    assert hub["redirect_to_server"] is False
    assert hub["template_vars"]["coursehub_home"] == "/services/coursehub/"
    assert values_problems(values) == []


def test_team_courses_reach_the_authenticator_as_course_role_pairs(tmp_path: Path) -> None:
    c = _translate(
        GITHUB + "    team_courses:\n      teachers: 'ds101:instructor'\n"
        "      students-2026: [ds101, 'ml102:student', 'stats:ta']\n",
        tmp_path,
    )
    assert c["CoursehubGitHubAuthenticator"]["team_courses"] == {
        "teachers": [["ds101", "instructor"]],
        "students-2026": [["ds101", "student"], ["ml102", "student"], ["stats", "ta"]],
    }


@pytest.mark.parametrize(
    ("team_courses", "says"),
    [
        ("{teachers: 'DS 101:instructor'}", "course name 'DS 101' is not valid"),
        ("{teachers: 'ds101:teacher'}", "course role 'teacher' is not one of instructor, ta"),
        ("{teachers: 'ds101:admin'}", "course role 'admin'"),
        ("{teachers: [ds101, '../x:student']}", "course name '../x' is not valid"),
        ("{'Summer Teachers': ds101}", "is not a GitHub team slug"),
        ("{other-org/teachers: ds101}", "belongs to organisation 'other-org'"),
        ("{teachers: 5}", "auth.github.team_courses"),
    ],
)
def test_bad_team_courses_are_refused_at_load_saying_what_to_write(
    team_courses: str, says: str
) -> None:
    problem = _problem(GITHUB + f"    team_courses: {team_courses}\n")
    assert "auth.github.team_courses" in problem or "auth.github" in problem
    assert says in problem, problem


def test_the_organisations_own_prefix_is_accepted(tmp_path: Path) -> None:
    c = _translate(GITHUB + "    team_courses: {School/teachers: 'ds101:ta'}\n", tmp_path)
    assert c["CoursehubGitHubAuthenticator"]["team_courses"] == {
        "School/teachers": [["ds101", "ta"]]
    }


def _site_with_team_courses(tmp_path: Path) -> LoadedConfig:
    path = tmp_path / "coursehub.yaml"
    path.write_text(
        f"site:\n  data_dir: {tmp_path / 'data'}\n"
        + GITHUB
        + "    team_courses: {teachers: 'ds101:instructor', helpers: [ghost]}\n"
    )
    return load_config(path)


def test_config_check_says_team_courses_are_checked_once_the_site_has_a_database(
    tmp_path: Path,
) -> None:
    (warning,) = team_course_warnings(_site_with_team_courses(tmp_path))
    assert "names courses (ds101, ghost)" in warning and "no database yet" in warning


def test_config_check_names_each_team_course_that_does_not_exist(tmp_path: Path) -> None:
    loaded = _site_with_team_courses(tmp_path)
    layout = DataLayout(loaded.config.site.data_dir)
    layout.root.mkdir()
    with opened_database(f"sqlite:///{layout.coursehub_db_file}") as db, db.session() as s:
        s.add(models.Course(name="ds101", repo_url="/x", branch="main", last_pull_output=""))
    assert team_course_warnings(loaded) == [
        "auth.github.team_courses: team 'helpers' names course 'ghost', which does not "
        "exist: add it with `coursehub course add` (until then its members are not enrolled)"
    ]

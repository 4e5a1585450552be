"""The pure translation from coursehub.yaml to JupyterHub settings (nothing runs)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from coursehub.config.layout import DataLayout, Ports
from coursehub.config.loader import load_config_text
from coursehub.config.translate.jupyterhub import HubSecrets, Machine, translate

PORTS = Ports(hub=18081, proxy_api=18001, service=18090)
SECRETS = HubSecrets("proxy-secret", "service-secret", "cli-secret")
MACHINE = Machine(python="/venv/bin/python", cpu_count=2)


def _translate(text: str, tmp_path: Path) -> dict:
    path = tmp_path / "coursehub.yaml"
    path.write_text(text)
    from coursehub.config.loader import load_config

    config = load_config(path).config
    return translate(config, DataLayout(config.site.data_dir), PORTS, SECRETS, MACHINE)


def test_defaults_make_a_hub_that_survives_restarts(tmp_path: Path) -> None:
    c = _translate("", tmp_path)
    hub = c["JupyterHub"]
    assert hub["cleanup_servers"] is False and hub["cleanup_proxy"] is False
    assert c["ConfigurableHTTPProxy"]["should_start"] is False
    assert c["ConfigurableHTTPProxy"]["api_url"] == "http://127.0.0.1:18001"
    assert hub["port"] == 8000 and hub["hub_port"] == 18081
    assert hub["db_url"] == f"sqlite:///{tmp_path / 'coursehub-data' / 'jupyterhub.sqlite'}"
    assert hub["spawner_class"].endswith("CoursehubLocalSpawner")
    # named servers are course servers (the spawner checks enrolment)
    assert hub["allow_named_servers"] is True
    assert c["CoursehubSpawner"]["data_dir"] == str(tmp_path / "coursehub-data")
    assert hub["authenticator_class"].endswith("CoursehubLocalAuthenticator")
    assert c["Spawner"]["cmd"] == ["/venv/bin/python", "-m", "coursehub.student.singleuser"]


def test_starts_are_queued_not_refused(tmp_path: Path) -> None:
    c = _translate("", tmp_path)
    assert c["CoursehubSpawner"]["concurrent_starts"] == 2  # auto = cores
    assert c["JupyterHub"]["concurrent_spawn_limit"] == 1000
    # the whole queue wait fits in the start timeout (15 min default)
    assert c["Spawner"]["start_timeout"] == 900
    c = _translate("servers:\n  concurrent_starts: 5\n", tmp_path)
    assert c["CoursehubSpawner"]["concurrent_starts"] == 5


def test_servers_are_forked_by_default_and_can_start_cold(tmp_path: Path) -> None:
    spawner = _translate("", tmp_path)["CoursehubSpawner"]
    assert spawner["start_method"] == "forked"
    runtime = tmp_path / "coursehub-data" / "runtime"
    assert spawner["template_socket"] == str(runtime / "server-template.sock")
    cold = _translate("servers:\n  start: cold\n", tmp_path)["CoursehubSpawner"]
    assert cold["start_method"] == "cold"
    from coursehub.config.loader import load_config_text
    from coursehub.core.errors import ConfigError

    with pytest.raises(ConfigError, match="servers.start"):
        load_config_text("servers:\n  start: warm\n")


def test_limits_and_backend_settings(tmp_path: Path) -> None:
    c = _translate(
        "servers:\n  limits: {memory: 1G, cpu: 0.5, processes: 64, file_size: 100M}\n"
        "spawn:\n  local: {user_prefix: stu-, home_root: /srv/homes}\n",
        tmp_path,
    )
    assert c["Spawner"]["mem_limit"] == 1024**3
    assert c["Spawner"]["cpu_limit"] == 0.5
    assert c["CoursehubSpawner"]["process_limit"] == 64
    assert c["CoursehubSpawner"]["file_size_limit"] == 100 * 1024**2
    assert c["CoursehubSpawner"]["user_prefix"] == "stu-"
    assert c["CoursehubSpawner"]["home_root"] == "/srv/homes"


def test_postgres_url_used_for_hub_and_coursehub(tmp_path: Path) -> None:
    c = _translate("database:\n  url: postgresql://ch@127.0.0.1/ch\n", tmp_path)
    assert c["JupyterHub"]["db_url"] == "postgresql://ch@127.0.0.1/ch"
    assert c["CoursehubAuthenticatorMixin"]["coursehub_db_url"] == "postgresql://ch@127.0.0.1/ch"


def test_services_and_least_privilege_roles(tmp_path: Path) -> None:
    c = _translate("", tmp_path)
    services = {s["name"]: s for s in c["JupyterHub"]["services"]}
    assert services["coursehub"]["url"] == "http://127.0.0.1:18090"
    assert services["coursehub"]["api_token"] == "service-secret"
    assert "command" not in services["coursehub-cli"]
    assert "idle-culler" in services  # idle.timeout defaults to 1h
    culler = services["idle-culler"]
    assert culler["command"] == [
        "/venv/bin/python",
        "-m",
        "coursehub.ops.culler",
        "--cull-every=60",
    ]
    assert json.loads(culler["environment"]["COURSEHUB_CULL_POLICY"]) == {
        "timeout": 3600,
        "max_age": 0,
        "courses": {},
    }
    roles = {r["name"]: r for r in c["JupyterHub"]["load_roles"]}
    # students get their own server and the coursehub pages, nothing else
    assert roles["user"]["scopes"] == ["self", "access:services!service=coursehub"]
    # staff reach no student's server by role: the live view shares one server at a time
    instructor = roles["coursehub-instructor"]["scopes"]
    assert not any(s.startswith(("admin", "access:servers")) for s in instructor)
    assert not any(s.startswith("access:servers") for s in roles["coursehub-ta"]["scopes"])
    # nor any student's hub model: their tokens do what a student's do
    assert instructor == roles["coursehub-ta"]["scopes"] == ["self"]
    # student servers may post notebook events to the service, and nothing more
    assert set(roles["server"]["scopes"]) == {
        "users:activity!user",
        "access:servers!server",
        "access:services!service=coursehub",
    }
    # the service reaches no server with its own token (students read what their server
    # gets): it has the hub issue single-server tokens of the servers' non-admin owners
    service = roles["coursehub-service"]["scopes"]
    assert not any(s.startswith(("access:servers", "admin", "inherit")) for s in service)
    assert {s for s in service if s.startswith("tokens")} == {
        "tokens!group=coursehub-students",
        "tokens!group=coursehub-tas",
        "tokens!group=coursehub-instructors",
    }
    env = c["Spawner"]["environment"]
    assert env["COURSEHUB_EVENTS_URL"].endswith("/services/coursehub/api/events")
    assert env["COURSEHUB_EVENTS_URL"].startswith("http://127.0.0.1:")


def test_idle_culling_can_be_disabled(tmp_path: Path) -> None:
    c = _translate("idle:\n  timeout: 0\n", tmp_path)
    names = {s["name"] for s in c["JupyterHub"]["services"]}
    assert "idle-culler" not in names
    assert "idle-culler" not in {r["name"] for r in c["JupyterHub"]["load_roles"]}


def test_culler_gets_per_course_policy_and_runs_for_one_course(tmp_path: Path) -> None:
    c = _translate(
        "idle:\n  timeout: 0\n  check_every: 2s\n"
        "  courses:\n    exam:\n      timeout: 10m\n    ds101:\n      max_age: 2h\n",
        tmp_path,
    )
    services = {s["name"]: s for s in c["JupyterHub"]["services"]}
    # the site has no limit, but one course does: the culler must still run
    assert services["idle-culler"]["command"][-1] == "--cull-every=2"
    policy = json.loads(services["idle-culler"]["environment"]["COURSEHUB_CULL_POLICY"])
    assert policy == {
        "timeout": 0,
        "max_age": 0,
        "courses": {
            "exam": {"timeout": 600, "max_age": None},
            "ds101": {"timeout": None, "max_age": 7200},
        },
    }
    role = {r["name"]: r for r in c["JupyterHub"]["load_roles"]}["idle-culler"]
    assert set(role["scopes"]) == {
        "list:users",
        "read:users:activity",
        "read:servers",
        "delete:servers",
    }
    assert role["services"] == ["idle-culler"]


def test_courses_that_turn_culling_off_do_not_start_a_culler(tmp_path: Path) -> None:
    c = _translate("idle:\n  timeout: 0\n  courses:\n    exam:\n      timeout: 0\n", tmp_path)
    assert "idle-culler" not in {s["name"] for s in c["JupyterHub"]["services"]}


def test_roles_section_overrides_roster_and_admin_wins(tmp_path: Path) -> None:
    c = _translate(
        "roles:\n  admin: [root1, 'github:octo']\n  instructor: [root1, prof]\n"
        "  ta: ['lti:kim-2', 'jwt:jo']\n",
        tmp_path,
    )
    overrides = c["CoursehubAuthenticatorMixin"]["role_overrides"]
    # a bare name is the local account; others name their sign-in method
    assert overrides == {
        "local:root1": "admin",
        "local:prof": "instructor",
        "github:octo": "admin",
        "lti:kim-2": "ta",
        "jwt:jo": "ta",
    }
    assert c["Authenticator"]["admin_users"] == {"root1"}


@pytest.mark.parametrize(
    ("name", "words"),
    [
        ("saml:prof", "'saml' is not a sign-in method"),
        ("github:Octo_Cat", "not a GitHub login"),
        ("lti:Kim", "not a valid username"),
        ("Prof", "not a valid username"),
    ],
)
def test_roles_section_names_are_checked(tmp_path: Path, name: str, words: str) -> None:
    from coursehub.core.errors import ConfigError

    with pytest.raises(ConfigError, match=words):
        _translate(f"roles:\n  ta: ['{name}']\n", tmp_path)


def test_github_settings(tmp_path: Path) -> None:
    c = _translate(
        "site:\n  public_url: https://hub.example.edu/\n"
        "auth:\n  method: github\n  github:\n    client_id: abc\n"
        "    client_secret_file: gh.secret\n    organization: school\n"
        "    team_roles: {teachers: instructor}\n",
        tmp_path,
    )
    gh = c["CoursehubGitHubAuthenticator"]
    assert gh["allowed_organizations"] == {"school"}
    assert gh["oauth_callback_url"] == "https://hub.example.edu/hub/oauth_callback"
    assert gh["team_roles"] == {"teachers": "instructor"}
    assert c["JupyterHub"]["authenticator_class"].endswith("CoursehubGitHubAuthenticator")


def test_load_config_text_without_file_resolves_from_cwd() -> None:
    loaded = load_config_text("site:\n  data_dir: /abs/data\n")
    assert str(loaded.config.site.data_dir) == "/abs/data"


def test_site_name_on_the_login_page_is_escaped(tmp_path: Path) -> None:
    c = _translate('site:\n  name: "<script>x</script> & Co"\n', tmp_path)
    assert c["JupyterHub"]["template_vars"]["announcement_login"] == (
        "&lt;script&gt;x&lt;/script&gt; &amp; Co"
    )


def test_frame_ancestors_reach_hub_pages_service_and_student_servers(tmp_path: Path) -> None:
    c = _translate("site:\n  frame_ancestors: [https://moodle.example.edu]\n", tmp_path)
    csp = c["JupyterHub"]["tornado_settings"]["headers"]["Content-Security-Policy"]
    assert csp.startswith("frame-ancestors 'self' https://moodle.example.edu;")
    service = next(s for s in c["JupyterHub"]["services"] if s["name"] == "coursehub")
    assert service["environment"]["COURSEHUB_FRAME_ANCESTORS"] == "https://moodle.example.edu"
    env = c["Spawner"]["environment"]
    assert env["COURSEHUB_FRAME_ANCESTORS"] == "https://moodle.example.edu"
    # Without the setting JupyterHub keeps its own policy (no frames from elsewhere).
    assert "tornado_settings" not in _translate("", tmp_path)["JupyterHub"]


def test_password_lockout_settings_reach_every_authenticator_with_passwords(
    tmp_path: Path,
) -> None:
    c = _translate("auth:\n  max_failed_logins: 3\n  lockout: 5m\n", tmp_path)
    assert c["PasswordSignInMixin"] == {"max_failed_logins": 3, "lockout_seconds": 300}
    # the section is named after the mixin both the local and the GitHub classes share
    from coursehub.hub.auth.github import CoursehubGitHubAuthenticator
    from coursehub.hub.auth.local import CoursehubLocalAuthenticator, PasswordSignInMixin

    assert issubclass(CoursehubLocalAuthenticator, PasswordSignInMixin)
    assert issubclass(CoursehubGitHubAuthenticator, PasswordSignInMixin)


def test_user_subdomains_put_servers_on_their_own_hosts(tmp_path: Path) -> None:
    from coursehub.core.subdomains import subdomain_hook
    from coursehub.ops.proxy import proxy_command

    off = _translate("", tmp_path)
    assert "subdomain_host" not in off["JupyterHub"]
    service = off["JupyterHub"]["services"][0]
    assert service["environment"]["COURSEHUB_SUBDOMAIN_HOST"] == ""
    on = _translate(
        "site:\n  public_url: http://localhost:8000\n  user_subdomains: true\n", tmp_path
    )
    assert on["JupyterHub"]["subdomain_host"] == "http://localhost:8000"
    service = on["JupyterHub"]["services"][0]
    assert service["environment"]["COURSEHUB_SUBDOMAIN_HOST"] == "http://localhost:8000"
    # users at their own subdomain (JupyterHub's naming), the service at the hub's host
    assert subdomain_hook("nina", "localhost", "user") == "nina.localhost"
    assert subdomain_hook("coursehub", "localhost", "service") == "localhost"
    assert "--host-routing" in proxy_command(
        "chp", "127.0.0.1", 8000, 8001, 8081, host_routing=True
    )
    assert "--host-routing" not in proxy_command("chp", "127.0.0.1", 8000, 8001, 8081)


@pytest.mark.parametrize(
    ("site", "says"),
    [
        ("user_subdomains: true\n", "needs site.public_url with a host name"),
        ("public_url: http://10.0.0.5:8000\n  user_subdomains: true\n", "an IP address"),
        ("public_url: https://hub.example.edu/jh\n  user_subdomains: true\n", "without a path"),
    ],
)
def test_user_subdomains_need_a_host_name(tmp_path: Path, site: str, says: str) -> None:
    from coursehub.core.errors import ConfigError

    with pytest.raises(ConfigError, match=says):
        _translate(f"site:\n  {site}", tmp_path)


def test_user_subdomains_need_servers_on_this_machine(tmp_path: Path) -> None:
    from coursehub.core.errors import ConfigError

    text = (
        "site:\n  public_url: https://hub.example.edu\n  user_subdomains: true\n"
        "  bind_address: 0.0.0.0\nspawn:\n  backend: docker\n  docker:\n    image: x/y:1\n"
    )
    with pytest.raises(ConfigError, match="servers on this machine"):
        _translate(text, tmp_path)


def test_warm_ups_start_students_servers_and_spare_them_from_the_culler(tmp_path: Path) -> None:
    from coursehub.service.settings import ServiceSettings

    c = _translate(
        "warmup:\n  lead: 20m\n  unused_after: 45m\n  reserve: 2G\n"
        "servers:\n  concurrent_starts: 3\n",
        tmp_path,
    )
    roles = {r["name"]: r for r in c["JupyterHub"]["load_roles"]}
    service = roles["coursehub-service"]["scopes"]
    # the service starts and stops students' servers, nobody else's, and is no admin
    assert "start:servers!group=coursehub-students" in service
    assert not any(
        s.startswith(("admin", "servers", "start:servers!group=coursehub-i")) for s in service
    )
    services = {s["name"]: s for s in c["JupyterHub"]["services"]}
    env = services["coursehub"]["environment"]
    settings = ServiceSettings.from_env(
        {**env, "JUPYTERHUB_API_TOKEN": "t" * 40, "JUPYTERHUB_CLIENT_ID": "service-coursehub"}
    )
    warmup = settings.warmup
    assert (warmup.lead, warmup.unused_after, warmup.reserve) == (1200, 2700, 2 * 2**30)
    assert warmup.concurrency == 3 and warmup.memory_bound
    # the culler reads which servers warm-ups ask it to spare from the coursehub database
    culler = services["idle-culler"]["environment"]
    assert culler["COURSEHUB_DATABASE_URL"] == env["COURSEHUB_DATABASE_URL"]


def test_a_course_of_github_teams_is_said_to_take_members_at_sign_in(tmp_path: Path) -> None:
    from coursehub.config.loader import load_config
    from coursehub.config.translate.jupyterhub import warmup_settings

    secret = tmp_path / "gh-secret"
    secret.write_text("s" * 40)
    secret.chmod(0o600)
    path = tmp_path / "coursehub.yaml"
    path.write_text(
        "auth:\n  methods: [local, github]\n  github:\n    client_id: x\n"
        f"    client_secret_file: {secret}\n    organization: school\n"
        '    team_courses: {students-2026: ["ds101", "ml:student"], tas: "ds101:ta"}\n'
    )
    settings = warmup_settings(load_config(path).config, MACHINE)
    assert settings.signin_teams == {"ds101": ["students-2026"], "ml": ["students-2026"]}

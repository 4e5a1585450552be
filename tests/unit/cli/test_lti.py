"""`coursehub lti ...` as an LMS administrator uses it (the values to paste into Moodle
or Canvas, registering platforms), and what `coursehub doctor` says about LMS sign-in."""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from coursehub.cli import lti as lti_cli
from coursehub.cli import main as cli
from coursehub.config.loader import load_config
from coursehub.config.models import JwtSignInConfig
from coursehub.lti import tool_config
from coursehub.ops import doctor

SERVICE = "https://hub.example.edu/services/coursehub/lti/"

PLATFORM_YAML = """lti:
  platforms:
    - name: campus
      issuer: https://lms.uni.edu
      client_id: from-yaml
      auth_login_url: https://lms.uni.edu/mod/lti/auth.php
      auth_token_url: https://lms.uni.edu/mod/lti/token.php
      key_set_url: https://lms.uni.edu/mod/lti/certs.php
"""


# --- the values for the LMS --------------------------------------------------------


@pytest.mark.parametrize(
    ("public", "base"),
    [
        ("https://hub.example.edu", "https://hub.example.edu"),
        ("https://hub.example.edu/", "https://hub.example.edu"),
        ("https://example.edu/jupyter", "https://example.edu/jupyter"),
    ],
)
def test_tool_urls_sit_under_the_public_url_and_its_path(public: str, base: str) -> None:
    urls = tool_config.tool_urls(public)
    assert urls.login == f"{base}/services/coursehub/lti/login"
    assert urls.launch == f"{base}/services/coursehub/lti/launch"
    assert urls.jwks == f"{base}/services/coursehub/lti/jwks.json"
    assert urls.deep_linking == urls.launch


def test_moodle_settings_follow_the_configure_a_tool_manually_form() -> None:
    fields = dict(tool_config.moodle_settings("https://example.edu/jupyter", "Physics Hub"))
    base = "https://example.edu/jupyter/services/coursehub/lti/"
    assert fields["Tool name"] == "Physics Hub"
    assert fields["LTI version"] == "LTI 1.3"
    assert fields["Public key type"] == "Keyset URL"
    assert fields["Public keyset"] == base + "jwks.json"
    assert fields["Initiate login URL"] == base + "login"
    assert fields["Redirection URI(s)"] == base + "launch"
    assert fields["Tool URL"] == fields["Content Selection URL"] == base + "launch"
    assert "coursehub_notebook=" in fields["Custom parameters"]
    assert fields["Services: IMS LTI Assignment and Grade Services"] == (
        "Use this service for grade sync and column management"
    )
    assert fields["Services: IMS LTI Names and Role Provisioning"] == (
        "Use this service to retrieve members' information as per privacy settings"
    )
    for privacy in ("name with tool", "email with tool"):
        assert fields[f"Privacy: Share launcher's {privacy}"] == "Always"
    assert fields["Privacy: Accept grades from the tool"] == "Always"


def test_canvas_developer_key_has_the_required_keys_scopes_and_placements() -> None:
    key = tool_config.canvas_developer_key("https://hub.example.edu", "Physics Hub")
    json.dumps(key)  # pasted as JSON
    for required in ("title", "description", "oidc_initiation_url", "target_link_uri"):
        assert key[required]
    assert key["oidc_initiation_url"] == SERVICE + "login"
    assert key["target_link_uri"] == SERVICE + "launch"
    assert key["public_jwk_url"] == SERVICE + "jwks.json"
    assert set(key["scopes"]) == {
        "https://purl.imsglobal.org/spec/lti-ags/scope/lineitem",
        "https://purl.imsglobal.org/spec/lti-ags/scope/result.readonly",
        "https://purl.imsglobal.org/spec/lti-ags/scope/score",
        "https://purl.imsglobal.org/spec/lti-nrps/scope/contextmembership.readonly",
    }
    (ext,) = key["extensions"]
    assert ext["platform"] == "canvas.instructure.com"
    assert ext["privacy_level"] == "public"
    assert ext["domain"] == "hub.example.edu"
    kinds = {p["placement"]: p["message_type"] for p in ext["settings"]["placements"]}
    assert kinds == {
        "course_navigation": "LtiResourceLinkRequest",
        "link_selection": "LtiDeepLinkingRequest",
        "assignment_selection": "LtiDeepLinkingRequest",
    }
    assert all(p["target_link_uri"] == SERVICE + "launch" for p in ext["settings"]["placements"])
    assert key["custom_fields"] == {}


def test_platform_presets_fill_moodle_and_canvas_urls() -> None:
    moodle = tool_config.moodle_platform("https://moodle.uni.edu/")
    assert moodle.issuer == "https://moodle.uni.edu"
    assert moodle.auth_login_url == "https://moodle.uni.edu/mod/lti/auth.php"
    assert moodle.auth_token_url == "https://moodle.uni.edu/mod/lti/token.php"
    assert moodle.key_set_url == "https://moodle.uni.edu/mod/lti/certs.php"
    cloud = tool_config.canvas_platform()
    assert cloud.issuer == "https://canvas.instructure.com"
    assert cloud.auth_login_url == "https://sso.canvaslms.com/api/lti/authorize_redirect"
    assert cloud.key_set_url == "https://sso.canvaslms.com/api/lti/security/jwks"
    own = tool_config.canvas_platform("https://canvas.uni.edu")
    assert own.issuer == "https://canvas.uni.edu"
    assert own.auth_token_url == "https://canvas.uni.edu/login/oauth2/token"


# --- the commands ------------------------------------------------------------------


def _with_lti(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    if "lti" not in sub.choices:
        lti_cli.add_parser(sub).set_defaults(
            func=lambda args: lti_cli.run(args, cli._load(args), cli.console)
        )
    return parser


@pytest.fixture
def with_lti_command(monkeypatch: pytest.MonkeyPatch) -> None:
    """`coursehub lti` in cli.main, whether or not cli.py registers it yet."""
    build = cli.build_parser
    monkeypatch.setattr(cli, "build_parser", lambda: _with_lti(build()))


@pytest.fixture
def site(tmp_path: Path, with_lti_command: None) -> Iterator[Path]:
    cfg = tmp_path / "coursehub.yaml"
    cfg.write_text(
        "site:\n  data_dir: ./data\n  public_url: https://hub.example.edu\n"
        "  name: Physics Hub\nauth:\n  methods: [local, lti]\n"
    )
    yield cfg


def lti(cfg: Path, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = cli.main(["--config", str(cfg), "lti", *args])
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    return code, out, err


def test_config_canvas_prints_the_json_alone_and_the_next_steps_aside(site, capsys) -> None:
    code, out, err = lti(site, capsys, "config", "canvas")
    assert code == 0
    assert json.loads(out)["target_link_uri"] == SERVICE + "launch"
    assert f"Redirect URIs: {SERVICE}launch" in err
    assert "coursehub lti add-platform canvas --canvas --client-id" in err
    assert "https://sso.canvaslms.com/api/lti/security/jwks" in err


def test_config_moodle_shows_whole_urls_and_the_next_step(site, capsys) -> None:
    code, out, err = lti(site, capsys, "config", "moodle")
    assert code == 0
    for url in ("jwks.json", "login", "launch"):
        assert SERVICE + url in out  # never cut or wrapped: they are copied
    assert "Keyset URL" in out and "grade sync and column management" in out
    assert "add-platform moodle --moodle https://moodle.example.edu" in out
    assert "https://moodle.example.edu/mod/lti/certs.php" in out
    assert err == ""


def test_config_warns_about_an_http_site_and_lti_not_turned_on(
    tmp_path, capsys, with_lti_command
) -> None:
    cfg = tmp_path / "coursehub.yaml"
    cfg.write_text("site:\n  data_dir: ./data\n  port: 8123\n")
    code, _, err = lti(cfg, capsys, "config", "moodle")
    assert code == 0
    assert "site.public_url is http://127.0.0.1:8123" in err and "https" in err
    assert "add lti to auth.methods" in err


def test_add_list_and_remove_platforms(site, capsys) -> None:
    code, out, _ = lti(
        site, capsys, "add-platform", "moodle", "--moodle", "https://moodle.uni.edu",
        "--client-id", "abc123", "--deployment-id", "1", "--deployment-id", "7",
    )  # fmt: skip
    assert code == 0 and "Registered platform moodle" in out and "1, 7" in out
    code, out, _ = lti(site, capsys, "add-platform", "canvas", "--canvas", "--client-id", "1000")
    assert code == 0 and "without a deployment id: it accepts no launch" in out

    code, out, _ = lti(site, capsys, "platforms")
    assert code == 0 and "2 platform(s)" in out
    assert "https://moodle.uni.edu/mod/lti/certs.php" in out
    assert "https://sso.canvaslms.com/api/lti/security/jwks" in out
    assert "command line" in out

    code, _, err = lti(site, capsys, "add-platform", "canvas", "--canvas", "--client-id", "9")
    assert code == 2 and "already registered" in err
    code, _, err = lti(site, capsys, "add-platform", "other", "--canvas", "--client-id", "1000")
    assert code == 2 and "already registered" in err  # same issuer and client id

    code, out, _ = lti(site, capsys, "remove-platform", "canvas")
    assert code == 0 and "Removed platform canvas" in out
    code, out, _ = lti(site, capsys, "platforms")
    assert "1 platform(s)" in out and "sso.canvaslms.com" not in out
    code, _, err = lti(site, capsys, "remove-platform", "canvas")
    assert code == 2 and "no platform called 'canvas'" in err


def test_bad_values_are_refused_naming_the_option(site, capsys) -> None:
    code, _, err = lti(
        site, capsys, "add-platform", "Moodle!", "--issuer", "ftp://lms", "--key-set-url",
        "https://lms/certs", "--deployment-id", " ",
    )  # fmt: skip
    assert code == 2
    assert "Configuration error" in err
    assert "NAME: 'Moodle!': expected 1-24 lower-case letters" in err
    assert "--issuer: 'ftp://lms': expected a URL starting with https://" in err
    assert "--client-id: required" in err
    assert "--auth-login-url: required (or give --moodle URL or --canvas" in err
    assert "--deployment-id" in err and "cannot be empty" in err
    code, out, _ = lti(site, capsys, "platforms")
    assert "0 platform(s)" in out

    code, _, err = lti(site, capsys, "add-platform", "x", "--moodle", "moodle.uni.edu",
                       "--client-id", "1")  # fmt: skip
    assert code == 2 and "--moodle: 'moodle.uni.edu'" in err


def test_platforms_from_coursehub_yaml_are_listed_and_cannot_be_removed_here(site, capsys) -> None:
    site.write_text(site.read_text() + PLATFORM_YAML)
    code, out, _ = lti(site, capsys, "platforms")
    assert code == 0 and "campus" in out and "not registered yet" in out
    code, _, err = lti(site, capsys, "remove-platform", "campus")
    assert code == 2 and "comes from coursehub.yaml" in err

    _register_from_file(site)  # as `coursehub up` does
    code, out, _ = lti(site, capsys, "platforms")
    assert "campus" in out and "not registered yet" not in out and "coursehub.yaml" in out
    code, _, err = lti(site, capsys, "remove-platform", "campus", "--yes")
    assert code == 2 and "comes from coursehub.yaml" in err
    code, _, err = lti(site, capsys, "add-platform", "campus", "--moodle", "https://m.edu",
                       "--client-id", "2")  # fmt: skip
    assert code == 2 and "coursehub.yaml already lists" in err
    code, _, err = lti(site, capsys, "add-platform", "again", "--issuer", "https://lms.uni.edu",
                       "--client-id", "from-yaml", "--moodle", "https://lms.uni.edu")  # fmt: skip
    assert code == 2 and "coursehub.yaml already lists this platform as 'campus'" in err


def test_removing_a_platform_people_launched_from_needs_yes(site, capsys) -> None:
    from coursehub.lti.identities import IdentityStore, LmsPerson

    code, _, _ = lti(
        site, capsys, "add-platform", "moodle", "--moodle", "https://m.uni.edu", "--client-id", "c"
    )
    assert code == 0
    with _database(site) as (db, store):
        platform = store.by_name("moodle")
        person = LmsPerson(subject="42", email="ann@uni.edu", name="Ann")
        assert IdentityStore(db).username_for(platform, person, "email") == "ann"
    code, _, err = lti(site, capsys, "remove-platform", "moodle")
    assert code == 2 and "1 person(s)" in err and "--yes" in err
    code, out, _ = lti(site, capsys, "remove-platform", "moodle", "--yes")
    assert code == 0 and "Removed platform moodle" in out


def _register_from_file(cfg: Path) -> None:
    with _database(cfg) as (_, store):
        store.sync_from_config(load_config(cfg).config.lti.platforms)


class _database:
    def __init__(self, cfg: Path) -> None:
        self.cfg = cfg

    def __enter__(self):  # noqa: ANN204
        from coursehub.config.layout import DataLayout
        from coursehub.config.translate.jupyterhub import coursehub_database_url
        from coursehub.lti.platforms import PlatformStore
        from tests.helpers.coursedb import open_database

        config = load_config(self.cfg).config
        self.db = open_database(coursehub_database_url(config, DataLayout(config.site.data_dir)))
        return self.db, PlatformStore(self.db)

    def __exit__(self, *exc: object) -> None:
        self.db.dispose()


# --- doctor ------------------------------------------------------------------------


def test_doctor_warns_when_lti_is_on_over_http_without_frames_or_platforms(tmp_path) -> None:
    cfg = tmp_path / "coursehub.yaml"
    cfg.write_text(
        "site:\n  data_dir: ./data\n  public_url: http://hub.example.edu\n"
        "auth:\n  methods: [local, lti]\n"
    )
    checks = {c.name: c for c in doctor.run_checks(cfg)}
    https = checks["lms https"]
    assert https.status == "warn" and "http://hub.example.edu" in https.detail
    assert "SameSite=None" in https.detail and "site.public_url: https://" in https.fix
    assert checks["lms frames"].status == "warn" and "frame_ancestors" in checks["lms frames"].fix
    none = checks["lms platforms"]
    assert none.status == "warn" and "coursehub lti add-platform" in none.fix

    cfg.write_text("site:\n  data_dir: ./data\n  public_url: http://hub.example.edu\n")
    assert not [c for c in doctor.run_checks(cfg) if c.name.startswith("lms")]


def test_doctor_reports_each_platform_with_its_key_set_url(tmp_path) -> None:
    cfg = tmp_path / "coursehub.yaml"
    cfg.write_text(
        "site:\n  data_dir: ./data\n  public_url: https://hub.example.edu\n"
        "  frame_ancestors: [https://lms.uni.edu]\nauth:\n  methods: [local, lti]\n"
        + PLATFORM_YAML.replace("key_set_url: https://", "key_set_url: http://")
    )
    config = load_config(cfg).config
    platforms = [
        doctor.LmsPlatform(p.name, p.issuer, p.client_id, p.key_set_url, p.auth_token_url, ("2",))
        for p in config.lti.platforms
    ]
    checks = {c.name: c for c in doctor.lms_checks(config, platforms)}
    assert checks["lms https"].status == "ok" and checks["lms frames"].status == "ok"
    campus = checks["lms campus"]
    assert "http://lms.uni.edu/mod/lti/certs.php" in campus.detail
    assert campus.status == "warn" and "without https" in campus.detail
    assert "lms platforms" not in checks
    # an empty deployment list accepts no launch, and doctor says so
    bare = [doctor.LmsPlatform(p.name, p.issuer, p.client_id, p.key_set_url, p.auth_token_url)
            for p in config.lti.platforms]  # fmt: skip
    campus = {c.name: c for c in doctor.lms_checks(config, bare)}["lms campus"]
    assert campus.status == "warn" and "every launch is refused" in campus.detail


def test_doctor_suggests_the_lms_sites_as_frame_ancestors() -> None:
    config = load_config_text("auth:\n  methods: [local, lti]\n")
    canvas = doctor.LmsPlatform(
        "canvas", "https://canvas.instructure.com", "1", "https://sso.canvaslms.com/k", "https://t"
    )
    (frames,) = [c for c in doctor.lms_checks(config, [canvas]) if c.name == "lms frames"]
    assert "https://*.instructure.com" in frames.fix


def load_config_text(text: str):  # noqa: ANN201
    from coursehub.config.loader import load_config_text as load

    return load(text).config


def test_doctor_checks_the_jwt_secret_file(tmp_path: Path) -> None:
    secret = tmp_path / "jwt.secret"
    check = doctor.jwt_key_check(JwtSignInConfig(secret_file=secret))
    assert check.status == "fail" and "does not exist" in check.detail
    assert "openssl rand -hex 32" in check.fix
    secret.write_text("ab" * 32 + "\n")
    os.chmod(secret, 0o644)
    check = doctor.jwt_key_check(JwtSignInConfig(secret_file=secret))
    assert check.status == "fail" and "chmod 600" in check.detail
    os.chmod(secret, 0o600)
    assert doctor.jwt_key_check(JwtSignInConfig(secret_file=secret)).status == "ok"
    secret.write_text("short\n")
    check = doctor.jwt_key_check(JwtSignInConfig(secret_file=secret))
    assert check.status == "fail" and "shorter than 32 bytes" in check.detail


def test_doctor_checks_the_jwt_public_key_file(tmp_path: Path) -> None:
    pem = tmp_path / "plugin.pem"
    pem.write_text("not a key\n")
    check = doctor.jwt_key_check(JwtSignInConfig(public_key_file=pem))
    assert check.status == "fail" and "not a PEM RSA public key" in check.detail
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key()
    pem.write_bytes(
        key.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    os.chmod(pem, 0o644)
    check = doctor.jwt_key_check(JwtSignInConfig(public_key_file=pem))
    assert check.status == "ok" and "2048 bits" in check.detail
    os.chmod(pem, 0o666)
    check = doctor.jwt_key_check(JwtSignInConfig(public_key_file=pem))
    assert check.status == "fail" and "sign in as anyone" in check.detail

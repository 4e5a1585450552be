"""Several sign-in methods at once: translation, the unforgeable marker of our own sign-in
pages, where a sign-in may send the browser next, and `?auth_token=` link checks."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from coursehub.accounts.signins import AccountSignIns
from coursehub.accounts.store import AccountStore
from coursehub.config.layout import DataLayout, Ports
from coursehub.config.loader import load_config
from coursehub.config.translate.jupyterhub import HubSecrets, Machine, translate
from coursehub.core.roles import groups_for_role
from coursehub.db.session import Database
from coursehub.hub.auth.common import verified_sign_in
from coursehub.hub.auth.github import CoursehubGitHubAuthenticator
from coursehub.hub.auth.jwt import (
    JwtSignInConfigError,
    JwtSignInRefused,
    JwtSignInSettings,
    ensure_account,
    load_jwt_signin,
    verify_signin_token,
)
from coursehub.hub.auth.local import CoursehubLocalAuthenticator
from coursehub.hub.auth.signin_handlers import safe_next_url

PORTS = Ports(hub=18081, proxy_api=18001, service=18090)
SECRETS = HubSecrets("proxy-secret", "service-secret", "cli-secret", "gh-secret")
MACHINE = Machine(python="/venv/bin/python", cpu_count=2)
GITHUB = (
    "  github:\n    client_id: abc\n    client_secret_file: gh.secret\n    organization: school\n"
)
SECRET = b"lms-plugin-shared-secret-0123456789abcdef"
NOW = 1_700_000_000
AUD, ISS = "coursehub", "https://moodle.example.edu"


def _translate(tmp_path: Path, yaml: str) -> dict[str, Any]:
    path = tmp_path / "coursehub.yaml"
    path.write_text(yaml)
    config = load_config(path).config
    return translate(config, DataLayout(config.site.data_dir), PORTS, SECRETS, MACHINE)


def _secret_file(tmp_path: Path, value: bytes = SECRET, mode: int = 0o600) -> Path:
    path = tmp_path / "jwt.secret"
    path.write_bytes(value + b"\n")
    os.chmod(path, mode)
    return path


# -- translation -----------------------------------------------------------------------


def _methods(c: dict[str, Any]) -> dict[str, bool]:
    return c["JupyterHub"]["template_vars"]["coursehub_signin"]


def _lti_env(c: dict[str, Any]) -> dict[str, Any]:
    service = next(s for s in c["JupyterHub"]["services"] if s["name"] == "coursehub")
    return json.loads(service["environment"]["COURSEHUB_LTI"])


def test_local_only(tmp_path: Path) -> None:
    c = _translate(tmp_path, "")
    assert c["JupyterHub"]["authenticator_class"].endswith("CoursehubLocalAuthenticator")
    assert c["CoursehubAuthenticatorMixin"]["signin_methods"] == ["local"]
    assert c["PasswordSignInMixin"] == {"max_failed_logins": 10, "lockout_seconds": 600}
    assert _methods(c) == {"local": True, "github": False, "lti": False, "jwt": False}
    templates = Path(c["JupyterHub"]["template_paths"][0])
    assert (templates / "login.html").is_file()
    assert _lti_env(c)["enabled"] is False
    assert not any(k.startswith("jwt_") for k in c["CoursehubAuthenticatorMixin"])


def test_github_only_keeps_the_oauthenticator(tmp_path: Path) -> None:
    c = _translate(tmp_path, f"auth:\n  methods: [github]\n{GITHUB}")
    assert c["JupyterHub"]["authenticator_class"].endswith("CoursehubGitHubAuthenticator")
    assert c["CoursehubAuthenticatorMixin"]["signin_methods"] == ["github"]
    assert "PasswordSignInMixin" not in c
    assert _methods(c) == {"local": False, "github": True, "lti": False, "jwt": False}
    assert c["CoursehubGitHubAuthenticator"]["allowed_organizations"] == {"school"}


def test_local_and_lti(tmp_path: Path) -> None:
    c = _translate(
        tmp_path,
        "site:\n  public_url: https://hub.example.edu\n"
        "auth:\n  methods: [local, lti]\nlti:\n  roster_sync: 2h\n  grade_passback: false\n",
    )
    assert c["JupyterHub"]["authenticator_class"].endswith("CoursehubLocalAuthenticator")
    assert c["CoursehubAuthenticatorMixin"]["signin_methods"] == ["local", "lti"]
    assert _methods(c) == {"local": True, "github": False, "lti": True, "jwt": False}
    assert _lti_env(c) == {
        "enabled": True,
        "username_claim": "email",
        "auto_create_courses": True,
        "grade_passback": False,
        "roster_sync_seconds": 7200,
        "public_url": "https://hub.example.edu",
    }


def test_local_and_jwt_pass_paths_not_secrets(tmp_path: Path) -> None:
    secret = _secret_file(tmp_path)
    c = _translate(
        tmp_path,
        "auth:\n  methods: [local, jwt]\n  jwt:\n    secret_file: jwt.secret\n"
        "    issuer: https://moodle.example.edu\n    username_claim: sub\n"
        "    create_accounts: true\n",
    )
    common = c["CoursehubAuthenticatorMixin"]
    assert common["signin_methods"] == ["local", "jwt"]
    assert common["jwt_secret_file"] == str(secret)
    assert common["jwt_public_key_file"] == ""
    assert (common["jwt_audience"], common["jwt_issuer"]) == ("coursehub", ISS)
    assert (common["jwt_username_claim"], common["jwt_create_accounts"]) == ("sub", True)
    assert _methods(c)["jwt"] is True
    assert SECRET.decode() not in repr(c)


def test_github_local_and_lti_together(tmp_path: Path) -> None:
    c = _translate(tmp_path, f"auth:\n  methods: [github, local, lti]\n{GITHUB}")
    assert c["JupyterHub"]["authenticator_class"].endswith("CoursehubGitHubAuthenticator")
    assert c["CoursehubAuthenticatorMixin"]["signin_methods"] == ["github", "local", "lti"]
    assert "PasswordSignInMixin" in c and "CoursehubGitHubAuthenticator" in c
    assert _methods(c) == {"local": True, "github": True, "lti": True, "jwt": False}
    assert _lti_env(c)["enabled"] is True


def test_cookies_work_in_an_lms_iframe_only_over_https(tmp_path: Path) -> None:
    framed = "  frame_ancestors: [https://moodle.example.edu]\n"
    https = _translate(tmp_path, f"site:\n  public_url: https://hub.example.edu\n{framed}")
    settings = https["JupyterHub"]["tornado_settings"]
    assert settings["cookie_options"] == {"samesite": "None", "secure": True}
    assert (
        "frame-ancestors 'self' https://moodle.example.edu"
        in (settings["headers"]["Content-Security-Policy"])
    )
    # browsers refuse SameSite=None without Secure: plain http keeps JupyterHub's defaults
    http = _translate(tmp_path, f"site:\n{framed}")["JupyterHub"]["tornado_settings"]
    assert "cookie_options" not in http and "headers" in http
    unframed = _translate(tmp_path, "site:\n  public_url: https://hub.example.edu\n")
    assert "tornado_settings" not in unframed["JupyterHub"]


# -- the marker of our own sign-in pages -----------------------------------------------


@pytest.fixture
def accounts_url(db: Database) -> str:
    """The test's database (tests/conftest.py) with the accounts alice and bob."""
    store = AccountStore(db, min_password_length=8)
    store.add("alice", role="instructor", password="alice-pass-1")
    store.add("bob", signin="lti")
    return db.url


def _local(accounts_url: str, methods: list[str]) -> CoursehubLocalAuthenticator:
    return CoursehubLocalAuthenticator(coursehub_db_url=accounts_url, signin_methods=methods)


def _github(accounts_url: str, methods: list[str]) -> CoursehubGitHubAuthenticator:
    return CoursehubGitHubAuthenticator(
        coursehub_db_url=accounts_url,
        signin_methods=methods,
        client_id="abc",
        client_secret="gh-secret",
        oauth_callback_url="https://hub.example.edu/hub/oauth_callback",
        allowed_organizations={"school"},
    )


@pytest.mark.parametrize(
    "form",
    [
        {"username": "bob"},
        {"username": "bob", "password": ""},
        {"username": "bob", "method": "lti"},
        {"username": "bob", "coursehub_signin": "lti", "user_info": "lti"},
        {"username": "alice", "password": "wrong-password"},
    ],
)
async def test_form_data_cannot_pass_for_a_verified_sign_in(accounts_url: str, form: dict) -> None:
    auth = _local(accounts_url, ["local", "lti"])
    assert await auth.get_authenticated_user(None, form) is None


async def test_verified_sign_in_uses_the_account_row(accounts_url: str) -> None:
    auth = _local(accounts_url, ["local", "lti"])
    auth.role_overrides = {"lti:bob": "ta"}
    model = await auth.get_authenticated_user(None, verified_sign_in("bob", "lti"))
    assert model is not None
    assert (model["name"], model["admin"]) == ("bob", False)
    assert model["groups"] == groups_for_role("ta")  # role_overrides win over the row
    assert model["user_info"] == {"coursehub_signin": "lti"}
    password = await auth.get_authenticated_user(
        None, {"username": "alice", "password": "alice-pass-1"}
    )
    assert password is not None and password["user_info"] == {"coursehub_signin": "local"}


async def test_verified_sign_in_needs_the_method_on_and_an_account(accounts_url: str) -> None:
    auth = _local(accounts_url, ["local", "lti"])
    assert await auth.get_authenticated_user(None, verified_sign_in("bob", "jwt")) is None
    assert await auth.get_authenticated_user(None, verified_sign_in("nobody", "lti")) is None
    with pytest.raises(ValueError):
        verified_sign_in("bob", "local")


async def test_github_site_without_local_refuses_passwords(accounts_url: str) -> None:
    auth = _github(accounts_url, ["github", "lti"])
    form = {"username": "alice", "password": "alice-pass-1"}
    assert await auth.get_authenticated_user(None, form) is None
    # alice is a local account: an LMS ticket naming her opens it only once linked
    assert await auth.get_authenticated_user(None, verified_sign_in("alice", "lti")) is None
    AccountSignIns(Database(accounts_url)).link("alice", "lti")
    model = await auth.get_authenticated_user(None, verified_sign_in("alice", "lti"))
    assert model is not None and model["admin"] is False and model["name"] == "alice"
    both = _github(accounts_url, ["github", "local"])
    assert (await both.get_authenticated_user(None, form) or {}).get("name") == "alice"


async def test_refresh_drops_removed_lms_accounts_and_keeps_github_users(accounts_url: str) -> None:
    auth = _github(accounts_url, ["github", "local", "lti"])
    bob = SimpleNamespace(name="bob", user_info={"coursehub_signin": "lti"})
    assert (await auth.refresh_user(bob))["name"] == "bob"
    AccountStore(Database(accounts_url)).remove("bob")
    assert await auth.refresh_user(bob) is False
    # GitHub users have an account made at their first sign-in; OAuthenticator decides
    # for them as long as GitHub still opens it
    octo = SimpleNamespace(name="octo", user_info={"coursehub_signin": "github"})
    assert await auth.refresh_user(octo) is False
    AccountSignIns(Database(accounts_url)).claim("octo", "github", subject="7", create=True)
    assert await auth.refresh_user(octo) is True
    # a session opened by a method that no longer opens the account ends
    assert await auth.refresh_user(SimpleNamespace(name="octo", user_info=None)) is True
    assert (
        await auth.refresh_user(
            SimpleNamespace(name="octo", user_info={"coursehub_signin": "local"})
        )
        is False
    )
    local = _local(accounts_url, ["local"])
    assert await local.refresh_user(SimpleNamespace(name="octo", user_info=None)) is False


# -- where a sign-in may send the browser ----------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "/user/alice/lab",
        "/services/coursehub/course/demo?x=1",
        "/hub/spawn/alice/demo",
    ],
)
def test_local_paths_are_followed(url: str) -> None:
    assert safe_next_url(url, "/hub/home") == url


@pytest.mark.parametrize(
    "url",
    [
        None,
        "",
        "https://evil.example/",
        "//evil.example/",
        "/\\evil.example",
        "\\\\evil.example",
        "/user//x",
        "javascript:alert(1)",
        "user/alice",
        "/hub/home\r\nSet-Cookie: x=1",
        "/a b",
        "/" + "a" * 3000,
    ],
)
def test_anything_else_goes_home(url: str | None) -> None:
    assert safe_next_url(url, "/hub/home") == "/hub/home"


# -- `?auth_token=` links ----------------------------------------------------------------


@pytest.fixture(scope="module")
def rsa_keys() -> tuple[rsa.RSAPrivateKey, str, rsa.RSAPrivateKey]:
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = (
        private.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    return private, pem, other


HS = JwtSignInSettings(AUD, ISS, secret=SECRET)


def claims(**changes: Any) -> dict[str, Any]:
    base = {"iss": ISS, "aud": AUD, "iat": NOW, "exp": NOW + 300, "username": "Alice"}
    base.update(changes)
    return {k: v for k, v in base.items() if v is not None}


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def handmade(alg: str, payload: dict[str, Any], key: bytes | None) -> str:
    """Tokens PyJWT refuses to make: alg none, HS256 keyed with a public key."""
    head = f"{_b64(json.dumps({'alg': alg, 'typ': 'JWT'}).encode())}."
    signing_input = head + _b64(json.dumps(payload).encode())
    sig = b"" if key is None else hmac.new(key, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{_b64(sig)}"


def refused(token: str, settings: JwtSignInSettings = HS) -> JwtSignInRefused:
    with pytest.raises(JwtSignInRefused) as info:
        verify_signin_token(token, settings, now=NOW)
    exc = info.value
    assert token not in exc.page_message and token not in exc.detail
    assert exc.page_message.startswith("Sign-in refused: ")
    return exc


def test_valid_link_names_the_lower_cased_user() -> None:
    token = jwt.encode(claims(), SECRET, algorithm="HS256")
    assert verify_signin_token(token, HS, now=NOW) == "alice"


def test_valid_rs256_link(rsa_keys: tuple) -> None:
    private, pem, _ = rsa_keys
    settings = JwtSignInSettings(AUD, None, public_key=pem, username_claim="sub")
    token = jwt.encode(claims(sub="carol", iss="any-plugin"), private, algorithm="RS256")
    assert verify_signin_token(token, settings, now=NOW) == "carol"


@pytest.mark.parametrize(
    ("payload", "code", "words"),
    [
        (claims(exp=NOW - 31), "token_expired", "the sign-in link has expired"),
        (claims(aud="other-site"), "bad_audience", "made for another site (audience)"),
        (claims(iss="https://evil.example"), "bad_issuer", "(issuer)"),
        (claims(iat=NOW + 120, exp=NOW + 600), "token_not_yet_valid", "not valid yet"),
        (claims(exp=NOW + 7200), "token_too_long_lived", "valid for too long"),
        (claims(exp=None), "missing_claim", "incomplete"),
    ],
)
def test_refused_links_say_why(payload: dict, code: str, words: str) -> None:
    exc = refused(jwt.encode(payload, SECRET, algorithm="HS256"))
    assert exc.code == code and words in exc.page_message


def test_expiry_has_thirty_seconds_of_leeway() -> None:
    token = jwt.encode(claims(exp=NOW - 20), SECRET, algorithm="HS256")
    assert verify_signin_token(token, HS, now=NOW) == "alice"


def test_alg_none_is_refused() -> None:
    exc = refused(handmade("none", claims(), None))
    assert exc.code == "algorithm_not_allowed"
    assert "signature is not valid" in exc.page_message


def test_wrong_key_is_refused(rsa_keys: tuple) -> None:
    exc = refused(jwt.encode(claims(), b"another-secret-of-enough-length-0123", algorithm="HS256"))
    assert exc.code == "bad_signature" and "signature is not valid" in exc.page_message
    private, pem, other = rsa_keys
    rs = JwtSignInSettings(AUD, ISS, public_key=pem)
    assert refused(jwt.encode(claims(), other, algorithm="RS256"), rs).code == "bad_signature"


def test_hs256_signed_with_the_rsa_public_key_is_refused(rsa_keys: tuple) -> None:
    _, pem, _ = rsa_keys
    rs = JwtSignInSettings(AUD, ISS, public_key=pem)
    exc = refused(handmade("HS256", claims(), pem.encode()), rs)
    assert exc.code == "algorithm_not_allowed"


@pytest.mark.parametrize(
    ("value", "code"),
    [
        (None, "no_username"),
        ("", "no_username"),
        (42, "no_username"),
        ("bad name!", "bad_username"),
    ],
)
def test_username_claim_missing_or_invalid(value: Any, code: str) -> None:
    exc = refused(jwt.encode(claims(username=value), SECRET, algorithm="HS256"))
    assert exc.code == code


def test_reserved_username_is_refused() -> None:
    assert refused(jwt.encode(claims(username="root"), SECRET, algorithm="HS256")).code == (
        "bad_username"
    )


def test_unknown_users_need_create_accounts(accounts_url: str) -> None:
    store = AccountStore(Database(accounts_url))
    # alice signs in with a password, bob through the LMS: links naming them open
    # nothing until an admin links them
    for name in ("alice", "bob"):
        with pytest.raises(JwtSignInRefused) as info:
            ensure_account(store, name, create=True)
        assert info.value.code == "other_method"
        assert "another sign-in method" in info.value.page_message
    AccountSignIns(store.db).link("bob", "jwt")
    assert ensure_account(store, "bob", create=False) is False
    with pytest.raises(JwtSignInRefused) as info:
        ensure_account(store, "dora", create=False)
    assert info.value.code == "unknown_user" and store.get("dora") is None
    assert ensure_account(store, "dora", create=True) is True
    account = store.get("dora")
    assert account is not None and account.role == "student" and not account.has_password
    assert ensure_account(store, "dora", create=True) is False


def test_key_files_are_checked_at_start(tmp_path: Path, rsa_keys: tuple) -> None:
    def load(**files: Any) -> JwtSignInSettings:
        return load_jwt_signin(audience=AUD, issuer=None, **files)

    good = _secret_file(tmp_path)
    assert load(secret_file=good, public_key_file=None).secret == SECRET
    os.chmod(good, 0o644)
    with pytest.raises(JwtSignInConfigError, match="chmod 600"):
        load(secret_file=good, public_key_file=None)
    short = _secret_file(tmp_path, b"short")
    with pytest.raises(JwtSignInConfigError, match="shorter than 32 bytes"):
        load(secret_file=short, public_key_file=None)
    with pytest.raises(JwtSignInConfigError, match="cannot read"):
        load(secret_file=None, public_key_file=tmp_path / "missing.pem")
    pem = tmp_path / "plugin.pem"
    pem.write_text(rsa_keys[1])
    assert load(secret_file=None, public_key_file=pem).algorithm == "RS256"


def test_the_hub_refuses_to_start_with_a_readable_secret(tmp_path: Path, accounts_url: str) -> None:
    secret = _secret_file(tmp_path, mode=0o640)
    with pytest.raises(JwtSignInConfigError):
        CoursehubLocalAuthenticator(
            coursehub_db_url=accounts_url,
            signin_methods=["local", "jwt"],
            jwt_secret_file=str(secret),
        )
    os.chmod(secret, 0o600)
    auth = CoursehubLocalAuthenticator(
        coursehub_db_url=accounts_url, signin_methods=["local", "jwt"], jwt_secret_file=str(secret)
    )
    assert auth.jwt_signin.algorithm == "HS256" and SECRET not in repr(auth.jwt_signin).encode()


# -- the login page --------------------------------------------------------------------


def _login_page(methods: dict[str, bool], oauth_url: str) -> str:
    """Our template rendered the way JupyterHub's LoginHandler renders it."""
    from jinja2 import ChoiceLoader, Environment, FileSystemLoader, PrefixLoader
    from jupyterhub._data import DATA_FILES_PATH

    from coursehub.config.translate.jupyterhub import HUB_TEMPLATES

    theirs = os.path.join(DATA_FILES_PATH, "templates")
    loader = ChoiceLoader(
        [
            PrefixLoader({"templates": FileSystemLoader([theirs])}, "/"),
            FileSystemLoader([str(HUB_TEMPLATES), theirs]),
        ]
    )
    env = Environment(loader=loader, autoescape=True)
    return env.get_template("login.html").render(
        next="%2Fhub%2Ftoken",
        login_url="/hub/login",
        authenticator_login_url=f"{oauth_url}?next=%2Fhub%2Ftoken",
        login_service="GitHub" if oauth_url.endswith("oauth_login") else "",
        authenticator=SimpleNamespace(request_otp=False),
        xsrf="xsrf-value",
        static_url=lambda *a, **k: "/static",
        base_url="/",
        coursehub_signin=methods,
    )


def test_login_page_lists_each_configured_method() -> None:
    both = _login_page({"local": True, "github": True, "lti": True}, "/hub/oauth_login")
    assert '<form action="/hub/login?next=%2Fhub%2Ftoken" method="post"' in both
    assert 'name="_xsrf" value="xsrf-value"' in both
    assert 'href="/hub/oauth_login?next=%2Fhub%2Ftoken">Sign in with GitHub' in both
    assert "Students: open coursehub from your course in the LMS" in both
    github = _login_page({"github": True}, "/hub/oauth_login")
    assert "<form" not in github and "Sign in with GitHub" in github
    assert "from your course in the LMS" not in github
    local = _login_page({"local": True}, "/hub/login")
    assert '<form action="/hub/login?next=%2Fhub%2Ftoken"' in local
    assert "Sign in with GitHub" not in local

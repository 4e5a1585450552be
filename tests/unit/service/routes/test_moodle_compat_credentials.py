"""The moodle-mod_jupyter plugin's two secrets (service/routes/moodle_compat/credentials.py):
its tokens `{"name": ...}` as view.php makes them (firebase/php-jwt, HS256, no expiry)
and its API token; and the coursehub.yaml section that names them."""

from __future__ import annotations

import base64
import json
import time
from pathlib import Path

import jwt
import pytest
from pydantic import ValidationError

from coursehub.config.models import CoursehubConfig, MoodleCompatConfig
from coursehub.service.routes.moodle_compat.credentials import (
    CompatConfigError,
    CompatRefused,
    CompatSecrets,
    check_api_token,
    load_secrets,
    user_of_token,
)

SECRETS = CompatSecrets(b"j" * 64, b"a" * 64)


def _b64(value: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()


def test_the_plugins_own_tokens_name_their_user() -> None:
    token = jwt.encode({"name": "Alice"}, SECRETS.jwt_secret, "HS256")
    assert user_of_token(token, SECRETS) == "alice"  # the plugin lower-cases too
    assert user_of_token("Bearer " + token, SECRETS) == "alice"


@pytest.mark.parametrize(
    ("token", "code"),
    [
        (None, "missing_token"),
        ("", "missing_token"),
        ("not a jwt at all", "missing_token"),
        ("garbage", "malformed_token"),
        (jwt.encode({"name": "alice"}, b"x" * 64, "HS256"), "bad_signature"),
        (f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64({'name': 'alice'})}.",
         "algorithm_not_allowed"),
        (jwt.encode({"name": "alice"}, b"j" * 64, "HS512"), "algorithm_not_allowed"),
        (jwt.encode({"name": "alice", "exp": int(time.time()) - 5}, b"j" * 64, "HS256"),
         "token_expired"),
        (jwt.encode({"sub": "alice"}, b"j" * 64, "HS256"), "no_username"),
        (jwt.encode({"name": "../root"}, b"j" * 64, "HS256"), "bad_username"),
        (jwt.encode({"name": "a/b"}, b"j" * 64, "HS256"), "bad_username"),
        ("x" * 5000, "malformed_token"),
    ],
)  # fmt: skip
def test_bad_tokens_are_refused_with_a_reason(token: str | None, code: str) -> None:
    with pytest.raises(CompatRefused) as refused:
        user_of_token(token, SECRETS)
    assert refused.value.code == code
    assert str(refused.value)


def test_the_api_token_is_compared_whole() -> None:
    check_api_token("token " + "a" * 64, SECRETS)
    for header in (None, "", "token", "Bearer " + "a" * 64, "token " + "a" * 63, "token b"):
        with pytest.raises(CompatRefused):
            check_api_token(header, SECRETS)


def _secret(path: Path, value: str, mode: int = 0o600) -> Path:
    path.write_text(value + "\n")
    path.chmod(mode)
    return path


def test_secret_files_must_be_private_long_and_different(tmp_path: Path) -> None:
    good = _secret(tmp_path / "jwt", "j" * 64)
    api = _secret(tmp_path / "api", "a" * 64)
    section = MoodleCompatConfig(enabled=True, jwt_secret_file=good, api_token_file=api)
    assert load_secrets(section) == CompatSecrets(b"j" * 64, b"a" * 64)
    for jwt_file, api_file, words in (
        (_secret(tmp_path / "short", "s" * 10), api, "shorter than"),
        (_secret(tmp_path / "open", "o" * 64, 0o644), api, "chmod 600"),
        (good, good, "must differ"),
        (tmp_path / "missing", api, "cannot read"),
    ):
        section = MoodleCompatConfig(
            enabled=True, jwt_secret_file=jwt_file, api_token_file=api_file
        )
        with pytest.raises(CompatConfigError, match=words):
            load_secrets(section)


def test_the_config_section_says_what_is_missing(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="jwt_secret_file and api_token_file"):
        MoodleCompatConfig(enabled=True)
    with pytest.raises(ValidationError, match="not a Moodle course id"):
        MoodleCompatConfig(courses={"../x": "ds101"})
    with pytest.raises(ValidationError, match="moodle_compat.courses"):
        MoodleCompatConfig(courses={"7": "Not A Course"})
    files = {"jwt_secret_file": tmp_path / "j", "api_token_file": tmp_path / "a"}
    compat = {"enabled": True, **{k: str(v) for k, v in files.items()}}
    with pytest.raises(ValidationError, match="add jwt to auth.methods"):
        CoursehubConfig.model_validate({"grading": {"moodle_compat": compat}})
    config = CoursehubConfig.model_validate({
        "auth": {"methods": ["local", "jwt"], "jwt": {"secret_file": str(tmp_path / "h")}},
        "grading": {"moodle_compat": compat | {"courses": {"7": "ds101"}}},
    })  # fmt: skip
    assert config.grading.moodle_compat.courses == {"7": "ds101"}


# ---- the service ----------------------------------------------------------------------


def _grading_env(**compat: object) -> str:
    from coursehub.config.service_sections import GradingSection

    return GradingSection.model_validate({"moodle_compat": compat}).model_dump_json()


async def test_the_service_refuses_to_start_with_a_readable_secret(tmp_path: Path) -> None:
    from tests.helpers.fake_hub import build

    env = _grading_env(
        enabled=True,
        jwt_secret_file=str(_secret(tmp_path / "jwt", "j" * 64, 0o644)),
        api_token_file=str(_secret(tmp_path / "api", "a" * 64)),
    )
    app, _ = build(COURSEHUB_GRADING=env)
    with pytest.raises(CompatConfigError, match="chmod 600"):
        async with app.router.lifespan_context(app):
            pass


async def test_when_off_the_plugins_addresses_answer_a_json_404() -> None:
    from tests.helpers.fake_hub import PREFIX, assert_error, build, client

    app, _ = build()
    async with client(app) as http:
        for path in ("compat/moodle-jupyter/hub/api/users/alice",
                     "compat/moodle-jupyter/gradeservice/7/12/alice"):  # fmt: skip
            response = await http.post(PREFIX + path, headers={"Authorization": "token x"})
            assert_error(response, 404, "not_found")


def test_doctor_checks_the_plugins_secrets(tmp_path: Path) -> None:
    from coursehub.ops.doctor import moodle_compat_check

    jwt_file, api_file = tmp_path / "jwt", tmp_path / "api"
    section = MoodleCompatConfig(
        enabled=True, jwt_secret_file=jwt_file, api_token_file=api_file, courses={"7": "ds101"}
    )
    check = moodle_compat_check(section)
    assert check.status == "fail" and "does not exist" in check.detail
    _secret(jwt_file, "j" * 64)
    _secret(api_file, "a" * 64, 0o640)
    check = moodle_compat_check(section)
    assert check.status == "fail" and "chmod 600" in check.detail
    _secret(api_file, "j" * 64)
    assert "the same" in moodle_compat_check(section).detail
    _secret(api_file, "a" * 64)
    check = moodle_compat_check(section)
    assert check.status == "ok" and "7 -> ds101" in check.detail

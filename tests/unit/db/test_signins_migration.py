"""Upgrading a site from before sign-in methods were recorded: every account keeps
the methods that could open it, and no more."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from sqlalchemy import text

from coursehub.accounts.signins import AccountSignIns
from coursehub.db.session import Database, alembic_config, ensure_schema


def test_existing_accounts_get_the_method_that_made_them(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'c.sqlite'}"
    command.upgrade(alembic_config(url), "0008")
    db = Database(url)
    with db.engine.begin() as conn:
        for name, hashed in (("prof", "$2b$hash"), ("stu", None), ("kim", None)):
            conn.execute(
                text(
                    "INSERT INTO coursehub_accounts (username, full_name, email, role, "
                    "password_hash, created_at, updated_at) VALUES (:n, '', '', 'student', "
                    ":h, '2026-01-01 00:00:00', '2026-01-01 00:00:00')"
                ),
                {"n": name, "h": hashed},
            )
        conn.execute(
            text(
                "INSERT INTO coursehub_lti_platforms (name, issuer, client_id, deployment_ids, "
                "auth_login_url, auth_token_url, key_set_url, source, created_at) VALUES "
                "('m', 'https://lms', 'c', '[]', 'https://a', 'https://t', 'https://k', "
                "'cli', '2026-01-01 00:00:00')"
            )
        )
        conn.execute(
            text(
                "INSERT INTO coursehub_lti_identities (platform_id, subject, username, "
                "created_at) VALUES (1, 's-kim', 'kim', '2026-01-01 00:00:00')"
            )
        )
    db.dispose()
    ensure_schema(url)
    signins = AccountSignIns(Database(url))
    assert signins.methods_of("prof") == ("local",)  # a password: never a link
    assert signins.methods_of("stu") == ("local", "jwt")  # no password: links keep working
    assert signins.methods_of("kim") == ("lti",)

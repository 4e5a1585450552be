"""Refreshing a signed-in user: nothing for the hub to write when nothing changed,
the new role when it did, and the end of the session when the account went."""

from __future__ import annotations

from types import SimpleNamespace

from coursehub.accounts.signins import AccountSignIns
from coursehub.accounts.store import AccountStore
from coursehub.core.roles import groups_for_role
from coursehub.db.session import Database
from coursehub.hub.auth.local import CoursehubLocalAuthenticator


def _hub_user(name: str, role: str, method: str = "local") -> SimpleNamespace:
    """The hub's user as the last sign-in or refresh left it."""
    groups = [SimpleNamespace(name=g) for g in groups_for_role(role)]
    info = {"coursehub_signin": method}
    return SimpleNamespace(name=name, admin=role == "admin", groups=groups, user_info=info)


async def test_an_unchanged_account_needs_no_writes_a_changed_one_does(db: Database) -> None:
    store = AccountStore(db, min_password_length=8)
    store.add("ada", role="student", password="ada-pass-12")
    auth = CoursehubLocalAuthenticator(coursehub_db_url=db.url, signin_methods=["local"])
    assert await auth.refresh_user(_hub_user("ada", "student")) is True

    store.set_role("ada", "ta")
    model = await auth.refresh_user(_hub_user("ada", "student"))
    assert isinstance(model, dict) and model["groups"] == groups_for_role("ta")
    assert await auth.refresh_user(_hub_user("ada", "ta")) is True

    auth.role_overrides = {"local:ada": "admin"}  # coursehub.yaml's roles win
    model = await auth.refresh_user(_hub_user("ada", "ta"))
    assert isinstance(model, dict) and model["admin"] is True


async def test_a_removed_or_unlinked_account_signs_out(db: Database) -> None:
    store = AccountStore(db, min_password_length=8)
    store.add("ada", password="ada-pass-12")
    store.add("bob", password="bob-pass-12")
    auth = CoursehubLocalAuthenticator(coursehub_db_url=db.url, signin_methods=["local", "lti"])
    store.remove("ada")
    assert await auth.refresh_user(_hub_user("ada", "student")) is False
    AccountSignIns(db).link("bob", "lti")
    assert await auth.refresh_user(_hub_user("bob", "student", "lti")) is True
    AccountSignIns(db).unlink("bob", "lti")
    assert await auth.refresh_user(_hub_user("bob", "student", "lti")) is False

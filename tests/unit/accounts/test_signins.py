"""One person, one account: the sign-in methods that open each account, GitHub ids
pinned at first sign-in, admins' links, roles keyed by method, single-use links."""

from __future__ import annotations

import time

import pytest

from coursehub.accounts.signin_links import UsedSignInLinks
from coursehub.accounts.signins import (
    AccountSignIns,
    IdentityConflict,
    role_override,
)
from coursehub.accounts.store import AccountStore
from coursehub.core.errors import AccountError
from coursehub.db.session import Database


@pytest.fixture
def store(db: Database) -> AccountStore:
    store = AccountStore(db, min_password_length=8)
    store.add("prof", role="instructor", password="prof-pass-1")
    return store


def test_a_method_never_opens_another_methods_account(store: AccountStore) -> None:
    signins = AccountSignIns(store.db)
    assert signins.methods_of("prof") == ("local",)
    for method in ("github", "lti", "jwt"):
        with pytest.raises(IdentityConflict) as info:
            signins.claim("prof", method, subject="1", create=True)
        assert "coursehub users link prof " + method in info.value.page_message
    assert signins.methods_of("prof") == ("local",)
    assert store.get("prof").role == "instructor"  # type: ignore[union-attr]


def test_passwords_open_local_accounts_only(store: AccountStore) -> None:
    assert store.authenticate("prof", "prof-pass-1") is not None
    store.add("gh", password="gh-pass-123", signin="github")
    assert store.authenticate("gh", "gh-pass-123") is None


def test_github_accounts_are_made_once_and_pinned_to_the_github_id(db: Database) -> None:
    signins = AccountSignIns(db)
    first = signins.claim("octo", "github", subject="42", create=True)
    assert first is not None and first.created and first.methods == ("github",)
    assert signins.claim("octo", "github", subject="42", create=True).created is False  # type: ignore[union-attr]
    # octo renamed their login; someone else took "octo"
    renamed = signins.claim("octo-new", "github", subject="42", create=True)
    assert renamed is not None and renamed.account.username == "octo"
    with pytest.raises(IdentityConflict, match="changed hands"):
        signins.claim("octo", "github", subject="77", create=True)


def test_an_admin_link_lets_a_second_method_open_the_account(store: AccountStore) -> None:
    signins = AccountSignIns(store.db)
    assert signins.link("prof", "github") == ("local", "github")
    claimed = signins.claim("prof", "github", subject="90001", create=True)
    assert claimed is not None and claimed.account.username == "prof"
    # pinned by that first sign-in: another GitHub user later named prof is refused
    with pytest.raises(IdentityConflict):
        signins.claim("prof", "github", subject="90002", create=True)
    assert signins.unlink("prof", "github") == ("local",)
    with pytest.raises(IdentityConflict):
        signins.claim("prof", "github", subject="90001", create=True)
    with pytest.raises(AccountError, match="unknown sign-in method"):
        signins.link("prof", "saml")
    with pytest.raises(AccountError, match="no account"):
        signins.link("nobody", "jwt")


def test_removing_an_account_removes_its_sign_ins(store: AccountStore) -> None:
    store.remove("prof")
    assert AccountSignIns(store.db).methods_of("prof") == ()
    assert AccountSignIns(store.db).claim("prof", "github", subject="5", create=True).created  # type: ignore[union-attr]


def test_the_roster_never_changes_another_methods_account(store: AccountStore) -> None:
    from coursehub.accounts.roster import RosterEntry

    AccountSignIns(store.db).claim("octo", "github", subject="42", create=True)
    entry = RosterEntry("octo", "Octo", "", "instructor", "octo-pass-1")
    with pytest.raises(AccountError, match="do not sign in with a password: octo"):
        store.import_entries([entry])
    assert store.get("octo").role == "student"  # type: ignore[union-attr]
    AccountSignIns(store.db).link("octo", "local")
    assert store.import_entries([entry]).updated == ["octo"]


def test_roles_by_name_apply_through_the_named_method_only() -> None:
    overrides = {"local:prof": "instructor", "github:octo": "admin", "lti:prof": "ta"}
    assert role_override(overrides, "prof", ("local",)) == "instructor"
    assert role_override(overrides, "prof", ("github",)) is None
    assert role_override(overrides, "octo", ("github",)) == "admin"
    assert role_override(overrides, "octo", ("local", "jwt")) is None
    # an admin linked both: the stronger grant
    assert role_override(overrides, "prof", ("local", "lti")) == "instructor"


def test_a_sign_in_link_is_used_once(db: Database) -> None:
    links = UsedSignInLinks(db)
    now = int(time.time())
    claims = {"iss": "lms", "aud": "c", "iat": now, "exp": now + 600, "username": "jo"}
    assert links.first_use(claims, 30) is True
    assert links.first_use(dict(reversed(claims.items())), 30) is False  # same claims
    assert links.first_use({**claims, "exp": now + 599}, 30) is True
    # expired records are dropped when new links are used
    old = {**claims, "iat": now - 900, "exp": now - 600}
    assert links.first_use(old, 30) is True
    assert links.first_use({**claims, "jti": "x"}, 30) is True
    assert links.first_use(old, 30) is True

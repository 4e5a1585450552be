"""LMS users get readable usernames that stay put across launches and differ across
platforms; registrations from coursehub.yaml follow the file."""

from __future__ import annotations

import pytest

from coursehub.accounts.store import AccountStore
from coursehub.config.models import LtiPlatformConfig
from coursehub.db.session import Database
from coursehub.lti.identities import IdentityError, IdentityStore, LmsPerson, readable_base
from coursehub.lti.platforms import PlatformError, PlatformStore


def spec(
    name: str, issuer: str = "https://lms.example.edu", client: str = "tool"
) -> LtiPlatformConfig:
    return LtiPlatformConfig(
        name=name,
        issuer=issuer,
        client_id=client,
        auth_login_url=f"{issuer}/auth",
        auth_token_url=f"{issuer}/token",
        key_set_url=f"{issuer}/jwks",
    )


def test_usernames_are_readable_stable_and_distinct_per_platform(db: Database) -> None:
    platforms = PlatformStore(db)
    moodle = platforms.add(spec("moodle"))
    canvas = platforms.add(spec("canvas", "https://canvas.example.edu"))
    ids = IdentityStore(db)
    alice = LmsPerson(subject="42", name="Alice Martin", email="Alice.Martin@uni.example")
    first = ids.username_for(moodle, alice, "email")
    assert first == "alice.martin"
    assert ids.username_for(moodle, alice, "email") == first  # stable
    # the same sub on another platform is another person
    other = ids.username_for(canvas, alice, "email")
    assert other == "alice.martin-2"
    assert ids.subject_of(moodle.id, first) == "42"
    account = AccountStore(db).get(first)
    assert account is not None and account.full_name == "Alice Martin"
    assert account.role == "student" and account.email == "Alice.Martin@uni.example"


def test_existing_roster_accounts_are_never_taken_over(db: Database) -> None:
    AccountStore(db).add("bob", full_name="Local Bob")
    moodle = PlatformStore(db).add(spec("moodle"))
    name = IdentityStore(db).username_for(
        moodle, LmsPerson(subject="7", email="bob@x.org"), "email"
    )
    assert name == "bob-2"
    assert AccountStore(db).get("bob").full_name == "Local Bob"


def test_lms_users_get_neither_other_methods_names_nor_pending_staff_names(db: Database) -> None:
    from coursehub.accounts.signins import AccountSignIns
    from coursehub.db.models import Course, Enrolment

    AccountSignIns(db).claim("octo", "github", subject="9", create=True)
    with db.session() as s:  # staff enrolled by name before their first GitHub sign-in
        s.add(Course(name="algebra", repo_url="/srv/r", branch="main"))
        s.add(Enrolment(course="algebra", username="tara", role="ta"))
        s.add(Enrolment(course="algebra", username="sam", role="student"))
    moodle = PlatformStore(db).add(spec("moodle"))
    ids = IdentityStore(db)
    octo = ids.username_for(moodle, LmsPerson(subject="1", email="octo@x.org"), "email")
    tara = ids.username_for(moodle, LmsPerson(subject="2", email="tara@x.org"), "email")
    assert (octo, tara) == ("octo-2", "tara-2")
    # a student enrolled by name before their first launch gets that name
    sam = ids.username_for(moodle, LmsPerson(subject="3", email="sam@x.org"), "email")
    assert sam == "sam"
    assert AccountSignIns(db).methods_of("octo-2") == ("lti",)
    assert AccountSignIns(db).methods_of("octo") == ("github",)
    # an admin links the LMS user of octo-2 to octo: their launches open octo
    assert ids.move("octo-2", "octo") == 1
    assert ids.known(moodle.id, "1") == "octo"


@pytest.mark.parametrize(
    ("person", "claim", "expected"),
    [
        (LmsPerson(subject="1", name="Zoë Müller"), "name", "zoe.muller"),
        (LmsPerson(subject="1", preferred_username="J_Doe"), "preferred_username", "j_doe"),
        (LmsPerson(subject="1", email="123@x.org"), "email", "lms-user"),
        (LmsPerson(subject="1", email="../../etc@x.org"), "email", "etc"),
        (
            LmsPerson(subject="s-99", claims={"https://x/claim/login": "K.Lee"}),
            "https://x/claim/login",
            "k.lee",
        ),
        (LmsPerson(subject="1"), "email", "lms-user"),
    ],
)
def test_readable_base(person: LmsPerson, claim: str, expected: str) -> None:
    assert readable_base(person, claim) == expected


def test_launch_without_subject_is_refused(db: Database) -> None:
    moodle = PlatformStore(db).add(spec("moodle"))
    with pytest.raises(IdentityError, match="sub"):
        IdentityStore(db).username_for(moodle, LmsPerson(subject=""), "email")


def test_platforms_follow_the_config_and_keep_cli_ones(db: Database) -> None:
    store = PlatformStore(db)
    store.add(spec("by-hand", "https://other.example.edu"))
    store.sync_from_config([spec("moodle")])
    first = store.by_name("moodle")
    store.sync_from_config([spec("moodle", client="tool-2")])
    again = store.by_name("moodle")
    assert again is not None and first is not None
    assert again.id == first.id and again.client_id == "tool-2"  # updated in place
    store.sync_from_config([])
    assert [p.name for p in store.list()] == ["by-hand"]
    with pytest.raises(PlatformError, match="add-platform"):
        store.sync_from_config([spec("by-hand")])
    with pytest.raises(PlatformError, match="already registered"):
        store.add(spec("again", "https://other.example.edu"))

"""`coursehub doctor`'s check of the roles section: each name there is an account of
one sign-in method (a bare name is local), so a name that method does not open grants
nothing, and says so here rather than silently."""

from __future__ import annotations

from pathlib import Path

from coursehub.config.layout import DataLayout
from coursehub.config.models import CoursehubConfig, signin_qualified
from coursehub.config.translate.jupyterhub import coursehub_database_url
from coursehub.ops.doctor import Check


def roles_check(config: CoursehubConfig, layout: DataLayout) -> Check:
    named = [
        (role, *signin_qualified(name))
        for role in ("admin", "instructor", "ta")
        for name in getattr(config.roles, role)
    ]
    if not named:
        return Check("roles", "ok", "no roles given by name in coursehub.yaml")
    problems = [
        f"{method}:{username} ({role}): {method} sign-in is not turned on"
        for role, method, username in named
        if method not in config.auth.methods
    ]
    methods = _methods_by_account(config, layout)
    for role, method, username in named:
        have = methods.get(username)
        if have and method not in have:
            problems.append(
                f"{method}:{username} ({role}): the account {username} signs in with "
                f"{', '.join(have)}, so the role reaches nobody"
            )
    if problems:
        return Check(
            "roles",
            "warn",
            "; ".join(problems),
            "write the method of the account meant (github:LOGIN, lti:NAME, jwt:NAME; a "
            "bare name is local), or link the account (coursehub users link NAME METHOD)",
        )
    return Check("roles", "ok", f"{len(named)} role(s) by name, each for one sign-in method")


def _methods_by_account(config: CoursehubConfig, layout: DataLayout) -> dict[str, tuple[str, ...]]:
    url = coursehub_database_url(config, layout)
    if url.startswith("sqlite") and not Path(url.removeprefix("sqlite:///")).exists():
        return {}  # doctor never creates the database
    from coursehub.accounts.signins import AccountSignIns
    from coursehub.db.session import Database

    db = Database(url)
    try:
        return AccountSignIns(db).all_methods()
    except Exception:  # noqa: BLE001 - unreachable or not yet upgraded: the database check says
        return {}
    finally:
        db.dispose()

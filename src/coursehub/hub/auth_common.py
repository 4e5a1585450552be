"""What every coursehub authenticator shares: roles from the coursehub database."""

from __future__ import annotations

from typing import Any

from traitlets import Dict, Integer, Unicode
from traitlets.config import LoggingConfigurable

from ..roles import groups_for_role


class CoursehubAuthenticatorMixin(LoggingConfigurable):
    """Turns a coursehub role into the hub's admin flag and role group."""

    coursehub_db_url = Unicode(
        "", config=True, help="SQLAlchemy URL of the coursehub database (accounts)."
    )
    role_overrides = Dict(
        config=True,
        help="username -> role from coursehub.yaml's roles section; wins over the roster.",
    )
    min_password_length = Integer(8, config=True, help="Shortest accepted password.")

    _account_store: Any = None

    @property
    def account_store(self) -> Any:
        # Imported lazily: the hub loads authenticator classes before config is final.
        if self._account_store is None:
            from ..accounts.store import AccountStore
            from ..db.session import Database

            self._account_store = AccountStore(
                Database(self.coursehub_db_url), min_password_length=self.min_password_length
            )
        return self._account_store

    def role_for(self, username: str, stored_role: str | None) -> str:
        return self.role_overrides.get(username) or stored_role or "student"

    def auth_model(self, username: str, role: str, **extra: Any) -> dict[str, Any]:
        """The model JupyterHub expects; `groups` is authoritative (manage_groups)."""
        return {
            "name": username,
            "admin": role == "admin",
            "groups": groups_for_role(role),
            **extra,
        }

"""Registered LMS platforms: those in coursehub.yaml (kept in step at each start) and
those added with `coursehub lti add-platform`, all in the database so the service and
the CLI see the same list."""

from __future__ import annotations

import builtins
import json
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from coursehub.config.models import LtiPlatformConfig
from coursehub.core.errors import CoursehubError
from coursehub.db.models import LtiPlatform
from coursehub.db.session import Database


class PlatformError(CoursehubError):
    """A platform cannot be added, changed or found; the message says why."""

    exit_code = 2


@dataclass(frozen=True)
class Platform:
    id: int
    name: str
    issuer: str
    client_id: str
    auth_login_url: str
    auth_token_url: str
    key_set_url: str
    deployment_ids: tuple[str, ...] = field(default_factory=tuple)
    source: str = "cli"

    def accepts_deployment(self, deployment_id: str) -> bool:
        # An empty list accepts nobody: anyone who can add the tool to a course space of
        # their own in the LMS makes a new deployment of the same client id.
        return deployment_id in self.deployment_ids

    def deployment_refusal(self, deployment_id: str) -> str:
        """Why a launch through `deployment_id` is refused, and what an admin can do."""
        if not self.deployment_ids:
            return (
                f"no deployment of {self.name} is registered with coursehub, so it accepts "
                f"no launch; an admin adds the deployment id the LMS shows "
                f"(lti.platforms deployment_ids, or `coursehub lti add-platform "
                f"--deployment-id`)"
            )
        return f"deployment {deployment_id[:60]!r} of {self.name} is not registered with coursehub"

    @classmethod
    def of(cls, row: LtiPlatform) -> Platform:
        return cls(
            id=row.id,
            name=row.name,
            issuer=row.issuer,
            client_id=row.client_id,
            auth_login_url=row.auth_login_url,
            auth_token_url=row.auth_token_url,
            key_set_url=row.key_set_url,
            deployment_ids=tuple(json.loads(row.deployment_ids or "[]")),
            source=row.source,
        )


def _columns(spec: LtiPlatformConfig) -> dict[str, str]:
    return {
        "name": spec.name,
        "issuer": spec.issuer,
        "client_id": spec.client_id,
        "deployment_ids": json.dumps(list(spec.deployment_ids)),
        "auth_login_url": spec.auth_login_url,
        "auth_token_url": spec.auth_token_url,
        "key_set_url": spec.key_set_url,
    }


class PlatformStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    def add(self, spec: LtiPlatformConfig, source: str = "cli") -> Platform:
        """Register a platform; PlatformError when its name or (issuer, client id)
        is taken."""
        with self.db.session() as s:
            clash = s.scalars(
                select(LtiPlatform).where(
                    (LtiPlatform.name == spec.name)
                    | (
                        (LtiPlatform.issuer == spec.issuer)
                        & (LtiPlatform.client_id == spec.client_id)
                    )
                )
            ).first()
            if clash is not None:
                raise PlatformError(
                    f"platform {clash.name!r} is already registered "
                    f"({clash.issuer}, client id {clash.client_id}); remove it first with "
                    f"`coursehub lti remove-platform {clash.name}` or choose another name"
                )
        row = LtiPlatform(source=source, **_columns(spec))
        try:
            with self.db.session() as s:
                s.add(row)
                s.flush()
                return Platform.of(row)
        except IntegrityError as exc:
            raise PlatformError(f"platform {spec.name!r} was registered meanwhile") from exc

    def sync_from_config(self, specs: builtins.list[LtiPlatformConfig]) -> None:
        """Make the platforms that came from coursehub.yaml match it: add, update in
        place (identities and courses stay linked) and drop those no longer listed.
        Platforms added from the command line are left alone."""
        wanted = {spec.name: spec for spec in specs}
        with self.db.session() as s:
            rows = {r.name: r for r in s.scalars(select(LtiPlatform))}
            for name, spec in wanted.items():
                row = rows.get(name)
                if row is not None and row.source != "config":
                    raise PlatformError(
                        f"lti.platforms lists {name!r}, which was added with `coursehub lti "
                        f"add-platform`; remove one of the two (or rename the one in the file)"
                    )
                if row is None:
                    s.add(LtiPlatform(source="config", **_columns(spec)))
                else:
                    for key, value in _columns(spec).items():
                        setattr(row, key, value)
            for name, row in rows.items():
                if row.source == "config" and name not in wanted:
                    s.delete(row)

    def remove(self, name: str) -> None:
        with self.db.session() as s:
            row = s.scalars(select(LtiPlatform).where(LtiPlatform.name == name)).first()
            if row is None:
                raise PlatformError(f"no platform called {name!r} (see `coursehub lti platforms`)")
            if row.source == "config":
                raise PlatformError(f"platform {name!r} comes from coursehub.yaml; remove it there")
            s.delete(row)

    def list(self) -> builtins.list[Platform]:
        with self.db.session() as s:
            return [
                Platform.of(r) for r in s.scalars(select(LtiPlatform).order_by(LtiPlatform.name))
            ]

    def get(self, platform_id: int) -> Platform | None:
        with self.db.session() as s:
            row = s.get(LtiPlatform, platform_id)
            return Platform.of(row) if row else None

    def by_name(self, name: str) -> Platform | None:
        with self.db.session() as s:
            row = s.scalars(select(LtiPlatform).where(LtiPlatform.name == name)).first()
            return Platform.of(row) if row else None

    def for_issuer(self, issuer: str, client_id: str | None = None) -> builtins.list[Platform]:
        """Registrations of `issuer` (narrowed to `client_id` when given)."""
        with self.db.session() as s:
            query = select(LtiPlatform).where(LtiPlatform.issuer == issuer)
            if client_id:
                query = query.where(LtiPlatform.client_id == client_id)
            return [Platform.of(r) for r in s.scalars(query)]

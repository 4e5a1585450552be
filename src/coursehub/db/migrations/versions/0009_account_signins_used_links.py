"""account sign-in methods, used sign-in links

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07 12:50:00

Every existing account gets the method that made it: accounts of an LMS identity
`lti`, every other account `local`. Accounts without a password were made for a
method without one (an `?auth_token=` roster, or a link with create_accounts), so
they also get `jwt`: links keep working for them, and never for an account that
signs in with a password. GitHub users had no account; theirs is made at their next
sign-in (refused if a local account holds their name: an admin links the two).
"""

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "coursehub_account_signins",
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("method", sa.String(length=16), nullable=False),
        sa.Column("subject", sa.String(length=255), nullable=True),
        sa.Column("linked_by_admin", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["username"],
            ["coursehub_accounts.username"],
            name=op.f("fk_coursehub_account_signins_username_coursehub_accounts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("username", "method", name=op.f("pk_coursehub_account_signins")),
        sa.UniqueConstraint("method", "subject", name=op.f("uq_coursehub_account_signins_method")),
    )
    op.create_table(
        "coursehub_used_signin_links",
        sa.Column("link_hash", sa.String(length=64), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("link_hash", name=op.f("pk_coursehub_used_signin_links")),
    )
    with op.batch_alter_table("coursehub_used_signin_links", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_coursehub_used_signin_links_expires_at"), ["expires_at"], unique=False
        )
    _methods_of_existing_accounts()


def _methods_of_existing_accounts() -> None:
    bind = op.get_bind()
    accounts = sa.table(
        "coursehub_accounts", sa.column("username", sa.String), sa.column("password_hash")
    )
    identities = sa.table("coursehub_lti_identities", sa.column("username", sa.String))
    signins = sa.table(
        "coursehub_account_signins",
        sa.column("username", sa.String),
        sa.column("method", sa.String),
        sa.column("subject", sa.String),
        sa.column("linked_by_admin", sa.Boolean),
        sa.column("created_at", sa.DateTime(timezone=True)),
    )
    lms = set(bind.execute(sa.select(identities.c.username)).scalars())
    now = datetime.now(UTC)
    rows = []
    for username, password_hash in bind.execute(
        sa.select(accounts.c.username, accounts.c.password_hash)
    ):
        methods = ["lti"]
        if username not in lms:
            methods = ["local"] if password_hash else ["local", "jwt"]
        rows += [
            {
                "username": username,
                "method": method,
                "subject": None,
                "linked_by_admin": False,
                "created_at": now,
            }
            for method in methods
        ]
    if rows:
        op.bulk_insert(signins, rows)

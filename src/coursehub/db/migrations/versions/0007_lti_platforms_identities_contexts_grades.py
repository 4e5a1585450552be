"""lti platforms identities contexts grades

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-23 21:30:44.900083
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "coursehub_lti_platforms",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("name", sa.String(length=24), nullable=False),
        sa.Column("issuer", sa.String(length=500), nullable=False),
        sa.Column("client_id", sa.String(length=255), nullable=False),
        sa.Column("deployment_ids", sa.Text(), nullable=False),
        sa.Column("auth_login_url", sa.String(length=2000), nullable=False),
        sa.Column("auth_token_url", sa.String(length=2000), nullable=False),
        sa.Column("key_set_url", sa.String(length=2000), nullable=False),
        sa.Column("source", sa.String(length=8), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_coursehub_lti_platforms")),
        sa.UniqueConstraint("issuer", "client_id", name=op.f("uq_coursehub_lti_platforms_issuer")),
        sa.UniqueConstraint("name", name=op.f("uq_coursehub_lti_platforms_name")),
    )
    op.create_table(
        "coursehub_signin_tickets",
        sa.Column("ticket_hash", sa.String(length=64), nullable=False),
        sa.Column("binding_hash", sa.String(length=64), nullable=False),
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("next_url", sa.String(length=2000), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("ticket_hash", name=op.f("pk_coursehub_signin_tickets")),
    )
    op.create_table(
        "coursehub_lti_contexts",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("platform_id", sa.Integer(), nullable=False),
        sa.Column("context_id", sa.String(length=255), nullable=False),
        sa.Column("deployment_id", sa.String(length=255), nullable=False),
        sa.Column("course", sa.String(length=40), nullable=True),
        sa.Column("title", sa.String(length=255), nullable=False),
        sa.Column("label", sa.String(length=255), nullable=False),
        sa.Column("ags_lineitems_url", sa.String(length=2000), nullable=True),
        sa.Column("ags_scopes", sa.Text(), nullable=False),
        sa.Column("nrps_url", sa.String(length=2000), nullable=True),
        sa.Column("roster_synced_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("roster_sync_outcome", sa.String(length=300), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["course"],
            ["coursehub_courses.name"],
            name=op.f("fk_coursehub_lti_contexts_course_coursehub_courses"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["platform_id"],
            ["coursehub_lti_platforms.id"],
            name=op.f("fk_coursehub_lti_contexts_platform_id_coursehub_lti_platforms"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_coursehub_lti_contexts")),
        sa.UniqueConstraint(
            "platform_id", "context_id", name=op.f("uq_coursehub_lti_contexts_platform_id")
        ),
    )
    op.create_table(
        "coursehub_lti_identities",
        sa.Column("platform_id", sa.Integer(), nullable=False),
        sa.Column("subject", sa.String(length=255), nullable=False),
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_launch_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["platform_id"],
            ["coursehub_lti_platforms.id"],
            name=op.f("fk_coursehub_lti_identities_platform_id_coursehub_lti_platforms"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("platform_id", "subject", name=op.f("pk_coursehub_lti_identities")),
        sa.UniqueConstraint(
            "platform_id", "username", name=op.f("uq_coursehub_lti_identities_platform_id")
        ),
    )
    with op.batch_alter_table("coursehub_lti_identities", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_coursehub_lti_identities_username"), ["username"], unique=False
        )

    op.create_table(
        "coursehub_lti_states",
        sa.Column("state", sa.String(length=64), nullable=False),
        sa.Column("nonce", sa.String(length=64), nullable=False),
        sa.Column("platform_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["platform_id"],
            ["coursehub_lti_platforms.id"],
            name=op.f("fk_coursehub_lti_states_platform_id_coursehub_lti_platforms"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("state", name=op.f("pk_coursehub_lti_states")),
        sa.UniqueConstraint("nonce", name=op.f("uq_coursehub_lti_states_nonce")),
    )
    op.create_table(
        "coursehub_lti_grade_sync",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("context_pk", sa.Integer(), nullable=False),
        sa.Column("course", sa.String(length=40), nullable=False),
        sa.Column("assignment", sa.String(length=64), nullable=False),
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("score", sa.Double(), nullable=True),
        sa.Column("max_score", sa.Double(), nullable=False),
        sa.Column("scored_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(length=8), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_try_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_error", sa.String(length=300), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["context_pk"],
            ["coursehub_lti_contexts.id"],
            name=op.f("fk_coursehub_lti_grade_sync_context_pk_coursehub_lti_contexts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_coursehub_lti_grade_sync")),
        sa.UniqueConstraint(
            "context_pk",
            "assignment",
            "username",
            name=op.f("uq_coursehub_lti_grade_sync_context_pk"),
        ),
    )
    with op.batch_alter_table("coursehub_lti_grade_sync", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_coursehub_lti_grade_sync_course"), ["course"], unique=False
        )
        batch_op.create_index(
            "ix_coursehub_lti_grade_sync_status_next", ["status", "next_try_at"], unique=False
        )

    op.create_table(
        "coursehub_lti_launches",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("platform_id", sa.Integer(), nullable=False),
        sa.Column("context_pk", sa.Integer(), nullable=True),
        sa.Column("message_type", sa.String(length=64), nullable=False),
        sa.Column("claims", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["context_pk"],
            ["coursehub_lti_contexts.id"],
            name=op.f("fk_coursehub_lti_launches_context_pk_coursehub_lti_contexts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["platform_id"],
            ["coursehub_lti_platforms.id"],
            name=op.f("fk_coursehub_lti_launches_platform_id_coursehub_lti_platforms"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_coursehub_lti_launches")),
    )
    op.create_table(
        "coursehub_lti_lineitems",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("context_pk", sa.Integer(), nullable=False),
        sa.Column("assignment", sa.String(length=64), nullable=False),
        sa.Column("url", sa.String(length=2000), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["context_pk"],
            ["coursehub_lti_contexts.id"],
            name=op.f("fk_coursehub_lti_lineitems_context_pk_coursehub_lti_contexts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_coursehub_lti_lineitems")),
        sa.UniqueConstraint(
            "context_pk", "assignment", name=op.f("uq_coursehub_lti_lineitems_context_pk")
        ),
    )


def downgrade() -> None:
    op.drop_table("coursehub_lti_lineitems")
    op.drop_table("coursehub_lti_launches")
    with op.batch_alter_table("coursehub_lti_grade_sync", schema=None) as batch_op:
        batch_op.drop_index("ix_coursehub_lti_grade_sync_status_next")
        batch_op.drop_index(batch_op.f("ix_coursehub_lti_grade_sync_course"))

    op.drop_table("coursehub_lti_grade_sync")
    op.drop_table("coursehub_lti_states")
    with op.batch_alter_table("coursehub_lti_identities", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_coursehub_lti_identities_username"))

    op.drop_table("coursehub_lti_identities")
    op.drop_table("coursehub_lti_contexts")
    op.drop_table("coursehub_signin_tickets")
    op.drop_table("coursehub_lti_platforms")

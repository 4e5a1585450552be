"""notebook events

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23 14:30:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "coursehub_events",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("type", sa.String(length=32), nullable=False),
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("course", sa.String(length=40), nullable=True),
        sa.Column("filename", sa.String(length=255), nullable=False),
        sa.Column("path", sa.String(length=1000), nullable=False),
        sa.Column("timestamp", sa.DateTime(timezone=True), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("data", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_coursehub_events")),
    )
    op.create_index("ix_coursehub_events_course_id", "coursehub_events", ["course", "id"])
    op.create_index("ix_coursehub_events_username_id", "coursehub_events", ["username", "id"])
    op.create_index("ix_coursehub_events_timestamp", "coursehub_events", ["timestamp"])


def downgrade() -> None:
    op.drop_table("coursehub_events")

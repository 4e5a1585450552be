"""enrolments given by GitHub teams

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07 16:00:00

Which course enrolments a GitHub team gave (auth.github.team_courses), so that leaving
the team takes back those and no other. Existing enrolments came from rosters or were
made by hand: none is recorded.
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "coursehub_team_enrolments",
        sa.Column("course", sa.String(length=40), nullable=False),
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "role IN ('instructor', 'ta', 'student')",
            name=op.f("ck_coursehub_team_enrolments_role"),
        ),
        sa.ForeignKeyConstraint(
            ["course"],
            ["coursehub_courses.name"],
            name=op.f("fk_coursehub_team_enrolments_course_coursehub_courses"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("course", "username", name=op.f("pk_coursehub_team_enrolments")),
    )
    with op.batch_alter_table("coursehub_team_enrolments", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_coursehub_team_enrolments_username"), ["username"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("coursehub_team_enrolments", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_coursehub_team_enrolments_username"))
    op.drop_table("coursehub_team_enrolments")

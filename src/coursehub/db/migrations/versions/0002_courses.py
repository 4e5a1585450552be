"""courses and enrolments

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 11:23:32.210564
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "coursehub_courses",
        sa.Column("name", sa.String(length=40), nullable=False),
        sa.Column("repo_url", sa.String(length=2000), nullable=False),
        sa.Column("branch", sa.String(length=255), nullable=False),
        sa.Column("archived", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_pull_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_pull_ok", sa.Boolean(), nullable=True),
        sa.Column("last_pull_output", sa.Text(), nullable=False),
        sa.Column("current_commit", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_coursehub_courses")),
    )
    op.create_table(
        "coursehub_enrolments",
        sa.Column("course", sa.String(length=40), nullable=False),
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "role IN ('instructor', 'ta', 'student')", name=op.f("ck_coursehub_enrolments_role")
        ),
        sa.ForeignKeyConstraint(
            ["course"],
            ["coursehub_courses.name"],
            name=op.f("fk_coursehub_enrolments_course_coursehub_courses"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("course", "username", name=op.f("pk_coursehub_enrolments")),
    )
    op.create_index(op.f("ix_coursehub_enrolments_username"), "coursehub_enrolments", ["username"])


def downgrade() -> None:
    op.drop_index(op.f("ix_coursehub_enrolments_username"), table_name="coursehub_enrolments")
    op.drop_table("coursehub_enrolments")
    op.drop_table("coursehub_courses")

"""notebook copies and shares

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23 09:10:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "coursehub_notebook_copies",
        sa.Column("course", sa.String(length=40), nullable=False),
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("path", sa.String(length=1000), nullable=False),
        sa.Column("source_sha256", sa.String(length=64), nullable=False),
        sa.Column("copied_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("first_opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("opens", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["course"],
            ["coursehub_courses.name"],
            name=op.f("fk_coursehub_notebook_copies_course_coursehub_courses"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "course", "username", "path", name=op.f("pk_coursehub_notebook_copies")
        ),
    )
    op.create_table(
        "coursehub_shares",
        sa.Column("token", sa.String(length=64), nullable=False),
        sa.Column("course", sa.String(length=40), nullable=False),
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("path", sa.String(length=1000), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["course"],
            ["coursehub_courses.name"],
            name=op.f("fk_coursehub_shares_course_coursehub_courses"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("token", name=op.f("pk_coursehub_shares")),
        sa.UniqueConstraint("course", "username", "path", name=op.f("uq_coursehub_shares_course")),
    )


def downgrade() -> None:
    op.drop_table("coursehub_shares")
    op.drop_table("coursehub_notebook_copies")

"""assignments submissions gradings

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-23 18:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "coursehub_assignments",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("course", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("format", sa.String(length=16), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("origin", sa.String(length=16), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("released_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("closed", sa.Boolean(), nullable=False),
        sa.Column("questions", sa.Text(), nullable=False),
        sa.Column("max_points", sa.Double(), nullable=False),
        sa.Column("files", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "format IN ('nbgrader', 'otter')", name=op.f("ck_coursehub_assignments_format")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_coursehub_assignments")),
        sa.UniqueConstraint("course", "name", name=op.f("uq_coursehub_assignments_course")),
    )
    with op.batch_alter_table("coursehub_assignments", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_coursehub_assignments_course"), ["course"], unique=False
        )

    op.create_table(
        "coursehub_extensions",
        sa.Column("assignment_id", sa.Integer(), nullable=False),
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("granted_by", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["assignment_id"],
            ["coursehub_assignments.id"],
            name=op.f("fk_coursehub_extensions_assignment_id_coursehub_assignments"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("assignment_id", "username", name=op.f("pk_coursehub_extensions")),
    )
    op.create_table(
        "coursehub_submissions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("assignment_id", sa.Integer(), nullable=False),
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("submitted_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("late_seconds", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("files", sa.Text(), nullable=False),
        sa.Column("origin", sa.String(length=16), nullable=False),
        sa.Column("client_key", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(
            ["assignment_id"],
            ["coursehub_assignments.id"],
            name=op.f("fk_coursehub_submissions_assignment_id_coursehub_assignments"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_coursehub_submissions")),
        sa.UniqueConstraint(
            "assignment_id",
            "username",
            "attempt",
            name=op.f("uq_coursehub_submissions_attempt"),
        ),
        sa.UniqueConstraint(
            "assignment_id",
            "username",
            "client_key",
            name=op.f("uq_coursehub_submissions_client_key"),
        ),
    )
    with op.batch_alter_table("coursehub_submissions", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_coursehub_submissions_assignment_id"), ["assignment_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_coursehub_submissions_username"), ["username"], unique=False
        )

    op.create_table(
        "coursehub_gradings",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("submission_id", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("requested_by", sa.String(length=64), nullable=False),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("tries", sa.Integer(), nullable=False),
        sa.Column("total", sa.Double(), nullable=True),
        sa.Column("max_total", sa.Double(), nullable=False),
        sa.Column("questions", sa.Text(), nullable=False),
        sa.Column("outcome", sa.String(length=300), nullable=False),
        sa.Column("notes", sa.Text(), nullable=False),
        sa.Column("output", sa.Text(), nullable=False),
        sa.Column("seconds", sa.Double(), nullable=True),
        sa.ForeignKeyConstraint(
            ["submission_id"],
            ["coursehub_submissions.id"],
            name=op.f("fk_coursehub_gradings_submission_id_coursehub_submissions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_coursehub_gradings")),
    )
    with op.batch_alter_table("coursehub_gradings", schema=None) as batch_op:
        batch_op.create_index("ix_coursehub_gradings_state_id", ["state", "id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_coursehub_gradings_submission_id"), ["submission_id"], unique=False
        )

    op.create_table(
        "coursehub_manual_grades",
        sa.Column("submission_id", sa.Integer(), nullable=False),
        sa.Column("question", sa.String(length=64), nullable=False),
        sa.Column("points", sa.Double(), nullable=True),
        sa.Column("comment", sa.Text(), nullable=False),
        sa.Column("grader", sa.String(length=64), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["submission_id"],
            ["coursehub_submissions.id"],
            name=op.f("fk_coursehub_manual_grades_submission_id_coursehub_submissions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "submission_id", "question", name=op.f("pk_coursehub_manual_grades")
        ),
    )


def downgrade() -> None:
    op.drop_table("coursehub_manual_grades")
    with op.batch_alter_table("coursehub_gradings", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_coursehub_gradings_submission_id"))
        batch_op.drop_index("ix_coursehub_gradings_state_id")

    op.drop_table("coursehub_gradings")
    with op.batch_alter_table("coursehub_submissions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_coursehub_submissions_username"))
        batch_op.drop_index(batch_op.f("ix_coursehub_submissions_assignment_id"))

    op.drop_table("coursehub_submissions")
    op.drop_table("coursehub_extensions")
    with op.batch_alter_table("coursehub_assignments", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_coursehub_assignments_course"))

    op.drop_table("coursehub_assignments")

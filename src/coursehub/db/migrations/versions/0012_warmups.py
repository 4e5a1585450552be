"""course servers started before a class

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-08 09:00:00

Warm-ups (planned, running, done) and what each did for each student, so that a
scheduled warm-up fires without anyone, its unused servers are stopped on time, and
the idle culler knows which servers to leave alone until then.
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "coursehub_warmups",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("course", sa.String(length=40), nullable=False),
        sa.Column("class_starts_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("begins_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("unused_stop_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("requested_by", sa.String(length=64), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("runner", sa.String(length=16), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("settled_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "state IN ('scheduled', 'running', 'done', 'cancelled', 'failed')",
            name=op.f("ck_coursehub_warmups_state"),
        ),
        sa.ForeignKeyConstraint(
            ["course"],
            ["coursehub_courses.name"],
            name=op.f("fk_coursehub_warmups_course_coursehub_courses"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_coursehub_warmups")),
    )
    with op.batch_alter_table("coursehub_warmups", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_coursehub_warmups_begins_at"), ["begins_at"])
        batch_op.create_index(batch_op.f("ix_coursehub_warmups_course"), ["course"])
    op.create_table(
        "coursehub_warm_servers",
        sa.Column("warmup_id", sa.Integer(), nullable=False),
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("course", sa.String(length=40), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("detail", sa.String(length=300), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("settled", sa.String(length=16), nullable=False),
        sa.Column("settled_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["warmup_id"],
            ["coursehub_warmups.id"],
            name=op.f("fk_coursehub_warm_servers_warmup_id_coursehub_warmups"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("warmup_id", "username", name=op.f("pk_coursehub_warm_servers")),
    )


def downgrade() -> None:
    op.drop_table("coursehub_warm_servers")
    with op.batch_alter_table("coursehub_warmups", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_coursehub_warmups_course"))
        batch_op.drop_index(batch_op.f("ix_coursehub_warmups_begins_at"))
    op.drop_table("coursehub_warmups")

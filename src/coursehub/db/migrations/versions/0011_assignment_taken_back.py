"""when an assignment was taken back from students

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07 20:30:00

An un-released assignment is not one never released: students may hold copies and
submissions. The staff page says which, from this time (empty for every assignment
made before: none was ever taken back).
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("coursehub_assignments", schema=None) as batch_op:
        batch_op.add_column(sa.Column("taken_back_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("coursehub_assignments", schema=None) as batch_op:
        batch_op.drop_column("taken_back_at")

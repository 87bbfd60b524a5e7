"""Match explanations: how each topic match was made.

A cross-lingual match records its method (literal, expanded, semantic), the
sentences that carried it with their scores, the topic's threshold and the
expanded terms that hit; literal matches record {"method": "literal"}. Rows
written before this revision have none (NULL), which readers show as literal.

Revision ID: 0007
Revises: 0008
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("match") as batch:
        batch.add_column(sa.Column("explanation", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("match") as batch:
        batch.drop_column("explanation")

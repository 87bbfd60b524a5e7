"""A host's Retry-After met by a re-check or a story page fetch, by origin.

A 429/503 with Retry-After used to be kept only when a feed's own poll met it (on
the feed's row). One met while re-checking a stored story or fetching an entry's
page is now kept here, so every command and worker honours it too (issue 13 #17).

Revision ID: 0009
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op

import aggregator.storage.coltypes

revision = "0009"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "host_wait",
        sa.Column("origin", sa.String(length=300), primary_key=True),
        sa.Column("wait_until", aggregator.storage.coltypes.UTCDateTime(), nullable=False),
        sa.Column("status", sa.Integer(), nullable=True),
    )


def downgrade() -> None:
    op.drop_table("host_wait")

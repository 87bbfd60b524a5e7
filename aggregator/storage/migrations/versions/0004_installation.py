"""An installation id, and the warnings of each feed's last poll.

The installation id is made once, with the database, and never changes: alert
ids (webhook-id, Message-ID) are derived from it and from the story's identity
key, so a rebuilt database or a second install (staging) never reuses the ids
of another one's alerts, and receivers that deduplicate on them do not drop
real alerts. A database upgraded to this revision gets its id here.

Revision ID: 0004
Revises: 0006
"""

import uuid
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    table = op.create_table(
        "installation",
        sa.Column("id", sa.String(length=32), primary_key=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
    )
    op.bulk_insert(
        table,
        [{"id": uuid.uuid4().hex, "created_at": datetime.now(UTC).replace(tzinfo=None)}],
    )
    with op.batch_alter_table("feed") as batch:
        batch.add_column(sa.Column("last_warnings", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("feed") as batch:
        batch.drop_column("last_warnings")
    op.drop_table("installation")

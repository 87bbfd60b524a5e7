"""Reader API: hashed login tokens, the installation id behind item ids, and an
index for a feed's stream read newest first.

Tokens are stored as SHA-256 digests only: a copy of the database gives no
working token. The installation id is random, made once with the database:
item ids derive from it so that two databases never hand a client the same id
for different stories. The (feed_id, article_id) index lets a feed's stream be
read page by page from the index instead of sorting every entry of the feed.

Revision ID: 0006
Revises: 0003
"""

import secrets
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

import aggregator.storage.models

revision = "0006"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "reader_token",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user", sa.String(length=100), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("client", sa.String(length=200), nullable=True),
        sa.Column("created_at", aggregator.storage.models.UTCDateTime(), nullable=True),
        sa.Column("last_used_at", aggregator.storage.models.UTCDateTime(), nullable=True),
        sa.Column("revoked_at", aggregator.storage.models.UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("token_hash"),
    )
    op.create_index("ix_reader_token_user", "reader_token", ["user"])
    meta = op.create_table(
        "reader_meta",
        sa.Column("key", sa.String(length=40), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("key"),
    )
    op.bulk_insert(meta, [
        {"key": "installation_id", "value": secrets.token_hex(16)},
        {"key": "created_at", "value": datetime.now(UTC).isoformat()},
    ])
    op.create_index("ix_feed_entry_feed_article", "feed_entry", ["feed_id", "article_id"])


def downgrade() -> None:
    op.drop_index("ix_feed_entry_feed_article", table_name="feed_entry")
    op.drop_table("reader_meta")
    op.drop_index("ix_reader_token_user", table_name="reader_token")
    op.drop_table("reader_token")

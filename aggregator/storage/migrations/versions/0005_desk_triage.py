"""The desk: per-user read/starred state, read watermarks, the web secret.

``desk_state`` holds one row per (user, story) that someone triaged: ``read``
true, false (marked unread again) or null (only starred). ``desk_user`` holds each
user's read watermark: every story whose id is at or below it counts as read
unless a row says otherwise, so "mark all as read" writes one row, not a million.
``desk_setting`` keeps the key that signs sessions, CSRF and feed tokens, so every
daemon serving this database accepts the same cookies.

Revision ID: 0005
Revises: 0004
"""
import sqlalchemy as sa
from alembic import op

from aggregator.storage.coltypes import UTCDateTime

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "desk_state",
        sa.Column("user_name", sa.String(100), primary_key=True),
        sa.Column("article_id", sa.Integer, primary_key=True),
        sa.Column("read", sa.Boolean, nullable=True),
        sa.Column("read_at", UTCDateTime(), nullable=True),
        sa.Column("starred", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("starred_at", UTCDateTime(), nullable=True),
    )
    op.create_index("ix_desk_state_starred", "desk_state", ["user_name", "starred", "article_id"])
    op.create_table(
        "desk_user",
        sa.Column("name", sa.String(100), primary_key=True),
        sa.Column("read_through", sa.Integer, nullable=False, server_default="0"),
        sa.Column("read_through_at", UTCDateTime(), nullable=True),
    )
    op.create_table(
        "desk_setting",
        sa.Column("key", sa.String(100), primary_key=True),
        sa.Column("value", sa.String(200), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("desk_setting")
    op.drop_table("desk_user")
    op.drop_index("ix_desk_state_starred", table_name="desk_state")
    op.drop_table("desk_state")

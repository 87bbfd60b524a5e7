"""Full-text index over normalised article text (search candidates).

SQLite: an FTS5 table keyed by article id. PostgreSQL: a tsvector table with a
GIN index. Both index text already normalised by the topic engine (accents
stripped, case-folded), so the prefilter terms it derives match them.

Revision ID: 0002
Revises: 0001
"""

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute(
            "CREATE VIRTUAL TABLE IF NOT EXISTS article_fts USING fts5("
            "title, body, tokenize = 'unicode61 remove_diacritics 2')"
        )
    else:
        op.execute(
            "CREATE TABLE IF NOT EXISTS article_fts ("
            "article_id INTEGER PRIMARY KEY REFERENCES article(id) ON DELETE CASCADE, "
            "tsv tsvector NOT NULL)"
        )
        op.execute("CREATE INDEX IF NOT EXISTS ix_article_fts_tsv ON article_fts USING GIN (tsv)")


def downgrade() -> None:
    op.execute("DROP TABLE IF EXISTS article_fts")

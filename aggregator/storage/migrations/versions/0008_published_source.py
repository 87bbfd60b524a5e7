"""Where an article's published time comes from.

Atom entries that carry only <updated> used to get no published time and were
dated by when we first saw them. They are now dated by <updated>, as every
feed reader does, and `published_source` says which date it is: `published`
(the feed's published/pubDate), `page` (the article page's own metadata) or
`updated` (the feed's updated date). Stored articles without a published time
but with an updated one are dated the same way here.

Revision ID: 0008
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("article") as batch:
        batch.add_column(sa.Column("published_source", sa.String(length=12), nullable=True))
    op.execute(
        "UPDATE article SET published = updated, published_source = 'updated' "
        "WHERE published IS NULL AND updated IS NOT NULL"
    )
    op.execute(
        "UPDATE article SET published_source = 'published' "
        "WHERE published IS NOT NULL AND published_source IS NULL"
    )


def downgrade() -> None:
    with op.batch_alter_table("article") as batch:
        batch.drop_column("published_source")

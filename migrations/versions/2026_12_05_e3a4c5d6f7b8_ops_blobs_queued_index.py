"""ops: a partial index of the blobs still to process, by arrival, so the metrics' photo
processing lag (the oldest queued blob's age) reads one index entry at every scrape.

Revision ID: e3a4c5d6f7b8
Revises: 508d0f4faf18
Create Date: 2026-12-05 18:30:00
"""

import sqlalchemy as sa
from alembic import op

revision = "e3a4c5d6f7b8"
down_revision = "508d0f4faf18"
branch_labels = None
depends_on = None

QUEUED = "processing = 'queued'"


def upgrade() -> None:
    with op.batch_alter_table("blobs", schema=None) as batch_op:
        batch_op.create_index(
            "ix_blobs_queued_received_at",
            ["received_at"],
            unique=False,
            sqlite_where=sa.text(QUEUED),
            postgresql_where=sa.text(QUEUED),
        )


def downgrade() -> None:
    with op.batch_alter_table("blobs", schema=None) as batch_op:
        batch_op.drop_index("ix_blobs_queued_received_at")

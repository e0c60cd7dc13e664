"""tus_uploads: resumable uploads' state in the database, so any app server continues an
upload another one started (issue 15)

Revision ID: 3f1c0a9d7b21
Revises: 93162209be12
Create Date: 2026-12-05 18:30:00.000000
"""

import sqlalchemy as sa
from alembic import op

import app.core.db

revision = "3f1c0a9d7b21"
down_revision = "93162209be12"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "tus_uploads",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("owner_id", sa.Integer(), nullable=False),
        sa.Column("device_id", sa.String(length=128), nullable=True),
        sa.Column("backend", sa.String(length=8), nullable=False),
        sa.Column("length", sa.BigInteger(), nullable=False),
        sa.Column("upload_offset", sa.BigInteger(), nullable=False),
        sa.Column("upload_metadata", sa.JSON(), nullable=False),
        sa.Column("state", sa.JSON(), nullable=False),
        sa.Column("created_at", app.core.db.UTCDateTime(), nullable=False),
        sa.Column("expires_at", app.core.db.UTCDateTime(), nullable=False),
        sa.Column("expires_in_seconds", sa.Integer(), nullable=False),
        sa.Column("completed_sha256", sa.String(length=64), nullable=True),
        sa.Column("completed_at", app.core.db.UTCDateTime(), nullable=True),
        sa.CheckConstraint("backend IN ('disk', 's3')", name=op.f("ck_tus_uploads_backend")),
        sa.ForeignKeyConstraint(
            ["owner_id"], ["users.id"], name=op.f("fk_tus_uploads_owner_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tus_uploads")),
    )
    with op.batch_alter_table("tus_uploads", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_tus_uploads_expires_at"), ["expires_at"])
        batch_op.create_index(batch_op.f("ix_tus_uploads_owner_id"), ["owner_id"])


def downgrade() -> None:
    with op.batch_alter_table("tus_uploads", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_tus_uploads_owner_id"))
        batch_op.drop_index(batch_op.f("ix_tus_uploads_expires_at"))
    op.drop_table("tus_uploads")

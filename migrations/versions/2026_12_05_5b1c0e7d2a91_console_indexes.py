"""console indexes: a street's cases newest first (the console's "all" tab by street), and
a number prefix search on PostgreSQL (text_pattern_ops; SQLite searches its unique index
by range, app/core/sqlhints.py). bench/console_bench.py measures them.

Revision ID: 5b1c0e7d2a91
Revises: c76f64058164
Create Date: 2026-12-05 15:40:00
"""

from alembic import op

revision = "5b1c0e7d2a91"
down_revision = "c76f64058164"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.create_index(
            "ix_cases_street_reported_at", ["street_id", "reported_at", "id"], unique=False
        )
    if op.get_bind().dialect.name == "postgresql":
        op.create_index(
            "ix_cases_number_pattern",
            "cases",
            ["number"],
            unique=False,
            postgresql_ops={"number": "text_pattern_ops"},
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.drop_index("ix_cases_number_pattern", table_name="cases")
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.drop_index("ix_cases_street_reported_at")

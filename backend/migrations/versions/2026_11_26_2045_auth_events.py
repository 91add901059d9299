"""auth events (append-only audit trail)

Revision ID: 6c9d4f3a0e28
Revises: 5b8c3e2f9d17
Create Date: 2026-11-26 20:45:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "6c9d4f3a0e28"
down_revision: str | None = "5b8c3e2f9d17"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Rows are never updated; they are deleted only by the retention purge, which says so
# by setting authflow.audit_purge for its own transaction.
GUARD_FUNCTION = """
CREATE FUNCTION auth_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' AND current_setting('authflow.audit_purge', true) = 'on' THEN
        RETURN OLD;
    END IF;
    RAISE EXCEPTION 'auth_events is append-only (% refused)', TG_OP;
END $$
"""
GUARD_TRIGGER = """
CREATE TRIGGER auth_events_append_only BEFORE UPDATE OR DELETE ON auth_events
    FOR EACH ROW EXECUTE FUNCTION auth_events_append_only()
"""


def upgrade() -> None:
    op.create_table(
        "auth_events",
        sa.Column("id", sa.BigInteger(), sa.Identity(), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("kind", sa.String(40), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=True),
        sa.Column("session_id", sa.Uuid(), nullable=True),
        sa.Column("ip", sa.String(64), nullable=True),
        sa.Column("user_agent", sa.String(512), nullable=True),
        sa.Column("detail", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_auth_events")),
    )
    op.create_index("ix_auth_events_user_id_id", "auth_events", ["user_id", "id"])
    op.create_index("ix_auth_events_occurred_at", "auth_events", ["occurred_at"])
    op.execute(GUARD_FUNCTION)
    op.execute(GUARD_TRIGGER)


def downgrade() -> None:
    op.execute("DROP TRIGGER auth_events_append_only ON auth_events")
    op.execute("DROP FUNCTION auth_events_append_only()")
    op.drop_index("ix_auth_events_occurred_at", table_name="auth_events")
    op.drop_index("ix_auth_events_user_id_id", table_name="auth_events")
    op.drop_table("auth_events")

"""admin search: indexes for listing users and searching the audit trail

Revision ID: 8e1f6b5c2a40
Revises: 7d0e5a4b1f39
Create Date: 2026-11-27 00:10:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "8e1f6b5c2a40"
down_revision: str | None = "7d0e5a4b1f39"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Keyset pages in both sort orders of the admin user list.
    op.create_index("ix_users_created_at_id", "users", ["created_at", "id"])
    # Prefix search (LIKE 'abc%') uses a btree only under the C collation or with
    # text_pattern_ops; the unique indexes keep serving equality lookups at sign-in.
    op.create_index(
        "ix_users_username_key_prefix",
        "users",
        ["username_key", "id"],
        postgresql_ops={"username_key": "text_pattern_ops"},
    )
    op.create_index(
        "ix_users_email_key_prefix",
        "users",
        ["email_key"],
        postgresql_ops={"email_key": "text_pattern_ops"},
    )
    op.create_index("ix_auth_events_kind_id", "auth_events", ["kind", "id"])
    op.create_index("ix_auth_events_ip_id", "auth_events", ["ip", "id"])


def downgrade() -> None:
    op.drop_index("ix_auth_events_ip_id", table_name="auth_events")
    op.drop_index("ix_auth_events_kind_id", table_name="auth_events")
    op.drop_index("ix_users_email_key_prefix", table_name="users")
    op.drop_index("ix_users_username_key_prefix", table_name="users")
    op.drop_index("ix_users_created_at_id", table_name="users")

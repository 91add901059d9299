"""refresh tokens: current hash on user_sessions, spent ones in their own table

Revision ID: 5b1c2d7e9a10
Revises: 3f9651679e07
Create Date: 2026-11-26 16:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "5b1c2d7e9a10"
down_revision: str | None = "3f9651679e07"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("user_sessions", sa.Column("refresh_token_hash", sa.String(64), nullable=True))
    op.add_column(
        "user_sessions", sa.Column("previous_refresh_token_hash", sa.String(64), nullable=True)
    )
    op.add_column(
        "user_sessions", sa.Column("rotated_at", sa.DateTime(timezone=True), nullable=True)
    )
    op.create_unique_constraint(
        op.f("uq_user_sessions_refresh_token_hash"), "user_sessions", ["refresh_token_hash"]
    )
    op.create_index(
        op.f("ix_user_sessions_previous_refresh_token_hash"),
        "user_sessions",
        ["previous_refresh_token_hash"],
    )

    op.create_table(
        "spent_refresh_tokens",
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("session_id", sa.Uuid(), nullable=False),
        sa.Column("spent_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["user_sessions.id"],
            name=op.f("fk_spent_refresh_tokens_session_id_user_sessions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("token_hash", name=op.f("pk_spent_refresh_tokens")),
    )
    op.create_index(
        op.f("ix_spent_refresh_tokens_session_id"), "spent_refresh_tokens", ["session_id"]
    )


def downgrade() -> None:
    op.drop_table("spent_refresh_tokens")
    op.drop_index(op.f("ix_user_sessions_previous_refresh_token_hash"), "user_sessions")
    op.drop_constraint(op.f("uq_user_sessions_refresh_token_hash"), "user_sessions")
    op.drop_column("user_sessions", "rotated_at")
    op.drop_column("user_sessions", "previous_refresh_token_hash")
    op.drop_column("user_sessions", "refresh_token_hash")

"""people: one person behind several platform accounts, with tags and notes

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-23

`person` is the human; `person_author` links an author to at most one person
(the author id is its key; an unlinked author is its own implicit person);
`person_tag` and `person_note` hang off the person. New tables and one index
on `lower(author.handle)`: the `author` table is not rebuilt, so upgrading a
large SQLite file takes about a second.
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # handles in any case (`author:`, `person:`, the CLI's account names): a lookup, not a scan
    op.create_index("ix_author_handle_lower", "author", [sa.text("lower(handle)")])
    op.create_table(
        "person",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("name_key", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("updated_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name_key"),
    )
    op.create_table(
        "person_author",
        sa.Column("author_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("linked_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("linked_by", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.ForeignKeyConstraint(["author_id"], ["author.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["person_id"], ["person.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("author_id"),
    )
    op.create_index("ix_person_author_person", "person_author", ["person_id", "author_id"])
    op.create_table(
        "person_tag",
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("tag", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("created_by", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.ForeignKeyConstraint(["person_id"], ["person.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("person_id", "tag"),
    )
    op.create_index("ix_person_tag_tag", "person_tag", ["tag", "person_id"])
    op.create_table(
        "person_note",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("agent_id", sa.Integer(), nullable=True),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["agent_id"], ["agent.id"]),
        sa.ForeignKeyConstraint(["person_id"], ["person.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_person_note_person", "person_note", ["person_id", "id"])


def downgrade() -> None:
    op.drop_index("ix_author_handle_lower", table_name="author")
    op.drop_index("ix_person_note_person", table_name="person_note")
    op.drop_table("person_note")
    op.drop_index("ix_person_tag_tag", table_name="person_tag")
    op.drop_table("person_tag")
    op.drop_index("ix_person_author_person", table_name="person_author")
    op.drop_table("person_author")
    op.drop_table("person")

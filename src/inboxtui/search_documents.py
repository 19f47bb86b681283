"""A mention's full-text document as the index stores it: pure Python, no database.

Split from `inboxtui.search` so that the JSONL import's parsing process, which
computes documents, does not import SQLAlchemy (see `inboxtui.records`).
"""

from __future__ import annotations

from collections.abc import Sequence

from inboxtui.text import search_tokens


def document(text_value: str, title: str | None = None) -> list[str]:
    """Tokens of one mention: title first, then body."""
    tokens = search_tokens(title) if title else []
    tokens.extend(search_tokens(text_value))
    return tokens


def _tsvector_literal(tokens: Sequence[str]) -> str:
    positions: dict[str, list[int]] = {}
    for index, token in enumerate(tokens[:16383], start=1):
        positions.setdefault(token, []).append(index)
    return " ".join(
        "'" + token.replace("\\", "\\\\").replace("'", "''") + "':" + ",".join(map(str, pos[:256]))
        for token, pos in positions.items()
    )


def stored_document(dialect: str, text_value: str, title: str | None = None) -> str:
    """One mention's document as the index stores it (what `insert_sql` takes).

    Pure Python, no database: the JSONL import computes it in its parsing process.
    """
    tokens = document(text_value, title)
    return _tsvector_literal(tokens) if dialect == "postgresql" else " ".join(tokens)

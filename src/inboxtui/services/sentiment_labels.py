"""Agents correct sentiment labels; corrections are kept, counted and never undone by a model.

A correction is a triage-style change of the conversation (one transaction,
version-checked, one audit `Event` "sentiment" with the old and new label), so
open TUIs refresh and the conflict rules are those of every other change. It
also writes a `SentimentCorrection` row (who, when, old label, new label, the
model's score) for reports, and marks the mention `sentiment_corrected`, which
`rescore` and every later scoring leave alone.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, func, or_, select, update
from sqlmodel import Session

from inboxtui.db import Database
from inboxtui.models import Conversation, Mention, SentimentCorrection
from inboxtui.sentiment import LABELS, default_scorer, label_for
from inboxtui.services.errors import NotFound, ServiceError
from inboxtui.services.triage import Change, _Op, _Plan, _plan, _run, _State
from inboxtui.timeutil import utcnow

_MENTION = Mention.__table__  # type: ignore[attr-defined]
_CORRECTION = SentimentCorrection.__table__  # type: ignore[attr-defined]
_CONV = Conversation.__table__  # type: ignore[attr-defined]


def root_mention_id(session: Session, conversation_id: int) -> int | None:
    """The thread's root mention, or its earliest known one when the root was never fetched."""
    root = session.execute(
        select(_MENTION.c.id)
        .select_from(_MENTION.join(_CONV, _CONV.c.id == _MENTION.c.conversation_id))
        .where(
            _CONV.c.id == conversation_id,
            _MENTION.c.source_id == _CONV.c.source_id,
            _MENTION.c.external_id == _CONV.c.root_key,
        )
    ).scalar_one_or_none()
    if root is not None:
        return root
    return session.execute(
        select(_MENTION.c.id)
        .where(_MENTION.c.conversation_id == conversation_id)
        .order_by(_MENTION.c.depth, _MENTION.c.created_at, _MENTION.c.id)
        .limit(1)
    ).scalar_one_or_none()


def root_label(session: Session, conversation_id: int) -> tuple[str | None, bool]:
    """The root mention's label and whether an agent set it ((None, False): no mention)."""
    mention_id = root_mention_id(session, conversation_id)
    if mention_id is None:
        return None, False
    row = session.execute(
        select(_MENTION.c.sentiment_label, _MENTION.c.sentiment_corrected).where(
            _MENTION.c.id == mention_id
        )
    ).one()
    return row.sentiment_label, bool(row.sentiment_corrected)


def _label(value: str) -> str:
    label = (value or "").strip().lower()
    if label not in LABELS:
        raise ServiceError(f"sentiment label must be one of {', '.join(LABELS)}, not {value!r}")
    return label


class _CorrectLabel(_Op):
    action = "sentiment"

    def __init__(self, conversation_id: int, label: str, mention_id: int | None) -> None:
        self.conversation_id = conversation_id
        self.label = _label(label)
        self.mention_id = mention_id
        self.actor = ""
        self.old_label: str | None = None
        self.old_score: float | None = None
        self.corrected = False

    def prepare(self, session: Session, actor: str) -> None:
        """Find the mention (the root by default) and what the model said about it."""
        self.actor = actor
        conversation_id = self.conversation_id
        mention_id = self.mention_id
        if mention_id is None:
            mention_id = root_mention_id(session, conversation_id)
            if mention_id is None:
                raise NotFound(f"conversation #{conversation_id} has no mentions to label")
        row = session.execute(
            select(
                _MENTION.c.conversation_id,
                _MENTION.c.sentiment,
                _MENTION.c.sentiment_label,
                _MENTION.c.sentiment_corrected,
            ).where(_MENTION.c.id == mention_id)
        ).first()
        if row is None or row.conversation_id != conversation_id:
            raise NotFound(f"no mention #{mention_id} in conversation #{conversation_id}")
        self.mention_id = mention_id
        self.old_score = row.sentiment
        self.old_label = row.sentiment_label
        self.corrected = bool(row.sentiment_corrected)

    def plan(self, state: _State) -> _Plan | None:
        if self.old_label == self.label and self.corrected:
            return None
        plan = _plan(f"#{state.id} sentiment {self.old_label or 'none'} -> {self.label}")
        plan.set("sentiment", self.old_label, self.label)
        plan.after["mention_id"] = self.mention_id
        return plan

    def unchanged(self, state: _State) -> str:
        return f"#{state.id} sentiment is already {self.label}"

    def write_more(
        self, session: Session, state: _State, plan: _Plan, actor_id: int | None
    ) -> None:
        session.execute(
            update(_MENTION)
            .where(_MENTION.c.id == self.mention_id)
            .values(sentiment_label=self.label, sentiment_corrected=True)
        )
        session.execute(
            _CORRECTION.insert().values(
                mention_id=self.mention_id,
                conversation_id=state.id,
                actor=self.actor,
                old_label=self.old_label,
                new_label=self.label,
                old_score=self.old_score,
                created_at=utcnow(),
            )
        )


def correct_label(
    db: Database,
    conversation_id: int,
    label: str,
    *,
    actor: str,
    mention_id: int | None = None,
    expected_version: int | None = None,
) -> Change:
    """Set a mention's sentiment label (the conversation's root mention by default).

    Audited like every triage change; the label then outlives any re-scoring.
    """
    op = _CorrectLabel(conversation_id, label, mention_id)
    return _run(db, conversation_id, op, actor, expected_version)


# ---------------------------------------------------------------- reports


@dataclass(frozen=True)
class CorrectionCounts:
    """How often agents disagreed with the model, for reports."""

    total: int
    by_change: dict[tuple[str | None, str], int] = field(default_factory=dict)
    by_actor: dict[str, int] = field(default_factory=dict)


def correction_counts(
    session: Session, *, since: datetime | None = None, until: datetime | None = None
) -> CorrectionCounts:
    """Corrections made in [since, until): total, per (old, new) label, per agent.

    Only changes count: an agent who confirms the model's label (kept, so that
    re-scoring leaves it alone) did not correct it.
    """
    conditions: list[Any] = [
        or_(
            _CORRECTION.c.old_label.is_(None),
            _CORRECTION.c.old_label != _CORRECTION.c.new_label,
        )
    ]
    if since is not None:
        conditions.append(_CORRECTION.c.created_at >= since)
    if until is not None:
        conditions.append(_CORRECTION.c.created_at < until)
    count = func.count()
    by_change = {
        (old, new): n
        for old, new, n in session.execute(
            select(_CORRECTION.c.old_label, _CORRECTION.c.new_label, count)
            .where(*conditions)
            .group_by(_CORRECTION.c.old_label, _CORRECTION.c.new_label)
        )
    }
    by_actor = {
        actor: n
        for actor, n in session.execute(
            select(_CORRECTION.c.actor, count).where(*conditions).group_by(_CORRECTION.c.actor)
        )
    }
    return CorrectionCounts(sum(by_change.values()), by_change, by_actor)


# ---------------------------------------------------------------- re-scoring


def rescore(db: Database, *, all_mentions: bool = False, batch_size: int = 2000) -> int:
    """Score stored mentions that have no score (every one with `all_mentions`).

    A corrected mention keeps its label: only its score is filled in. Returns
    how many mentions were written. One transaction per batch, so a long run
    can be interrupted and resumed.
    """
    scorer = default_scorer()
    written = 0
    last_id = 0
    while True:
        with db.write() as session:
            stmt = (
                select(
                    _MENTION.c.id,
                    _MENTION.c.title,
                    _MENTION.c.text,
                    _MENTION.c.lang,
                    _MENTION.c.sentiment_corrected,
                )
                .where(_MENTION.c.id > last_id)
                .order_by(_MENTION.c.id)
                .limit(batch_size)
            )
            if not all_mentions:
                stmt = stmt.where(_MENTION.c.sentiment.is_(None))
            rows = session.execute(stmt).all()
            if not rows:
                return written
            scored, kept = [], []
            for row in rows:
                text = f"{row.title}\n{row.text}" if row.title else row.text
                score = scorer.score(text, row.lang).score
                if row.sentiment_corrected:
                    kept.append({"b_id": row.id, "b_score": score})
                else:
                    scored.append({"b_id": row.id, "b_score": score, "b_label": label_for(score)})
            if scored:  # a label corrected since the read above is left alone
                session.execute(
                    update(_MENTION)
                    .where(
                        _MENTION.c.id == bindparam("b_id"),
                        _MENTION.c.sentiment_corrected.is_(False),
                    )
                    .values(sentiment=bindparam("b_score"), sentiment_label=bindparam("b_label")),
                    scored,
                )
            if kept:
                session.execute(
                    update(_MENTION)
                    .where(_MENTION.c.id == bindparam("b_id"))
                    .values(sentiment=bindparam("b_score")),
                    kept,
                )
            written += len(rows)
            last_id = rows[-1].id


__all__ = [
    "CorrectionCounts",
    "correct_label",
    "correction_counts",
    "rescore",
    "root_label",
    "root_mention_id",
]

"""SQLModel tables, and nothing else.

Times are timezone-aware UTC (SQLModel's `UTCDateTime`: `timestamptz` on
PostgreSQL, UTC text on SQLite). Convert at the edges with `inboxtui.timeutil`.

Free-form structured values (raw payloads, cursors, template variants) are JSON
text columns: portable between SQLite and PostgreSQL and kept byte-exact.

The full-text index (`mention_search`) is not a model: it is a dialect-specific
structure (FTS5 on SQLite, tsvector + GIN on PostgreSQL) created by the
migrations and maintained by `inboxtui.search`.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import BigInteger, Index, Text, UniqueConstraint, func, text
from sqlmodel import Field, SQLModel


class Status(StrEnum):
    NEW = "new"
    OPEN = "open"
    PENDING = "pending"
    SNOOZED = "snoozed"
    RESOLVED = "resolved"


class Priority(StrEnum):
    """Stored as an int (`PRIORITY_RANK`) so that `sort:priority` is an index scan."""

    LOW = "low"
    NORMAL = "normal"
    HIGH = "high"
    URGENT = "urgent"


PRIORITY_RANK: dict[str, int] = {"low": 0, "normal": 1, "high": 2, "urgent": 3}
PRIORITY_NAME: dict[int, str] = {v: k for k, v in PRIORITY_RANK.items()}


class OutboxState(StrEnum):
    QUEUED = "queued"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"
    CANCELLED = "cancelled"
    # needs an approver's yes before the sender may touch it (inboxtui.outbox)
    AWAITING_APPROVAL = "awaiting_approval"
    REJECTED = "rejected"


class Source(SQLModel, table=True):
    """One configured place we listen to. `cursor` only moves after commit.

    The health columns are written by the poller in the same transaction as the
    mentions they describe. `secret_ref` names a keyring entry; the secret itself
    is never stored here. `next_poll_at` NULL means "due now". Sources created by
    `inboxtui source add` have an interval; those the ingest path creates for
    imported mentions have none and are never polled.
    """

    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(index=True)
    name: str = Field(unique=True)
    url: str | None = None
    config: str = Field(default="{}", sa_column_kwargs={"nullable": False}, sa_type=Text)
    cursor: str | None = Field(default=None, sa_type=Text)
    enabled: bool = True
    # seconds between polls; NULL: known only from imported mentions, never polled
    interval_seconds: int | None = None
    secret_ref: str | None = None
    last_polled_at: datetime | None = None
    last_success_at: datetime | None = None
    last_error: str | None = Field(default=None, sa_type=Text)
    last_error_at: datetime | None = None
    consecutive_failures: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    next_poll_at: datetime | None = None
    items_last_poll: int | None = None
    created_at: datetime


class SourceLease(SQLModel, table=True):
    """Who is polling a source right now, until when: one poll per source at a time.

    Claimed by a conditional upsert (only when absent or expired), so pollers in
    several processes never fetch the same source at once; a dead poller's lease
    simply expires. A row of its own keeps lease churn off the `source` row.
    """

    __tablename__ = "source_lease"

    source_id: int = Field(
        foreign_key="source.id",
        primary_key=True,
        ondelete="CASCADE",
        sa_column_kwargs={"autoincrement": False},
    )
    owner: str
    expires_at: datetime


class Author(SQLModel, table=True):
    """A person on one platform; the social-CRM record."""

    __table_args__ = (
        UniqueConstraint("kind", "handle", name="uq_author_kind_handle"),
        # `author:x`, `person:x` and account names in the CLI match handles in any case
        Index("ix_author_handle_lower", func.lower(text("handle"))),
    )

    id: int | None = Field(default=None, primary_key=True)
    kind: str
    handle: str
    name: str | None = None
    # indexed: `followers:>10k` reads the few big accounts, not every author
    followers: int | None = Field(default=None, index=True)
    url: str | None = None
    first_seen_at: datetime
    last_seen_at: datetime


class Person(SQLModel, table=True):
    """One human behind several platform `author` rows (social CRM; `services.people`).

    An author without a `person_author` row is its own implicit person; a row
    here is made the first time someone links, tags, notes or names one.
    `name_key` (case-folded, spaces collapsed) keeps `person:NAME` unambiguous.
    """

    id: int | None = Field(default=None, primary_key=True)
    name: str
    name_key: str = Field(unique=True)
    created_at: datetime
    updated_at: datetime


class PersonAuthor(SQLModel, table=True):
    """Author -> person; the author is the key, so an author has at most one person."""

    __tablename__ = "person_author"
    __table_args__ = (Index("ix_person_author_person", "person_id", "author_id"),)

    author_id: int = Field(
        foreign_key="author.id",
        primary_key=True,
        ondelete="CASCADE",
        sa_column_kwargs={"autoincrement": False},
    )
    person_id: int = Field(foreign_key="person.id", ondelete="CASCADE")
    linked_at: datetime
    linked_by: str | None = None


class PersonTag(SQLModel, table=True):
    """A person's tag (`advocate`, `vip`, ...): lower case, one word, like conversation tags."""

    __tablename__ = "person_tag"
    # `author-tag:advocate` and the report's advocates read a tag's persons
    __table_args__ = (Index("ix_person_tag_tag", "tag", "person_id"),)

    person_id: int = Field(foreign_key="person.id", primary_key=True, ondelete="CASCADE")
    tag: str = Field(primary_key=True)
    created_at: datetime
    created_by: str | None = None


class PersonNote(SQLModel, table=True):
    """Free text about a person, by an agent; shown on the profile, never sent."""

    __tablename__ = "person_note"
    __table_args__ = (Index("ix_person_note_person", "person_id", "id"),)

    id: int | None = Field(default=None, primary_key=True)
    person_id: int = Field(foreign_key="person.id", ondelete="CASCADE")
    agent_id: int | None = Field(default=None, foreign_key="agent.id")
    body: str = Field(sa_type=Text)
    created_at: datetime


class Role(SQLModel, table=True):
    """A team function; agents in an `is_lead` role may reassign anyone's conversations."""

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(unique=True)
    description: str | None = None
    is_lead: bool = False
    # the SLA policy for conversations routed to this role (`sla_policy`)
    sla_policy_id: int | None = Field(default=None, foreign_key="sla_policy.id")
    # replies by this role's agents wait for an approver (new agents, outsourced staff)
    requires_approval: bool = Field(default=False, sa_column_kwargs={"server_default": "0"})


class Agent(SQLModel, table=True):
    """A team member using the inbox; identity comes from config or `$USER`."""

    id: int | None = Field(default=None, primary_key=True)
    handle: str = Field(unique=True)
    display_name: str | None = None
    capacity: int | None = None
    on_duty: bool = True
    created_at: datetime
    # round-robin among equally loaded agents: the least recently auto-assigned first
    last_assigned_at: datetime | None = None


class AgentRole(SQLModel, table=True):
    agent_id: int = Field(foreign_key="agent.id", primary_key=True, ondelete="CASCADE")
    role_id: int = Field(foreign_key="role.id", primary_key=True, ondelete="CASCADE")


class Topic(SQLModel, table=True):
    """A watched topic: a named filter-language query and its detection settings.

    Settings live on the row, not in a per-machine config file, so every process
    that runs detection (each agent's TUI, headless pollers) applies the same ones.
    `influencer_reach` is JSON: reach thresholds per source kind, `default` for others.
    """

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(unique=True)
    query: str = Field(sa_type=Text)
    enabled: bool = True
    window_seconds: int = 3600
    baseline_days: int = 7
    spike_k: float = 3.0
    min_count: int = 20
    negative_share: float = 0.4
    min_share_volume: int = 10
    influencer_reach: str = Field(default='{"default": 10000}', sa_type=Text)
    cooldown_seconds: int = 7200
    created_at: datetime
    last_checked_at: datetime | None = None


class Incident(SQLModel, table=True):
    """A group of escalated conversations that belong to one crisis.

    Status: open -> acknowledged -> resolved. Detection extends the topic's
    unresolved incident; `cooldown_until` (last trigger + the topic's cool-down)
    keeps a storm that goes on after someone resolved it from opening a second one.
    `triggers` is a JSON list of the trigger kinds seen, `metrics` JSON of the
    latest figures per kind; `version` lets open TUIs notice changes.
    """

    __table_args__ = (Index("ix_incident_topic_status", "topic_id", "status"),)

    id: int | None = Field(default=None, primary_key=True)
    title: str
    topic: str | None = None
    severity: int = 1
    status: str = Field(default="open", index=True)
    reason: str | None = Field(default=None, sa_type=Text)
    opened_at: datetime
    closed_at: datetime | None = None
    topic_id: int | None = Field(default=None, foreign_key="topic.id", ondelete="SET NULL")
    owner_agent_id: int | None = Field(default=None, foreign_key="agent.id")
    acknowledged_at: datetime | None = None
    last_triggered_at: datetime | None = None
    cooldown_until: datetime | None = None
    postmortem: str | None = Field(default=None, sa_type=Text)
    triggers: str = Field(default="[]", sa_type=Text, sa_column_kwargs={"server_default": "[]"})
    metrics: str = Field(default="{}", sa_type=Text, sa_column_kwargs={"server_default": "{}"})
    updated_at: datetime | None = None
    version: int = Field(default=1, sa_column_kwargs={"server_default": "1"})


class IncidentEvent(SQLModel, table=True):
    """One line of an incident's timeline: opened, trigger, acknowledged, owner, resolved...

    `actor` is an agent handle or `system:detector`; `data` is JSON (metrics, ids).
    The `notify` columns make the timeline the webhook's outbox (`detection.webhook`).
    """

    __tablename__ = "incident_event"
    __table_args__ = (
        Index("ix_incident_event_incident", "incident_id", "id"),
        Index("ix_incident_event_notify", "notify", "id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    incident_id: int = Field(foreign_key="incident.id", ondelete="CASCADE")
    actor: str
    action: str
    detail: str | None = Field(default=None, sa_type=Text)
    data: str = Field(default="{}", sa_type=Text)
    created_at: datetime
    # outbound webhook: skip | pending | sent | failed | expired; due_at doubles as a lease
    notify: str = "skip"
    notify_attempts: int = 0
    notify_due_at: datetime | None = None
    notify_error: str | None = Field(default=None, sa_type=Text)


class Conversation(SQLModel, table=True):
    """The queue item: a thread of mentions on one source.

    Denormalised summary columns (`last_activity_at`, `excerpt`, counts) keep
    the queue a single indexed scan; the ingest path maintains them.
    `version` is bumped by every service call for optimistic concurrency.
    """

    __table_args__ = (
        UniqueConstraint("source_id", "root_key", name="uq_conversation_source_root"),
        Index("ix_conversation_activity", "last_activity_at", "id"),
        Index("ix_conversation_status_activity", "status", "last_activity_at", "id"),
        Index("ix_conversation_role_activity", "role_id", "last_activity_at", "id"),
        Index("ix_conversation_agent_activity", "agent_id", "last_activity_at", "id"),
        Index("ix_conversation_escalated_activity", "escalated", "last_activity_at", "id"),
        Index("ix_conversation_source_activity", "source_id", "last_activity_at", "id"),
        Index("ix_conversation_priority_activity", "priority", "last_activity_at", "id"),
        # `is:open sort:priority`: a status's conversations in priority order, no sort
        Index(
            "ix_conversation_status_priority_activity",
            "status",
            "priority",
            "last_activity_at",
            "id",
        ),
        Index("ix_conversation_author", "author_id"),
        # reports: the conversations first answered / resolved / created in a period,
        # with what the figures read (an index-only range, not a table scan)
        Index(
            "ix_conversation_first_response",
            "first_response_at",
            "created_at",
            "role_id",
            "agent_id",
        ),
        Index(
            "ix_conversation_resolved",
            "resolved_at",
            "status",
            "created_at",
            "role_id",
            "agent_id",
        ),
        Index("ix_conversation_created", "created_at", "status"),
        # unfiltered reports' outcomes: per status, the conversations created in a period
        Index("ix_conversation_status_created", "status", "created_at"),
        # `is:breached`, `is:due:<1h`: a range on each deadline, not a scan
        Index("ix_conversation_first_response_due", "first_response_due_at"),
        Index("ix_conversation_resolution_due", "resolution_due_at"),
        Index("ix_conversation_incident", "incident_id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    source_id: int = Field(foreign_key="source.id")
    # external id of the thread root (or of the earliest known ancestor)
    root_key: str
    kind: str
    author_id: int | None = Field(default=None, foreign_key="author.id")
    title: str | None = None
    excerpt: str = Field(default="", sa_type=Text)
    status: str = Field(default=Status.NEW.value)
    snooze_until: datetime | None = None
    priority: int = Field(default=PRIORITY_RANK["normal"])
    role_id: int | None = Field(default=None, foreign_key="role.id")
    agent_id: int | None = Field(default=None, foreign_key="agent.id")
    escalated: bool = False
    severity: int | None = None
    escalation_reason: str | None = Field(default=None, sa_type=Text)
    incident_id: int | None = Field(default=None, foreign_key="incident.id")
    created_at: datetime
    last_activity_at: datetime
    first_response_at: datetime | None = None
    resolved_at: datetime | None = None
    updated_at: datetime
    mention_count: int = 0
    version: int = 1
    # SLA clocks (`inboxtui.sla`): deadlines stored so queries are index ranges;
    # pending/snoozed pause them (paused_at), time paused is credited back on resume
    first_response_due_at: datetime | None = None
    resolution_due_at: datetime | None = None
    sla_paused_at: datetime | None = None
    sla_paused_seconds: int = Field(default=0, sa_column_kwargs={"server_default": "0"})


class Mention(SQLModel, table=True):
    """One post/comment/entry. Unique (source, external id) makes duplicates impossible."""

    __table_args__ = (
        UniqueConstraint("source_id", "external_id", name="uq_mention_source_external"),
        # with source, author, label: a filtered report reads its mentions from the index alone
        Index(
            "ix_mention_conversation",
            "conversation_id",
            "created_at",
            "source_id",
            "author_id",
            "sentiment_label",
        ),
        # with created_at, label: an author's mentions in a period, by label, from the index
        Index("ix_mention_author", "author_id", "created_at", "sentiment_label"),
        Index("ix_mention_created", "created_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    source_id: int = Field(foreign_key="source.id")
    external_id: str
    conversation_id: int = Field(foreign_key="conversation.id")
    parent_id: int | None = Field(default=None, foreign_key="mention.id")
    in_reply_to: str | None = None
    depth: int = 0
    author_id: int = Field(foreign_key="author.id")
    created_at: datetime
    title: str | None = None
    text: str = Field(sa_type=Text)
    url: str | None = None
    lang: str | None = None
    sentiment: float | None = None
    sentiment_label: str | None = None
    # an agent set the label (`SentimentCorrection`): re-scoring never touches it
    sentiment_corrected: bool = Field(default=False, sa_column_kwargs={"server_default": "0"})
    raw: str = Field(default="{}", sa_type=Text)
    fetched_at: datetime
    # the author's edit whose text is stored (None: the first version); see ingest
    edited_at: datetime | None = None


class ReportHour(SQLModel, table=True):
    """Mentions per hour, source and label: reports read this, not `mention` (exact rollup).

    This table and the two below are kept in the transaction of every write
    (migration 0012: triggers on `mention`; SQLite inserts: `rollup_counts`);
    `label` is negative/neutral/positive or '' (none or other); `hour` is epoch seconds.
    """

    __tablename__ = "report_hour"

    hour: int = Field(primary_key=True, sa_type=BigInteger)
    source_id: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    label: str = Field(primary_key=True)
    mentions: int


class ReportAuthor(SQLModel, table=True):
    """All-time mentions per author: the order in which reports seek the top authors."""

    __tablename__ = "report_author"
    __table_args__ = (Index("ix_report_author_mentions", "mentions", "author_id"),)

    author_id: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    mentions: int


class ReportConversation(SQLModel, table=True):
    """Per conversation: first and last mention time (epoch seconds) and mentions by label."""

    __tablename__ = "report_conversation"
    # a short period's conversations: those whose last mention is at or after its start
    __table_args__ = (Index("ix_report_conversation_last", "last_at", "first_at"),)

    conversation_id: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    first_at: int = Field(sa_type=BigInteger)
    last_at: int = Field(sa_type=BigInteger)
    negative: int
    neutral: int
    positive: int
    mentions: int


class ReportState(SQLModel, table=True):
    """One row: the highest mention id the rollups count (SQLite's ingest counts inserts)."""

    __tablename__ = "report_state"

    id: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    mention_id: int = Field(sa_type=BigInteger)


class SentimentCorrection(SQLModel, table=True):
    """An agent's correction of a mention's sentiment label, kept for reports and audit."""

    __tablename__ = "sentiment_correction"
    __table_args__ = (
        Index("ix_sentiment_correction_created", "created_at"),
        Index("ix_sentiment_correction_mention", "mention_id", "id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    mention_id: int = Field(foreign_key="mention.id", ondelete="CASCADE")
    conversation_id: int = Field(foreign_key="conversation.id", ondelete="CASCADE")
    actor: str
    old_label: str | None = None
    new_label: str
    old_score: float | None = None  # the model's score when the agent disagreed
    created_at: datetime


class Tag(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(unique=True)


class ConversationTag(SQLModel, table=True):
    __tablename__ = "conversation_tag"
    __table_args__ = (Index("ix_conversation_tag_tag", "tag_id", "conversation_id"),)

    conversation_id: int = Field(
        foreign_key="conversation.id", primary_key=True, ondelete="CASCADE"
    )
    tag_id: int = Field(foreign_key="tag.id", primary_key=True, ondelete="CASCADE")


class Note(SQLModel, table=True):
    """An internal note: visible to the team, never sent."""

    id: int | None = Field(default=None, primary_key=True)
    conversation_id: int = Field(foreign_key="conversation.id", index=True)
    agent_id: int | None = Field(default=None, foreign_key="agent.id")
    body: str = Field(sa_type=Text)
    created_at: datetime


class Template(SQLModel, table=True):
    """A canned reply. `variants`, `roles`, `kinds`, `tags` are JSON text."""

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(unique=True)
    shortcut: str | None = None
    body: str = Field(sa_type=Text)
    variants: str = Field(default="{}", sa_type=Text)
    roles: str = Field(default="[]", sa_type=Text)
    kinds: str = Field(default="[]", sa_type=Text)
    tags: str = Field(default="[]", sa_type=Text)
    usage_count: int = 0
    # the conversation status a send sets (None: leave it); see inboxtui.templates
    status_on_send: str | None = None
    requires_approval: bool = Field(default=False, sa_column_kwargs={"server_default": "0"})
    created_at: datetime
    updated_at: datetime


class OutboxReply(SQLModel, table=True):
    """A reply written before any network call; the idempotency key prevents doubles."""

    __tablename__ = "outbox_reply"

    id: int | None = Field(default=None, primary_key=True)
    conversation_id: int = Field(foreign_key="conversation.id", index=True)
    agent_id: int | None = Field(default=None, foreign_key="agent.id")
    in_reply_to_mention_id: int | None = Field(default=None, foreign_key="mention.id")
    body: str = Field(sa_type=Text)
    idempotency_key: str = Field(unique=True)
    state: str = Field(default=OutboxState.QUEUED.value, index=True)
    attempts: int = 0
    last_error: str | None = Field(default=None, sa_type=Text)
    remote_id: str | None = None
    remote_url: str | None = None
    # replied on the site by hand (RSS, HN...): recorded, never sent by us
    external: bool = Field(default=False, sa_column_kwargs={"server_default": "0"})
    # the last attempt may have reached the server: look for our reply before resending
    ambiguous: bool = Field(default=False, sa_column_kwargs={"server_default": "0"})
    template_name: str | None = None
    # why it needs approval (None: it does not), and who approved or rejected it
    approval_reason: str | None = Field(default=None, sa_type=Text)
    reviewer_id: int | None = Field(default=None, foreign_key="agent.id")
    # what a successful send does to the conversation: {"status": ..., "tags": [...]}
    on_send: str = Field(default="{}", sa_type=Text, sa_column_kwargs={"server_default": "{}"})
    next_attempt_at: datetime | None = None
    lease_owner: str | None = None
    lease_expires_at: datetime | None = None
    created_at: datetime
    updated_at: datetime
    sent_at: datetime | None = None


class Presence(SQLModel, table=True):
    """An agent has the composer open on a conversation, until `expires_at` (kept fresh
    by a heartbeat; a closed or crashed composer simply expires)."""

    conversation_id: int = Field(
        foreign_key="conversation.id", primary_key=True, ondelete="CASCADE"
    )
    agent_id: int = Field(foreign_key="agent.id", primary_key=True, ondelete="CASCADE")
    expires_at: datetime


class Draft(SQLModel, table=True):
    """A reply being written, one per agent and conversation: survives closing and restarts.

    `templates` (JSON list of names) and `fields` (JSON object) remember what the
    composer inserted, so sending still applies the templates' status and tags.
    """

    __table_args__ = (
        UniqueConstraint("conversation_id", "agent_id", name="uq_draft_conversation_agent"),
    )

    id: int | None = Field(default=None, primary_key=True)
    conversation_id: int = Field(foreign_key="conversation.id", ondelete="CASCADE")
    agent_id: int = Field(foreign_key="agent.id", ondelete="CASCADE")
    body: str = Field(default="", sa_type=Text)
    note: bool = False
    templates: str = Field(default="[]", sa_type=Text)
    fields: str = Field(default="{}", sa_type=Text)
    updated_at: datetime


class Event(SQLModel, table=True):
    """One line of the audit log: who did what to which conversation, when.

    `actor` is the agent handle, or `system:<component>` for automatic changes;
    `before` and `after` are JSON text of the fields that changed.
    """

    __table_args__ = (
        Index("ix_event_conversation", "conversation_id", "id"),
        Index("ix_event_created", "created_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    conversation_id: int | None = Field(default=None, foreign_key="conversation.id")
    actor: str
    action: str
    # the conversation's version after this change (conflict messages cite it)
    version: int | None = None
    before: str | None = Field(default=None, sa_type=Text)
    after: str | None = Field(default=None, sa_type=Text)
    detail: str | None = Field(default=None, sa_type=Text)
    created_at: datetime


class SlaPolicy(SQLModel, table=True):
    """Response and resolution targets per priority, optionally in business hours.

    `targets` is JSON: {"urgent": {"first_response": 1800, "resolution": 14400}, ...}
    (seconds); `business_hours` JSON {"days": [1..7], "start": "09:00", "end": "17:00"}
    in `timezone` (IANA name; NULL: UTC), or NULL for round-the-clock.
    """

    __tablename__ = "sla_policy"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(unique=True)
    timezone: str | None = None
    business_hours: str | None = Field(default=None, sa_type=Text)
    targets: str = Field(default="{}", sa_type=Text)
    created_at: datetime


class RoutingRule(SQLModel, table=True):
    """One routing rule: conversations matching `query` go to `role` (and more).

    Rules run in `position` order; the first match wins unless `continue_after`.
    `tags` is a JSON array; role, agent and priority are names, checked on save.
    """

    __tablename__ = "routing_rule"

    id: int | None = Field(default=None, primary_key=True)
    position: int = Field(index=True)
    name: str = Field(unique=True)
    query: str = Field(sa_type=Text)
    role: str | None = None
    agent: str | None = None
    priority: str | None = None
    tags: str = Field(default="[]", sa_type=Text)
    continue_after: bool = False
    enabled: bool = True
    created_at: datetime
    updated_at: datetime


class SavedView(SQLModel, table=True):
    """A named query shown in the sidebar; `agent_id` NULL means shared with the team."""

    __tablename__ = "saved_view"
    __table_args__ = (UniqueConstraint("agent_id", "name", name="uq_saved_view_agent_name"),)

    id: int | None = Field(default=None, primary_key=True)
    agent_id: int | None = Field(default=None, foreign_key="agent.id")
    name: str
    query: str = Field(sa_type=Text)
    position: int = 0
    created_at: datetime


__all__ = [
    "PRIORITY_NAME",
    "PRIORITY_RANK",
    "Agent",
    "AgentRole",
    "Author",
    "Conversation",
    "ConversationTag",
    "Draft",
    "Event",
    "Incident",
    "IncidentEvent",
    "Mention",
    "Note",
    "OutboxReply",
    "OutboxState",
    "Person",
    "PersonAuthor",
    "PersonNote",
    "PersonTag",
    "Presence",
    "Priority",
    "ReportAuthor",
    "ReportConversation",
    "ReportHour",
    "ReportState",
    "Role",
    "RoutingRule",
    "SavedView",
    "SentimentCorrection",
    "SlaPolicy",
    "Source",
    "SourceLease",
    "Status",
    "Tag",
    "Template",
    "Topic",
]

"""Services: the only code that writes. The CLI and the TUI call the same functions.

`from inboxtui import services` then `services.assign(db, 12, actor="alice", role="pr")`.
"""

from inboxtui.services import audit
from inboxtui.services.audit import EventRow, history, recent
from inboxtui.services.errors import ConflictError, NotFound, PermissionDenied, ServiceError
from inboxtui.services.triage import (
    BULK_OPS,
    STATE_FIELDS,
    BulkResult,
    Change,
    add_note,
    agent_id_for,
    assign,
    bulk,
    bulk_ids,
    conversation_state,
    create_agent,
    create_role,
    deescalate,
    ensure_agent,
    escalate,
    normalize_tag,
    reopen,
    resolve,
    set_priority,
    set_status,
    snooze,
    tag,
    unassign,
    untag,
)

__all__ = [
    "BULK_OPS",
    "STATE_FIELDS",
    "BulkResult",
    "Change",
    "ConflictError",
    "EventRow",
    "NotFound",
    "PermissionDenied",
    "ServiceError",
    "add_note",
    "agent_id_for",
    "assign",
    "audit",
    "bulk",
    "bulk_ids",
    "conversation_state",
    "create_agent",
    "create_role",
    "deescalate",
    "ensure_agent",
    "escalate",
    "history",
    "normalize_tag",
    "recent",
    "reopen",
    "resolve",
    "set_priority",
    "set_status",
    "snooze",
    "tag",
    "unassign",
    "untag",
]

"""Outbound alerts: one Slack-compatible webhook POST per incident change, retried.

The incident timeline is the outbox: every line worth announcing is written
`notify = 'pending'` in the same transaction as the change it describes, so a
change can never be made without its alert being queued, and a crash between
the two is impossible. `deliver_pending` sends them, one POST per incident per
run (its pending lines folded into one message), and marks them `sent`; a
failure is retried with exponential back-off (30 s doubling, at most an hour
between tries, `MAX_ATTEMPTS` tries) and then marked `failed` with its error.
A line claims itself before its POST (`notify_due_at` moves forward as a lease),
so two processes never post the same line; a process that dies mid-POST leaves
a lease that expires, and the line is sent again (at least once, never lost).
Lines older than `MAX_AGE` are `expired`, not sent: configuring a webhook does
not replay last month.

The URL is the secret (a Slack incoming-webhook URL carries its token): it lives
in the keyring as `incident-webhook` (or `INBOXTUI_SECRET_INCIDENT_WEBHOOK`),
never in the database, and is redacted from every stored error. Text from the
internet (handles, reasons, notes) is escaped for Slack (`&`, `<`, `>`), so a
post cannot ping `<!channel>` or smuggle a link.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import or_, select, update
from sqlmodel import Session

from inboxtui.db import Database
from inboxtui.detection.incidents import IncidentView, get_incident
from inboxtui.models import IncidentEvent
from inboxtui.secrets import SecretError, get_secret, redact
from inboxtui.sources.base import USER_AGENT
from inboxtui.text import one_line, sanitize
from inboxtui.timeutil import iso, utcnow

log = logging.getLogger(__name__)

SECRET_NAME = "incident-webhook"
MAX_ATTEMPTS = 8
FIRST_RETRY = 30.0
MAX_RETRY = 3600.0
MAX_AGE = timedelta(days=1)
LEASE = timedelta(seconds=60)
BATCH = 50  # incidents per run
TIMEOUT = httpx.Timeout(10.0, connect=5.0)


@dataclass
class Delivery:
    sent: int = 0  # timeline lines delivered
    failed: int = 0  # lines given up on
    retrying: int = 0  # lines that will be tried again
    expired: int = 0
    posts: int = 0


def slack_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def message(view: IncidentView, events: list[IncidentEvent]) -> dict[str, Any]:
    """The Slack-compatible body: `text` for Slack, `inboxtui` for other receivers."""
    topic = slack_escape(sanitize(view.topic or "-"))
    head = f"[inboxtui] Incident #{view.id} ({topic}, severity {view.severity}) is {view.status}"
    lines = [head]
    for event in events:
        actor = slack_escape(one_line(sanitize(event.actor), 40))
        detail = slack_escape(one_line(sanitize(event.detail or ""), 300))
        lines.append(f"• {event.action} by {actor}" + (f": {detail}" if detail else ""))
    return {
        "text": "\n".join(lines),
        "inboxtui": {
            "incident": view.as_json(),
            "events": [
                {
                    "id": e.id,
                    "at": iso(e.created_at),
                    "actor": e.actor,
                    "action": e.action,
                    "detail": e.detail,
                }
                for e in events
            ],
        },
    }


def _backoff(attempts: int) -> float:
    return min(MAX_RETRY, FIRST_RETRY * 2 ** max(0, attempts - 1))


def _claim(db: Database, now: datetime) -> tuple[dict[int, list[IncidentEvent]], int]:
    """Expire old lines, then lease the due pending ones of up to `BATCH` incidents.

    `UPDATE ... RETURNING` takes only the lines still unleased at that instant,
    so a line another process leased meanwhile is never posted twice.
    """
    due = or_(IncidentEvent.notify_due_at.is_(None), IncidentEvent.notify_due_at <= now)
    with db.write() as session:
        expired = session.execute(
            update(IncidentEvent)
            .where(IncidentEvent.notify == "pending", IncidentEvent.created_at < now - MAX_AGE)
            .values(notify="expired")
        ).rowcount
        incidents = list(
            session.execute(
                select(IncidentEvent.incident_id)
                .where(IncidentEvent.notify == "pending", due)
                .group_by(IncidentEvent.incident_id)
                .order_by(IncidentEvent.incident_id)
                .limit(BATCH)
            ).scalars()
        )
        if not incidents:
            return {}, int(expired or 0)
        claimed = list(
            session.execute(
                update(IncidentEvent)
                .where(
                    IncidentEvent.incident_id.in_(incidents),
                    IncidentEvent.notify == "pending",
                    due,
                )
                .values(notify_due_at=now + LEASE)
                .returning(IncidentEvent.id)
            ).scalars()
        )
        events = list(
            session.execute(
                select(IncidentEvent)
                .where(IncidentEvent.id.in_(claimed))
                .order_by(IncidentEvent.id)
            ).scalars()
        )
    grouped: dict[int, list[IncidentEvent]] = {}
    for event in events:
        grouped.setdefault(event.incident_id, []).append(event)
    return grouped, int(expired or 0)


def _finish(
    session: Session, events: list[IncidentEvent], error: str | None, now: datetime
) -> tuple[int, int, int]:
    sent = failed = retrying = 0
    for event in events:
        if error is None:
            values: dict[str, Any] = {"notify": "sent", "notify_error": None}
            sent += 1
        else:
            attempts = event.notify_attempts + 1
            values = {"notify_attempts": attempts, "notify_error": error[:500]}
            if attempts >= MAX_ATTEMPTS:
                values["notify"] = "failed"
                failed += 1
            else:
                values["notify_due_at"] = now + timedelta(seconds=_backoff(attempts))
                retrying += 1
        session.execute(update(IncidentEvent).where(IncidentEvent.id == event.id).values(**values))
    return sent, failed, retrying


def deliver_pending(
    db: Database,
    url: str | None = None,
    *,
    client: httpx.Client | None = None,
    now: datetime | None = None,
) -> Delivery | None:
    """Send what is due; None when no webhook is configured (nothing is touched then)."""
    url = url or get_secret(SECRET_NAME)
    if not url:
        return None
    now = now or utcnow()
    result = Delivery()
    grouped, result.expired = _claim(db, now)
    if not grouped:
        return result
    own = client is None
    http = client or httpx.Client(timeout=TIMEOUT, headers={"User-Agent": USER_AGENT})
    try:
        for incident_id, events in grouped.items():
            with db.read() as session:
                view = get_incident(session, incident_id)
            error = _post(http, url, message(view, events))
            result.posts += 1
            with db.write() as session:
                sent, failed, retrying = _finish(session, events, error, now)
            result.sent += sent
            result.failed += failed
            result.retrying += retrying
    finally:
        if own:
            http.close()
    return result


def _post(http: httpx.Client, url: str, body: dict[str, Any]) -> str | None:
    """None on success, else the error (the URL redacted)."""
    try:
        response = http.post(
            url,
            content=json.dumps(body, ensure_ascii=False).encode(),
            headers={"Content-Type": "application/json"},
        )
    except httpx.HTTPError as exc:
        return redact(f"{type(exc).__name__}: {exc}", [url])
    if 200 <= response.status_code < 300:
        return None
    return redact(f"HTTP {response.status_code}: {one_line(response.text, 200)}", [url])


def _anything_due(db: Database, now: datetime) -> bool:
    due = or_(IncidentEvent.notify_due_at.is_(None), IncidentEvent.notify_due_at <= now)
    with db.read() as session:
        stmt = (
            select(IncidentEvent.id)
            .where(
                IncidentEvent.notify == "pending",
                IncidentEvent.created_at >= now - MAX_AGE,
                due,
            )
            .limit(1)
        )
        return session.execute(stmt).first() is not None


def deliver_quietly(db: Database) -> None:
    """For the poller's hook: deliver what is due, log failures, never raise.

    The keyring is asked for the URL only when an alert is due: a locked desktop
    keyring is not prompted every minute for nothing.
    """
    try:
        if not _anything_due(db, utcnow()):
            return
        result = deliver_pending(db)
    except SecretError as exc:
        log.warning("incident webhook: %s", exc)
        return
    except Exception:
        log.exception("incident webhook delivery failed; will retry")
        return
    if result and (result.failed or result.retrying):
        log.warning(
            "incident webhook: %d sent, %d will be retried, %d failed for good",
            result.sent,
            result.retrying,
            result.failed,
        )


def send_test(url: str, *, client: httpx.Client | None = None) -> str | None:
    """POST a test message; None on success, else the error."""
    own = client is None
    http = client or httpx.Client(timeout=TIMEOUT, headers={"User-Agent": USER_AGENT})
    try:
        return _post(http, url, {"text": "[inboxtui] test: incident alerts will arrive here"})
    finally:
        if own:
            http.close()


__all__ = [
    "MAX_ATTEMPTS",
    "SECRET_NAME",
    "Delivery",
    "deliver_pending",
    "deliver_quietly",
    "message",
    "send_test",
    "slack_escape",
]

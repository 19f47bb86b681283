"""Managing sources: add, list (with health), test, enable/disable, remove. Audited.

The CLI (`inboxtui source ...`) and the TUI's Sources screen call these. A
source's options are stored as JSON in `source.config`; its secret is not: the
row only holds `secret_ref`, the name of the keyring entry (see
`inboxtui.secrets`). Options that look like secrets are refused, so a token
cannot end up in the database by way of `--option token=...`.

Removing a source that has mentions is refused: deleting conversations,
assignments and audit history is not something to do by accident. Disable it
instead (it stays searchable, and is never polled).
"""

from __future__ import annotations

import contextlib
import json
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import httpx
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError

from inboxtui import secrets
from inboxtui.db import Database
from inboxtui.models import Mention, Source, SourceLease
from inboxtui.polling import SOURCE, source_secret
from inboxtui.services import audit
from inboxtui.services.errors import NotFound, ServiceError
from inboxtui.sources.base import ConfigError, SourceAdapter, SourceError
from inboxtui.sources.registry import KINDS, adapter_class
from inboxtui.text import sanitize
from inboxtui.timeutil import parse_duration, utcnow

NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._/@:+-]{0,63}")
SECRET_WORDS = re.compile(r"token|secret|password|passwd|api_?key|apikey|bearer|cookie", re.I)
MIN_INTERVAL = 30
DEFAULT_INTERVAL = 300


@dataclass
class SourceInfo:
    """A source with its health, for listings (`source list`, the Sources screen)."""

    id: int
    name: str
    kind: str
    enabled: bool
    interval_seconds: int | None
    options: dict[str, str]
    secret_ref: str | None
    created_at: datetime
    last_polled_at: datetime | None
    last_success_at: datetime | None
    last_error: str | None
    last_error_at: datetime | None
    consecutive_failures: int
    next_poll_at: datetime | None
    items_last_poll: int | None
    mentions: int = 0
    leased_by: str | None = None

    @property
    def polled(self) -> bool:
        return self.interval_seconds is not None

    @property
    def health(self) -> str:
        """One word: imported | disabled | new | ok | failing."""
        if not self.polled:
            return "imported"
        if not self.enabled:
            return "disabled"
        if self.consecutive_failures:
            return "failing"
        return "ok" if self.last_success_at else "new"


@dataclass
class DryRun:
    """What `source test` saw: the mentions a poll would ingest now, stored nothing."""

    source: str
    records: list[dict[str, Any]]
    new_ids: list[str]
    known_ids: list[str]
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    rate_remaining: int | None = None


# ---------------------------------------------------------------- validation


def parse_interval(text: str | int) -> int:
    """`5m`, `1h`, `90s` or plain seconds -> seconds (at least MIN_INTERVAL)."""
    if isinstance(text, int) or str(text).strip().isdigit():
        seconds = int(text)
    else:
        try:
            seconds = int(parse_duration(str(text)).total_seconds())
        except ValueError as exc:
            raise ServiceError(f"--interval: {exc}") from None
    if seconds < MIN_INTERVAL:
        raise ServiceError(
            f"--interval: {seconds}s is too often; the minimum is {MIN_INTERVAL}s "
            "(servers rate-limit clients that poll harder)"
        )
    return seconds


def parse_options(pairs: list[str] | None) -> dict[str, str]:
    """`["key=value", ...]` -> dict; a key given twice is an error, not a silent override."""
    options: dict[str, str] = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ServiceError(f"--option {pair!r}: expected key=value")
        if key in options:
            raise ServiceError(f"--option {key} given twice")
        options[key] = value.strip()
    return options


def check_name(name: str) -> str:
    if not NAME.fullmatch(name or ""):
        raise ServiceError(
            f"bad source name {sanitize(name)!r}: use letters, digits and . _ - / @ : + "
            "(at most 64, starting with a letter or digit)"
        )
    return name


def _options_help(cls: type[SourceAdapter]) -> str:
    known = {"url": "server or feed URL", **cls.options_help}
    return "; ".join(f"{k}: {v}" for k, v in sorted(known.items()))


def validate(
    kind: str,
    name: str,
    options: dict[str, str],
    secret: str | None = None,
    *,
    construct: bool = True,
) -> type[SourceAdapter]:
    """The adapter class for `kind`, after checking the name and every option against it.

    With `construct`, the adapter is also built (its own checks: required
    options, a secret where one is needed); without, only names are checked,
    e.g. before prompting for a secret.
    """
    check_name(name)
    try:
        cls = adapter_class(kind)
    except ConfigError as exc:
        raise ServiceError(str(exc)) from None
    known = {"url", *cls.options_help}
    for key, value in options.items():
        if SECRET_WORDS.search(key) and key not in cls.options_help:
            raise ServiceError(
                f"option {key!r} looks like a secret: never pass secrets as options. "
                f"Use --secret (prompted) or `inboxtui secret set {name}`"
            )
        if key not in known:
            raise ServiceError(f"{kind} has no option {key!r}. Options: {_options_help(cls)}")
        if sanitize(value) != value:
            raise ServiceError(f"option {key}: contains control characters")
    if not construct:
        return cls
    try:
        cls(name, options, None, secret)  # type: ignore[arg-type]  # construction only
    except ConfigError as exc:
        raise ServiceError(f"{exc}. Options: {_options_help(cls)}") from None
    return cls


# ---------------------------------------------------------------- reading


def _info(row: Any, mentions: int = 0, leased_by: str | None = None) -> SourceInfo:
    try:
        options = json.loads(row.config or "{}")
    except ValueError:
        options = {}
    return SourceInfo(
        id=row.id,
        name=row.name,
        kind=row.kind,
        enabled=bool(row.enabled),
        interval_seconds=row.interval_seconds,
        options=options if isinstance(options, dict) else {},
        secret_ref=row.secret_ref,
        created_at=row.created_at,
        last_polled_at=row.last_polled_at,
        last_success_at=row.last_success_at,
        last_error=row.last_error,
        last_error_at=row.last_error_at,
        consecutive_failures=row.consecutive_failures or 0,
        next_poll_at=row.next_poll_at,
        items_last_poll=row.items_last_poll,
        mentions=mentions,
        leased_by=leased_by,
    )


def list_sources(db: Database) -> list[SourceInfo]:
    """Every source, by name, with its health, mention count and current lease holder."""
    now = utcnow()
    with db.read() as session:
        counts = dict(
            session.execute(
                select(Mention.source_id, func.count()).group_by(Mention.source_id)
            ).all()
        )
        leases = dict(
            session.execute(
                select(SourceLease.source_id, SourceLease.owner).where(SourceLease.expires_at > now)
            ).all()
        )
        rows = session.execute(select(SOURCE).order_by(SOURCE.c.name)).all()
    return [_info(r, counts.get(r.id, 0), leases.get(r.id)) for r in rows]


def get_source(db: Database, name: str) -> SourceInfo:
    with db.read() as session:
        row = session.execute(select(SOURCE).where(SOURCE.c.name == name)).first()
        if row is None:
            raise NotFound(f"no source {sanitize(name)!r} (see: inboxtui source list)")
        count = session.execute(
            select(func.count()).select_from(Mention).where(Mention.source_id == row.id)
        ).scalar_one()
    return _info(row, count)


# ---------------------------------------------------------------- changes


def add_source(
    db: Database,
    kind: str,
    name: str,
    options: dict[str, str],
    *,
    actor: str,
    interval: int | str = DEFAULT_INTERVAL,
    secret: str | None = None,
) -> SourceInfo:
    """Configure a source for polling; with `secret`, store it in the keyring first.

    Without `secret`, one already there for NAME (`inboxtui secret set NAME`
    first, or `INBOXTUI_SECRET_<NAME>`) is used. A source that so far only holds
    imported mentions (same name and kind, no interval) is taken over: its
    mentions stay, and polling starts.
    """
    seconds = parse_interval(interval)
    secret_ref = name if secret else None
    if not secret:
        validate(kind, name, options, construct=False)
        secret = secrets.env_secret(name)
        if secret is None:
            with contextlib.suppress(secrets.SecretError):
                secret = secrets.get_secret(name)
            secret_ref = name if secret else None
        validate(kind, name, options, secret)
        secret = None  # nothing new to store
    else:
        validate(kind, name, options, secret)
    with db.read() as session:
        existing = session.execute(select(SOURCE).where(SOURCE.c.name == name)).first()
    if existing is not None and (existing.interval_seconds is not None or existing.kind != kind):
        raise ServiceError(f"source {name!r} already exists ({existing.kind})")
    if secret:
        secrets.set_secret(name, secret)  # raises, naming the env var, on a headless host
    values = {
        "kind": kind,
        "url": options.get("url"),
        "config": json.dumps(options, ensure_ascii=False, sort_keys=True),
        "enabled": True,
        "interval_seconds": seconds,
        "secret_ref": secret_ref,
        "next_poll_at": None,
        "consecutive_failures": 0,
    }
    try:
        with db.write() as session:
            if existing is None:
                session.add(Source(name=name, created_at=utcnow(), **values))
            else:
                changed = session.execute(
                    update(SOURCE)
                    .where(SOURCE.c.id == existing.id, SOURCE.c.interval_seconds.is_(None))
                    .values(**values)
                ).rowcount
                if not changed:
                    raise ServiceError(f"source {name!r} already exists ({kind})")
            audit.record(
                session,
                conversation_id=None,
                actor=actor,
                action="source.add",
                before=None,
                after={
                    "source": name,
                    "kind": kind,
                    "options": options,
                    "interval_seconds": seconds,
                    "secret_ref": values["secret_ref"],
                },
                version=None,
            )
    except IntegrityError:  # added by another process between our check and insert
        raise ServiceError(f"source {name!r} already exists") from None
    return get_source(db, name)


def _set(db: Database, name: str, action: str, values: dict[str, Any], *, actor: str) -> bool:
    """Update one source's columns with an audit event; False when nothing changed."""
    with db.write() as session:
        row = session.execute(select(SOURCE).where(SOURCE.c.name == name)).first()
        if row is None:
            raise NotFound(f"no source {sanitize(name)!r} (see: inboxtui source list)")
        before = {k: getattr(row, k) for k in values if getattr(row, k) != values[k]}
        if not before:
            return False
        session.execute(update(SOURCE).where(SOURCE.c.id == row.id).values(**values))
        audit.record(
            session,
            conversation_id=None,
            actor=actor,
            action=action,
            before={"source": name, **before},
            after={"source": name, **{k: values[k] for k in before}},
            version=None,
        )
    return True


def set_enabled(db: Database, name: str, enabled: bool, *, actor: str) -> bool:
    """Enable (due at once) or disable a source; False when it already was."""
    info = get_source(db, name)
    if enabled and not info.polled:
        raise ServiceError(
            f"source {name!r} holds imported mentions only; set it up for polling with "
            f"`inboxtui source add {info.kind} {name} --option ...`"
        )
    if info.enabled == enabled:
        return False
    values: dict[str, Any] = {"enabled": enabled}
    if enabled:
        values["next_poll_at"] = None
    return _set(db, name, "source.enable" if enabled else "source.disable", values, actor=actor)


def set_interval(db: Database, name: str, interval: int | str, *, actor: str) -> bool:
    return _set(
        db, name, "source.interval", {"interval_seconds": parse_interval(interval)}, actor=actor
    )


def remove_source(db: Database, name: str, *, actor: str) -> None:
    """Delete a source without mentions (and its keyring entry); refuse otherwise."""
    with db.write() as session:
        row = session.execute(select(SOURCE).where(SOURCE.c.name == name)).first()
        if row is None:
            raise NotFound(f"no source {sanitize(name)!r} (see: inboxtui source list)")
        count = session.execute(
            select(func.count()).select_from(Mention).where(Mention.source_id == row.id)
        ).scalar_one()
        if count:
            raise ServiceError(
                f"source {name!r} has {count} mention(s); removing it would delete them and "
                f"their conversations. Disable it instead: inboxtui source disable {name}"
            )
        session.execute(SourceLease.__table__.delete().where(SourceLease.source_id == row.id))
        session.execute(SOURCE.delete().where(SOURCE.c.id == row.id))
        audit.record(
            session,
            conversation_id=None,
            actor=actor,
            action="source.remove",
            before={"source": name, "kind": row.kind},
            after=None,
            version=None,
        )
        still_used = session.execute(
            select(func.count()).select_from(SOURCE).where(SOURCE.c.secret_ref == row.secret_ref)
        ).scalar_one()
    if row.secret_ref and not still_used:
        # the source is gone; a keyring entry we cannot delete harms nobody
        with contextlib.suppress(secrets.SecretError):
            secrets.delete_secret(row.secret_ref)


def attach_secret(db: Database, name: str, *, actor: str) -> bool:
    """After `secret set NAME`: the source NAME (if any) now reads that keyring entry."""
    with db.read() as session:
        row = session.execute(select(SOURCE).where(SOURCE.c.name == name)).first()
    if row is None or row.secret_ref == name:
        return False
    # a fixed secret is worth trying at once, rather than after the back-off
    return _set(db, name, "source.secret", {"secret_ref": name, "next_poll_at": None}, actor=actor)


def detach_secret(db: Database, name: str, *, actor: str) -> int:
    """After `secret delete NAME`: sources referring to it stop asking the keyring."""
    with db.read() as session:
        users = list(
            session.execute(select(SOURCE.c.name).where(SOURCE.c.secret_ref == name)).scalars()
        )
    for user in users:
        _set(db, user, "source.secret", {"secret_ref": None}, actor=actor)
    return len(users)


# ---------------------------------------------------------------- testing


async def dry_run(
    db: Database, name: str, *, client: httpx.AsyncClient, from_start: bool = False
) -> DryRun:
    """One fetch from where the poller would continue (or from the start); stores nothing.

    Raises `ServiceError` with the (redacted) reason when the fetch fails.
    """
    import asyncio

    from inboxtui.ingest import RecordError, parse_record
    from inboxtui.polling import scrub_records

    info = get_source(db, name)
    with db.read() as session:
        cursor_text = session.execute(
            select(SOURCE.c.cursor).where(SOURCE.c.id == info.id)
        ).scalar_one()
    cursor = None if from_start or not cursor_text else json.loads(cursor_text)
    secret: str | None = None
    try:
        secret = await asyncio.to_thread(source_secret, info.name, info.secret_ref)
        options = {k: str(v) for k, v in info.options.items()}
        adapter = adapter_class(info.kind)(info.name, options, client, secret)
        result = await adapter.fetch(cursor)
    except (SourceError, secrets.SecretError) as exc:
        reason = secrets.redact(str(exc), [secret])
        raise ServiceError(f"test of {name!r} failed: {reason}") from None
    except Exception as exc:  # an adapter bug: still one clear line, secret masked
        reason = secrets.redact(f"internal error ({type(exc).__name__}: {exc})", [secret])
        raise ServiceError(f"test of {name!r} failed: {reason}") from None
    records = scrub_records(result.mentions, secret)
    problems: list[str] = []
    parsed = []
    for record in records:
        try:
            parsed.append(parse_record({**record, "source": info.name, "kind": info.kind}))
        except RecordError as exc:
            problems.append(f"record {record.get('external_id')!r} refused: {exc}")
    ids = [m.external_id for m in parsed]
    known: set[str] = set()
    with db.read() as session:
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            known.update(
                session.execute(
                    select(Mention.external_id).where(
                        Mention.source_id == info.id, Mention.external_id.in_(chunk)
                    )
                ).scalars()
            )
    return DryRun(
        source=name,
        records=records,
        new_ids=[i for i in ids if i not in known],
        known_ids=[i for i in ids if i in known],
        problems=problems,
        notes=[secrets.redact(n, [secret]) for n in result.notes],
        rate_remaining=result.rate_remaining,
    )


__all__ = [
    "KINDS",
    "DryRun",
    "SourceInfo",
    "add_source",
    "attach_secret",
    "check_name",
    "detach_secret",
    "dry_run",
    "get_source",
    "list_sources",
    "parse_interval",
    "parse_options",
    "remove_source",
    "set_enabled",
    "set_interval",
    "validate",
]

"""Interchange records -> validated, sanitised, `Prepared` mentions: no database code.

`parse_record` turns an untrusted interchange record (a JSON object) into a
`MentionIn`; `prepare` / `prepare_record` turn mentions into the plain tuples a
batch takes (`inboxtui.ingest`), with the search document, the sentiment and
the times as the database stores them.

Why a module of its own: the JSONL import parses in a second process
(`inboxtui.jsonl`), which imports only this (text, search tokens, sentiment),
not SQLAlchemy and the models: it starts in a fraction of the time, and the
writer parses alone meanwhile. `inboxtui.ingest` re-exports these names.

Speed: well-formed records take a cheap validation path (`_parse_common`,
checked against the careful one by tests).
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

import orjson

from inboxtui.search_documents import stored_document
from inboxtui.text import one_line, sanitize
from inboxtui.timeutil import parse_iso

# Keys of the interchange format; anything else in a record is kept in `raw` only.
RECORD_KEYS = (
    "kind",
    "source",
    "external_id",
    "created_at",
    "text",
    "url",
    "author",
    "lang",
    "in_reply_to",
    "title",
    "sentiment",
    "sentiment_label",
)
AUTHOR_KEYS = ("handle", "name", "followers")

_KIND = re.compile(r"[a-z0-9][a-z0-9_.-]{0,39}")
_SURROGATE = re.compile("[\ud800-\udfff]")
_INT_MAX = 2**31 - 1  # INTEGER on PostgreSQL


@dataclass(frozen=True, slots=True)
class MentionIn:
    """One normalised mention, ready for `ingest`. Text fields are already sanitised."""

    kind: str
    source: str
    external_id: str
    created_at: datetime  # aware UTC
    text: str
    url: str | None = None
    author_handle: str = ""
    author_name: str | None = None
    author_followers: int | None = None
    lang: str | None = None
    in_reply_to: str | None = None
    title: str | None = None
    raw: str = "{}"
    sentiment: float | None = None
    sentiment_label: str | None = None
    edited_at: datetime | None = None  # aware UTC; the author's last edit, if known


class RecordError(ValueError):
    """A record that cannot be ingested; `field` names the culprit (None: the whole record)."""

    def __init__(self, field: str | None, reason: str) -> None:
        self.field = field
        self.reason = reason
        super().__init__(f"{field}: {reason}" if field else reason)


# ---------------------------------------------------------------- validation


def _shown(value: Any) -> str:
    """A short, inert description of a bad value for an error message."""
    if isinstance(value, str):
        return repr(one_line(sanitize(value), 40))
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    return f"a JSON {'object' if isinstance(value, dict) else 'array'}"


def clean_text(value: str) -> str:
    """`sanitize`, then lone surrogates (undecodable input) become U+FFFD."""
    value = sanitize(value)
    if not value.isascii() and _SURROGATE.search(value):
        value = _SURROGATE.sub("\ufffd", value)
    return value


def _required_str(obj: dict[str, Any], key: str, name: str | None = None) -> str:
    value = obj.get(key)
    name = name or key
    if value is None:
        raise RecordError(name, "required")
    if not isinstance(value, str):
        raise RecordError(name, f"must be a string, not {_shown(value)}")
    return value


def _optional_str(obj: dict[str, Any], key: str, name: str | None = None) -> str | None:
    """Sanitised text, or None when absent, null or empty (empty means absent)."""
    value = obj.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise RecordError(name or key, f"must be a string, not {_shown(value)}")
    value = clean_text(value)
    return value or None


def _identifier(obj: dict[str, Any], key: str, *, required: bool) -> str | None:
    """External ids are keys: kept exact, so anything sanitising would change is refused."""
    if not required and obj.get(key) in (None, ""):
        return None
    value = _required_str(obj, key)
    if not value.strip():
        raise RecordError(key, "must not be empty")
    if clean_text(value) != value:
        raise RecordError(key, "contains control or invisible characters")
    return value


def _followers(value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise RecordError("author.followers", f"must be a whole number, not {_shown(value)}")
    if not 0 <= value <= _INT_MAX:
        raise RecordError("author.followers", f"out of range: {value}")
    return value


def _sentiment(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise RecordError("sentiment", f"must be a number in [-1, 1], not {_shown(value)}")
    if not (math.isfinite(value) and -1.0 <= value <= 1.0):
        raise RecordError("sentiment", f"must be in [-1, 1], not {value!r}")
    return float(value)


def parse_author(author: Any) -> tuple[str, str | None, int | None]:
    """(handle, name, followers) of a record's `author` object, validated and sanitised."""
    if author is None:
        raise RecordError("author", "required (an object with a handle)")
    if not isinstance(author, dict):
        raise RecordError("author", f"must be an object, not {_shown(author)}")
    handle = clean_text(_required_str(author, "handle", "author.handle")).strip()
    if not handle:
        raise RecordError("author.handle", "must not be empty")
    name = _optional_str(author, "name", "author.name")
    return handle, name, _followers(author.get("followers"))


def parse_record(obj: object, raw: str | None = None) -> MentionIn:
    """Validate and sanitise one interchange record.

    `raw` is what is kept for audit (the import passes the line, byte-exact);
    by default it is the record as JSON. Raises `RecordError` naming the field.
    """
    if type(obj) is dict:
        mention = _parse_common(obj, raw)
        if mention is not None:
            return mention
    return _parse_checked(obj, raw)


def dumps_json(obj: Any) -> str:
    """Compact JSON; the standard encoder (escaping) where orjson refuses."""
    try:
        return orjson.dumps(obj).decode()
    except (TypeError, orjson.JSONEncodeError):  # lone surrogates, huge ints, ...
        return json.dumps(obj)


# Every character `sanitize` (or the surrogate fix) could change; text without any is clean.
_SUSPECT = re.compile(
    "[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2064"
    "\u2066-\u2069\ufeff\ufff9-\ufffb\ud800-\udfff\U000e0000-\U000e007f]"
)


def _clean(value: str) -> str:
    """`clean_text`, with one scan instead of several for the (common) clean text."""
    if value.isascii():
        return value if value.isprintable() else clean_text(value)
    return clean_text(value) if _SUSPECT.search(value) else value


def _parse_common(obj: dict[str, Any], raw: str | None) -> MentionIn | None:
    """The common, well-formed record, checked cheaply (import speed).

    Returns None for anything unusual; `_parse_checked` then accepts it the
    same way or names the field at fault. Both must agree on every value.
    """
    fields = _common_fields(obj, raw)
    return None if fields is None else MentionIn(*fields)


def _common_fields(obj: dict[str, Any], raw: str | None) -> tuple[Any, ...] | None:
    """`_parse_common`'s values in `MentionIn`'s field order, without the object
    (a frozen dataclass costs ~3 us to build: `prepare_record` needs only the values)."""
    get = obj.get
    kind, source, external_id = get("kind"), get("source"), get("external_id")
    created, body, author = get("created_at"), get("text"), get("author")
    if not (
        type(kind) is str
        and type(source) is str
        and type(external_id) is str
        and type(created) is str
        and type(body) is str
        and type(author) is dict
        and _KIND.fullmatch(kind)
        and external_id
        and external_id.isascii()
        and external_id.isprintable()
        and not external_id.isspace()
    ):
        return None
    source = _clean(source).strip()
    handle = author.get("handle")
    if not source or type(handle) is not str:
        return None
    handle = _clean(handle).strip()
    try:
        created_at = datetime.fromisoformat(created)
    except ValueError:
        return None
    if created_at.tzinfo is None:
        created_at = created_at.replace(tzinfo=UTC)
    elif created_at.tzinfo is not UTC:
        created_at = created_at.astimezone(UTC)
    reply_to = get("in_reply_to")
    if reply_to == "":
        reply_to = None
    elif reply_to is not None and not (
        type(reply_to) is str
        and reply_to.isascii()
        and reply_to.isprintable()
        and not reply_to.isspace()
    ):
        return None
    followers = author.get("followers")
    if followers is not None and not (type(followers) is int and 0 <= followers <= _INT_MAX):
        return None
    sentiment = get("sentiment")
    if sentiment is not None:
        if type(sentiment) not in (float, int) or not -1.0 <= sentiment <= 1.0:
            return None
        sentiment = float(sentiment)
    optional = []
    for value in (
        get("url"),
        author.get("name"),
        get("lang"),
        get("title"),
        get("sentiment_label"),
    ):
        if value is None:
            optional.append(None)
        elif type(value) is str:
            optional.append(_clean(value) or None)
        else:
            return None
    url, name, lang, title, label = optional
    edited = get("edited_at")
    if edited is not None:
        try:
            edited = _edited_at(edited)
        except RecordError:
            return None
    if not handle or (url is not None and not url.lower().startswith(("http://", "https://"))):
        return None
    return (
        kind,
        source,
        external_id,
        created_at,
        _clean(body),
        url,
        handle,
        name,
        followers,
        lang,
        reply_to,
        title,
        dumps_json(obj) if raw is None else raw,
        sentiment,
        label,
        edited,
    )


def _parse_checked(obj: object, raw: str | None) -> MentionIn:
    """Every check, with a message naming the field; the reference for `_parse_common`."""
    if not isinstance(obj, dict):
        raise RecordError(None, f"a record must be a JSON object, not {_shown(obj)}")
    kind = _required_str(obj, "kind")
    if not _KIND.fullmatch(kind):
        raise RecordError(
            "kind", f"must be lowercase letters, digits, '.', '_' or '-' (got {_shown(kind)})"
        )
    source = clean_text(_required_str(obj, "source")).strip()
    if not source:
        raise RecordError("source", "must not be empty")
    external_id = _identifier(obj, "external_id", required=True)
    assert external_id is not None
    created_text = _required_str(obj, "created_at")
    try:
        created_at = parse_iso(created_text)
    except (ValueError, OverflowError):
        raise RecordError("created_at", f"not an ISO 8601 time: {_shown(created_text)}") from None
    body = clean_text(_required_str(obj, "text"))
    url = _optional_str(obj, "url")
    if url is not None and not url.lower().startswith(("http://", "https://")):
        raise RecordError("url", f"must be an http(s) URL, not {_shown(url)}")
    handle, name, followers = parse_author(obj.get("author"))
    return MentionIn(
        kind=kind,
        source=source,
        external_id=external_id,
        created_at=created_at,
        text=body,
        url=url,
        author_handle=handle,
        author_name=name,
        author_followers=followers,
        lang=_optional_str(obj, "lang"),
        in_reply_to=_identifier(obj, "in_reply_to", required=False),
        title=_optional_str(obj, "title"),
        raw=dumps_json(obj) if raw is None else raw,
        sentiment=_sentiment(obj.get("sentiment")),
        sentiment_label=_optional_str(obj, "sentiment_label"),
        edited_at=_edited_at(obj.get("edited_at")),
    )


def _edited_at(value: Any) -> datetime | None:
    """`edited_at`: an ISO 8601 time, or absent (null or empty)."""
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise RecordError("edited_at", f"must be an ISO 8601 time, not {_shown(value)}")
    try:
        return parse_iso(value)
    except (ValueError, OverflowError):
        raise RecordError("edited_at", f"not an ISO 8601 time: {_shown(value)}") from None


# ---------------------------------------------------------------- prepared mentions

# A mention as `_Batch` takes it: a plain tuple, cheap to build, to index and to
# pickle (the JSONL import prepares mentions in a second process). `at` is
# created_at as the database takes it (`db_time`), `doc` the full-text document
# as the index stores it (`search.stored_document`).
Prepared = tuple[Any, ...]
(
    P_KIND,
    P_SOURCE,
    P_EXTERNAL_ID,
    P_AT,
    P_TEXT,
    P_URL,
    P_HANDLE,
    P_NAME,
    P_FOLLOWERS,
    P_LANG,
    P_REPLY_TO,
    P_TITLE,
    P_RAW,
    P_SENTIMENT,
    P_LABEL,
    P_DOC,
    P_EDITED,  # edited_at in `db_time` form, or None
) = range(17)


def db_time(value: datetime, dialect: str) -> Any:
    """An aware time as the ingest path writes it.

    SQLite: the exact text SQLAlchemy writes ('YYYY-MM-DD HH:MM:SS.ffffff', UTC),
    whose order is time order, so a batch compares these strings directly.
    PostgreSQL: the datetime itself (timestamptz).
    """
    if dialect == "postgresql":
        return value
    if value.tzinfo is not UTC:
        value = value.astimezone(UTC)
    return value.isoformat(" ", "microseconds")[:26]


def prepare(m: MentionIn, dialect: str, *, sanitised: bool = False) -> Prepared:
    """`m` as a batch takes it (`BulkWrites.ingest`).

    Text is cleaned again unless `sanitised` (`parse_record`'s output is; a
    mention a poller built by hand may not be). Raises ValueError for a naive time.
    """
    if m.created_at.tzinfo is None:
        raise ValueError(
            f"mention {m.source}/{m.external_id}: created_at has no timezone (need UTC)"
        )
    if not sanitised:
        m = _sanitised(m)
    if m.edited_at is not None and m.edited_at.tzinfo is None:
        raise ValueError(f"mention {m.source}/{m.external_id}: edited_at has no timezone")
    return _prepared(
        (
            m.kind,
            m.source,
            m.external_id,
            m.created_at,
            m.text,
            m.url,
            m.author_handle,
            m.author_name,
            m.author_followers,
            m.lang,
            m.in_reply_to,
            m.title,
            m.raw,
            m.sentiment,
            m.sentiment_label,
            m.edited_at,
        ),
        dialect,
    )


def prepare_record(obj: object, raw: str, dialect: str) -> Prepared:
    """`prepare(parse_record(obj, raw), dialect, sanitised=True)`, faster for the
    common record (the JSONL import's path). Raises `RecordError`."""
    fields = _common_fields(obj, raw) if type(obj) is dict else None
    if fields is None:
        return prepare(_parse_checked(obj, raw), dialect, sanitised=True)
    return _prepared(fields, dialect)


def _prepared(fields: tuple[Any, ...], dialect: str) -> Prepared:
    """A `Prepared` tuple from a sanitised mention's values in `MentionIn`'s field order
    (times aware): sentiment scored unless the record has it, search document, `db_time`s."""
    (kind, source, external_id, created_at, body, url, handle, name, followers, lang,
     reply_to, title, raw, sentiment, label, edited_at) = fields  # fmt: skip
    if sentiment is None or label is None:
        sentiment, label = _scored(body, title, lang, sentiment, label)
    return (
        kind,
        source,
        external_id,
        db_time(created_at, dialect),
        body,
        url,
        handle,
        name,
        followers,
        lang,
        reply_to,
        title,
        raw,
        sentiment,
        label,
        stored_document(dialect, body, title),
        None if edited_at is None else db_time(edited_at, dialect),
    )


def _scored(
    text: str, title: str | None, lang: str | None, score: float | None, label: str | None
) -> tuple[float, str]:
    """Score and label for a mention that lacks one; what the record carries wins."""
    if score is None:
        from inboxtui.sentiment import default_scorer

        score = default_scorer().score(f"{title}\n{text}" if title else text, lang).score
    if label is None:
        from inboxtui.sentiment import label_for

        label = label_for(score)
    return score, label


def _sanitised(m: MentionIn) -> MentionIn:
    """Sanitise again what a poller may have built by hand (cheap when already clean)."""
    text, title, name = (
        _clean(m.text),
        m.title and _clean(m.title),
        m.author_name and _clean(m.author_name),
    )
    handle = _clean(m.author_handle)
    if text == m.text and title == m.title and name == m.author_name and handle == m.author_handle:
        return m
    return replace(m, text=text, title=title, author_name=name, author_handle=handle)

"""The filter language -> SQL over conversations, with keyset paging.

One language serves the filter bar, saved views, routing rules and the CLI.

Filter language
---------------
A query is a list of terms, all of which must match. Keys filter on the
conversation; other words search the text of its mentions.

    is:open assignee:me                         open conversations assigned to me
    role:support -tag:spam 退款                  support queue, not spam, mentioning 退款
    (is:escalated OR followers:>10k) -is:resolved sort:followers

| term | matches |
|---|---|
| `is:new` `is:open` `is:pending` `is:snoozed` `is:resolved` | status (`status:open` is the same) |
| `is:escalated` | escalated conversations |
| `is:breached` | an SLA deadline (first response or resolution) has passed; not resolved |
| `is:due:<1h` `is:due:<=30m` | an SLA deadline falls within that time (not breached, not paused) |
| `is:assigned` / `is:unassigned` | an agent is / is not assigned (a role alone is not an agent) |
| `is:mine` | assigned to me |
| `is:awaiting-approval` | a reply waits for an approver (`inboxtui outbox approve`) |
| `is:reply-failed` | a reply gave up (bad token, refused, 8 attempts): `inboxtui outbox retry` |
| `assignee:NAME` `assignee:me` `assignee:none` | assigned agent, by handle |
| `role:NAME` `role:none` | routed to a role |
| `source:NAME` | the configured source's name (quote names with spaces: `source:"Acme blog"`) |
| `kind:KIND` | conversation kind |
| `author:HANDLE` | author of the thread root (`@` optional, any case) |
| `person:NAME` | root author is an account of that person (its name, or one account's handle) |
| `author-tag:advocate` | the root author's person has that tag (`vip`, `detractor`, any) |
| `tag:NAME` | tagged with NAME (quotes allowed: `tag:"needs reply"`) |
| `lang:xx` | any mention in that language; `lang:zh` also finds `zh-Hant`, `zh-TW`, ... |
| `sentiment:negative` `neutral` `positive` | any mention with that sentiment |
| `severity:2` `severity:>=2` (also `>`, `<`, `<=`, `=`) | escalation severity |
| `followers:>10000` `followers:>=1.5m` (`k`/`m` suffixes) | followers of the root author |
| `priority:high` `priority:>=high` | low < normal < high < urgent |
| `since:2d` `since:2026-11-01` | last activity at or after (durations: `30m`, `3h`, `2d`, `1w`) |
| `before:1w` `before:2026-11-01` | last activity before (times are UTC) |
| `sort:newest` (default) `oldest` `priority` `followers` | order (followers: unknown last) |
| `word` | a mention's title or text has a word starting with it |
| `"quoted phrase"` | whole words, adjacent (the last word may be a prefix) |

- `-` before any term or group excludes it: `-tag:spam`, `-refund`, `-(a OR b)`.
  A missing value is "not matching": `-assignee:bob` includes unassigned,
  `-severity:>=2` includes conversations without a severity.
- `OR` (upper case) between terms; AND binds tighter: `a b OR c` is `(a b) OR c`.
  Parentheses group. `AND` may be written but is implied. A lower-case `or`
  is a search word; quote it (`"OR"`) to search for the word.
- Search words joined by AND must all occur in the same mention: `refund 退款`
  finds a mention with both, not a thread with one in each (use OR for that).
- Search ignores case, accents and full/half width. Chinese, Japanese and
  Korean text matches inside unspaced runs (`退款` finds `申请退款`), and
  Traditional and Simplified spellings find each other (`营销` = `營銷`).
- Keys and their fixed values are case-insensitive. A term that is only
  punctuation is ignored. A word that looks like `key:value` with an unknown
  key is an error (quote it to search for it); URLs (`https://...`) are text.
- `sort:` applies to the whole query: it cannot be negated or used inside OR.
- `since:`/`before:` with a duration are relative to when the query runs.
"""

from __future__ import annotations

import base64
import difflib
import functools
import json
import re
import sqlite3
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from rich.cells import cell_len
from sqlalchemy import (
    ColumnElement,
    Integer,
    Select,
    String,
    and_,
    bindparam,
    case,
    column,
    exists,
    false,
    func,
    literal_column,
    not_,
    or_,
    select,
    text,
    true,
    type_coerce,
)
from sqlalchemy.dialects.postgresql import aggregate_order_by
from sqlalchemy.exc import OperationalError
from sqlmodel import Session

from inboxtui import pg_plan
from inboxtui.models import (
    PRIORITY_NAME,
    PRIORITY_RANK,
    Agent,
    Author,
    Conversation,
    ConversationTag,
    Mention,
    Role,
    Source,
    Status,
    Tag,
)
from inboxtui.person_filters import handle_is, person_authors, tagged_person_authors
from inboxtui.person_names import person_tag
from inboxtui.search import conversations_of, match_expression, matching_mention_ids
from inboxtui.text import QueryToken, phrase_tokens
from inboxtui.timeutil import iso, parse_duration, parse_iso, parse_when, to_utc, utcnow

KEYS: tuple[str, ...] = (
    "is",
    "status",
    "assignee",
    "role",
    "source",
    "kind",
    "author",
    "person",
    "author-tag",
    "tag",
    "lang",
    "sentiment",
    "severity",
    "followers",
    "priority",
    "since",
    "before",
    "sort",
)
STATUS_VALUES: tuple[str, ...] = tuple(s.value for s in Status)
IS_VALUES: tuple[str, ...] = (
    *STATUS_VALUES,
    "escalated",
    "assigned",
    "unassigned",
    "mine",
    "awaiting-approval",
    "reply-failed",
    "breached",
    "due:<1h",
)
SENTIMENTS: tuple[str, ...] = ("negative", "neutral", "positive")
SORTS: tuple[str, ...] = ("newest", "oldest", "priority", "followers")
PRIORITIES: tuple[str, ...] = tuple(PRIORITY_RANK)


# --------------------------------------------------------------------------- errors


class QueryError(ValueError):
    """A query the user must fix; `str()` shows the query with a caret under the culprit."""

    def __init__(self, reason: str, query: str, position: int, length: int = 1) -> None:
        super().__init__(reason)
        self.reason = reason
        self.query = query
        self.position = max(0, min(position, len(query)))
        self.length = max(1, length)

    def __str__(self) -> str:
        # Same length as the query, so the caret stays under its token.
        shown = "".join(c if c.isprintable() else " " for c in self.query)
        pad = " " * cell_len(shown[: self.position])
        marks = "^" * max(1, cell_len(shown[self.position : self.position + self.length]))
        return f"{self.reason}\n  {shown}\n  {pad}{marks}"


def _did_you_mean(word: str, choices: Sequence[str]) -> str:
    close = difflib.get_close_matches(word.lower(), choices, n=1, cutoff=0.6)
    return f"did you mean '{close[0]}'? " if close else ""


class _BadValue(Exception):
    """Raised by value parsers; becomes a QueryError pointing at the value."""


# --------------------------------------------------------------------------- the tree


@dataclass(frozen=True)
class Filter:
    """`key:value`. `value` is already validated (a name, an int, a time text)."""

    key: str
    value: str | int
    op: str = "="
    position: int = 0
    length: int = 0


@dataclass(frozen=True)
class TextTerm:
    """A bare word or a quoted phrase; `tokens` empty means the term is ignored."""

    term: str
    quoted: bool
    tokens: tuple[QueryToken, ...]
    position: int = 0
    length: int = 0


@dataclass(frozen=True)
class Not:
    node: Node


@dataclass(frozen=True)
class And:
    nodes: tuple[Node, ...]


@dataclass(frozen=True)
class Or:
    nodes: tuple[Node, ...]


Node = Filter | TextTerm | Not | And | Or


@dataclass(frozen=True)
class Query:
    """A parsed, validated query. `root` None matches every conversation."""

    text: str
    root: Node | None
    sort: str = "newest"


# --------------------------------------------------------------------------- lexing


@dataclass(frozen=True)
class _Tok:
    kind: str  # "(", ")", "-", "OR", "AND", "word", "phrase"
    text: str
    pos: int
    end: int
    key: str | None = None  # for key:"quoted value"
    value_pos: int = 0


# keys may contain `-` (`author-tag:`); an unknown hyphenated word stays text (`well-known:`)
_KEY_PREFIX = re.compile(r"([A-Za-z][A-Za-z_-]*):")
_KEY_VALUE = re.compile(r"([A-Za-z][A-Za-z_-]*):(.*)", re.DOTALL)


def _lex(q: str) -> list[_Tok]:
    toks: list[_Tok] = []
    i, n = 0, len(q)
    while i < n:
        c = q[i]
        if c.isspace():
            i += 1
        elif c in "()":
            toks.append(_Tok(c, c, i, i + 1))
            i += 1
        elif c == "-":
            if i + 1 >= n or q[i + 1].isspace() or q[i + 1] == ")":
                raise QueryError(
                    "'-' must touch what it excludes, e.g. -tag:spam or -refund", q, i, 1
                )
            toks.append(_Tok("-", c, i, i + 1))
            i += 1
        elif c == '"':
            close = q.find('"', i + 1)
            if close < 0:
                raise QueryError("unclosed quote", q, i, n - i)
            toks.append(_Tok("phrase", q[i + 1 : close], i, close + 1))
            i = close + 1
        else:
            key = _KEY_PREFIX.match(q, i)
            if key and key.end() < n and q[key.end()] == '"':
                close = q.find('"', key.end() + 1)
                if close < 0:
                    raise QueryError("unclosed quote", q, key.end(), n - key.end())
                value = q[key.end() + 1 : close]
                toks.append(_Tok("word", value, i, close + 1, key.group(1), key.end() + 1))
                i = close + 1
                continue
            j = i
            while j < n and not q[j].isspace() and q[j] not in ')"':
                j += 1
            word = q[i:j]
            kind = word if word in ("OR", "AND") else "word"
            toks.append(_Tok(kind, word, i, j))
            i = j
    return toks


# --------------------------------------------------------------------------- values

_COMPARISON = re.compile(r"(>=|<=|>|<|=)?(.*)", re.DOTALL)
_NUMBER = re.compile(r"(\d+(?:\.\d+)?)([km]?)", re.IGNORECASE)
_LANG = re.compile(r"[a-z]{2,3}(?:-[a-z0-9]{1,8})*")


def _choice(key: str, choices: Sequence[str]) -> Callable[[str], tuple[str, str | int]]:
    def parse_choice(value: str) -> tuple[str, str | int]:
        v = value.lower()
        if v in choices:
            return "=", v
        raise _BadValue(
            f"unknown value '{value}' for {key}: "
            f"({_did_you_mean(v, choices)}values: {', '.join(choices)})"
        )

    return parse_choice


def _name(strip_at: bool = False) -> Callable[[str], tuple[str, str | int]]:
    def parse_name(value: str) -> tuple[str, str | int]:
        v = value.strip()
        if strip_at:
            v = v.removeprefix("@")
        if not v:
            raise _BadValue("missing name")
        return "=", v

    return parse_name


def _comparison(
    key: str, convert: Callable[[str], int], example: str, what: str
) -> Callable[[str], tuple[str, str | int]]:
    def parse_comparison(value: str) -> tuple[str, str | int]:
        match = _COMPARISON.fullmatch(value.strip())
        assert match is not None  # the pattern matches any text
        op, operand = match.group(1) or "=", match.group(2).strip()
        try:
            return op, convert(operand)
        except (ValueError, _BadValue) as exc:
            detail = f"{exc}; " if isinstance(exc, _BadValue) else ""
            kind = "comparison" if match.group(1) else "value"
            raise _BadValue(
                f"bad {kind} '{value}' for {key}: ({detail}use {what}, optionally after "
                f">, >=, <, <= or =, e.g. {key}:{example})"
            ) from None

    return parse_comparison


def _followers(text: str) -> int:
    match = _NUMBER.fullmatch(text.replace(",", "").replace("_", ""))
    if not match:
        raise ValueError(text)
    try:
        number = Decimal(match.group(1))
    except InvalidOperation:
        raise ValueError(text) from None
    scale = {"": 1, "k": 1_000, "m": 1_000_000}[match.group(2).lower()]
    return int(number * scale)


def _integer(text: str) -> int:
    if not text.isdigit():
        raise ValueError(text)
    return int(text)


def _priority_rank(text: str) -> int:
    v = text.lower()
    if v not in PRIORITY_RANK:
        raise _BadValue(f"{_did_you_mean(v, PRIORITIES)}priorities: {', '.join(PRIORITIES)}")
    return PRIORITY_RANK[v]


def _lang(value: str) -> tuple[str, str | int]:
    v = value.strip().lower().replace("_", "-")
    if not _LANG.fullmatch(v):
        raise _BadValue(f"not a language code: '{value}' (e.g. lang:en, lang:zh, lang:zh-Hant)")
    return "=", v


def _person_tag(value: str) -> tuple[str, str | int]:
    try:
        return "=", person_tag(value)
    except ValueError as exc:
        raise _BadValue(f"{exc} (e.g. author-tag:advocate, author-tag:vip)") from None


def _time(value: str) -> tuple[str, str | int]:
    try:
        parse_when(value)
    except ValueError as exc:
        raise _BadValue(str(exc)) from None
    return "=", value.strip()


_DUE = re.compile(r"due:(<=?)(.+)", re.DOTALL | re.IGNORECASE)


def _is_value(value: str) -> tuple[str, str | int]:
    """`is:` values; `due:<DURATION` keeps the duration in seconds (`due:3600`, op `<`)."""
    match = _DUE.fullmatch(value.strip())
    if match is None:
        return _choice("is", IS_VALUES)(value)
    try:
        seconds = int(parse_duration(match.group(2)).total_seconds())
    except ValueError:
        raise _BadValue(
            f"bad duration in '{value}': use e.g. is:due:<1h, is:due:<=30m, is:due:<2d"
        ) from None
    return match.group(1), f"due:{seconds}"


_VALUES: dict[str, Callable[[str], tuple[str, str | int]]] = {
    "is": _is_value,
    "status": _choice("status", STATUS_VALUES),
    "assignee": _name(strip_at=True),
    "role": _name(),
    "source": _name(),
    "kind": _name(),
    "author": _name(strip_at=True),
    "person": _name(),
    "author-tag": _person_tag,
    "tag": _name(),
    "lang": _lang,
    "sentiment": _choice("sentiment", SENTIMENTS),
    "severity": _comparison("severity", _integer, ">=2", "a whole number"),
    "followers": _comparison("followers", _followers, ">10k", "a number like 500, 10k or 1.5m"),
    "priority": _comparison("priority", _priority_rank, ">=high", "a priority"),
    "since": _time,
    "before": _time,
    "sort": _choice("sort", SORTS),
}
_VALUE_HINTS: dict[str, str] = {
    "is": ", ".join(IS_VALUES),
    "status": ", ".join(STATUS_VALUES),
    "sentiment": ", ".join(SENTIMENTS),
    "sort": ", ".join(SORTS),
    "priority": ", ".join(PRIORITIES),
}


# --------------------------------------------------------------------------- parsing


class _Parser:
    def __init__(self, query: str) -> None:
        self.q = query
        self.toks = _lex(query)
        self.i = 0

    def peek(self) -> _Tok | None:
        return self.toks[self.i] if self.i < len(self.toks) else None

    def take(self) -> _Tok:
        tok = self.toks[self.i]
        self.i += 1
        return tok

    def error(self, reason: str, tok: _Tok) -> QueryError:
        return QueryError(reason, self.q, tok.pos, tok.end - tok.pos)

    def parse(self) -> Node | None:
        if not self.toks:
            return None
        node = self.or_expr()
        extra = self.peek()
        if extra is not None:
            raise self.error("unmatched ')'", extra)
        return node

    def or_expr(self) -> Node:
        parts = [self.and_expr()]
        while (tok := self.peek()) is not None and tok.kind == "OR":
            self.take()
            after = self.peek()
            if after is None or after.kind in ("OR", ")"):
                raise self.error("OR needs a term on both sides", tok)
            parts.append(self.and_expr())
        flat: list[Node] = []
        for part in parts:
            flat.extend(part.nodes if isinstance(part, Or) else (part,))
        return flat[0] if len(flat) == 1 else Or(tuple(flat))

    def and_expr(self) -> Node:
        parts: list[Node] = []
        while (tok := self.peek()) is not None and tok.kind not in ("OR", ")"):
            if tok.kind == "AND":
                self.take()
                after = self.peek()
                if not parts or after is None or after.kind in ("OR", "AND", ")"):
                    raise self.error("AND needs a term on both sides", tok)
                continue
            node = self.unary()
            parts.extend(node.nodes if isinstance(node, And) else (node,))
        if not parts:
            tok = self.peek()
            if tok is None:  # pragma: no cover - callers check for a following term
                raise QueryError("a term is missing", self.q, len(self.q), 1)
            if tok.kind == "OR":
                raise self.error("OR needs a term on both sides", tok)
            raise self.error("unmatched ')'", tok)
        return parts[0] if len(parts) == 1 else And(tuple(parts))

    def unary(self) -> Node:
        tok = self.take()
        if tok.kind == "-":
            after = self.peek()
            if after is None or after.kind in ("OR", "AND", ")"):
                raise self.error("nothing to exclude after '-'", tok)
            return Not(self.unary())
        if tok.kind == "(":
            after = self.peek()
            if after is None:
                raise self.error("unclosed '('", tok)
            if after.kind == ")":
                raise QueryError("empty parentheses", self.q, tok.pos, after.end - tok.pos)
            node = self.or_expr()
            close = self.peek()
            if close is None or close.kind != ")":
                raise self.error("unclosed '('", tok)
            self.take()
            return node
        if tok.kind == "phrase":
            tokens = tuple(phrase_tokens(tok.text, whole_words=True))
            return TextTerm(tok.text, True, tokens, tok.pos, tok.end - tok.pos)
        if tok.kind == "word":
            return self.word(tok)
        raise self.error(f"'{tok.text}' needs a term on both sides", tok)  # pragma: no cover

    def word(self, tok: _Tok) -> Node:
        if tok.key is not None:
            key, value, value_pos = tok.key, tok.text, tok.value_pos
        else:
            match = _KEY_VALUE.fullmatch(tok.text)
            if match is None or match.group(2).startswith("//"):
                tokens = tuple(phrase_tokens(tok.text))
                return TextTerm(tok.text, False, tokens, tok.pos, tok.end - tok.pos)
            key, value = match.group(1), match.group(2)
            value_pos = tok.pos + len(key) + 1
        length = tok.end - tok.pos
        canonical = key.lower()
        if canonical not in _VALUES and "-" in key and tok.key is None:
            tokens = tuple(phrase_tokens(tok.text))
            return TextTerm(tok.text, False, tokens, tok.pos, tok.end - tok.pos)
        if canonical not in _VALUES:
            raise QueryError(
                f"unknown filter key '{key}' ({_did_you_mean(canonical, KEYS)}"
                f"keys: {', '.join(KEYS)})",
                self.q,
                tok.pos,
                length,
            )
        if not value.strip():
            hint = _VALUE_HINTS.get(canonical)
            reason = f"missing value after '{canonical}:'" + (f" (values: {hint})" if hint else "")
            raise QueryError(reason, self.q, tok.pos, length)
        try:
            op, parsed = _VALUES[canonical](value)
        except _BadValue as exc:
            value_len = tok.end - value_pos - (1 if tok.key is not None else 0)
            raise QueryError(str(exc), self.q, value_pos, value_len) from None
        if canonical == "status":
            canonical = "is"
        return Filter(canonical, parsed, op, tok.pos, length)


def _extract_sort(query: str, root: Node | None) -> tuple[Node | None, str]:
    """Pull `sort:` out of the top-level AND; anywhere else it has no meaning."""
    sorts: list[Filter] = []

    def misplaced(node: Node) -> None:
        if isinstance(node, Filter) and node.key == "sort":
            raise QueryError(
                "sort: applies to the whole query; it cannot be negated or used with OR",
                query,
                node.position,
                node.length,
            )
        if isinstance(node, Not):
            misplaced(node.node)
        elif isinstance(node, And | Or):
            for child in node.nodes:
                misplaced(child)

    top = root.nodes if isinstance(root, And) else (root,) if root is not None else ()
    kept: list[Node] = []
    for node in top:
        if isinstance(node, Filter) and node.key == "sort":
            sorts.append(node)
        else:
            misplaced(node)
            kept.append(node)
    if len({s.value for s in sorts}) > 1:
        raise QueryError("only one sort: per query", query, sorts[1].position, sorts[1].length)
    sort = str(sorts[0].value) if sorts else "newest"
    if not kept:
        return None, sort
    return (kept[0] if len(kept) == 1 else And(tuple(kept))), sort


def parse(text: str) -> Query:
    """Parse and validate `text` (keys, values, dates, quotes, parentheses); no database."""
    root, sort = _extract_sort(text, _Parser(text).parse())
    return Query(text=text, root=root, sort=sort)


def _as_query(query: Query | str) -> Query:
    return parse(query) if isinstance(query, str) else query


# --------------------------------------------------------------------------- SQL


def _id_by_name(model: Any, name_column: Any, name: str) -> Any:
    """`(SELECT id ... WHERE name = :n)`: a scalar, so `col = (...)` keeps its index.

    Names match case-insensitively; an exact spelling wins a tie.
    """
    return (
        select(model.id)
        .where(func.lower(name_column) == name.lower())
        .order_by(case((name_column == name, 0), else_=1), model.id)
        .limit(1)
        .scalar_subquery()
    )


def _compare(col: Any, op: str, value: int) -> ColumnElement[bool]:
    return {
        "=": col == value,
        ">": col > value,
        ">=": col >= value,
        "<": col < value,
        "<=": col <= value,
    }[op]


def _mention_exists(*conditions: ColumnElement[bool]) -> ColumnElement[bool]:
    return exists().where(Mention.conversation_id == Conversation.id, *conditions)


def _matches(dialect: str, expression: str) -> Any:
    """The full-text index's mention ids for `expression`, as a one-column subquery."""
    return (
        matching_mention_ids(dialect, "fts")
        .bindparams(bindparam("fts", expression, unique=True))
        .columns(column("mention_id", Integer))
    )


def json_ids(ids: str | Sequence[int]) -> Any:
    """SQLite: ids (a list, or already a JSON array) as a one-column subquery, bound as
    one value whatever their number (SQLite caps bound values per statement)."""
    array = ids if isinstance(ids, str) else json.dumps(list(ids))
    return (
        text("SELECT value FROM json_each(:ids)")
        .bindparams(bindparam("ids", array, unique=True))
        .columns(column("value", Integer))
    )


# Prefixes this short (`re`, `ref`, `退`) match densely, and counting them is costly.
_SHORT_PREFIX = 3


def _scan_patterns(phrases: Sequence[Sequence[QueryToken]]) -> list[str] | None:
    """Substrings that say "this phrase occurs" in a mention's indexed document.

    The index stores a mention's tokens joined by single spaces (`search.index_rows`),
    so ` a b ` occurs in ` <doc> ` exactly when tokens a, b are adjacent; a prefix
    drops the trailing space. Only when a phrase's prefix token (if any) is its
    last one; else None.
    """
    patterns = []
    for phrase in phrases:
        if any(t.prefix for t in phrase[:-1]):
            return None
        joined = " " + " ".join(t.text for t in phrase)
        patterns.append(joined if phrase[-1].prefix else joined + " ")
    return patterns


class _Planner:
    """Planning that looks at the data first (`fetch_page` only; `conversation_filter`
    stays one self-contained expression). Subclasses know one database each."""

    IDS_MAX = 3000  # matching mentions few enough to hand over as a list
    resolves_names = False
    order_walk = False  # filter columns unindexed, so the sort's index is walked (SQLite)

    def __init__(self, session: Session) -> None:
        self.session = session
        self.scan = False
        self.scanning = False  # did the last compiled condition walk under a budget?
        self._seen: dict[tuple[tuple[QueryToken, ...], ...], tuple[str, Any]] = {}
        self._ids: dict[str, list[int]] = {}
        self._names: dict[tuple[str, str], int | None] = {}

    def ids(self, key: str, statement: Select[Any]) -> list[int]:
        """The ids `statement` selects (asked once per `key`)."""
        if key not in self._ids:
            self._ids[key] = [int(r[0]) for r in self.session.exec(statement)]
        return self._ids[key]

    def name(self, model: Any, name_column: Any, name: str) -> int | None:
        """The id `_id_by_name` would find, as a value the planner can see."""
        key = (model.__tablename__, name)
        if key not in self._names:
            found = self.session.exec(select(_id_by_name(model, name_column, name))).scalar()
            self._names[key] = None if found is None else int(found)
        return self._names[key]

    def text(self, phrases: Sequence[Sequence[QueryToken]]) -> tuple[str, Any]:
        raise NotImplementedError

    def walk(self) -> bool:
        return False

    def tag(self, tag_id: Any) -> str:
        return "in"

    def authors(self, ids: Sequence[int]) -> str:
        """`person:` / `author-tag:` accounts: "in" (their conversations by index) or "walk"."""
        return "in"

    def followers(self, condition: ColumnElement[bool]) -> str:
        return "in"

    def author_ids(self, key: str, condition: ColumnElement[bool]) -> list[int] | None:
        """The authors matching `condition` as values, when few (None: a subquery)."""
        return None


class _PostgresPlanner(_Planner):
    """PostgreSQL plans well from its statistics once it sees values: names are
    resolved to ids first, and so are the few authors over a `followers:` bound.
    A full-text match has no statistics worth trusting (see `inboxtui.pg_plan`):
    a bounded count decides. Few matches ("conversations"): their conversations
    are handed over as one array. More: "walk" the sort's order testing each
    conversation, under a budget (`WALK_MS`); when it runs out, `fetch_page`
    plans again without it and the matches are collected ("in")."""

    resolves_names = True
    AUTHORS_IN_MAX = 1000
    WALK_MS = 25  # statement timeout of a walk: ~20 x a dense word's walk at 100k
    SAMPLE = 1000  # newest mentions tested first (`pg_plan.recent_hits`) ...
    DENSE = 0.03  # ... and the share of them that matches when a walk starts at once

    SCAN_FIRST = True

    def __init__(self, session: Session) -> None:
        super().__init__(session)
        self.scan = self.SCAN_FIRST

    def text(self, phrases: Sequence[Sequence[QueryToken]]) -> tuple[str, Any]:
        """("conversations", ids) | ("walk", None) | ("in", None)."""
        key = tuple(tuple(p) for p in phrases)
        if key not in self._seen:
            expression = match_expression("postgresql", phrases)
            recent = pg_plan.recent_hits(self.session, expression, self.SAMPLE) if self.scan else 0
            if recent >= self.SAMPLE * self.DENSE:
                self._seen[key] = ("many", None)
            else:
                found, conversations = pg_plan.probe(self.session, expression, self.IDS_MAX)
                few = found <= self.IDS_MAX
                self._seen[key] = ("conversations", conversations) if few else ("many", None)
        mode, ids = self._seen[key]
        if mode == "conversations":
            return mode, ids
        return ("walk", None) if self.walk() else ("in", None)

    def walk(self) -> bool:
        self.scanning = self.scanning or self.scan
        return self.scan

    def author_ids(self, key: str, condition: ColumnElement[bool]) -> list[int] | None:
        """Authors matching `condition` (on `ix_author_followers`), None when many."""
        bounded = select(Author.id).where(condition).limit(self.AUTHORS_IN_MAX + 1)
        found = self.ids(key, bounded)
        return found if len(found) <= self.AUTHORS_IN_MAX else None

    def budget(self) -> AbstractContextManager[None]:
        return pg_plan.budget(self.session, self.WALK_MS)


class _SqlitePlanner(_Planner):
    """Chooses, per full-text group, tag and follower count, the SQL shape SQLite runs fastest.

    SQLite cannot estimate how many rows an FTS5 match or a tag has, and the
    best shape depends on it (measured at 1M mentions):
    - few matches ("ids"): take them from the index once, then look their
      conversations up and sort those: cost grows with the matches;
    - more: walk conversations in index order and test each until the page
      is full: cost shrinks as matches grow denser. "exists" tests against
      the collected matches; "scan" reads each candidate mention's indexed
      tokens back and needs no collecting: best when matches are dense.
    Bounded counts on the index decide: up to `IDS_MAX` + 1 entries tells few
    from more; for a single word, up to `DENSE` of all mentions tells dense.
    Several words or a phrase are costly to count that far, and so is a short
    prefix (FTS5 merges the lists of every term it starts): `fetch_page` then
    tries "scan" under a budget of SQLite steps and, when that runs out, plans
    again without it (`scan=False`). A tag's size and the number of authors
    over a `followers:` bound are counted on their indexes (many: walk, the
    latter under the budget too); `author:` ids are looked up first (a scan
    of `author`) so that this does not eat the budget.
    """

    # resolves_names stays False: without statistics, scalar subqueries serve SQLite as well
    DENSE = 0.03  # of all mentions: a single word this common is scanned for
    TAG_IN_MAX = 3000
    AUTHORS_IN_MAX = 1000
    SCAN_STEPS = 60  # of STEP_SIZE SQLite VM steps each: about 15 ms of CPU
    STEP_SIZE = 1000
    SCAN_FIRST = True

    def __init__(self, session: Session) -> None:
        super().__init__(session)
        self.scan = self.SCAN_FIRST
        self._dense_at = 0

    def _count(self, expression: str, cap: int) -> int:
        bounded = text(
            "SELECT count(*) FROM (SELECT rowid FROM mention_search"
            " WHERE mention_search MATCH :q LIMIT :n)"
        )
        return int(self.session.exec(bounded, params={"q": expression, "n": cap}).scalar_one())

    def _first(self, expression: str, cap: int) -> tuple[int, str]:
        """How many mentions match, up to `cap`, and their ids as a JSON array."""
        first = text(
            "SELECT count(*), '[' || coalesce(group_concat(rowid), '') || ']' FROM"
            " (SELECT rowid FROM mention_search WHERE mention_search MATCH :q LIMIT :n)"
        )
        found, ids = self.session.exec(first, params={"q": expression, "n": cap}).one()
        return int(found), str(ids)

    def dense_at(self) -> int:
        """Matches from which a single word counts as dense."""
        if not self._dense_at:
            mentions = self.session.exec(select(func.max(Mention.id))).scalar() or 0
            self._dense_at = max(self.IDS_MAX, int(mentions * self.DENSE)) + 1
        return self._dense_at

    def _plan(self, phrases: Sequence[Sequence[QueryToken]], probe: bool) -> tuple[str, str]:
        """("ids", JSON array) | ("dense" | "sparse" | "many" | "guess", "")."""
        scannable = _scan_patterns(phrases) is not None
        prefixes = [t for p in phrases for t in p if t.prefix]
        if scannable and not probe and any(len(t.text) <= _SHORT_PREFIX for t in prefixes):
            return "guess", ""
        expression = match_expression("sqlite", phrases)
        if len(phrases) == 1 and len(phrases[0]) == 1:
            token = phrases[0][0]
            dense_at = self.dense_at()
            if token.prefix:
                # The whole word is cheap to count and bounds its prefix search from below.
                exact = match_expression("sqlite", [[QueryToken(token.text, False)]])
                if self._count(exact, dense_at) >= dense_at:
                    return "dense", ""
            found = self._count(expression, dense_at)
            if found >= dense_at:
                return "dense", ""
            if found > self.IDS_MAX:
                return "sparse", ""
        found, ids = self._first(expression, self.IDS_MAX + 1)
        return ("ids", ids) if found <= self.IDS_MAX else ("many", "")

    def text(self, phrases: Sequence[Sequence[QueryToken]]) -> tuple[str, Any]:
        """("ids", JSON array of mention ids) | ("scan", "") | ("exists", "")."""
        key = tuple(tuple(p) for p in phrases)
        if key not in self._seen or (self._seen[key][0] == "guess" and not self.scan):
            self._seen[key] = self._plan(phrases, probe=not self.scan)
        mode, ids = self._seen[key]
        if mode == "ids":
            return mode, ids
        if mode != "sparse" and _scan_patterns(phrases) is not None and self.walk():
            return "scan", ""
        return "exists", ""

    def walk(self) -> bool:
        """Whether to walk conversations in order (under the budget) for a filter."""
        self.scanning = self.scanning or self.scan
        return self.scan

    def followers(self, condition: ColumnElement[bool]) -> str:
        """Few authors qualify (counted on `ix_author_followers`): "in"; else "walk"."""
        bounded = select(Author.id).where(condition).limit(self.AUTHORS_IN_MAX + 1).subquery()
        found = self.session.exec(select(func.count()).select_from(bounded)).scalar_one()
        if found <= self.AUTHORS_IN_MAX or not self.walk():
            return "in"
        return "walk"

    def authors(self, ids: Sequence[int]) -> str:
        """Many conversations by these authors (counted on `ix_conversation_author`): "walk"."""
        theirs = select(Conversation.id).where(Conversation.author_id.in_(list(ids)))
        bounded = theirs.limit(self.TAG_IN_MAX + 1).subquery()
        found = self.session.exec(select(func.count()).select_from(bounded)).scalar_one()
        return "walk" if found > self.TAG_IN_MAX and self.walk() else "in"

    def tag(self, tag_id: Any) -> str:
        tagged = select(ConversationTag.conversation_id).where(ConversationTag.tag_id == tag_id)
        bounded = tagged.limit(self.TAG_IN_MAX + 1).subquery()
        found = self.session.exec(select(func.count()).select_from(bounded)).scalar_one()
        return "in" if found <= self.TAG_IN_MAX else "exists"

    @contextmanager
    def budget(self) -> Iterator[None]:
        """Interrupt the statement run inside after `SCAN_STEPS` * `STEP_SIZE` steps."""
        raw = self.session.connection().connection.driver_connection
        ticks = 0

        def tick() -> int:
            nonlocal ticks
            ticks += 1
            return int(ticks > self.SCAN_STEPS)

        raw.set_progress_handler(tick, self.STEP_SIZE)
        try:
            yield
        finally:
            raw.set_progress_handler(None, self.STEP_SIZE)


def _interrupted(exc: OperationalError) -> bool:
    """A budgeted statement stopped: SQLite's progress handler, PostgreSQL's timeout."""
    if pg_plan.canceled(exc):
        return True
    return isinstance(exc.orig, sqlite3.OperationalError) and "interrupt" in str(exc.orig)


# `person:` / `author-tag:` accounts handed to the database as a list of values, at most
_PERSON_IDS_MAX = 1000

# Filter columns with an index in `sort:priority` order (ix_conversation_status_priority_activity)
_PRIORITY_ORDERED = frozenset({"status"})


def _sla_condition(value: str, op: str) -> ColumnElement[bool]:
    """`is:breached` / `is:due:<N`: ranges on the stored deadlines (see `inboxtui.sla`).

    A clock runs for first response until `first_response_at`, for resolution
    until `resolved_at`; paused (pending/snoozed with `sla_paused_at`), it is
    breached only if the deadline passed before the pause.
    """
    c = Conversation
    now = utcnow()
    running = c.status.notin_(["pending", "snoozed"]) | c.sla_paused_at.is_(None)
    open_ = c.status != "resolved"
    clocks = (
        (c.first_response_due_at, c.first_response_at.is_(None)),
        (c.resolution_due_at, c.resolved_at.is_(None)),
    )
    if value == "breached":
        return and_(
            open_,
            or_(
                *(
                    and_(
                        due < now,
                        pending,
                        or_(running, due < func.coalesce(c.sla_paused_at, now)),
                    )
                    for due, pending in clocks
                )
            ),
        )
    limit = now + timedelta(seconds=int(value.removeprefix("due:")))
    within = (lambda due: due < limit) if op == "<" else (lambda due: due <= limit)
    return and_(
        open_,
        running,
        or_(*(and_(due >= now, within(due), pending) for due, pending in clocks)),
    )


class _Compiler:
    """Turns the tree into one boolean SQL expression; None means "no constraint"."""

    def __init__(self, dialect: str, me_id: int | None, planner: _Planner | None = None) -> None:
        self.dialect = dialect
        self.me_id = me_id
        self.planner = planner

    def node(self, node: Node) -> ColumnElement[bool] | None:
        if isinstance(node, Filter):
            return self.filter(node)
        if isinstance(node, TextTerm):
            return self.text([node])
        if isinstance(node, Not):
            inner = self.node(node.node)
            # SQL NULL would make NOT drop rows (unassigned for -assignee:x); force two values.
            return None if inner is None else not_(func.coalesce(inner, false()))
        if isinstance(node, And):
            texts = [n for n in node.nodes if isinstance(n, TextTerm)]
            conditions = [self.text(texts)] if texts else []
            conditions += [self.node(n) for n in node.nodes if not isinstance(n, TextTerm)]
            present = [c for c in conditions if c is not None]
            if not present:
                return None
            return present[0] if len(present) == 1 else and_(*present)
        # words that fold to the same tokens (電池 OR 电池) are one lookup, not two
        seen: set[tuple[QueryToken, ...]] = set()
        unique = []
        for n in node.nodes:
            if isinstance(n, TextTerm):
                if n.tokens in seen:
                    continue
                seen.add(n.tokens)
            unique.append(n)
        options = [c for c in (self.node(n) for n in unique) if c is not None]
        if not options:
            return None
        return options[0] if len(options) == 1 else or_(*options)

    def text(self, terms: Sequence[TextTerm]) -> ColumnElement[bool] | None:
        """All terms in one match expression: one index lookup for the whole AND group."""
        phrases = [t.tokens for t in terms if t.tokens]
        if not phrases:
            return None
        mode, ids = self.planner.text(phrases) if self.planner else ("in", None)
        if mode == "scan":
            patterns = _scan_patterns(phrases) or []
            doc = "(' ' || mention_search.doc || ' ')"
            tests = " AND ".join(f"instr({doc}, :p{i}) > 0" for i in range(len(patterns)))
            found = text(
                "EXISTS (SELECT 1 FROM mention_search"
                f" WHERE mention_search.rowid = mention.id AND {tests})"
            ).bindparams(*(bindparam(f"p{i}", p, unique=True) for i, p in enumerate(patterns)))
            return _mention_exists(found)
        if mode == "walk":  # PostgreSQL: each conversation tested in the walk's order
            return pg_plan.walk_exists(match_expression(self.dialect, phrases))
        if mode == "conversations":  # PostgreSQL: the few matches' conversations
            return pg_plan.in_conversations(Conversation.id, ids) if ids else false()
        if mode == "ids":
            if not ids or ids == "[]":
                return false()
            matches = json_ids(ids) if isinstance(ids, str) else ids
        else:
            matches = _matches(self.dialect, match_expression(self.dialect, phrases))
        if mode == "exists":
            return _mention_exists(Mention.id.in_(matches))
        return Conversation.id.in_(conversations_of(self.dialect, matches))

    def column(self, name: str) -> Any:
        """A `conversation` column to filter on; `+column` while walking the sort's index.

        SQLite picks the index of an equality (`role_id = 2`) over the one that
        gives `sort:priority`'s order, then sorts every match: 130 ms a page for
        one role's conversations of a million. `+role_id` is the same value but
        no index term, so the walk in priority order stays the only plan; it runs
        under the planner's budget, and a sparse filter falls back to the index.
        A status has an index in priority order of its own (`_PRIORITY_ORDERED`).
        """
        if self.planner is None or not self.planner.order_walk or name in _PRIORITY_ORDERED:
            return getattr(Conversation, name)
        self.planner.scanning = True
        column = Conversation.__table__.c[name]
        return literal_column(f"+{Conversation.__tablename__}.{name}", type_=column.type)

    def filter(self, f: Filter) -> ColumnElement[bool]:
        key, value = f.key, f.value
        c = Conversation
        if key == "is":
            if value in STATUS_VALUES:
                return self.column("status") == value
            if value == "escalated":
                return self.column("escalated") == true()
            if value == "assigned":
                return self.column("agent_id").is_not(None)
            if value == "unassigned":
                return self.column("agent_id").is_(None)
            if value == "awaiting-approval":
                from inboxtui.models import OutboxReply, OutboxState

                return exists().where(
                    OutboxReply.conversation_id == c.id,
                    OutboxReply.state == OutboxState.AWAITING_APPROVAL.value,
                )
            if value == "reply-failed":
                from inboxtui.models import OutboxReply, OutboxState

                return exists().where(
                    OutboxReply.conversation_id == c.id,
                    OutboxReply.state == OutboxState.FAILED.value,
                )
            if value == "breached" or str(value).startswith("due:"):
                return _sla_condition(str(value), f.op)
            return self.mine()
        if key == "assignee":
            lowered = str(value).lower()
            if lowered == "me":
                return self.mine()
            if lowered == "none":
                return self.column("agent_id").is_(None)
            return self.named(self.column("agent_id"), Agent, Agent.handle, str(value))
        if key == "role":
            if str(value).lower() == "none":
                return self.column("role_id").is_(None)
            return self.named(self.column("role_id"), Role, Role.name, str(value))
        if key == "source":
            return self.named(self.column("source_id"), Source, Source.name, str(value))
        if key == "kind":
            return func.lower(c.kind) == str(value).lower()
        if key == "author":
            handle = str(value).lower()
            authors = select(Author.id).where(handle_is(handle))
            if self.planner:
                # Looked up first: PostgreSQL then sees the ids, and SQLite's scan of
                # `author` cannot eat a scan budget.
                found = self.planner.ids(f"author:{handle}", authors)
                return c.author_id.in_(found) if found else false()
            return c.author_id.in_(authors)
        if key in ("person", "author-tag"):
            return self.person_filter(key, str(value))
        if key == "tag":
            tag_id = self.name_id(Tag, Tag.name, str(value))
            if tag_id is None:
                return false()
            tagged = ConversationTag.tag_id == tag_id
            if self.planner and self.planner.tag(tag_id) == "exists":
                return exists().where(ConversationTag.conversation_id == c.id, tagged)
            return c.id.in_(select(ConversationTag.conversation_id).where(tagged))
        if key == "lang":
            lang = func.replace(func.lower(Mention.lang), "_", "-")
            return _mention_exists(or_(lang == value, lang.like(f"{value}-%")))
        if key == "sentiment":
            return _mention_exists(func.lower(Mention.sentiment_label) == value)
        if key == "severity":
            return _compare(c.severity, f.op, int(value))
        if key == "followers":
            big = _compare(Author.followers, f.op, int(value))
            few = self.planner.author_ids(f"followers:{f.op}{value}", big) if self.planner else None
            if few is not None:
                return c.author_id.in_(few) if few else false()
            if self.planner and self.planner.followers(big) == "walk":
                return exists().where(Author.id == c.author_id, big)
            return c.author_id.in_(select(Author.id).where(big))
        if key == "priority":
            return _compare(c.priority, f.op, int(value))
        if key == "since":
            return self.column("last_activity_at") >= parse_when(str(value))
        if key == "before":
            return self.column("last_activity_at") < parse_when(str(value))
        raise AssertionError(f"unhandled key {key}")  # pragma: no cover

    def person_filter(self, key: str, value: str) -> ColumnElement[bool]:
        """`person:` / `author-tag:`: the root author is one of a set of accounts.

        Like `author:`, the accounts are looked up first when planning (few, by
        `person_author` and `ix_person_tag_tag`); a set too big for a list of
        values stays a subquery.
        """
        c = Conversation
        authors = person_authors(value) if key == "person" else tagged_person_authors(value)
        if self.planner:
            found = self.planner.ids(f"{key}:{value}", authors.limit(_PERSON_IDS_MAX + 1))
            if not found:
                return false()
            if len(found) <= _PERSON_IDS_MAX:
                if self.planner.authors(found) == "walk":
                    # many conversations: test each row of the sort's index walk (budgeted)
                    unindexed = literal_column("+conversation.author_id", type_=Integer)
                    return unindexed.in_(found)
                return c.author_id.in_(found)
        return c.author_id.in_(authors)

    def name_id(self, model: Any, name_column: Any, name: str) -> Any:
        """The id of a named row: a value (None: no such row) or a scalar subquery."""
        if self.planner is not None and self.planner.resolves_names:
            return self.planner.name(model, name_column, name)
        return _id_by_name(model, name_column, name)

    def named(self, col: Any, model: Any, name_column: Any, name: str) -> ColumnElement[bool]:
        found = self.name_id(model, name_column, name)
        return false() if found is None else col == found

    def mine(self) -> ColumnElement[bool]:
        return false() if self.me_id is None else self.column("agent_id") == self.me_id


def _filter(
    query: Query, dialect: str, me_id: int | None, planner: _Planner | None
) -> ColumnElement[bool]:
    root = query.root
    condition = None if root is None else _Compiler(dialect, me_id, planner).node(root)
    return true() if condition is None else condition


def conversation_filter(query: Query, *, dialect: str, me_id: int | None) -> ColumnElement[bool]:
    """The WHERE condition over `conversation` for `query` (relative times are taken now).

    Portable and self-contained (no database round trip to plan it), so other
    code can combine it, e.g. routing rules with `conversation.id = :id`.
    """
    return _filter(query, dialect, me_id, None)


def bounded_filter(
    session: Session, query: Query | str, *, me_id: int | None = None
) -> ColumnElement[bool]:
    """`conversation_filter` planned for statements that test few conversations.

    For callers whose statement already bounds the conversations it tests (crisis
    detection: those with mentions in the last hour): search words are checked on
    each candidate's own indexed documents (`_SqlitePlanner`'s "scan"), not by
    collecting every match in the store first. Same rows as `conversation_filter`.
    """
    query = _as_query(query)
    dialect = _dialect(session)
    planner: _Planner | None = None
    if dialect == "postgresql":
        planner = _PostgresPlanner(session)
    elif dialect == "sqlite":
        planner = _SqlitePlanner(session)
    return _filter(query, dialect, me_id, planner)


# --------------------------------------------------------------------------- paging

# The author joined to a page's rows (and sorted on), under a name of its own: a
# filter's subquery on `author` (followers:, author:) then never correlates with it.
_ROW_AUTHOR = Author.__table__.alias("row_author")  # type: ignore[attr-defined]
_FOLLOWERS_KEY = func.coalesce(_ROW_AUTHOR.c.followers, -1)  # NULLs sort last (followers >= 0)

# sort -> the keys before `id` (expression, descending?), and whether `id` descends.
_ORDERS: dict[str, tuple[tuple[tuple[Any, bool], ...], bool]] = {
    "newest": (((Conversation.last_activity_at, True),), True),
    "oldest": (((Conversation.last_activity_at, False),), False),
    "priority": (((Conversation.priority, True), (Conversation.last_activity_at, True)), True),
    "followers": (((_FOLLOWERS_KEY, True),), True),
}
_CURSOR_TYPES: dict[str, tuple[type, ...]] = {
    "newest": (datetime,),
    "oldest": (datetime,),
    "priority": (int, datetime),
    "followers": (int,),
}


@dataclass(frozen=True)
class Cursor:
    """Where a page ended: the sort keys and id of its last row (keyset, no OFFSET)."""

    sort: str
    values: tuple[datetime | int, ...]
    id: int

    def to_token(self) -> str:
        values = [iso(v) if isinstance(v, datetime) else v for v in self.values]
        raw = json.dumps([self.sort, values, self.id], separators=(",", ":"))
        return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")

    @classmethod
    def from_token(cls, token: str) -> Cursor:
        """Raises ValueError (plain words) for a token that is not one of ours."""
        try:
            raw = base64.urlsafe_b64decode(token.strip() + "=" * (-len(token.strip()) % 4))
            sort, values, row_id = json.loads(raw)
            types = _CURSOR_TYPES[sort]
            if len(values) != len(types) or not isinstance(row_id, int):
                raise ValueError
            parsed: list[datetime | int] = []
            for value, kind in zip(values, types, strict=True):
                if kind is datetime:
                    parsed.append(parse_iso(value))
                elif isinstance(value, int) and not isinstance(value, bool):
                    parsed.append(value)
                else:
                    raise ValueError
        except Exception:
            raise ValueError(f"not a valid page cursor: {token!r}") from None
        return cls(sort, tuple(parsed), row_id)


def _order_by(sort: str) -> list[Any]:
    keys, id_desc = _ORDERS[sort]
    order = [expr.desc() if desc else expr.asc() for expr, desc in keys]
    order.append(Conversation.id.desc() if id_desc else Conversation.id.asc())
    return order


def _after(cursor: Cursor) -> ColumnElement[bool]:
    """Rows strictly after `cursor` in sort order, as `a <= x AND (a < x OR ...)`.

    The leading `<=` is a plain range both planners use on the composite
    indexes; row-value comparison would not be portable.
    """
    keys, id_desc = _ORDERS[cursor.sort]
    pairs = [(expr, desc, value) for (expr, desc), value in zip(keys, cursor.values, strict=True)]
    condition: ColumnElement[bool] = (
        Conversation.id < cursor.id if id_desc else Conversation.id > cursor.id
    )
    for expr, desc, value in reversed(pairs):
        if desc:
            condition = and_(expr <= value, or_(expr < value, condition))
        else:
            condition = and_(expr >= value, or_(expr > value, condition))
    return condition


# --------------------------------------------------------------------------- rows


@dataclass(frozen=True, slots=True)
class ConversationRow:
    """What the queue shows for one conversation: plain data, no ORM object.

    Slots: the queue keeps thousands of these, and one object each (not two,
    with a `__dict__`) halves what the cycle collector walks for them.
    """

    id: int
    status: str
    priority: str
    role: str | None
    agent: str | None
    escalated: bool
    severity: int | None
    escalation_reason: str | None
    source: str
    kind: str
    author_handle: str | None
    author_name: str | None
    followers: int | None
    title: str | None
    excerpt: str
    created_at: datetime
    last_activity_at: datetime
    snooze_until: datetime | None
    mention_count: int
    tags: tuple[str, ...]
    version: int
    # the running SLA deadline (first response, else resolution) and when its clock paused
    sla_due_at: datetime | None = None
    sla_paused_at: datetime | None = None


@dataclass
class Page:
    rows: list[ConversationRow]
    next_cursor: Cursor | None
    skipped: int = 0  # rows of the page not read (`only_last`): it covered rows + skipped


def _row_select(*extra: Any) -> Select[Any]:
    """The queue's columns (`ROW_COLUMNS` of them, in `_build_rows`' order), then `extra`."""
    # LEFT JOINs keep `conversation` the outer loop (by primary key here).
    c = Conversation
    return (
        select(
            c.id,
            c.status,
            c.priority,
            Role.name.label("role"),
            Agent.handle.label("agent"),
            c.escalated,
            c.severity,
            c.escalation_reason,
            Source.name.label("source"),
            c.kind,
            _ROW_AUTHOR.c.handle.label("author_handle"),
            _ROW_AUTHOR.c.name.label("author_name"),
            _ROW_AUTHOR.c.followers,
            c.title,
            c.excerpt,
            _raw_time(c.created_at),
            _raw_time(c.last_activity_at),
            _raw_time(c.snooze_until),
            c.mention_count,
            c.version,
            _raw_time(_running_due()).label("sla_due_at"),
            _raw_time(c.sla_paused_at),
            *extra,
        )
        .select_from(c)
        .outerjoin(Role, Role.id == c.role_id)
        .outerjoin(Agent, Agent.id == c.agent_id)
        .outerjoin(Source, Source.id == c.source_id)
        .outerjoin(_ROW_AUTHOR, _ROW_AUTHOR.c.id == c.author_id)
    )


ROW_COLUMNS = 22


def _raw_time(expr: Any) -> Any:
    """A timestamp column as the driver returns it; `_utc` makes it a UTC datetime.

    Five per row, on every page the queue reads: SQLAlchemy's parsing and
    SQLModel's time-zone step cost a third of a read; one `fromisoformat` does
    the same.
    """
    return type_coerce(expr, String)


def _utc(value: Any) -> datetime | None:
    """SQLite's stored text, or PostgreSQL's datetime, as an aware UTC datetime."""
    if value is None:
        return None
    return to_utc(datetime.fromisoformat(value) if type(value) is str else value)


def _running_due() -> Any:
    """The deadline the clock runs towards: first response until answered, then resolution."""
    c = Conversation
    return case(
        (
            c.first_response_at.is_(None) & c.first_response_due_at.is_not(None),
            c.first_response_due_at,
        ),
        (c.resolved_at.is_(None), c.resolution_due_at),
        else_=None,
    ).label("sla_due_at")


def _tag_names(dialect: str) -> Any:
    """A conversation's tag names as one column: a JSON array (SQLite), an array (PostgreSQL).

    In the rows' query rather than a query of its own: SQLite hands over each
    result row with the GIL released and retaken, and a reader thread waits
    for the busy UI at every retake, so a read costs what its result rows number.
    """
    c = ConversationTag
    if dialect == "postgresql":
        names = func.array_agg(aggregate_order_by(Tag.name, Tag.name))
    else:
        names = func.json_group_array(Tag.name)  # ordered below (by code point, as SQLite)
    return (
        select(names)
        .select_from(c)
        .join(Tag, Tag.id == c.tag_id)
        .where(c.conversation_id == Conversation.id)
        .scalar_subquery()
    )


def _tag_tuple(value: Any) -> tuple[str, ...]:
    if not value or value == "[]":  # most conversations: no JSON parse
        return ()
    if isinstance(value, str):
        return tuple(sorted(json.loads(value)))
    return tuple(value)


def _execute(session: Session, statement: Any) -> Any:
    """Run a plain SELECT on the session's connection: rows as tuples, no ORM layer.

    The ORM's result machinery (entities, identity map) does nothing for column
    selects but costs about a third of reading a page of the queue.
    """
    return session.connection().execute(statement)


def _build_rows(records: Sequence[Any]) -> list[ConversationRow]:
    """Rows of `_row_select(_tag_names(...), ...)` as `ConversationRow`s."""
    priority_name = PRIORITY_NAME.get
    utc = _utc
    out = []
    # by position: a row's attribute lookups by name cost more than the dataclass
    for record in records:
        (
            row_id,
            status,
            priority,
            role,
            agent,
            escalated,
            severity,
            escalation_reason,
            source,
            kind,
            author_handle,
            author_name,
            followers,
            title,
            excerpt,
            created_at,
            last_activity_at,
            snooze_until,
            mention_count,
            version,
            sla_due_at,
            sla_paused_at,
        ) = record[:ROW_COLUMNS]
        out.append(
            ConversationRow(
                id=row_id,
                status=status,
                priority=priority_name(priority) or str(priority),
                role=role,
                agent=agent,
                escalated=bool(escalated),
                severity=severity,
                escalation_reason=escalation_reason,
                source=source or "",
                kind=kind,
                author_handle=author_handle,
                author_name=author_name,
                followers=followers,
                title=title,
                excerpt=excerpt,
                created_at=utc(created_at),
                last_activity_at=utc(last_activity_at),
                snooze_until=utc(snooze_until),
                mention_count=mention_count,
                tags=_tag_tuple(record[ROW_COLUMNS]),
                version=version,
                sla_due_at=utc(sla_due_at),
                sla_paused_at=utc(sla_paused_at),
            )
        )
    return out


def _dialect(session: Session) -> str:
    return session.get_bind().dialect.name


def _id_select(sort: str, *columns: Any) -> Select[Any]:
    statement = select(Conversation.id, *columns).select_from(Conversation)
    if sort == "followers":
        statement = statement.outerjoin(_ROW_AUTHOR, _ROW_AUTHOR.c.id == Conversation.author_id)
    return statement


def fetch_page(
    session: Session,
    query: Query | str,
    *,
    me_id: int | None = None,
    limit: int = 50,
    after: Cursor | None = None,
    only_last: bool = False,
) -> Page:
    """One page of the queue in the query's order; pass `next_cursor` back for the next.

    Two steps: a narrow query over `conversation` (an index scan, often covering)
    picks the page's ids and sort keys; then one query reads those rows and one
    their tags. The cursor comes from the first step, so a row changed meanwhile
    cannot make the next page skip or repeat. The first step's shape is chosen
    after a look at the data (`_SqlitePlanner`, `_PostgresPlanner`); every shape
    returns the same rows as `conversation_filter`.

    `only_last`: read only the page's last row (`Page.skipped` counts the others).
    Walking to a far position needs that row's keyset, not the thousands before it.
    """
    query = _as_query(query)
    if limit < 1:
        raise ValueError(f"page limit must be at least 1, not {limit}")
    if after is not None and after.sort != query.sort:
        raise QueryError(
            f"the page cursor belongs to sort:{after.sort}, not sort:{query.sort}",
            query.text,
            0,
            len(query.text),
        )
    dialect = _dialect(session)
    # For a full sort (followers) collecting matches is always best: the default.
    planner: _Planner | None = None
    if dialect == "postgresql":
        planner = _PostgresPlanner(session)
        planner.scan = planner.scan and query.sort != "followers"  # a full sort: no walk
    elif dialect == "sqlite" and query.sort != "followers":
        planner = _SqlitePlanner(session)
        planner.order_walk = query.sort == "priority"

    def run() -> list[Any]:
        condition = _filter(query, dialect, me_id, planner)
        keys = [expr.label(f"k{i}") for i, (expr, _) in enumerate(_ORDERS[query.sort][0])]
        statement = _id_select(query.sort, *keys).where(condition)
        if after is not None:
            statement = statement.where(_after(after))
        statement = statement.order_by(*_order_by(query.sort)).limit(limit + 1)
        if planner is None or not planner.scanning:
            return list(_execute(session, statement))
        try:
            with planner.budget():
                return list(_execute(session, statement))
        except OperationalError as exc:
            if not _interrupted(exc):
                raise
        # the matches are sparse: collect them (and sort them, for sort:priority)
        planner.scan = planner.scanning = planner.order_walk = False
        return run()

    found = run()
    page = found[:limit]
    cursor = None
    if len(found) > limit:
        last = page[-1]
        cursor = Cursor(query.sort, tuple(last[1:]), last[0])
    ids = [r[0] for r in page[-1:]] if only_last else [r[0] for r in page]
    return Page(fetch_rows(session, ids), cursor, skipped=len(page) - len(ids))


def count(session: Session, query: Query | str, *, me_id: int | None = None) -> int:
    query = _as_query(query)
    condition = conversation_filter(query, dialect=_dialect(session), me_id=me_id)
    statement = select(func.count()).select_from(Conversation).where(condition)
    return int(session.exec(statement).scalar_one())


def matching_ids(session: Session, query: Query | str, *, me_id: int | None = None) -> list[int]:
    """Every matching id in the query's order (for bulk actions)."""
    query = _as_query(query)
    condition = conversation_filter(query, dialect=_dialect(session), me_id=me_id)
    statement = _id_select(query.sort).where(condition).order_by(*_order_by(query.sort))
    return [row[0] for row in session.exec(statement)]


def position_of(
    session: Session, query: Query | str, conversation_id: int, *, me_id: int | None = None
) -> int | None:
    """The row index of `conversation_id` in `query`'s order, None if it does not match.

    Two counts, no id list: the Activity screen jumps the queue to a conversation.
    """
    query = _as_query(query)
    condition = conversation_filter(query, dialect=_dialect(session), me_id=me_id)
    keys = [expr for expr, _ in _ORDERS[query.sort][0]]
    found = session.exec(
        _id_select(query.sort, *keys).where(condition, Conversation.id == conversation_id)
    ).first()
    if found is None:
        return None
    after = _after(Cursor(query.sort, tuple(found[1:]), conversation_id))
    others = Conversation.id != conversation_id
    before = _id_select(query.sort).where(condition, not_(after), others)
    statement = select(func.count()).select_from(before.subquery())
    return int(session.exec(statement).scalar_one())


@functools.cache
def _rows_by_id(dialect: str) -> Select[Any]:
    """The rows-by-id statement, built once: building it anew cost more than running it.

    A statement object keeps its cache key, so SQLAlchemy finds the compiled
    form without walking the expression again; the ids are an expanding parameter.
    """
    ids = bindparam("ids", expanding=True)
    return _row_select(_tag_names(dialect)).where(Conversation.id.in_(ids))


def fetch_rows(session: Session, ids: Sequence[int]) -> list[ConversationRow]:
    """Fresh rows for `ids`, in the order given; ids that no longer exist are skipped."""
    if not ids:
        return []
    statement = _rows_by_id(_dialect(session))
    by_id = {r[0]: r for r in session.connection().execute(statement, {"ids": list(ids)})}
    return _build_rows([by_id[i] for i in ids if i in by_id])


__all__ = [
    "KEYS",
    "And",
    "ConversationRow",
    "Cursor",
    "Filter",
    "Not",
    "Or",
    "Page",
    "Query",
    "QueryError",
    "TextTerm",
    "bounded_filter",
    "conversation_filter",
    "count",
    "fetch_page",
    "fetch_rows",
    "json_ids",
    "matching_ids",
    "parse",
    "position_of",
]

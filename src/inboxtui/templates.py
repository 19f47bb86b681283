"""Canned replies: parsing and checking bodies, language variants, rendering, TOML, storage.

A body is text with `{placeholders}`: the built-ins in `PLACEHOLDERS` (a dotted
name) and custom fields (`{topic}`, `{order_id}`: one plain identifier) that
the composer or `--field k=v` fills in. `{{` and `}}` are literal braces.
Everything that can be wrong with a body (an unknown `{x.y}`, an unbalanced
brace, an empty `{}`) is found when a template is imported or saved, with the
template, the variant and the line:column: never when a reply is being sent.

Service functions (`save_template`, `delete_template`, `import_templates`)
write one audited transaction each, like `inboxtui.services.triage`.
"""

from __future__ import annotations

import json
import re
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlmodel import Session

from inboxtui.db import Database
from inboxtui.models import Status, Template
from inboxtui.services import audit
from inboxtui.services.errors import NotFound, ServiceError
from inboxtui.services.triage import ensure_agent, normalize_tag
from inboxtui.sources.registry import KINDS
from inboxtui.text import sanitize
from inboxtui.timeutil import utcnow

PLACEHOLDERS: dict[str, str] = {
    "author.name": "the author's display name (their handle when they have none)",
    "author.handle": "the author's handle on the platform",
    "agent.name": "your name (display name, else handle)",
    "source.name": "the source's name",
    "conversation.id": "the conversation's number",
}
DEFAULT_VARIANT = "default"
_FIELD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_LANG = re.compile(r"[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*\Z")
_NAME = re.compile(r"[^\s{}]+\Z")
# Chinese scripts: which region/script tags read which script
_HANT = ("zh-hant", "zh-tw", "zh-hk", "zh-mo")
_HANS = ("zh-hans", "zh-cn", "zh-sg", "zh-my", "zh")


class TemplateError(ServiceError):
    """A template that cannot be saved; the message names template, variant/field and place."""


class MissingFields(ServiceError):
    """Rendering needs custom fields nobody supplied; the composer prompts for `names`."""

    def __init__(self, template: str, names: Sequence[str]) -> None:
        shown = ", ".join(names)
        super().__init__(
            f"template '{template}' needs field(s) {shown}: pass --field {names[0]}=..."
        )
        self.names = list(names)


# ---------------------------------------------------------------- parsing bodies


@dataclass(frozen=True)
class Placeholder:
    name: str
    line: int
    column: int

    @property
    def builtin(self) -> bool:
        return "." in self.name


Segment = str | Placeholder


def _position(text: str, index: int) -> tuple[int, int]:
    line = text.count("\n", 0, index) + 1
    column = index - (text.rfind("\n", 0, index) + 1) + 1
    return line, column


def parse_body(body: str, *, template: str = "?", variant: str = DEFAULT_VARIANT) -> list[Segment]:
    """The body as literal strings and placeholders; the first mistake raises `TemplateError`."""

    def fail(index: int, reason: str) -> TemplateError:
        line, column = _position(body, index)
        return TemplateError(
            f"template '{template}', variant {variant}, line {line} column {column}: {reason}"
        )

    segments: list[Segment] = []
    literal: list[str] = []
    i, size = 0, len(body)
    while i < size:
        ch = body[i]
        if ch == "}":
            if body.startswith("}}", i):
                literal.append("}")
                i += 2
                continue
            raise fail(i, "'}' without a matching '{' (write '}}' for a literal brace)")
        if ch != "{":
            literal.append(ch)
            i += 1
            continue
        if body.startswith("{{", i):
            literal.append("{")
            i += 2
            continue
        end = i + 1
        while end < size and body[end] not in "{}\n":
            end += 1
        if end >= size or body[end] != "}":
            raise fail(i, "'{' is never closed (write '{{' for a literal brace)")
        name = body[i + 1 : end].strip()
        if not name:
            raise fail(i, "empty placeholder '{}'")
        if "." in name:
            if name not in PLACEHOLDERS:
                known = ", ".join("{" + p + "}" for p in PLACEHOLDERS)
                raise fail(i, f"unknown placeholder {{{name}}} (known: {known})")
        elif not _FIELD.match(name):
            raise fail(
                i,
                f"{{{name}}} is not a placeholder: custom fields are one word of letters, "
                "digits and _ (like {order_id})",
            )
        if literal:
            segments.append("".join(literal))
            literal = []
        line, column = _position(body, i)
        segments.append(Placeholder(name, line, column))
        i = end + 1
    if literal:
        segments.append("".join(literal))
    return segments


def custom_fields(body: str) -> list[str]:
    """Custom field names in order of first use (the composer asks in this order)."""
    names = [s.name for s in parse_body(body) if isinstance(s, Placeholder) and not s.builtin]
    return list(dict.fromkeys(names))


# ---------------------------------------------------------------- the template value


def _strings(value: Any, what: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError(f"{what} must be a list of strings")
    return [v.strip() for v in value if v.strip()]


@dataclass
class TemplateSpec:
    """One template as users write it (TOML, the TUI), before and after storage."""

    name: str
    body: str
    shortcut: str | None = None
    variants: dict[str, str] = field(default_factory=dict)
    roles: list[str] = field(default_factory=list)
    kinds: list[str] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)
    status: str | None = None
    requires_approval: bool = False
    usage_count: int = 0

    def bodies(self) -> dict[str, str]:
        """Every body by variant name, the default first."""
        return {DEFAULT_VARIANT: self.body, **self.variants}

    def check(self) -> TemplateSpec:
        """Normalise and validate every field; raises `TemplateError` naming the first problem."""
        name = sanitize(self.name or "").strip()
        label = f"template '{name}'"
        if not name or not _NAME.match(name):
            raise TemplateError(f"template {self.name!r}: a name is one word without braces")
        self.name = name
        if self.shortcut is not None:
            self.shortcut = self.shortcut.strip() or None
        if not self.body.strip():
            raise TemplateError(f"{label}: field 'body' is empty")
        for lang in self.variants:
            if not _LANG.match(lang):
                raise TemplateError(
                    f"{label}: variant {lang!r} is not a language tag (like en, zh-Hant, pt-BR)"
                )
            if not self.variants[lang].strip():
                raise TemplateError(f"{label}, variant {lang}: field 'body' is empty")
        for variant, body in self.bodies().items():
            parse_body(body, template=name, variant=variant)
        unknown = [k for k in self.kinds if k not in KINDS]
        if unknown:
            raise TemplateError(
                f"{label}: field 'kinds': unknown source kind {unknown[0]!r} "
                f"(kinds: {', '.join(KINDS)})"
            )
        try:
            self.tags = sorted({normalize_tag(t) for t in self.tags})
            self.roles = sorted({normalize_tag(r) for r in self.roles})
        except ServiceError as exc:
            raise TemplateError(f"{label}: {exc}") from None
        if self.status is not None:
            self.status = self.status.strip().lower() or None
        statuses = [s.value for s in Status if s != Status.SNOOZED]
        if self.status is not None and self.status not in statuses:
            raise TemplateError(
                f"{label}: field 'status': {self.status!r} is not one of {', '.join(statuses)}"
            )
        return self

    def fields(self) -> list[str]:
        """Custom fields any variant uses."""
        names: list[str] = []
        for body in self.bodies().values():
            names.extend(custom_fields(body))
        return list(dict.fromkeys(names))

    def variant_for(self, lang: str | None) -> tuple[str, str]:
        """(variant name, body) for a mention in `lang` (see `choose_variant`)."""
        variant = choose_variant(self.variants, lang)
        return (variant, self.variants[variant]) if variant else (DEFAULT_VARIANT, self.body)

    def fits(self, kind: str) -> bool:
        return not self.kinds or kind in self.kinds

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "shortcut": self.shortcut,
            "body": self.body,
            "variants": dict(self.variants),
            "roles": list(self.roles),
            "kinds": list(self.kinds),
            "tags": list(self.tags),
            "status": self.status,
            "requires_approval": self.requires_approval,
            "usage_count": self.usage_count,
        }

    @classmethod
    def from_row(cls, row: Template) -> TemplateSpec:
        return cls(
            name=row.name,
            body=row.body,
            shortcut=row.shortcut,
            variants=json.loads(row.variants or "{}"),
            roles=json.loads(row.roles or "[]"),
            kinds=json.loads(row.kinds or "[]"),
            tags=json.loads(row.tags or "[]"),
            status=row.status_on_send,
            requires_approval=bool(row.requires_approval),
            usage_count=row.usage_count or 0,
        )


def _script_group(tag: str) -> str | None:
    for prefix in _HANT:
        if tag == prefix or tag.startswith(prefix + "-"):
            return "zh-hant"
    for prefix in _HANS:
        if tag == prefix or tag.startswith(prefix + "-"):
            return "zh-hans"
    return None


def choose_variant(variants: Mapping[str, str], lang: str | None) -> str | None:
    """The variant for a mention in `lang`, or None for the default body.

    Exact tag first (case-insensitive, `_` read as `-`); then the same Chinese
    script (zh-TW reads zh-Hant, zh-CN reads zh-Hans); then the same primary
    language (en-GB -> en); then the other Chinese script (a Traditional
    reader understands Simplified better than the default body); else None.
    """
    if not lang or not variants:
        return None
    wanted = lang.strip().replace("_", "-").lower()
    lowered = {name.lower(): name for name in variants}
    if wanted in lowered:
        return lowered[wanted]
    group = _script_group(wanted)
    if group:
        for name_lower, name in lowered.items():
            if _script_group(name_lower) == group:
                return name
    primary = wanted.split("-")[0]
    for name_lower, name in lowered.items():
        if name_lower.split("-")[0] == primary and _script_group(name_lower) is None:
            return name
    if group:
        for name_lower, name in lowered.items():
            if _script_group(name_lower) is not None:
                return name
    return None


# ---------------------------------------------------------------- rendering


def render_body(
    body: str,
    values: Mapping[str, str],
    fields: Mapping[str, str] | None = None,
    *,
    template: str = "?",
    variant: str = DEFAULT_VARIANT,
) -> str:
    """Fill the placeholders; custom fields nobody gave raise `MissingFields`."""
    fields = fields or {}
    segments = parse_body(body, template=template, variant=variant)
    missing = [
        s.name
        for s in segments
        if isinstance(s, Placeholder) and not s.builtin and not str(fields.get(s.name, "")).strip()
    ]
    if missing:
        raise MissingFields(template, list(dict.fromkeys(missing)))
    out: list[str] = []
    for segment in segments:
        if isinstance(segment, str):
            out.append(segment)
        elif segment.builtin:
            out.append(sanitize(values.get(segment.name, "")))
        else:
            out.append(sanitize(str(fields[segment.name])))
    return "".join(out)


# ---------------------------------------------------------------- storage (audited)


def _row_values(spec: TemplateSpec) -> dict[str, Any]:
    return {
        "shortcut": spec.shortcut,
        "body": spec.body,
        "variants": json.dumps(spec.variants, ensure_ascii=False, sort_keys=True),
        "roles": json.dumps(spec.roles),
        "kinds": json.dumps(spec.kinds),
        "tags": json.dumps(spec.tags),
        "status_on_send": spec.status,
        "requires_approval": spec.requires_approval,
    }


def _audited(spec: TemplateSpec) -> dict[str, Any]:
    values = spec.to_dict()
    values.pop("usage_count")
    return values


def _save_in(session: Session, spec: TemplateSpec, actor: str) -> str:
    """Insert or update one checked template; returns `created`, `updated` or `unchanged`."""
    row = session.execute(select(Template).where(Template.name == spec.name)).scalar_one_or_none()
    now = utcnow()
    if row is None:
        session.add(Template(name=spec.name, created_at=now, updated_at=now, **_row_values(spec)))
        session.flush()
        before, outcome = None, "created"
    else:
        old = TemplateSpec.from_row(row)
        if _audited(old) == _audited(spec):
            return "unchanged"
        for key, value in _row_values(spec).items():
            setattr(row, key, value)
        row.updated_at = now
        before, outcome = _audited(old), "updated"
    audit.record(
        session,
        conversation_id=None,
        actor=actor,
        action=f"template.{'create' if outcome == 'created' else 'update'}",
        before=before,
        after=_audited(spec),
        version=None,
        detail=spec.name,
    )
    return outcome


def save_template(db: Database, spec: TemplateSpec, *, actor: str) -> str:
    """Check and store a template (by name: create or replace); `created|updated|unchanged`."""
    spec.check()
    with db.write() as session:
        ensure_agent(session, actor)
        return _save_in(session, spec, actor)


def delete_template(db: Database, name: str, *, actor: str) -> None:
    with db.write() as session:
        ensure_agent(session, actor)
        row = session.execute(select(Template).where(Template.name == name)).scalar_one_or_none()
        if row is None:
            raise NotFound(_no_template(session, name))
        before = _audited(TemplateSpec.from_row(row))
        session.delete(row)
        audit.record(
            session,
            conversation_id=None,
            actor=actor,
            action="template.delete",
            before=before,
            after=None,
            version=None,
            detail=name,
        )


def _no_template(session: Session, name: str) -> str:
    names = list(session.execute(select(Template.name).order_by(Template.name).limit(21)).scalars())
    shown = ", ".join(names[:20]) + (", …" if len(names) > 20 else "") if names else "none yet"
    return f"no template '{name}' (templates: {shown})"


def find_template(session: Session, name_or_shortcut: str) -> TemplateSpec:
    """A template by name, else by shortcut; `NotFound` lists what exists."""
    key = name_or_shortcut.strip()
    row = session.execute(select(Template).where(Template.name == key)).scalar_one_or_none()
    if row is None:
        row = session.execute(
            select(Template).where(Template.shortcut == key).order_by(Template.id).limit(1)
        ).scalar_one_or_none()
    if row is None:
        raise NotFound(_no_template(session, key))
    return TemplateSpec.from_row(row)


def get_template(db: Database, name: str) -> TemplateSpec:
    with db.read() as session:
        return find_template(session, name)


def list_templates(db: Database) -> list[TemplateSpec]:
    with db.read() as session:
        rows = session.execute(select(Template).order_by(Template.name)).scalars()
        return [TemplateSpec.from_row(row) for row in rows]


# ---------------------------------------------------------------- TOML


_SPEC_FIELDS = {
    "name": str,
    "shortcut": str,
    "body": str,
    "variants": dict,
    "roles": list,
    "kinds": list,
    "tags": list,
    "status": str,
    "requires_approval": bool,
}


def _spec_from_toml(entry: Any, where: str) -> TemplateSpec:
    if not isinstance(entry, dict):
        raise TemplateError(f"{where}: must be a table")
    unknown = sorted(set(entry) - set(_SPEC_FIELDS))
    if unknown:
        raise TemplateError(
            f"{where}: unknown field '{unknown[0]}' (fields: {', '.join(_SPEC_FIELDS)})"
        )
    for key in ("name", "body"):
        if key not in entry:
            raise TemplateError(f"{where}: field '{key}' is missing")
    for key, kind in _SPEC_FIELDS.items():
        if key in entry and not isinstance(entry[key], kind):
            raise TemplateError(f"{where}: field '{key}' must be a {kind.__name__}")
    variants = entry.get("variants", {})
    for lang, text in variants.items():
        if not isinstance(text, str):
            raise TemplateError(f"{where}: field 'variants.{lang}' must be a string")
    try:
        lists = {k: _strings(entry.get(k, []), f"field '{k}'") for k in ("roles", "kinds", "tags")}
    except ValueError as exc:
        raise TemplateError(f"{where}: {exc}") from None
    spec = TemplateSpec(
        name=entry["name"],
        body=entry["body"],
        shortcut=entry.get("shortcut"),
        variants=dict(variants),
        status=entry.get("status"),
        requires_approval=entry.get("requires_approval", False),
        **lists,
    )
    try:
        return spec.check()
    except TemplateError as exc:
        raise TemplateError(f"{where}: {exc}") from None


def parse_toml(text: str, source: str = "<toml>") -> list[TemplateSpec]:
    """Every `[[template]]` of a file, checked; all problems in one `TemplateError`."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise TemplateError(f"{source}: not valid TOML: {exc}") from None
    extra = sorted(set(data) - {"template"})
    if extra:
        raise TemplateError(f"{source}: unknown table '{extra[0]}' (expected [[template]])")
    entries = data.get("template", [])
    if not isinstance(entries, list):
        raise TemplateError(f"{source}: 'template' must be an array of tables: [[template]]")
    specs: list[TemplateSpec] = []
    problems: list[str] = []
    seen: dict[str, int] = {}
    for number, entry in enumerate(entries, 1):
        label = entry.get("name") if isinstance(entry, dict) else None
        where = f"{source}: [[template]] #{number}" + (f" ('{label}')" if label else "")
        try:
            spec = _spec_from_toml(entry, where)
        except TemplateError as exc:
            problems.append(str(exc))
            continue
        if spec.name in seen:
            problems.append(f"{where}: name '{spec.name}' is already used by #{seen[spec.name]}")
            continue
        seen[spec.name] = number
        specs.append(spec)
    if problems:
        raise TemplateError("\n".join(problems))
    return specs


@dataclass(frozen=True)
class ImportResult:
    created: int
    updated: int
    unchanged: int


def import_templates(db: Database, text: str, *, source: str, actor: str) -> ImportResult:
    """All of a file's templates in one transaction, or none of them when any is wrong."""
    specs = parse_toml(text, source)
    counts = {"created": 0, "updated": 0, "unchanged": 0}
    with db.write() as session:
        ensure_agent(session, actor)
        for spec in specs:
            counts[_save_in(session, spec, actor)] += 1
    return ImportResult(**counts)


def import_file(db: Database, path: Path, *, actor: str) -> ImportResult:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise TemplateError(f"{path}: cannot read: {exc}") from None
    return import_templates(db, text, source=str(path), actor=actor)


def _toml_string(value: str) -> str:
    """A TOML basic string (multi-line when the text has lines): always loads back exactly."""
    out: list[str] = []
    multiline = "\n" in value
    for ch in value:
        if ch == "\\":
            out.append("\\\\")
        elif ch == '"':
            out.append('\\"')
        elif ch == "\n" and multiline:
            out.append("\n")
        elif ch == "\t":
            out.append("\\t")
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\u{ord(ch):04X}")
        else:
            out.append(ch)
    text = "".join(out)
    return f'"""\n{text}"""' if multiline else f'"{text}"'


def _toml_key(key: str) -> str:
    return key if re.fullmatch(r"[A-Za-z0-9_-]+", key) else _toml_string(key)


def _toml_list(values: Iterable[str]) -> str:
    return "[" + ", ".join(_toml_string(v) for v in values) + "]"


def dump_toml(specs: Iterable[TemplateSpec]) -> str:
    """The import format: `parse_toml(dump_toml(x))` gives back `x` (usage counts aside)."""
    blocks: list[str] = []
    for spec in specs:
        lines = ["[[template]]", f"name = {_toml_string(spec.name)}"]
        if spec.shortcut:
            lines.append(f"shortcut = {_toml_string(spec.shortcut)}")
        for key in ("roles", "kinds", "tags"):
            values = getattr(spec, key)
            if values:
                lines.append(f"{key} = {_toml_list(values)}")
        if spec.status:
            lines.append(f"status = {_toml_string(spec.status)}")
        if spec.requires_approval:
            lines.append("requires_approval = true")
        lines.append(f"body = {_toml_string(spec.body)}")
        if spec.variants:
            lines.append("")
            lines.append("[template.variants]")
            for lang, body in sorted(spec.variants.items()):
                lines.append(f"{_toml_key(lang)} = {_toml_string(body)}")
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks) + "\n" if blocks else ""


__all__ = [
    "DEFAULT_VARIANT",
    "PLACEHOLDERS",
    "ImportResult",
    "MissingFields",
    "Placeholder",
    "TemplateError",
    "TemplateSpec",
    "choose_variant",
    "custom_fields",
    "delete_template",
    "dump_toml",
    "find_template",
    "get_template",
    "import_file",
    "import_templates",
    "list_templates",
    "parse_body",
    "parse_toml",
    "render_body",
    "save_template",
]

"""Templates: every placeholder mistake found at save/import time, variants, rendering, TOML."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
from sqlalchemy import select

from inboxtui.db import Database
from inboxtui.models import Event, Template
from inboxtui.templates import (
    MissingFields,
    Placeholder,
    TemplateError,
    TemplateSpec,
    choose_variant,
    custom_fields,
    delete_template,
    dump_toml,
    get_template,
    import_file,
    import_templates,
    list_templates,
    parse_body,
    parse_toml,
    render_body,
    save_template,
)

VALUES = {
    "author.name": "Grace",
    "author.handle": "@grace",
    "agent.name": "Lin",
    "source.name": "acme-social",
    "conversation.id": "42",
}


# -- placeholders ----------------------------------------------------------------------


def test_every_builtin_and_custom_fields_render() -> None:
    body = (
        "Hi {author.name} ({author.handle}), {agent.name} from {source.name} here "
        "about #{conversation.id} and {topic}: order {order_id}, {topic} again."
    )
    text = render_body(body, VALUES, {"topic": "refunds", "order_id": "A-7"})
    assert text == (
        "Hi Grace (@grace), Lin from acme-social here about #42 and refunds: "
        "order A-7, refunds again."
    )
    assert custom_fields(body) == ["topic", "order_id"]


def test_doubled_braces_are_literal_braces() -> None:
    body = 'JSON looks like {{"a": 1}} and {{author.name}} is not a placeholder'
    assert (
        render_body(body, VALUES)
        == 'JSON looks like {"a": 1} and {author.name} is not a placeholder'
    )
    assert all(isinstance(s, str) for s in parse_body(body))


def test_placeholder_positions_are_line_and_column() -> None:
    segments = parse_body("Hi\n  {author.name}")
    (placeholder,) = [s for s in segments if isinstance(s, Placeholder)]
    assert (placeholder.line, placeholder.column) == (2, 3)


PLACEHOLDER_ERRORS = [
    pytest.param("Hi {author.email}!", 1, 4, "unknown placeholder {author.email}", id="unknown"),
    pytest.param("Hi\n{agent.nmae}", 2, 1, "unknown placeholder {agent.nmae}", id="typo-line-2"),
    pytest.param("Hi {author.name", 1, 4, "'{' is never closed", id="unclosed-at-end"),
    pytest.param("Hi {author.name\n}", 1, 4, "'{' is never closed", id="closed-on-next-line"),
    pytest.param("Hi {a {topic}}", 1, 4, "'{' is never closed", id="nested-open"),
    pytest.param("Hi author.name} x", 1, 15, "'}' without a matching '{'", id="stray-close"),
    pytest.param("ok {topic}}", 1, 11, "'}' without a matching '{'", id="extra-close"),
    pytest.param("Hi {}", 1, 4, "empty placeholder", id="empty"),
    pytest.param("Hi {  }", 1, 4, "empty placeholder", id="blank"),
    pytest.param("Re: {order id}", 1, 5, "{order id} is not a placeholder", id="space-in-field"),
    pytest.param("Re: {1st}", 1, 5, "{1st} is not a placeholder", id="digit-first"),
    pytest.param("Re: {订单}x{", 1, 5, "{订单} is not a placeholder", id="non-ascii-field"),
]


@pytest.mark.parametrize(("body", "line", "column", "reason"), PLACEHOLDER_ERRORS)
def test_placeholder_errors_name_template_variant_and_position(
    body: str, line: int, column: int, reason: str
) -> None:
    with pytest.raises(TemplateError) as info:
        TemplateSpec(name="thanks", body="fine", variants={"zh-Hant": body}).check()
    message = str(info.value)
    assert f"template 'thanks', variant zh-Hant, line {line} column {column}: " in message
    assert reason in message


def test_missing_custom_fields_are_named_for_prompting() -> None:
    with pytest.raises(MissingFields) as info:
        render_body("{topic} / {order_id} / {topic}", VALUES, {"topic": " "}, template="refund")
    assert info.value.names == ["topic", "order_id"]
    assert "template 'refund' needs field(s) topic, order_id" in str(info.value)


def test_hostile_values_are_rendered_inert() -> None:
    values = {**VALUES, "author.name": "Eve\x1b[31m\u202e"}
    assert render_body("Hi {author.name}", values) == "Hi Eve"


# -- fields ------------------------------------------------------------------------------


def test_fields_are_normalised_and_checked() -> None:
    spec = TemplateSpec(
        name="refund",
        body="x",
        tags=["Billing", "billing", " refund "],
        roles=["Support"],
        kinds=["mastodon"],
        status="Pending",
    ).check()
    assert (spec.tags, spec.roles, spec.status) == (["billing", "refund"], ["support"], "pending")
    bad = [
        (TemplateSpec(name="a b", body="x"), "a name is one word"),
        (TemplateSpec(name="a", body="  "), "field 'body' is empty"),
        (TemplateSpec(name="a", body="x", kinds=["twitter"]), "unknown source kind 'twitter'"),
        (TemplateSpec(name="a", body="x", status="snoozed"), "field 'status'"),
        (TemplateSpec(name="a", body="x", variants={"english!": "x"}), "not a language tag"),
        (TemplateSpec(name="a", body="x", tags=["two words"]), "cannot contain spaces"),
    ]
    for spec, reason in bad:
        with pytest.raises(TemplateError, match=reason):
            spec.check()


# -- language variants -------------------------------------------------------------------


VARIANTS = {"en": "hi", "zh-Hant": "您好", "zh-Hans": "您好"}


@pytest.mark.parametrize(
    ("lang", "variants", "chosen"),
    [
        ("en", VARIANTS, "en"),
        ("EN-gb", VARIANTS, "en"),
        ("zh-Hant", VARIANTS, "zh-Hant"),
        ("zh_TW", VARIANTS, "zh-Hant"),
        ("zh-HK", VARIANTS, "zh-Hant"),
        ("zh-CN", VARIANTS, "zh-Hans"),
        ("zh", VARIANTS, "zh-Hans"),
        ("zh-TW", {"en": "hi", "zh-Hans": "您好"}, "zh-Hans"),  # the other script beats default
        ("zh-CN", {"zh-Hant": "您好"}, "zh-Hant"),
        ("ja", VARIANTS, None),
        (None, VARIANTS, None),
        ("en", {}, None),
    ],
)
def test_variant_choice(lang: str | None, variants: dict[str, str], chosen: str | None) -> None:
    assert choose_variant(variants, lang) == chosen


def test_variant_for_falls_back_to_the_default_body() -> None:
    spec = TemplateSpec(name="t", body="default", variants={"zh-Hans": "简体"})
    assert spec.variant_for("de") == ("default", "default")
    assert spec.variant_for("zh-Hant") == ("zh-Hans", "简体")


# -- storage (audited) --------------------------------------------------------------------


def test_save_update_delete_are_audited(db: Database) -> None:
    spec = TemplateSpec(name="thanks", body="Thanks {author.name}!", tags=["thanked"])
    assert save_template(db, spec, actor="lin") == "created"
    assert (
        save_template(
            db,
            TemplateSpec(name="thanks", body="Thanks {author.name}!", tags=["thanked"]),
            actor="lin",
        )
        == "unchanged"
    )
    changed = TemplateSpec(name="thanks", body="Thank you {author.name}!", shortcut="ty")
    assert save_template(db, changed, actor="lin") == "updated"
    assert get_template(db, "ty").body == "Thank you {author.name}!"
    delete_template(db, "thanks", actor="lin")
    assert list_templates(db) == []
    with db.read() as session:
        events = session.execute(select(Event).order_by(Event.id)).scalars().all()
    assert [(e.action, e.actor, e.detail) for e in events] == [
        ("template.create", "lin", "thanks"),
        ("template.update", "lin", "thanks"),
        ("template.delete", "lin", "thanks"),
    ]
    assert '"body": "Thanks {author.name}!"' in (events[1].before or "")


def test_a_bad_body_is_refused_at_save_time(db: Database) -> None:
    with pytest.raises(TemplateError, match="variant default, line 1 column 7: unknown"):
        save_template(db, TemplateSpec(name="t", body="Hello {author.nick}"), actor="lin")
    with db.read() as session:
        assert session.execute(select(Template)).first() is None


# -- TOML ----------------------------------------------------------------------------------


GOOD_TOML = '''
[[template]]
name = "refund"
shortcut = "rf"
roles = ["support"]
kinds = ["mastodon", "bluesky"]
tags = ["refund"]
status = "pending"
body = """
Hi {author.name}, thanks for asking about {topic}: here is the quick fix."""

[template.variants]
zh-Hant = "{author.name} 您好，關於{topic}：這是快速解法。"
zh-Hans = "{author.name} 您好，关于{topic}：这是快速解法。"

[[template]]
name = "thanks"
body = "Thanks {author.name}! {{literally}} \\"quoted\\" \\\\ back\\tslash"
'''


def test_toml_import_export_round_trip(db: Database, tmp_path: Path) -> None:
    path = tmp_path / "templates.toml"
    path.write_text(GOOD_TOML, encoding="utf-8")
    result = import_file(db, path, actor="lin")
    assert (result.created, result.updated, result.unchanged) == (2, 0, 0)
    specs = list_templates(db)
    refund = specs[0]
    assert refund.variants["zh-Hant"].startswith("{author.name} 您好")
    assert refund.body.startswith("Hi {author.name}")
    assert refund.fields() == ["topic"]
    exported = dump_toml(specs)
    tomllib.loads(exported)  # valid TOML
    again = parse_toml(exported)
    assert [s.to_dict() for s in again] == [s.to_dict() for s in specs]
    result = import_templates(db, exported, source="export.toml", actor="lin")
    assert (result.created, result.updated, result.unchanged) == (0, 0, 2)


def test_dump_toml_survives_awkward_text() -> None:
    spec = TemplateSpec(
        name="odd",
        body='line """ one\nline \\ two\t"x"\n\x7f',
        variants={"pt-BR": "olá\n"},
    )
    (back,) = parse_toml(dump_toml([spec]))
    assert back.body == spec.body and back.variants == spec.variants


TOML_ERRORS = [
    pytest.param("[[template]\nname='x'", "t.toml: not valid TOML", id="syntax"),
    pytest.param(
        "[[template]]\nname = 'x'",
        "t.toml: [[template]] #1 ('x'): field 'body' is missing",
        id="missing-body",
    ),
    pytest.param(
        "[[template]]\nbody = 'x'", "[[template]] #1: field 'name' is missing", id="missing-name"
    ),
    pytest.param(
        "[[template]]\nname = 'x'\nbody = 'y'\ntags = 'a'",
        "#1 ('x'): field 'tags' must be a list",
        id="tags-not-list",
    ),
    pytest.param(
        "[[template]]\nname = 'x'\nbody = 'y'\ncolour = 'red'",
        "#1 ('x'): unknown field 'colour'",
        id="unknown-field",
    ),
    pytest.param(
        "[[template]]\nname = 'x'\nbody = 'y'\nkinds = ['twitter']",
        "#1 ('x'): template 'x': field 'kinds': unknown source kind 'twitter'",
        id="bad-kind",
    ),
    pytest.param(
        "[[template]]\nname = 'x'\nbody = 'y'\n[template.variants]\nen = 'Hi {user}}'",
        "#1 ('x'): template 'x', variant en, line 1 column 10: '}' without",
        id="brace",
    ),
    pytest.param(
        "[[template]]\nname = 'x'\nbody = \"Hi\\n  {author.id}\"",
        "#1 ('x'): template 'x', variant default, line 2 column 3: unknown placeholder {author.id}",
        id="unknown-placeholder",
    ),
    pytest.param(
        "[[template]]\nname = 'x'\nbody = 'y'\n[[template]]\nname = 'x'\nbody = 'z'",
        "[[template]] #2 ('x'): name 'x' is already used by #1",
        id="duplicate",
    ),
    pytest.param("[templates]\nname = 'x'", "t.toml: unknown table 'templates'", id="wrong-table"),
]


@pytest.mark.parametrize(("text", "message"), TOML_ERRORS)
def test_toml_errors_name_file_entry_and_field(text: str, message: str) -> None:
    with pytest.raises(TemplateError) as info:
        parse_toml(text, "t.toml")
    assert message in str(info.value)


def test_an_import_with_one_bad_template_imports_nothing(db: Database) -> None:
    text = GOOD_TOML + "\n[[template]]\nname = 'broken'\nbody = 'Hi {author.email}'\n"
    with pytest.raises(TemplateError, match=r"#3 \('broken'\).*unknown placeholder"):
        import_templates(db, text, source="t.toml", actor="lin")
    assert list_templates(db) == []


def test_unreadable_file_is_named(db: Database, tmp_path: Path) -> None:
    with pytest.raises(TemplateError, match=r"nope\.toml: cannot read"):
        import_file(db, tmp_path / "nope.toml", actor="lin")

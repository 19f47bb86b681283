"""Advocates and detractors in reports: figures checked against counts made here from the
world's own list of mentions (date arithmetic in Python, not the report's SQL)."""

from __future__ import annotations

import csv
import io
import json

import pytest
from people_support import PeopleWorld, build_people_world

from inboxtui.db import Database
from inboxtui.reports import compute_report, make_period
from inboxtui.reports.render_data import render_csv, render_json
from inboxtui.reports.render_md import render_markdown
from inboxtui.services import people

ADA_M = "mastodon:@ada@hachyderm.io"
ADA_B = "bluesky:ada.bsky.social"


@pytest.fixture
def world(db: Database) -> PeopleWorld:
    w = build_people_world(db)
    people.link(db, ADA_M, ADA_B, actor="alice")
    people.rename(db, ADA_M, "Ada Lovelace", actor="alice")
    people.tag(db, ADA_M, ["advocate"], actor="alice")
    people.tag(db, "u/bob", ["detractor"], actor="alice")
    people.tag(db, "cy.bsky.social", ["advocate", "detractor"], actor="alice")
    people.tag(db, "cy.bsky.social", ["vip"], actor="alice")  # not a report tag
    return w


def expected(world: PeopleWorld, accounts: set[str], since: str, keys: set[str] | None = None):  # type: ignore[no-untyped-def]
    period = make_period(since, now=world.now)
    inside = [
        m
        for m in world.mentions
        if m[0] in accounts
        and period.since <= m[2] < period.until
        and (keys is None or m[1] in keys)
    ]
    return (
        len(inside),
        sum(1 for m in inside if m[3] == "negative"),
        sum(1 for m in inside if m[3] == "neutral"),
        sum(1 for m in inside if m[3] == "positive"),
    )


@pytest.mark.parametrize("since", ["7d", "30d", "90d"])
def test_people_figures(db: Database, world: PeopleWorld, since: str) -> None:
    with db.read() as session:
        report = compute_report(session, make_period(since, now=world.now), now=world.now)
    got = {
        (p.tag, p.name): (
            p.mentions,
            p.sentiment.negative,
            p.sentiment.neutral,
            p.sentiment.positive,
        )
        for p in report.people
    }
    ada = expected(world, {ADA_M, ADA_B}, since)
    bob = expected(world, {"reddit:u/bob"}, since)
    cy = expected(world, {"bluesky:cy.bsky.social"}, since)
    assert got == {
        ("advocate", "Ada Lovelace"): ada,
        ("advocate", "Cy"): cy,
        ("detractor", "bob"): bob,
        ("detractor", "Cy"): cy,
    }
    # advocates first; most mentions first within a tag
    assert [p.tag for p in report.people] == sorted(
        (p.tag for p in report.people), key=("advocate", "detractor").index
    )
    advocates = [p.mentions for p in report.people if p.tag == "advocate"]
    assert advocates == sorted(advocates, reverse=True)
    ada_row = next(p for p in report.people if p.name == "Ada Lovelace")
    assert (ada_row.accounts, ada_row.reach) == (2, 2000)


def test_the_report_filter_applies(db: Database, world: PeopleWorld) -> None:
    with db.read() as session:
        report = compute_report(
            session, make_period("90d", now=world.now), query="is:open", now=world.now
        )
    open_keys = {"m2", "c1"}
    ada = next(p for p in report.people if p.name == "Ada Lovelace")
    assert ada.mentions == expected(world, {ADA_M, ADA_B}, "90d", open_keys)[0] == 1


def test_renderers_show_them(db: Database, world: PeopleWorld) -> None:
    with db.read() as session:
        report = compute_report(session, make_period("30d", now=world.now), now=world.now)
    md = render_markdown(report)
    assert "## Advocates and detractors" in md
    assert "| advocate | Ada Lovelace | 2 | 2,000 |" in md
    data = json.loads(render_json(report))
    assert {(p["tag"], p["name"]) for p in data["people"]} == {
        ("advocate", "Ada Lovelace"),
        ("advocate", "Cy"),
        ("detractor", "bob"),
        ("detractor", "Cy"),
    }
    rows = list(csv.reader(io.StringIO(render_csv(report))))
    assert [r for r in rows if r[:3] == ["people", "detractor", "bob"] and r[3] == "mentions"]


def test_nobody_tagged(db: Database) -> None:
    build_people_world(db)
    with db.read() as session:
        report = compute_report(session, make_period("7d"))
    assert report.people == []
    assert "Nobody is tagged advocate or detractor" in render_markdown(report)

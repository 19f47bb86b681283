"""Team configuration (TOML import/export) and who may move which conversation; both backends."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from inboxtui import services, team
from inboxtui.cli import main
from inboxtui.db import Database
from inboxtui.ingest import ingest, parse_record
from inboxtui.models import Agent
from inboxtui.services import PermissionDenied

TEAM = """
lead_role = "leads"

[[role]]
name = "support"
description = "billing and accounts"

[[role]]
name = "pr"

[[role]]
name = "leads"

[[agent]]
handle = "lena"
name = "Lena Lead"
roles = ["leads"]

[[agent]]
handle = "sam"
name = "Sam 山"
roles = ["support"]
capacity = 10

[[agent]]
handle = "sue"
roles = ["support"]
capacity = 5
on_duty = false

[[agent]]
handle = "pat"
roles = ["pr"]
"""


def _conversations(db: Database, n: int) -> list[int]:
    records = [
        parse_record(
            {
                "kind": "rss",
                "source": "blog",
                "external_id": f"e{i}",
                "created_at": "2026-11-20T10:00:00Z",
                "text": f"post {i}",
                "author": {"handle": f"u{i}"},
            }
        )
        for i in range(n)
    ]
    stats = ingest(db, records)
    return sorted(stats.conversation_ids)


@pytest.fixture
def teamdb(db: Database) -> Database:
    team.import_team(db, team.parse_team(TEAM, "team.toml"), actor="lena")
    return db


def _state(db: Database, conversation_id: int) -> tuple[str | None, str | None]:
    with db.read() as session:
        state = services.conversation_state(session, conversation_id)
    return state["role"], state["agent"]


# ---------------------------------------------------------------- TOML


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[[agent]]\nname = 'x'\n", r"team.toml: \[\[agent\]\] #1: field 'handle' is required"),
        (
            "[[agent]]\nhandle = 'a'\ncapacity = -1\n",
            r"team.toml: \[\[agent\]\] #1 \(a\): field 'capacity' must be a whole number >= 0",
        ),
        (
            "[[agent]]\nhandle = 'a'\nroles = 'support'\n",
            r"\[\[agent\]\] #1 \(a\): field 'roles' must be a list",
        ),
        (
            "[[agent]]\nhandle = 'a'\non_duty = 'yes'\n",
            r"\[\[agent\]\] #1 \(a\): field 'on_duty' must be true or false",
        ),
        ("[[role]]\nname = 'a b'\n", r"\[\[role\]\] #1: field 'name': role names cannot contain"),
        ("[[role]]\nname = 'x'\ncolour = 1\n", r"\[\[role\]\] #1: unknown field 'colour'"),
        ("[[role]]\nname = 'x'\n[[role]]\nname = 'X'\n", r"#2: role 'x' is listed twice"),
        ("roles = 1\n", r"team.toml: unknown key 'roles'"),
        ("[[role]\n", r"team.toml: not valid TOML: .*line 1"),
    ],
)
def test_bad_team_files_name_file_entry_and_field(text: str, message: str) -> None:
    with pytest.raises(team.TeamError, match=message):
        team.parse_team(text, "team.toml")


def test_import_names_an_unknown_role(db: Database) -> None:
    config = team.parse_team("[[agent]]\nhandle = 'a'\nroles = ['legal']\n", "t.toml")
    with pytest.raises(team.TeamError, match=r"t.toml: \[\[agent\]\] #1 \(a\): .*no role 'legal'"):
        team.import_team(db, config, actor="x", source="t.toml")
    with db.read() as session:  # all or nothing
        assert session.execute(select(Agent).where(Agent.handle == "a")).first() is None


def test_export_reads_back_and_reimport_changes_nothing(
    teamdb: Database,
) -> None:
    exported = team.export_team(teamdb)
    config = team.parse_team(exported, "exported.toml")
    assert config == team.parse_team(team.dump_team(config))
    assert config.lead_role == "leads"
    sam = next(a for a in config.agents if a.handle == "sam")
    assert (sam.display_name, sam.roles, sam.capacity, sam.on_duty) == (
        "Sam 山",
        ("support",),
        10,
        True,
    )
    assert not next(a for a in config.agents if a.handle == "sue").on_duty
    report = team.import_team(teamdb, config, actor="lena")
    assert (report.created, report.updated) == ([], [])


def test_import_updates_and_audits(teamdb: Database) -> None:
    changed = TEAM.replace("capacity = 10", "capacity = 12")
    report = team.import_team(teamdb, team.parse_team(changed), actor="lena")
    assert report.updated == ["agent sam"]
    with teamdb.read() as session:
        (event,) = services.recent(session, limit=1)
    assert event.action == "agent.update"
    assert (event.before["capacity"], event.after["capacity"]) == (10, 12)


def test_set_agent_capacity_and_duty_is_audited(teamdb: Database) -> None:
    assert team.set_agent(teamdb, "sam", actor="lena", capacity=3, on_duty=False)
    assert not team.set_agent(teamdb, "sam", actor="lena", capacity=3)
    with teamdb.read() as session:
        sam = session.execute(select(Agent).where(Agent.handle == "sam")).scalar_one()
        (event,) = services.recent(session, limit=1)
    assert (sam.capacity, sam.on_duty) == (3, False)
    assert event.before == {"agent": "sam", "capacity": 10, "on_duty": True}


def test_cli_team_import_export_list(db: Database, tmp_path: Path, capsys) -> None:
    path = tmp_path / "team.toml"
    path.write_text(TEAM, encoding="utf-8")
    url = db.url
    assert main(["--db", url, "--as", "lena", "team", "import", str(path)]) == 0
    assert main(["--db", url, "team", "list"]) == 0
    out = capsys.readouterr().out
    assert "sam" in out and "0/10" in out and "away" in out
    out_path = tmp_path / "out.toml"
    assert main(["--db", url, "team", "export", "-o", str(out_path)]) == 0
    assert team.parse_team(out_path.read_text(encoding="utf-8")).lead_role == "leads"
    bad = tmp_path / "bad.toml"
    bad.write_text("[[agent]]\nhandle = 'x'\ncapacity = 'lots'\n", encoding="utf-8")
    assert main(["--db", url, "team", "import", str(bad)]) == 2
    assert f"{bad}: [[agent]] #1 (x): field 'capacity'" in capsys.readouterr().err


# ---------------------------------------------------------------- permissions


def test_no_lead_means_nothing_is_refused(db: Database) -> None:
    """Roles alone (the triage tests' setup, the demo) do not switch permissions on."""
    services.create_role(db, "support", actor="admin")
    services.create_agent(db, "sam", roles=["support"], actor="admin")
    (cid,) = _conversations(db, 1)
    services.assign(db, cid, actor="sam", agent="sam", role="support")
    services.create_agent(db, "bob", actor="admin")
    services.assign(db, cid, actor="sam", agent="bob")
    assert _state(db, cid) == ("support", "bob")


def test_lead_may_move_anything(teamdb: Database) -> None:
    a, b = _conversations(teamdb, 2)
    services.assign(teamdb, a, actor="lena", role="support", agent="sam")
    services.assign(teamdb, a, actor="lena", role="pr", agent="pat")
    services.assign(teamdb, b, actor="lena", role="support", agent="sue")
    services.unassign(teamdb, b, actor="lena", role=True)
    assert _state(teamdb, a) == ("pr", "pat")
    assert _state(teamdb, b) == (None, None)


def test_agent_takes_unassigned_in_own_role_and_hands_back(teamdb: Database) -> None:
    a, b = _conversations(teamdb, 2)
    services.assign(teamdb, a, actor="lena", role="support")
    services.assign(teamdb, a, actor="sam", agent="sam")
    assert _state(teamdb, a) == ("support", "sam")
    services.unassign(teamdb, a, actor="sam")  # hand back: stays in the role's queue
    assert _state(teamdb, a) == ("support", None)
    services.assign(teamdb, b, actor="sam", agent="sam")  # no role yet: anyone may take it
    assert _state(teamdb, b) == (None, "sam")


@pytest.mark.parametrize(
    ("setup", "actor", "call", "message"),
    [
        (
            {"role": "pr"},
            "sam",
            ("assign", {"agent": "sam"}),
            r"#\d+ is in role pr; you may take conversations in: support",
        ),
        (
            {"role": "support", "agent": "sue"},
            "sam",
            ("assign", {"agent": "sam"}),
            r"#\d+ is assigned to sue; only a lead may reassign it",
        ),
        (
            {"role": "support"},
            "sam",
            ("assign", {"agent": "sue"}),
            r"only a lead may assign conversations to others \(sue\)",
        ),
        (
            {"role": "support"},
            "sam",
            ("assign", {"role": "pr"}),
            r"only a lead may route it to role pr \(you are in: support\)",
        ),
        (
            {"role": "support", "agent": "sue"},
            "sam",
            ("unassign", {}),
            r"#\d+ is assigned to sue; only a lead may unassign it",
        ),
        (
            {"role": "support", "agent": "sam"},
            "sam",
            ("unassign", {"role": True}),
            r"only a lead may take it out of its role",
        ),
        (
            {"role": "support"},
            "stranger",
            ("assign", {"agent": "stranger"}),
            r"you may take conversations in: no roles",
        ),
    ],
)
def test_refusals_say_why_and_write_nothing(
    teamdb: Database, setup: dict, actor: str, call: tuple, message: str
) -> None:
    (cid,) = _conversations(teamdb, 1)
    services.assign(teamdb, cid, actor="lena", **setup)
    before = _state(teamdb, cid)
    op, kwargs = call
    with pytest.raises(PermissionDenied, match=message):
        getattr(services, op)(teamdb, cid, actor=actor, **kwargs)
    assert _state(teamdb, cid) == before


def test_bulk_reports_refusals_and_does_the_rest(teamdb: Database) -> None:
    a, b, c = _conversations(teamdb, 3)
    services.assign(teamdb, a, actor="lena", role="support")
    services.assign(teamdb, b, actor="lena", role="pr")
    services.assign(teamdb, c, actor="lena", role="support", agent="sue")
    result = services.bulk_ids(teamdb, [a, b, c], "assign", actor="sam", agent="sam")
    assert result.changed == 1
    assert len(result.conflicts) == 2
    assert all(m.startswith("refused: ") for m in result.conflicts)
    assert _state(teamdb, a) == ("support", "sam")


def test_system_actors_are_never_refused(teamdb: Database) -> None:
    (cid,) = _conversations(teamdb, 1)
    services.assign(teamdb, cid, actor="system:routing", role="pr", agent="pat")
    assert _state(teamdb, cid) == ("pr", "pat")

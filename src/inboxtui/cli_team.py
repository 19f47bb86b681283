"""CLI subcommands for the team: `team ...`, `rules ...` and `audit`.

`cli.build_parser` calls `register(sub)`. Every write goes through the same
functions the TUI uses (`inboxtui.team`, `inboxtui.routing`), so it is audited
and permission-checked the same way.
"""

from __future__ import annotations

import argparse
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select

from inboxtui.cli_common import UserError
from inboxtui.cli_common import actor as _actor
from inboxtui.cli_common import emit_json as _emit_json
from inboxtui.cli_common import open_db as _open
from inboxtui.db import Database
from inboxtui.timeutil import iso, parse_when

EXIT_OK = 0
EXIT_FAILURE = 1


def _write_out(text: str, out: str | None) -> None:
    if out:
        Path(out).write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)


# ---------------------------------------------------------------- team


def cmd_team_import(args: argparse.Namespace) -> int:
    from inboxtui import team

    config = team.load_team(args.file)
    database = _open(args)
    report = team.import_team(database, config, actor=_actor(args), source=args.file)
    print(
        f"team imported: {len(report.created)} created, {len(report.updated)} updated, "
        f"{report.unchanged} unchanged"
    )
    for line in (*report.created, *report.updated):
        print(f"  {line}")
    return EXIT_OK


def cmd_team_export(args: argparse.Namespace) -> int:
    from inboxtui import team

    _write_out(team.export_team(_open(args)), args.out)
    return EXIT_OK


def cmd_team_list(args: argparse.Namespace) -> int:
    from inboxtui import routing, team

    database = _open(args)
    with database.read() as session:
        config = team.read_team(session)
        from inboxtui.models import Agent

        ids = {a.handle: a.id for a in session.execute(select(Agent)).scalars()}
        loads = routing.open_counts(session, [i for i in ids.values() if i is not None])
    for agent in config.agents:
        load = loads.get(ids.get(agent.handle) or 0, 0)
        row = {
            "handle": agent.handle,
            "name": agent.display_name,
            "roles": list(agent.roles),
            "capacity": agent.capacity,
            "open": load,
            "on_duty": agent.on_duty,
            "lead": config.lead_role in agent.roles,
        }
        if args.json:
            _emit_json(row)
            continue
        capacity = "-" if agent.capacity is None else str(agent.capacity)
        duty = "on duty" if agent.on_duty else "away"
        print(
            f"{agent.handle:<16} {load:>4}/{capacity:<4} {duty:<8} "
            f"{', '.join(agent.roles) or '(no roles)'}"
        )
    return EXIT_OK


def cmd_team_agent(args: argparse.Namespace) -> int:
    from inboxtui import team

    on_duty = True if args.on_duty else False if args.away else None
    changed = team.set_agent(
        _open(args),
        args.handle,
        actor=_actor(args),
        capacity=args.capacity,
        clear_capacity=args.no_capacity,
        on_duty=on_duty,
    )
    print(f"agent {args.handle} " + ("updated (nothing rebalanced)" if changed else "unchanged"))
    return EXIT_OK


def cmd_team_rebalance(args: argparse.Namespace) -> int:
    from inboxtui import routing

    report = routing.rebalance(_open(args), args.role, actor=_actor(args))
    print(
        f"rebalanced role {args.role}: {report.routed} moved, {report.assigned} assigned, "
        f"{report.queued} back in the queue"
    )
    return EXIT_OK


# ---------------------------------------------------------------- rules


def cmd_rules_import(args: argparse.Namespace) -> int:
    from inboxtui import routing

    rules = routing.load_rules(args.file)
    routing.save_rules(_open(args), rules, actor=_actor(args), source=args.file)
    print(f"{len(rules)} rule(s) saved, in this order:")
    for i, rule in enumerate(rules, 1):
        print(f"  {i}. {rule.name}")
    return EXIT_OK


def cmd_rules_export(args: argparse.Namespace) -> int:
    from inboxtui import routing

    with _open(args).read() as session:
        _write_out(routing.dump_rules(routing.list_rules(session)), args.out)
    return EXIT_OK


def cmd_rules_list(args: argparse.Namespace) -> int:
    from inboxtui import routing

    with _open(args).read() as session:
        rules = routing.list_rules(session)
    for i, rule in enumerate(rules, 1):
        then = {
            k: v
            for k, v in (
                ("role", rule.role),
                ("agent", rule.agent),
                ("priority", rule.priority),
                ("tags", list(rule.tags)),
            )
            if v
        }
        if args.json:
            _emit_json(
                {
                    "position": i,
                    "name": rule.name,
                    "when": rule.when,
                    "then": then,
                    "continue": rule.continue_after,
                    "enabled": rule.enabled,
                }
            )
            continue
        flags = (" (continue)" if rule.continue_after else "") + (
            " (disabled)" if not rule.enabled else ""
        )
        shown = ", ".join(f"{k}={v}" for k, v in then.items())
        print(f"{i:>3}. {rule.name}{flags}\n     when {rule.when}\n     then {shown}")
    if not rules and not args.json:
        print("no routing rules (inboxtui rules import FILE)")
    return EXIT_OK


def cmd_rules_test(args: argparse.Namespace) -> int:
    from inboxtui import routing
    from inboxtui.query import fetch_rows
    from inboxtui.services import agent_id_for

    database = _open(args)
    with database.read() as session:
        me_id = agent_id_for(session, _actor(args))
    ids = routing.test_rule(database, args.rule, args.query or "", me_id=me_id)
    with database.read() as session:
        rows = fetch_rows(session, ids[: args.limit])
    for row in rows:
        if args.json:
            _emit_json(
                {"id": row.id, "source": row.source, "role": row.role, "excerpt": row.excerpt}
            )
        else:
            print(f"#{row.id:<7} {row.source[:16]:<16} {(row.role or '-'):<10} {row.excerpt[:60]}")
    print(f"rule '{args.rule}' matches {len(ids)} conversation(s)", file=sys.stderr)
    return EXIT_OK


def cmd_rules_run(args: argparse.Namespace) -> int:
    from inboxtui import routing
    from inboxtui.services import agent_id_for

    database = _open(args)
    actor = _actor(args)
    with database.read() as session:
        me_id = agent_id_for(session, actor)
    report = routing.run(database, args.query, actor=actor, me_id=me_id, only=args.rule)
    print(
        f"routed {report.routed} conversation(s): {report.assigned} auto-assigned, "
        f"{report.queued} left in a role queue"
    )
    for name, n in report.by_rule.items():
        print(f"  {name}: {n}")
    return EXIT_OK


# ---------------------------------------------------------------- audit


def audit_events(
    database: Database,
    *,
    since: datetime | None = None,
    conversation_id: int | None = None,
    actor: str | None = None,
    limit: int = 1000,
) -> list[Any]:
    """Events oldest first, filtered (the `audit` command and scripts)."""
    from inboxtui.models import Event
    from inboxtui.services.audit import _row

    stmt = select(Event).order_by(Event.id.desc()).limit(limit)  # type: ignore[union-attr]
    if since is not None:
        stmt = stmt.where(Event.created_at >= since)  # type: ignore[arg-type]
    if conversation_id is not None:
        stmt = stmt.where(Event.conversation_id == conversation_id)  # type: ignore[arg-type]
    if actor is not None:
        stmt = stmt.where(Event.actor == actor)  # type: ignore[arg-type]
    with database.read() as session:
        return [_row(e) for e in reversed(list(session.execute(stmt).scalars()))]


def cmd_audit(args: argparse.Namespace) -> int:
    try:
        since = parse_when(args.since) if args.since else None
    except ValueError as exc:
        raise UserError(f"--since: {exc}") from None
    events = audit_events(
        _open(args),
        since=since,
        conversation_id=args.conversation,
        actor=args.actor,
        limit=args.limit,
    )
    for e in events:
        if args.json:
            _emit_json(
                {
                    "id": e.id,
                    "at": iso(e.created_at),
                    "actor": e.actor,
                    "action": e.action,
                    "conversation": e.conversation_id,
                    "version": e.version,
                    "before": e.before,
                    "after": e.after,
                    "detail": e.detail,
                }
            )
        else:
            where = f"#{e.conversation_id}" if e.conversation_id is not None else "team"
            detail = f"  ({e.detail})" if e.detail else ""
            print(f"{iso(e.created_at)}  {e.actor:<16} {where:<8} {e.describe()}{detail}")
    return EXIT_OK


# ---------------------------------------------------------------- parser


def register(sub: Any) -> None:
    """Add `team`, `rules` and `audit` to the main parser's subcommands."""
    p = sub.add_parser("team", help="roles and agents: import/export TOML, list, duty, rebalance")
    tsub = p.add_subparsers(dest="team_command", metavar="SUBCOMMAND", required=True)
    q = tsub.add_parser("import", help="create/update roles and agents from a TOML file")
    q.add_argument("file")
    q.set_defaults(func=cmd_team_import)
    q = tsub.add_parser("export", help="the team as TOML (import reads it back)")
    q.add_argument("--out", "-o", help="file to write (default stdout)")
    q.set_defaults(func=cmd_team_export)
    q = tsub.add_parser("list", help="agents: open/capacity, duty, roles")
    q.add_argument("--json", action="store_true")
    q.set_defaults(func=cmd_team_list)
    q = tsub.add_parser("agent", help="set an agent's capacity or duty (rebalances nothing)")
    q.add_argument("handle")
    q.add_argument("--capacity", type=int, help="max open conversations auto-assignment gives")
    q.add_argument("--no-capacity", action="store_true", help="no limit")
    duty = q.add_mutually_exclusive_group()
    duty.add_argument("--on-duty", action="store_true")
    duty.add_argument("--away", action="store_true")
    q.set_defaults(func=cmd_team_agent)
    q = tsub.add_parser("rebalance", help="hand a role's queue out fairly (leads only)")
    q.add_argument("role")
    q.set_defaults(func=cmd_team_rebalance)

    p = sub.add_parser("rules", help="routing rules: import/export TOML, list, test, run")
    rsub = p.add_subparsers(dest="rules_command", metavar="SUBCOMMAND", required=True)
    q = rsub.add_parser("import", help="replace the routing rules with a TOML file's (in order)")
    q.add_argument("file")
    q.set_defaults(func=cmd_rules_import)
    q = rsub.add_parser("export", help="the rules as TOML")
    q.add_argument("--out", "-o", help="file to write (default stdout)")
    q.set_defaults(func=cmd_rules_export)
    q = rsub.add_parser("list", help="the rules in order")
    q.add_argument("--json", action="store_true")
    q.set_defaults(func=cmd_rules_list)
    q = rsub.add_parser("test", help="which conversations a rule would route (changes nothing)")
    q.add_argument("rule")
    q.add_argument("--query", "-q", default="", help="only among this filter's matches")
    q.add_argument("--limit", type=int, default=50)
    q.add_argument("--json", action="store_true")
    q.set_defaults(func=cmd_rules_test)
    q = rsub.add_parser("run", help="route every match of a filter by the rules now")
    q.add_argument("--query", "-q", required=True)
    q.add_argument("--rule", help="only this rule")
    q.set_defaults(func=cmd_rules_run)

    p = sub.add_parser("audit", help="the audit log: who changed what, when")
    p.add_argument("--since", default="1d", help="duration (1d, 3h) or ISO time (default 1d)")
    p.add_argument("--conversation", "-c", type=int, help="only this conversation")
    p.add_argument("--actor", help="only this actor (e.g. alice, system:routing)")
    p.add_argument("--limit", type=int, default=1000, help="newest N events (default 1000)")
    p.add_argument("--json", action="store_true", help="one JSON object per line")
    p.set_defaults(func=cmd_audit)

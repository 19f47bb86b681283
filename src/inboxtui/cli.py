"""`inboxtui`: the TUI with no subcommand; every triage action as a scriptable subcommand.

The CLI is a thin shell over the same services the TUI calls, so anything an
agent does by keyboard a script can do too, audited the same way. User
mistakes (bad query, unknown id, bad file) print one clear line to stderr and
exit non-zero; they never print a traceback.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict
from datetime import datetime
from pathlib import Path
from typing import Any, TextIO

from rich.text import Text

from inboxtui import paths
from inboxtui.cli_common import EXIT_FAILURE, EXIT_OK, EXIT_USAGE, UserError
from inboxtui.cli_common import actor as _actor
from inboxtui.cli_common import emit_json as _emit_json
from inboxtui.cli_common import open_db as _open
from inboxtui.db import Database, DatabaseError, open_database, upgrade
from inboxtui.timeutil import iso, parse_when, utcnow

# ---------------------------------------------------------------- helpers


def _me_id(database: Database, actor: str) -> int | None:
    from inboxtui.services import agent_id_for

    with database.read() as session:
        return agent_id_for(session, actor)


def _row_json(row: Any) -> dict[str, Any]:
    data = asdict(row)
    for key, value in list(data.items()):
        if hasattr(value, "isoformat"):
            data[key] = iso(value)
        elif isinstance(value, tuple):
            data[key] = list(value)
    data["assignee"] = data.pop("agent")
    data["latest_text"] = data.pop("excerpt")
    return data




@contextlib.contextmanager
def _output(path: str | None) -> Iterator[TextIO]:
    if path in (None, "-"):
        yield sys.stdout
        return
    with open(path, "w", encoding="utf-8", newline="") as handle:
        yield handle


def _when(text: str) -> Any:
    try:
        return parse_when(text, future=True)
    except ValueError as exc:
        raise UserError(f"--until: {exc}") from None


# ---------------------------------------------------------------- read commands

COLUMNS = (
    ("id", 6),
    ("age", 4),
    ("status", 8),
    ("pri", 6),
    ("kind", 10),
    ("author", 16),
    ("assignee", 10),
)


def _line(cells: list[str], text_width: int, style: str = "") -> Text:
    """One row of `list`: fixed columns cut and padded by terminal cells (CJK-safe)."""
    line = Text(style=style, no_wrap=True, overflow="ellipsis")
    widths = [w for _, w in COLUMNS] + [text_width]
    for index, (cell, width) in enumerate(zip(cells, widths, strict=True)):
        part = Text(cell)
        part.truncate(width, overflow="ellipsis", pad=index < len(COLUMNS))
        if index:
            line.append(" ")
        line.append_text(part)
    return line


def age(now: datetime, then: datetime) -> str:
    """Compact age like a mail client: 42s, 5m, 3h, 2d, 7w."""
    seconds = max(0, int((now - then).total_seconds()))
    for unit, size in (("w", 604800), ("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def cmd_list(args: argparse.Namespace) -> int:
    from rich.console import Console

    from inboxtui.query import Cursor, fetch_page

    database = _open(args)
    me_id = _me_id(database, _actor(args))
    try:
        after = Cursor.from_token(args.after) if args.after else None
    except ValueError:
        raise UserError(
            f"--after: not a cursor printed by 'inboxtui list': {args.after!r}"
        ) from None
    with database.read() as session:
        page = fetch_page(session, args.query or "", me_id=me_id, limit=args.limit, after=after)
    if args.json:
        for row in page.rows:
            _emit_json(_row_json(row), sys.stdout)
    else:
        console = Console(highlight=False, markup=False, emoji=False)
        text_width = max(12, console.width - sum(w + 1 for _, w in COLUMNS))
        console.print(_line([n for n, _ in COLUMNS] + ["text"], text_width, style="bold"))
        now = utcnow()
        for row in page.rows:
            flag = f"▲{row.severity} " if row.escalated else ""
            cells = [
                str(row.id),
                age(now, row.last_activity_at),
                row.status,
                row.priority,
                row.kind,
                row.author_handle or "",
                row.agent or row.role or "-",
                flag + row.excerpt,
            ]
            console.print(_line(cells, text_width))
    if page.next_cursor is not None:
        print(f"more: --after {page.next_cursor.to_token()}", file=sys.stderr)
    return EXIT_OK


def cmd_show(args: argparse.Namespace) -> int:
    from inboxtui import details

    database = _open(args)
    with database.read() as session:
        detail = details.load(session, args.id)
    if detail is None:
        raise UserError(f"no conversation #{args.id}")
    if args.json:
        data = _row_json(detail.row)
        data["mentions"] = [{**asdict(m), "created_at": iso(m.created_at)} for m in detail.mentions]
        data["author"] = asdict(detail.author) if detail.author else None
        data["notes"] = [{**asdict(n), "created_at": iso(n.created_at)} for n in detail.notes]
        data["events"] = [{**asdict(e), "created_at": iso(e.created_at)} for e in detail.events]
        _emit_json(data, sys.stdout)
        return EXIT_OK
    from rich.console import Console

    console = Console(highlight=False, markup=False, emoji=False)
    row = detail.row
    head = Text(f"#{row.id} ", style="bold")
    head.append(row.title or row.excerpt[:60])
    console.print(head)
    console.print(
        Text(
            f"{row.status} · priority {row.priority} · {row.kind}/{row.source} · "
            f"role {row.role or '-'} · assignee {row.agent or '-'} · v{row.version}"
            + (f" · ESCALATED sev {row.severity}: {row.escalation_reason}" if row.escalated else "")
            + (f" · tags {', '.join(row.tags)}" if row.tags else "")
        )
    )
    if detail.author:
        a = detail.author
        followers = "?" if a.followers is None else f"{a.followers:,}"
        console.print(
            Text(
                f"author {a.handle} ({a.name or '?'}), {followers} followers, "
                f"{a.conversations} conversation(s)"
            )
        )
        if a.person:
            tags = f" [{', '.join(a.person_tags)}]" if a.person_tags else ""
            console.print(Text(f"person {a.person}{tags} (inboxtui person show {a.handle})"))
    console.print(Text("\nthread", style="bold"))
    for m in detail.mentions:
        indent = "  " * m.depth
        line = Text(f"{indent}{iso(m.created_at)} {m.author_handle}: ", style="dim")
        line.append(m.text)
        console.print(line)
    if detail.notes:
        console.print(Text("\nnotes", style="bold"))
        for n in detail.notes:
            console.print(Text(f"{iso(n.created_at)} {n.agent or '?'}: {n.body}"))
    if detail.events:
        console.print(Text("\naudit", style="bold"))
        for e in detail.events:
            before = json.dumps(e.before, ensure_ascii=False)
            after = json.dumps(e.after, ensure_ascii=False)
            when = iso(e.created_at)
            detail_text = e.detail or ""
            console.print(
                Text(f"{when} v{e.version} {e.actor} {e.action} {before} -> {after} {detail_text}")
            )
    return EXIT_OK


# ---------------------------------------------------------------- triage commands


def _apply(args: argparse.Namespace, op: str, single: Callable[..., Any], **kwargs: Any) -> int:
    """Run a service op on one id, or on every match of `--query` (bulk)."""
    from inboxtui import services

    database = _open(args)
    actor = _actor(args)
    if args.query is not None:
        if args.id is not None:
            raise UserError("give a conversation ID or --query, not both")
        me_id = _me_id(database, actor)
        result = services.bulk(database, args.query, op, actor=actor, me_id=me_id, **kwargs)
        print(
            f"{result.matched} matched, {result.changed} changed, {result.unchanged} unchanged"
            + (f", {len(result.conflicts)} conflict(s)" if result.conflicts else "")
        )
        for conflict in result.conflicts:
            print(conflict, file=sys.stderr)
        return EXIT_FAILURE if result.conflicts else EXIT_OK
    if args.id is None:
        raise UserError("give a conversation ID, or --query Q for every match")
    change = single(database, args.id, actor=actor, expected_version=args.expect_version, **kwargs)
    print(change.summary if change.changed else f"#{args.id} unchanged")
    return EXIT_OK


def cmd_assign(args: argparse.Namespace) -> int:
    from inboxtui import services

    if not args.role and not args.agent:
        raise UserError("assign needs --role and/or --agent")
    return _apply(args, "assign", services.assign, role=args.role, agent=args.agent)


def cmd_unassign(args: argparse.Namespace) -> int:
    from inboxtui import services

    return _apply(args, "unassign", services.unassign, role=args.role)


def cmd_status(args: argparse.Namespace) -> int:
    from inboxtui import services

    until = _when(args.until) if args.until else None
    return _apply(args, "set_status", services.set_status, status=args.status, until=until)


def cmd_priority(args: argparse.Namespace) -> int:
    from inboxtui import services

    return _apply(args, "set_priority", services.set_priority, priority=args.priority)


def cmd_escalate(args: argparse.Namespace) -> int:
    from inboxtui import services

    return _apply(args, "escalate", services.escalate, severity=args.severity, reason=args.reason)


def cmd_deescalate(args: argparse.Namespace) -> int:
    from inboxtui import services

    return _apply(args, "deescalate", services.deescalate, reason=args.reason)


def cmd_tag(args: argparse.Namespace) -> int:
    from inboxtui import services

    if args.remove:
        return _apply(args, "untag", services.untag, name=args.tag)
    return _apply(args, "tag", services.tag, name=args.tag)


def cmd_note(args: argparse.Namespace) -> int:
    from inboxtui import services

    return _apply(args, "add_note", services.add_note, body=args.text)


def cmd_role(args: argparse.Namespace) -> int:
    from inboxtui import services

    database = _open(args)
    if args.role_command == "add":
        if not args.name:
            raise UserError("role add needs a NAME")
        services.create_role(database, args.name, args.description, actor=_actor(args))
        print(f"role {args.name} added")
        return EXIT_OK
    from sqlalchemy import select

    from inboxtui.models import Role

    with database.read() as session:
        for role in session.execute(select(Role).order_by(Role.name)).scalars():
            print(role.name + (f"\t{role.description}" if role.description else ""))
    return EXIT_OK


# ---------------------------------------------------------------- data commands


def cmd_import(args: argparse.Namespace) -> int:
    from inboxtui.interchange import import_jsonl

    database = _open(args)
    if args.file == "-":
        report = import_jsonl(database, sys.stdin, actor=f"system:import:{_actor(args)}")
    else:
        path = Path(args.file)
        if not path.is_file():
            raise UserError(f"no such file: {args.file}")
        with path.open(encoding="utf-8", errors="surrogateescape") as stream:
            report = import_jsonl(database, stream, actor=f"system:import:{_actor(args)}")
    for line_no, reason in report.errors:
        print(f"{args.file}:{line_no}: {reason}", file=sys.stderr)
    print(
        f"{report.lines} line(s): {report.inserted} imported, {report.duplicates} already known, "
        f"{len(report.errors)} rejected"
    )
    return EXIT_FAILURE if report.errors else EXIT_OK


def cmd_export(args: argparse.Namespace) -> int:
    from inboxtui.interchange import export
    from inboxtui.query import matching_ids

    database = _open(args)
    ids = None
    if args.query:
        me_id = _me_id(database, _actor(args))
        with database.read() as session:
            ids = matching_ids(session, args.query, me_id=me_id)
    with _output(args.out) as out:
        count = export(database, out, fmt=args.format, conversation_ids=ids)
    if args.out not in (None, "-"):
        print(f"{count} mention(s) written to {args.out}", file=sys.stderr)
    return EXIT_OK


def cmd_seed(args: argparse.Namespace) -> int:
    from inboxtui.seed import seed_demo

    database = _open(args)
    stats = seed_demo(database, args.demo, seed=args.seed)
    print(
        f"seeded {stats.inserted} mention(s) ({stats.duplicates} already there) "
        f"in {database.display_name}"
    )
    return EXIT_OK


def cmd_db(args: argparse.Namespace) -> int:
    if args.db_command == "path":
        print(open_database(args.db, migrate=False).display_name)
        return EXIT_OK
    database = open_database(args.db, migrate=False)
    if args.db_command == "upgrade":
        backup = upgrade(database.engine)
        print(f"{database.display_name}: schema up to date")
        if backup:
            print(f"previous file kept at {backup}")
        return EXIT_OK
    if args.db_command == "reindex":
        from inboxtui import search

        upgrade(database.engine)
        with database.engine.begin() as conn:
            count = search.rebuild(conn)
        print(f"re-indexed {count} mention(s)")
        return EXIT_OK
    raise UserError(f"unknown db command {args.db_command!r}")


# ---------------------------------------------------------------- TUI


def cmd_tui(args: argparse.Namespace) -> int:
    from inboxtui.app import run

    run(_open(args), _actor(args))
    return EXIT_OK


def cmd_demo(args: argparse.Namespace) -> int:
    """Create (or reuse) the demo database in the data directory, and open it."""
    from inboxtui.app import run
    from inboxtui.seed import seed_demo

    target = args.db or str(paths.demo_database())
    database = open_database(target)
    with database.read() as session:
        from sqlalchemy import text

        has_data = session.execute(text("SELECT 1 FROM mention LIMIT 1")).first() is not None
    if not has_data:
        print(f"creating the demo inbox ({args.mentions} mentions) in {database.display_name} ...")
        seed_demo(database, args.mentions)
        from inboxtui.demo_setup import furnish

        furnish(database, _actor(args))
    if args.no_tui:
        print(database.display_name)
        return EXIT_OK
    run(database, _actor(args))
    return EXIT_OK


# ---------------------------------------------------------------- parser


def _add_target(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("id", nargs="?", type=int, help="conversation id")
    parser.add_argument("--query", "-q", help="apply to every match of this filter (bulk)")
    parser.add_argument(
        "--expect-version",
        type=int,
        help="fail if the conversation changed since you saw this version",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="inboxtui",
        description="A keyboard-first terminal shared inbox. With no command: open the inbox.",
    )
    parser.add_argument(
        "--db", help="database file or postgresql+psycopg:// URL (default: $INBOXTUI_DB, data dir)"
    )
    parser.add_argument(
        "--as", dest="as_agent", metavar="NAME", help="act as this agent ($INBOXTUI_AGENT, $USER)"
    )
    parser.set_defaults(func=cmd_tui)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("demo", help="create (or reuse) the demo inbox and open it")
    p.add_argument("--mentions", type=int, default=5000, help="size of a new demo (default 5000)")
    p.add_argument("--no-tui", action="store_true", help="only create it; print its path")
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("list", help="list conversations matching a filter")
    p.add_argument("--query", "-q", default="", help="filter language query")
    p.add_argument("--limit", type=int, default=50)
    p.add_argument("--after", help="continue after this cursor (printed on stderr as 'more:')")
    p.add_argument("--json", action="store_true", help="one JSON object per line")
    p.set_defaults(func=cmd_list)

    p = sub.add_parser("show", help="one conversation: thread, author, notes, audit")
    p.add_argument("id", type=int)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_show)

    p = sub.add_parser("assign", help="assign to a role and/or an agent")
    _add_target(p)
    p.add_argument("--role", "-r")
    p.add_argument("--agent", "-a")
    p.set_defaults(func=cmd_assign)

    p = sub.add_parser("unassign", help="remove the agent (and with --role, the role)")
    _add_target(p)
    p.add_argument("--role", action="store_true", help="also clear the role")
    p.set_defaults(func=cmd_unassign)

    p = sub.add_parser("status", help="set status: new, open, pending, snoozed, resolved")
    p.add_argument("id", nargs="?", type=int, help="conversation id")
    p.add_argument("status", choices=["new", "open", "pending", "snoozed", "resolved"])
    p.add_argument("--until", help="wake-up time for snoozed: 3h, 2d or an ISO time")
    p.add_argument("--query", "-q", help="apply to every match of this filter (bulk)")
    p.add_argument("--expect-version", type=int)
    p.set_defaults(func=cmd_status)

    p = sub.add_parser("priority", help="set priority: low, normal, high, urgent")
    p.add_argument("id", nargs="?", type=int, help="conversation id")
    p.add_argument("priority", choices=["low", "normal", "high", "urgent"])
    p.add_argument("--query", "-q", help="apply to every match of this filter (bulk)")
    p.add_argument("--expect-version", type=int)
    p.set_defaults(func=cmd_priority)

    p = sub.add_parser("escalate", help="flag a PR risk with severity 1-3 and a reason")
    _add_target(p)
    p.add_argument("--severity", "-s", type=int, required=True, choices=[1, 2, 3])
    p.add_argument("--reason", required=True)
    p.set_defaults(func=cmd_escalate)

    p = sub.add_parser("deescalate", help="clear the escalation flag")
    _add_target(p)
    p.add_argument("--reason", default=None, help="why (kept in the audit log)")
    p.set_defaults(func=cmd_deescalate)

    p = sub.add_parser("tag", help="add (or with --remove, remove) a tag")
    p.add_argument("id", nargs="?", type=int, help="conversation id")
    p.add_argument("tag")
    p.add_argument("--remove", action="store_true")
    p.add_argument("--query", "-q", help="apply to every match of this filter (bulk)")
    p.add_argument("--expect-version", type=int)
    p.set_defaults(func=cmd_tag)

    p = sub.add_parser("note", help="add an internal note (never sent)")
    p.add_argument("id", nargs="?", type=int, help="conversation id")
    p.add_argument("text")
    p.add_argument("--query", "-q", help="apply to every match of this filter (bulk)")
    p.add_argument("--expect-version", type=int)
    p.set_defaults(func=cmd_note)

    p = sub.add_parser("role", help="list roles, or add one (team management comes later)")
    p.add_argument("role_command", choices=["list", "add"])
    p.add_argument("name", nargs="?")
    p.add_argument("--description", "-d")
    p.set_defaults(func=cmd_role)

    p = sub.add_parser("import", help="import mentions from JSONL (FILE or - for stdin)")
    p.add_argument("file")
    p.set_defaults(func=cmd_import)

    p = sub.add_parser("export", help="export mentions as JSONL or CSV")
    p.add_argument("--format", "-f", choices=["jsonl", "csv"], default="jsonl")
    p.add_argument("--query", "-q", help="only conversations matching this filter")
    p.add_argument("--out", "-o", help="file to write (default stdout)")
    p.set_defaults(func=cmd_export)

    p = sub.add_parser("seed", help="fill the database with generated demo data")
    p.add_argument("--demo", type=int, required=True, metavar="N", help="number of mentions")
    p.add_argument("--seed", type=int, default=7, help="random seed (same seed, same data)")
    p.set_defaults(func=cmd_seed)

    p = sub.add_parser("db", help="database maintenance")
    p.add_argument("db_command", choices=["upgrade", "path", "reindex"])
    p.set_defaults(func=cmd_db)

    from inboxtui import cli_sources

    cli_sources.register(sub)
    from inboxtui import cli_views

    cli_views.register(sub)
    from inboxtui import cli_report

    cli_report.register(sub)
    from inboxtui import cli_crisis

    cli_crisis.register(sub)
    from inboxtui import cli_sentiment

    cli_sentiment.register(sub)
    from inboxtui import cli_reply

    cli_reply.register(sub)
    from inboxtui import cli_team

    cli_team.register(sub)
    from inboxtui import cli_people

    cli_people.register(sub)
    return parser


def _user_errors() -> tuple[type[BaseException], ...]:
    from inboxtui.ingest import RecordError
    from inboxtui.query import QueryError
    from inboxtui.services.errors import ServiceError

    return (UserError, DatabaseError, QueryError, ServiceError, RecordError)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `inboxtui list | head`
        return EXIT_OK
    except Exception as exc:
        if isinstance(exc, _user_errors()):
            print(f"inboxtui: {exc}", file=sys.stderr)
            return EXIT_USAGE
        raise


if __name__ == "__main__":
    sys.exit(main())

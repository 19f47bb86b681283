"""`inboxtui view list|save|remove`: the sidebar's saved views, from scripts.

`cli.build_parser` calls `register(sub)`.
"""

from __future__ import annotations

import argparse
from dataclasses import asdict
from typing import Any

from rich.console import Console
from rich.text import Text

from inboxtui.cli_common import actor, emit_json, open_db
from inboxtui.services import views


def cmd_view_list(args: argparse.Namespace) -> int:
    database = open_db(args)
    with database.read() as session:
        rows = views.list_views(session, actor(args))
    if args.json:
        for row in rows:
            emit_json(asdict(row))
        return 0
    console = Console(highlight=False, markup=False, emoji=False)
    width = max((len(r.name) for r in rows), default=0)
    for row in rows:
        line = Text(f"{row.name:<{width}}  ", style="bold")
        line.append("team  " if row.shared else "mine  ", "dim")
        line.append(row.query)
        console.print(line)
    if not rows:
        print("no saved views: save one with `inboxtui view save NAME QUERY` or `V` in the inbox")
    return 0


def cmd_view_save(args: argparse.Namespace) -> int:
    row = views.save_view(open_db(args), args.name, args.query, actor=actor(args), shared=args.team)
    print(f"saved view '{row.name}' ({'team' if row.shared else 'mine'}): {row.query}")
    return 0


def cmd_view_remove(args: argparse.Namespace) -> int:
    views.remove_view(open_db(args), args.name, actor=actor(args), shared=args.team)
    print(f"removed view '{args.name}'")
    return 0


def register(sub: Any) -> None:
    """Add `view` to the main parser's subcommands."""
    p = sub.add_parser("view", help="saved views: list, save a query under a name, remove")
    vsub = p.add_subparsers(dest="view_command", metavar="SUBCOMMAND", required=True)

    q = vsub.add_parser("list", help="your views and the team's")
    q.add_argument("--json", action="store_true", help="one JSON object per line")
    q.set_defaults(func=cmd_view_list)

    q = vsub.add_parser("save", help="save QUERY as view NAME (replaces a view of that name)")
    q.add_argument("name")
    q.add_argument("query", help="a query in the filter language")
    q.add_argument("--team", action="store_true", help="share it with the whole team")
    q.set_defaults(func=cmd_view_save)

    q = vsub.add_parser("remove", help="remove view NAME")
    q.add_argument("name")
    q.add_argument("--team", action="store_true", help="a team view, not one of yours")
    q.set_defaults(func=cmd_view_remove)

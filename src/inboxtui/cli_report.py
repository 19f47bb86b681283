"""`inboxtui report`: the KPI report for sharing, as Markdown, JSON or CSV.

The same `reports.compute_report` the Reports screen draws, so the file a
lead mails and the charts on screen never disagree.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from inboxtui.db import open_database
from inboxtui.identity import current_agent_handle
from inboxtui.reports import PeriodError, compute_report, make_period
from inboxtui.reports.figures import DEFAULT_TARGET
from inboxtui.reports.render_data import render_csv, render_json
from inboxtui.reports.render_md import render_markdown

RENDERERS = {"md": render_markdown, "json": render_json, "csv": render_csv}


def _user_error(message: str) -> Exception:
    from inboxtui import cli  # imported late: cli imports this module to build its parser

    return cli.UserError(message)


def _topic(value: str) -> tuple[str, str]:
    name, sep, query = value.partition("=")
    if not sep or not name.strip() or not query.strip():
        raise argparse.ArgumentTypeError(
            f"not a topic: {value!r} (use NAME=QUERY, e.g. acme='acme OR \"acme corp\"')"
        )
    return name.strip(), query.strip()


def _target(value: str) -> float:
    try:
        number = float(value.strip().removesuffix("%"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a percentage: {value!r} (e.g. 20)") from None
    if not 0 <= number <= 100:
        raise argparse.ArgumentTypeError(f"target must be 0-100 (percent), not {value!r}")
    return number / 100


def cmd_report(args: argparse.Namespace) -> int:
    try:
        period = make_period(args.since, args.until)
    except PeriodError as exc:
        raise _user_error(str(exc)) from None
    database = open_database(args.db)
    try:
        from inboxtui.services import agent_id_for

        with database.read() as session:
            me_id = agent_id_for(session, current_agent_handle(args.as_agent))
            report = compute_report(
                session,
                period,
                query=args.query or "",
                topics=args.topic,
                me_id=me_id,
                negative_target=args.target,
            )
    finally:
        database.dispose()
    text = RENDERERS[args.format](report)
    if args.out:
        path = Path(args.out)
        try:
            path.write_text(text, encoding="utf-8")
        except OSError as exc:
            raise _user_error(f"cannot write {path}: {exc.strerror or exc}") from None
        print(f"wrote {path} ({args.format}, {report.total:,} mentions)", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 0


def register(sub: Any) -> None:
    """Add `report` to the main parser's subcommands."""
    p = sub.add_parser("report", help="KPI report for a period: Markdown, JSON or CSV")
    p.add_argument(
        "--since",
        default="7d",
        help="today, a duration (7d, 30d, 12h) or an ISO date/time (default 7d)",
    )
    p.add_argument("--until", help="end of the period: a duration ago or an ISO time (default now)")
    p.add_argument("--query", "-q", default="", help="only conversations matching this filter")
    p.add_argument("--format", "-f", choices=sorted(RENDERERS), default="md")
    p.add_argument("--out", "-o", metavar="FILE", help="write to FILE instead of stdout")
    p.add_argument(
        "--topic",
        action="append",
        type=_topic,
        metavar="NAME=QUERY",
        help="a share-of-voice topic (repeat); default: the watched topics",
    )
    p.add_argument(
        "--target",
        type=_target,
        default=DEFAULT_TARGET,
        metavar="PERCENT",
        help=f"negative-share target (default {DEFAULT_TARGET * 100:.0f})",
    )
    p.set_defaults(func=cmd_report)


__all__ = ["cmd_report", "register"]

"""`inboxtui person show|list|link|unlink|tag|untag|note|rename`: author profiles from scripts.

`cli.build_parser` calls `register(sub)`. A person is named by its name or by
any of its accounts (`KIND:HANDLE`, or `HANDLE` when one platform has it);
an account nobody linked is its own person. Writes go through
`services.people`, so they are audited exactly as the TUI's are. Text from the
internet (names, notes, excerpts) is printed as plain `Text`, never markup.
"""

from __future__ import annotations

import argparse
from typing import Any

from rich.console import Console
from rich.text import Text

from inboxtui.cli_common import actor, emit_json, open_db
from inboxtui.services import people
from inboxtui.text import one_line, sanitize
from inboxtui.timeutil import iso


def _console() -> Console:
    return Console(highlight=False, markup=False, emoji=False, soft_wrap=True)


def _plain(text: str | None, limit: int = 200) -> str:
    return one_line(sanitize(text or ""), limit)


def profile_json(profile: people.Profile) -> dict[str, Any]:
    """The profile as one JSON object (times ISO 8601 UTC)."""

    def contact(c: people.Contact | None) -> dict[str, Any] | None:
        if c is None:
            return None
        return {
            "agent": c.agent,
            "at": iso(c.at),
            "via": c.via,
            "conversation_id": c.conversation_id,
        }

    return {
        "person_id": profile.ref.person_id,
        "name": profile.name,
        "implicit": profile.ref.implicit,
        "reach": profile.reach,
        "mentions": profile.mentions,
        "first_seen_at": iso(profile.first_seen_at),
        "tags": profile.tags,
        "identities": [
            {
                "author_id": i.author_id,
                "kind": i.kind,
                "handle": i.handle,
                "name": i.name,
                "followers": i.followers,
                "url": i.url,
                "first_seen_at": iso(i.first_seen_at),
                "last_seen_at": iso(i.last_seen_at),
                "mentions": i.mentions,
            }
            for i in profile.identities
        ],
        "conversations_total": profile.conversations_total,
        "outcomes": profile.outcomes,
        "conversations": [
            {
                "id": c.id,
                "kind": c.kind,
                "source": c.source,
                "title": c.title,
                "excerpt": c.excerpt,
                "status": c.status,
                "started": c.started,
                "agent": c.agent,
                "role": c.role,
                "created_at": iso(c.created_at),
                "last_activity_at": iso(c.last_activity_at),
                "resolved_at": iso(c.resolved_at),
            }
            for c in profile.conversations
        ],
        "trend": [
            {
                "week": iso(w.week),
                "mentions": w.mentions,
                "negative": w.negative,
                "neutral": w.neutral,
                "positive": w.positive,
                "net": w.net,
            }
            for w in profile.trend
        ],
        "notes": [
            {"id": n.id, "agent": n.agent, "body": n.body, "created_at": iso(n.created_at)}
            for n in profile.notes
        ],
        "last_contact": contact(profile.last_contact),
        "last_reply": contact(profile.last_reply),
    }


def _when(value: Any) -> str:
    return (iso(value) or "")[:16].replace("T", " ")


def cmd_person_show(args: argparse.Namespace) -> int:
    database = open_db(args)
    with database.read() as session:
        profile = people.profile(session, args.ref, weeks=args.weeks)
    if args.json:
        emit_json(profile_json(profile))
        return 0
    console = _console()
    head = Text(_plain(profile.name), style="bold")
    head.append("  (not linked: one account)" if profile.ref.implicit else "", "dim")
    console.print(head)
    console.print(
        Text(
            f"reach {profile.reach:,} · {profile.mentions} mentions · "
            f"first seen {_when(profile.first_seen_at)} · "
            f"tags: {', '.join(profile.tags) or 'none'}"
        )
    )
    contact = profile.last_contact
    if contact is not None:
        console.print(
            Text(f"last contact: {contact.agent or 'unknown'} ({contact.via}) {_when(contact.at)}")
        )
    console.print(Text("accounts", style="bold underline"))
    for i in profile.identities:
        followers = "?" if i.followers is None else f"{i.followers:,}"
        line = Text(f"  {i.kind}:{_plain(i.handle, 80)}  ")
        line.append(_plain(i.name, 60), "italic")
        line.append(f"  {followers} followers · {i.mentions} mentions", "dim")
        console.print(line)
    total = profile.conversations_total
    shown = len(profile.conversations)
    more = f" (newest {shown} of {total})" if shown < total else ""
    console.print(Text(f"conversations{more}", style="bold underline"))
    for c in profile.conversations:
        line = Text(f"  #{c.id:<6} {c.status:<9} {_when(c.last_activity_at)}  ")
        line.append("" if c.started else "(replied) ", "dim")
        line.append(_plain(c.title or c.excerpt, 80))
        console.print(line)
    console.print(Text("sentiment per week (mentions: -neg =neu +pos, net)", style="bold"))
    for w in profile.trend:
        if not w.mentions:
            continue
        net = "" if w.net is None else f" net {w.net:+.2f}"
        console.print(
            Text(
                f"  {_when(w.week)[:10]}  {w.mentions:>3}: "
                f"-{w.negative} ={w.neutral} +{w.positive}{net}"
            )
        )
    if profile.notes:
        console.print(Text("notes", style="bold underline"))
        for n in profile.notes:
            line = Text(f"  {_when(n.created_at)} {n.agent or 'unknown'}: ", "dim")
            line.append(sanitize(n.body))
            console.print(line)
    return 0


def cmd_person_list(args: argparse.Namespace) -> int:
    database = open_db(args)
    with database.read() as session:
        rows = people.list_people(session, tag_name=args.tag)
    if args.json:
        for row in rows:
            emit_json(
                {
                    "id": row.id,
                    "name": row.name,
                    "accounts": row.accounts,
                    "tags": row.tags,
                    "reach": row.reach,
                    "notes": row.notes,
                }
            )
        return 0
    console = _console()
    for row in rows:
        line = Text(_plain(row.name, 60), style="bold")
        line.append(f"  {', '.join(row.tags) or '-'}  ", "cyan")
        line.append(f"reach {row.reach:,}  ", "dim")
        line.append(" ".join(_plain(a, 80) for a in row.accounts))
        console.print(line)
    if not rows:
        what = f"tagged '{args.tag}'" if args.tag else "yet"
        print(f"no persons {what}: link accounts with `inboxtui person link NAME ACCOUNT`")
    return 0


def _done(result: people.Result) -> int:
    _console().print(Text(_plain(result.summary, 400)))
    return 0


def cmd_person_link(args: argparse.Namespace) -> int:
    database = open_db(args)
    for account in args.accounts:
        _done(people.link(database, args.ref, account, actor=actor(args)))
    return 0


def cmd_person_unlink(args: argparse.Namespace) -> int:
    database = open_db(args)
    for account in args.accounts:
        _done(people.unlink(database, account, actor=actor(args)))
    return 0


def cmd_person_tag(args: argparse.Namespace) -> int:
    return _done(people.tag(open_db(args), args.ref, args.tags, actor=actor(args)))


def cmd_person_untag(args: argparse.Namespace) -> int:
    return _done(people.untag(open_db(args), args.ref, args.tags, actor=actor(args)))


def cmd_person_note(args: argparse.Namespace) -> int:
    return _done(people.add_note(open_db(args), args.ref, args.text, actor=actor(args)))


def cmd_person_rename(args: argparse.Namespace) -> int:
    return _done(people.rename(open_db(args), args.ref, args.name, actor=actor(args)))


REF_HELP = "a person's name, or one of its accounts: KIND:HANDLE or HANDLE"


def register(sub: Any) -> None:
    """Add `person` to the main parser's subcommands."""
    p = sub.add_parser("person", help="author profiles: link accounts, tags, notes, show")
    psub = p.add_subparsers(dest="person_command", metavar="SUBCOMMAND", required=True)

    q = psub.add_parser("show", help="everything about one person")
    q.add_argument("ref", help=REF_HELP)
    q.add_argument("--weeks", type=int, default=people.TREND_WEEKS, help="weeks of trend")
    q.add_argument("--json", action="store_true", help="one JSON object")
    q.set_defaults(func=cmd_person_show)

    q = psub.add_parser("list", help="persons (accounts linked, tagged or noted)")
    q.add_argument("--tag", help="only persons with this tag")
    q.add_argument("--json", action="store_true", help="one JSON object per line")
    q.set_defaults(func=cmd_person_list)

    q = psub.add_parser("link", help="link accounts to a person (moves them from another)")
    q.add_argument("ref", help=REF_HELP)
    q.add_argument("accounts", nargs="+", metavar="ACCOUNT", help="KIND:HANDLE or HANDLE")
    q.set_defaults(func=cmd_person_link)

    q = psub.add_parser("unlink", help="separate accounts from their person")
    q.add_argument("accounts", nargs="+", metavar="ACCOUNT", help="KIND:HANDLE or HANDLE")
    q.set_defaults(func=cmd_person_unlink)

    q = psub.add_parser("tag", help="tag a person: advocate, vip, influencer, detractor, ...")
    q.add_argument("ref", help=REF_HELP)
    q.add_argument("tags", nargs="+", metavar="TAG")
    q.set_defaults(func=cmd_person_tag)

    q = psub.add_parser("untag", help="remove tags from a person")
    q.add_argument("ref", help=REF_HELP)
    q.add_argument("tags", nargs="+", metavar="TAG")
    q.set_defaults(func=cmd_person_untag)

    q = psub.add_parser("note", help="add a free-text note about a person")
    q.add_argument("ref", help=REF_HELP)
    q.add_argument("text")
    q.set_defaults(func=cmd_person_note)

    q = psub.add_parser("rename", help="name a person (person:NAME finds it)")
    q.add_argument("ref", help=REF_HELP)
    q.add_argument("name")
    q.set_defaults(func=cmd_person_rename)

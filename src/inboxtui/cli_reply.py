"""CLI subcommands for replying: `template ...`, `reply ID`, `outbox ...`.

`cli.build_parser` calls `register(sub)`. `reply` only writes to the outbox
(nothing is lost if the network is down); `outbox send` (or `reply --send`)
runs the sender once, until nothing is due. Output for scripts is JSON with
`--json`; errors are one line on stderr, like every other command.
"""

from __future__ import annotations

import argparse
import signal
import sys
import time
from pathlib import Path
from typing import Any

from inboxtui.cli_common import UserError
from inboxtui.cli_common import actor as _actor
from inboxtui.cli_common import emit_json as _emit_json
from inboxtui.cli_common import open_db as _open
from inboxtui.db import Database
from inboxtui.timeutil import iso

EXIT_OK = 0
EXIT_FAILURE = 1
# `models.OutboxState`'s values, spelled out: importing the models costs startup time
OUTBOX_STATES = (
    "queued",
    "sending",
    "sent",
    "failed",
    "cancelled",
    "awaiting_approval",
    "rejected",
)




def parse_fields(pairs: list[str] | None) -> dict[str, str]:
    """`--field topic=refunds` pairs; a pair without `=` is a mistake named as such."""
    fields: dict[str, str] = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise UserError(f"--field {pair!r}: write NAME=VALUE, like --field topic=refunds")
        fields[key.strip()] = value
    return fields


# ---------------------------------------------------------------- template


def cmd_template_list(args: argparse.Namespace) -> int:
    from inboxtui.templates import list_templates

    specs = list_templates(_open(args))
    if args.json:
        for spec in specs:
            _emit_json({**spec.to_dict(), "fields": spec.fields()})
        return EXIT_OK
    if not specs:
        print("no templates yet: inboxtui template import FILE.toml")
        return EXIT_OK
    print(f"{'name':<20} {'key':<6} {'languages':<18} {'kinds':<18} {'on send':<20} uses")
    for spec in specs:
        langs = ",".join(["default", *sorted(spec.variants)])
        on_send = ",".join([*([spec.status] if spec.status else []), *spec.tags]) or "-"
        if spec.requires_approval:
            on_send += " (approval)"
        print(
            f"{spec.name:<20} {spec.shortcut or '-':<6} {langs:<18} "
            f"{','.join(spec.kinds) or 'all':<18} {on_send:<20} {spec.usage_count}"
        )
    return EXIT_OK


def cmd_template_import(args: argparse.Namespace) -> int:
    from inboxtui.templates import import_file, import_templates

    database = _open(args)
    actor = _actor(args)
    if args.file == "-":
        result = import_templates(database, sys.stdin.read(), source="<stdin>", actor=actor)
    else:
        result = import_file(database, Path(args.file), actor=actor)
    print(f"{result.created} created, {result.updated} updated, {result.unchanged} unchanged")
    return EXIT_OK


def cmd_template_export(args: argparse.Namespace) -> int:
    from inboxtui.templates import dump_toml, list_templates

    text = dump_toml(list_templates(_open(args)))
    if args.out:
        try:
            Path(args.out).write_text(text, encoding="utf-8")
        except OSError as exc:
            raise UserError(f"{args.out}: cannot write: {exc}") from None
    else:
        sys.stdout.write(text)
    return EXIT_OK


def cmd_template_render(args: argparse.Namespace) -> int:
    from inboxtui.outbox import render_for

    target, rendered = render_for(
        _open(args),
        args.conversation,
        [args.name],
        actor=_actor(args),
        fields=parse_fields(args.field),
    )
    length = target.measure(rendered.body)
    if args.json:
        _emit_json(
            {
                "body": rendered.body,
                "variant": rendered.variants[0],
                "length": length.used,
                "limit": length.limit,
                "over": length.over,
            }
        )
    else:
        print(rendered.body)
        note = f"variant {rendered.variants[0]}, {length.describe()} on {target.kind}"
        print(note + (" — TOO LONG" if length.over else ""), file=sys.stderr)
    return EXIT_FAILURE if length.over else EXIT_OK


# ---------------------------------------------------------------- reply, outbox


def _send(args: argparse.Namespace, database: Database, *, idle_message: bool = True) -> int:
    from inboxtui.outbox import send_due

    outcomes = send_due(database)
    for outcome in outcomes:
        if args.json:
            _emit_json(
                {
                    "outbox_id": outcome.outbox_id,
                    "conversation": outcome.conversation_id,
                    "state": outcome.state,
                    "remote_url": outcome.remote_url,
                    "error": outcome.error,
                }
            )
        else:
            print(outcome.summary(), file=sys.stdout if outcome.state == "sent" else sys.stderr)
    if not outcomes and not args.json and idle_message:
        print("nothing to send")
    sys.stdout.flush()
    return EXIT_FAILURE if any(o.state in ("failed", "queued") for o in outcomes) else EXIT_OK


def cmd_reply(args: argparse.Namespace) -> int:
    from inboxtui.outbox import queue_reply

    if args.note and args.external:
        raise UserError("--note and --external exclude each other: a note is never sent")
    database = _open(args)
    queued = queue_reply(
        database,
        args.id,
        actor=_actor(args),
        templates=args.template or [],
        fields=parse_fields(args.field),
        text=args.text,
        note=args.note,
        external=args.external,
        expected_version=args.expect_version,
    )
    if args.json:
        _emit_json(
            {"outbox_id": queued.outbox_id, "conversation": queued.conversation_id,
             "state": queued.state}
        )  # fmt: skip
    else:
        print(queued.summary)
    if args.send and queued.state == "queued":
        return _send(args, database)
    return EXIT_OK


def cmd_outbox_list(args: argparse.Namespace) -> int:
    from inboxtui.outbox import list_outbox
    from inboxtui.text import one_line

    items = list_outbox(
        _open(args), states=args.state or None, conversation_id=args.conversation, limit=args.limit
    )
    if args.json:
        for item in items:
            _emit_json(item.to_json())
        return EXIT_OK
    if not items:
        print("the outbox is empty")
        return EXIT_OK
    for item in items:
        state = "external" if item.external else item.state
        where = (
            item.remote_url
            or item.last_error
            or (f"next try {iso(item.next_attempt_at)}" if item.next_attempt_at else "")
        )
        print(
            f"{item.id:>5}  #{item.conversation_id:<6} {state:<9} {item.attempts:>2}x  "
            f"{item.agent or '-':<10} {one_line(item.body, 50):<50}  {one_line(where or '', 80)}"
        )
    return EXIT_OK


def cmd_outbox_retry(args: argparse.Namespace) -> int:
    from inboxtui.outbox import retry

    print(retry(_open(args), args.id, actor=_actor(args)))
    return EXIT_OK


def cmd_outbox_cancel(args: argparse.Namespace) -> int:
    from inboxtui.outbox import cancel

    print(cancel(_open(args), args.id, actor=_actor(args)))
    return EXIT_OK


def cmd_outbox_approve(args: argparse.Namespace) -> int:
    from inboxtui.outbox import approve

    print(approve(_open(args), args.id, actor=_actor(args), body=args.text))
    return EXIT_OK


def cmd_outbox_reject(args: argparse.Namespace) -> int:
    from inboxtui.outbox import reject

    print(reject(_open(args), args.id, actor=_actor(args), comment=args.comment))
    return EXIT_OK


def _stop(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def cmd_outbox_send(args: argparse.Namespace) -> int:
    """Once; or with `--every`, as a daemon: a round, a pause, until SIGINT/SIGTERM.

    Killed mid-send, nothing is lost or doubled: the reply's lease expires and
    the next round takes it over as ambiguous (see `inboxtui.outbox`).
    """
    database = _open(args)
    if args.every is None:
        return _send(args, database)
    if args.every <= 0:
        raise UserError("--every takes a number of seconds above 0")
    signal.signal(signal.SIGTERM, _stop)
    try:
        while True:
            _send(args, database, idle_message=False)
            time.sleep(args.every)
    except KeyboardInterrupt:
        return EXIT_OK


# ---------------------------------------------------------------- parser


def register(sub: Any) -> None:
    """Add `template`, `reply` and `outbox` to the main parser's subcommands."""
    p = sub.add_parser("template", help="canned replies: list, import, export, render")
    tsub = p.add_subparsers(dest="template_command", required=True)
    q = tsub.add_parser("list", help="every template, with languages and usage")
    q.add_argument("--json", action="store_true")
    q.set_defaults(func=cmd_template_list)
    q = tsub.add_parser("import", help="add or replace templates from TOML ([[template]] tables)")
    q.add_argument("file", help="a .toml file, or - for standard input")
    q.set_defaults(func=cmd_template_import)
    q = tsub.add_parser("export", help="every template as TOML (the import format)")
    q.add_argument("--out", "-o", help="file to write (default stdout)")
    q.set_defaults(func=cmd_template_export)
    q = tsub.add_parser("render", help="fill a template for a conversation (sends nothing)")
    q.add_argument("name", help="template name or shortcut")
    q.add_argument("--conversation", "-c", type=int, required=True, metavar="ID")
    q.add_argument("--field", action="append", metavar="NAME=VALUE", help="a custom field")
    q.add_argument("--json", action="store_true")
    q.set_defaults(func=cmd_template_render)

    p = sub.add_parser("reply", help="write a reply to the outbox (or an internal note)")
    p.add_argument("id", type=int, help="conversation id")
    p.add_argument(
        "--template", "-t", action="append", metavar="NAME", help="a template (repeatable)"
    )
    p.add_argument("--field", action="append", metavar="NAME=VALUE", help="a custom field")
    p.add_argument("--text", help="free text (after the templates, if any)")
    p.add_argument("--note", action="store_true", help="an internal note instead: never sent")
    p.add_argument(
        "--external", action="store_true", help="record a reply you made on the site by hand"
    )
    p.add_argument("--send", action="store_true", help="run the outbox sender right away")
    p.add_argument("--expect-version", type=int, metavar="V")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_reply)

    p = sub.add_parser(
        "outbox", help="replies waiting, sent and failed: list, retry, cancel, approve, send"
    )
    osub = p.add_subparsers(dest="outbox_command", required=True)
    q = osub.add_parser("list", help="newest first")
    q.add_argument(
        "--state",
        action="append",
        choices=OUTBOX_STATES,
        help="only these states (repeatable)",
    )
    q.add_argument("--conversation", type=int, metavar="ID")
    q.add_argument("--limit", type=int, default=200)
    q.add_argument("--json", action="store_true")
    q.set_defaults(func=cmd_outbox_list)
    q = osub.add_parser("retry", help="queue a failed reply again (same idempotency key)")
    q.add_argument("id", type=int, help="outbox id")
    q.set_defaults(func=cmd_outbox_retry)
    q = osub.add_parser("cancel", help="never send a queued or failed reply")
    q.add_argument("id", type=int, help="outbox id")
    q.set_defaults(func=cmd_outbox_cancel)
    q = osub.add_parser("approve", help="let a reply awaiting approval go (pr, leads)")
    q.add_argument("id", type=int, help="outbox id")
    q.add_argument("--text", help="the reply as you edited it (default: as written)")
    q.set_defaults(func=cmd_outbox_approve)
    q = osub.add_parser("reject", help="turn a reply awaiting approval down, with a comment")
    q.add_argument("id", type=int, help="outbox id")
    q.add_argument("--comment", "-m", required=True, help="why: a note to the reply's author")
    q.set_defaults(func=cmd_outbox_reject)
    q = osub.add_parser("send", help="send what is due, once, until nothing is due")
    q.add_argument("--json", action="store_true")
    q.add_argument(
        "--every", type=float, metavar="SECONDS", help="keep sending: a round every SECONDS"
    )
    q.set_defaults(func=cmd_outbox_send)


__all__ = ["parse_fields", "register"]

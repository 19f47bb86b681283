"""CLI subcommands for listening: `source ...`, `secret set|delete NAME`, `poll`.

`cli.build_parser` calls `register(sub)`. Secrets are read with getpass (never
echoed) or, for scripts, from standard input with `--stdin`; never from argv,
where `ps` and shell history would keep them.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import logging
import signal
import sys
from dataclasses import asdict
from typing import Any

from inboxtui.cli_common import EXIT_FAILURE, EXIT_OK, UserError
from inboxtui.cli_common import actor as _actor
from inboxtui.cli_common import emit_json as _emit_json
from inboxtui.cli_common import open_db as _open
from inboxtui.timeutil import iso, utcnow


def _read_secret(name: str, from_stdin: bool) -> str:
    if from_stdin:
        value = sys.stdin.readline().rstrip("\r\n")
    else:
        value = getpass.getpass(f"secret for {name} (not echoed): ")
    if not value:
        raise UserError(f"empty secret for {name}: nothing stored")
    return value


def _ago(value: Any) -> str:
    """`3m ago` / `in 4m` for tables; ISO goes in --json."""
    if value is None:
        return "-"
    seconds = (value - utcnow()).total_seconds()
    span = abs(seconds)
    if span < 90:
        text = f"{span:.0f}s"
    elif span < 5400:
        text = f"{span / 60:.0f}m"
    elif span < 129600:
        text = f"{span / 3600:.0f}h"
    else:
        text = f"{span / 86400:.0f}d"
    return f"in {text}" if seconds > 0 else f"{text} ago"


def _every(seconds: int | None) -> str:
    if seconds is None:
        return "-"
    if seconds % 3600 == 0:
        return f"{seconds // 3600}h"
    if seconds % 60 == 0:
        return f"{seconds // 60}m"
    return f"{seconds}s"


# ---------------------------------------------------------------- source


def cmd_source_add(args: argparse.Namespace) -> int:
    from inboxtui import sources_admin

    options = sources_admin.parse_options(args.option)
    # check everything we can before asking for a secret nobody will store
    sources_admin.parse_interval(args.interval)
    sources_admin.validate(args.kind, args.name, options, construct=False)
    secret = (
        _read_secret(args.name, args.secret_stdin) if args.secret or args.secret_stdin else None
    )
    info = sources_admin.add_source(
        _open(args),
        args.kind,
        args.name,
        options,
        actor=_actor(args),
        interval=args.interval,
        secret=secret,
    )
    where = f" ({info.options['url']})" if info.options.get("url") else ""
    print(f"source {info.name} added: {info.kind}{where}, every {_every(info.interval_seconds)}")
    if secret:
        print(f"secret stored in the keyring as {info.secret_ref!r}")
    return EXIT_OK


def _info_json(info: Any) -> dict[str, Any]:
    data = asdict(info)
    for key, value in list(data.items()):
        if hasattr(value, "isoformat"):
            data[key] = iso(value)
    data["health"] = info.health
    return data


def cmd_source_list(args: argparse.Namespace) -> int:
    from inboxtui import sources_admin

    infos = sources_admin.list_sources(_open(args))
    if args.json:
        for info in infos:
            _emit_json(_info_json(info), sys.stdout)
        return EXIT_OK
    if not infos:
        print("no sources yet: inboxtui source add KIND NAME --option url=...", file=sys.stderr)
        return EXIT_OK
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    from inboxtui.text import one_line

    table = Table(box=None, pad_edge=False, show_edge=False)
    names = ("name", "kind", "health", "every", "last ok", "next", "fails", "items", "mentions")
    for column in (*names, "last error"):
        table.add_column(column, overflow="ellipsis", no_wrap=True)
    for info in infos:
        error = one_line(info.last_error or "", 80) if info.consecutive_failures else ""
        table.add_row(
            Text(info.name),
            Text(info.kind),
            Text(info.health, style="red" if info.health == "failing" else ""),
            Text(_every(info.interval_seconds)),
            Text(_ago(info.last_success_at)),
            Text(_ago(info.next_poll_at) if info.polled and info.enabled else "-"),
            Text(str(info.consecutive_failures)),
            Text("-" if info.items_last_poll is None else str(info.items_last_poll)),
            Text(str(info.mentions)),
            Text(error),
        )
    Console(highlight=False, markup=False, emoji=False).print(table)
    return EXIT_OK


def cmd_source_test(args: argparse.Namespace) -> int:
    from inboxtui import sources_admin
    from inboxtui.services.errors import NotFound, ServiceError
    from inboxtui.sources.base import make_client
    from inboxtui.text import one_line

    database = _open(args)

    async def run() -> sources_admin.DryRun:
        async with make_client() as client:
            return await sources_admin.dry_run(
                database, args.name, client=client, from_start=args.from_start
            )

    try:
        report = asyncio.run(run())
    except NotFound:
        raise
    except ServiceError as exc:  # the fetch failed: not a usage mistake
        print(f"inboxtui: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    new = set(report.new_ids)
    if args.json:
        for record in report.records:
            shown = {k: v for k, v in record.items() if k != "raw"}
            shown["new"] = record.get("external_id") in new
            _emit_json(shown, sys.stdout)
    else:
        from rich.console import Console
        from rich.text import Text

        console = Console(highlight=False, markup=False, emoji=False, soft_wrap=True)
        console.print(
            Text(
                f"{report.source}: {len(report.records)} fetched, {len(report.new_ids)} new, "
                f"{len(report.known_ids)} already stored (nothing was written)"
            )
        )
        for record in report.records[: args.limit]:
            mark = "new  " if record.get("external_id") in new else "known"
            author = (record.get("author") or {}).get("handle", "?")
            line = Text(f"{mark} {record.get('created_at', '?')} {author}: ")
            line.append(one_line(str(record.get("title") or record.get("text") or ""), 120))
            console.print(line)
        if len(report.records) > args.limit:
            console.print(Text(f"... and {len(report.records) - args.limit} more (--limit)"))
    for line in (*report.notes, *report.problems):
        print(f"note: {line}", file=sys.stderr)
    return EXIT_OK


def cmd_source_state(args: argparse.Namespace) -> int:
    from inboxtui import sources_admin

    database = _open(args)
    actor = _actor(args)
    name = args.name
    if args.source_command == "remove":
        sources_admin.remove_source(database, name, actor=actor)
        print(f"source {name} removed")
    elif args.source_command == "interval":
        changed = sources_admin.set_interval(database, name, args.every, actor=actor)
        print(f"source {name} " + ("now polled every " + args.every if changed else "unchanged"))
    else:
        enable = args.source_command == "enable"
        changed = sources_admin.set_enabled(database, name, enable, actor=actor)
        state = "enabled" if enable else "disabled"
        print(f"source {name} {state}" if changed else f"source {name} was already {state}")
    return EXIT_OK


# ---------------------------------------------------------------- secret


def cmd_secret(args: argparse.Namespace) -> int:
    from inboxtui import secrets, sources_admin

    name = args.name
    if args.secret_command == "set":
        value = _read_secret(name, args.stdin)
        secrets.set_secret(name, value)
        print(f"secret {name!r} stored in the keyring")
        if sources_admin.attach_secret(_open(args), name, actor=_actor(args)):
            print(f"source {name} now uses it")
        return EXIT_OK
    deleted = secrets.delete_secret(name)
    detached = sources_admin.detach_secret(_open(args), name, actor=_actor(args))
    print(f"secret {name!r} " + ("deleted" if deleted else "was not in the keyring"))
    if detached:
        print(f"{detached} source(s) no longer refer to it")
    if secrets.env_secret(name) is not None:
        print(f"note: {secrets.env_var_name(name)} is still set in this environment")
    return EXIT_OK


# ---------------------------------------------------------------- poll


def _log_outcome(outcome: Any) -> None:
    """New mentions at INFO; quiet polls at DEBUG (failures are logged where they happen)."""
    log = logging.getLogger("inboxtui.poll")
    if outcome.status == "ok":
        log.log(logging.INFO if outcome.inserted else logging.DEBUG, "%s", outcome.summary())


def cmd_poll(args: argparse.Namespace) -> int:
    from inboxtui.polling import Poller

    database = _open(args)
    logging.basicConfig(
        level=logging.WARNING if args.once else logging.INFO,
        format="%(asctime)s %(levelname)s %(message)s",
        stream=sys.stderr,
    )
    names = args.source or None

    async def once() -> int:
        poller = Poller(database, concurrency=args.concurrency, timeout=args.timeout)
        try:
            outcomes = await poller.poll_once(names, force=bool(names))
        finally:
            await poller.aclose()
        if not outcomes:
            print("no source is due", file=sys.stderr)
        for outcome in outcomes:
            print(outcome.summary())
        return EXIT_FAILURE if any(o.status == "failed" for o in outcomes) else EXIT_OK

    async def daemon() -> int:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        poller = Poller(
            database,
            concurrency=args.concurrency,
            timeout=args.timeout,
            tick_seconds=args.tick,
            only=names,
            on_outcome=_log_outcome,
        )
        logging.getLogger("inboxtui.poll").info(
            "polling %s as %s (Ctrl-C to stop)", database.display_name, poller.owner
        )
        await poller.run_forever(stop)
        return EXIT_OK

    if names:
        from inboxtui import sources_admin

        for name in names:
            sources_admin.get_source(database, name)  # unknown name: a clear error, early
    return asyncio.run(once() if args.once else daemon())


# ---------------------------------------------------------------- parser


def register(sub: Any) -> None:
    """Add `source`, `secret` and `poll` to the main parser's subcommands."""
    p = sub.add_parser("source", help="add, list, test, enable/disable or remove sources")
    ssub = p.add_subparsers(dest="source_command", metavar="SUBCOMMAND", required=True)

    q = ssub.add_parser("add", help="listen to a new source: KIND NAME --option key=value ...")
    q.add_argument("kind", help="rss, mastodon, bluesky, reddit, hackernews, github, discourse")
    q.add_argument("name", help="a short name (letters, digits, . _ - / @)")
    q.add_argument(
        "--option", "-o", action="append", metavar="KEY=VALUE", help="an adapter option (repeat)"
    )
    q.add_argument("--interval", default="5m", help="how often to poll (default 5m)")
    q.add_argument("--secret", action="store_true", help="prompt for its token/password (keyring)")
    q.add_argument(
        "--secret-stdin", action="store_true", help="read the secret from stdin (scripts)"
    )
    q.set_defaults(func=cmd_source_add)

    q = ssub.add_parser("list", help="sources and their health")
    q.add_argument("--json", action="store_true", help="one JSON object per line")
    q.set_defaults(func=cmd_source_list)

    q = ssub.add_parser("test", help="fetch once and show what would be ingested (stores nothing)")
    q.add_argument("name")
    q.add_argument("--from-start", action="store_true", help="ignore the saved cursor")
    q.add_argument("--json", action="store_true", help="the records, one JSON object per line")
    q.add_argument("--limit", type=int, default=20, help="entries to show (default 20)")
    q.set_defaults(func=cmd_source_test)

    for command, text in (
        ("enable", "poll it again (due at once)"),
        ("disable", "stop polling it (its mentions stay)"),
        ("remove", "delete a source that has no mentions"),
    ):
        q = ssub.add_parser(command, help=text)
        q.add_argument("name")
        q.set_defaults(func=cmd_source_state)
    q = ssub.add_parser("interval", help="change how often it is polled")
    q.add_argument("name")
    q.add_argument("every", help="e.g. 10m, 1h")
    q.set_defaults(func=cmd_source_state)

    p = sub.add_parser("secret", help="store or delete a source's token in the keyring")
    p.add_argument("secret_command", choices=["set", "delete"])
    p.add_argument("name", help="the source name (or the secret's own name)")
    p.add_argument("--stdin", action="store_true", help="set: read the value from stdin")
    p.set_defaults(func=cmd_secret)

    p = sub.add_parser("poll", help="poll enabled sources: a daemon, or --once for cron")
    p.add_argument("--once", action="store_true", help="poll what is due once, then exit")
    p.add_argument(
        "--source",
        action="append",
        metavar="NAME",
        help="only this source (repeat); with --once it is polled even if not due",
    )
    p.add_argument("--concurrency", type=int, default=16, help="polls at once (default 16)")
    p.add_argument("--timeout", type=float, default=120.0, help="seconds per fetch (default 120)")
    p.add_argument("--tick", type=float, default=10.0, help="daemon: seconds between checks")
    p.set_defaults(func=cmd_poll)


__all__ = ["cmd_poll", "cmd_secret", "cmd_source_add", "register"]

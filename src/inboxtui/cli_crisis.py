"""CLI subcommands for crisis detection: `topic ...`, `incidents`, `incident ...`, `detect`.

`cli.build_parser` calls `register(sub)`. Every change goes through the same
audited services the TUI uses; `detect --replay` works in a scratch database.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

from inboxtui.cli_common import EXIT_FAILURE, EXIT_OK, UserError
from inboxtui.cli_common import actor as _actor
from inboxtui.cli_common import open_db as _open
from inboxtui.db import Database
from inboxtui.timeutil import iso, parse_duration


def _emit(obj: Any) -> None:
    sys.stdout.write(json.dumps(obj, ensure_ascii=False, default=str) + "\n")


def _seconds(text: str | None, option: str) -> int | None:
    if text is None:
        return None
    try:
        return int(parse_duration(text).total_seconds())
    except ValueError as exc:
        raise UserError(f"{option}: {exc}") from None


def _span(seconds: int) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds and seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


# ---------------------------------------------------------------- topic


def _settings(args: argparse.Namespace) -> dict[str, Any]:
    from inboxtui.detection.topics import reach_option

    baseline = _seconds(args.baseline, "--baseline")
    if baseline is not None and baseline % 86400:
        raise UserError("--baseline is a number of days (e.g. 7d)")
    values: dict[str, Any] = {
        "window_seconds": _seconds(args.window, "--window"),
        "baseline_days": None if baseline is None else baseline // 86400,
        "spike_k": args.k,
        "min_count": args.min_count,
        "negative_share": args.negative_share,
        "min_share_volume": args.min_share_volume,
        "cooldown_seconds": _seconds(args.cooldown, "--cooldown"),
    }
    values = {k: v for k, v in values.items() if v is not None}
    if args.reach:
        values["influencer_reach"] = reach_option(args.reach)
    return values


def cmd_topic_add(args: argparse.Namespace) -> int:
    from inboxtui.detection.topics import add_topic

    spec = add_topic(_open(args), args.name, args.query, actor=_actor(args), **_settings(args))
    print(f"topic {spec.name} added: {spec.query!r}, {_describe(spec)}")
    return EXIT_OK


def cmd_topic_set(args: argparse.Namespace) -> int:
    from inboxtui.detection.topics import set_topic

    enabled = True if args.enable else False if args.disable else None
    spec = set_topic(
        _open(args),
        args.name,
        actor=_actor(args),
        query=args.query,
        enabled=enabled,
        **_settings(args),
    )
    print(f"topic {spec.name}: {spec.query!r}, {_describe(spec)}")
    return EXIT_OK


def _describe(spec: Any) -> str:
    reach = ", ".join(f"{k} {v}" for k, v in sorted(spec.influencer_reach.items()))
    state = "" if spec.enabled else " (disabled)"
    return (
        f"window {_span(spec.window_seconds)} vs {spec.baseline_days}d, k={spec.spike_k:g}, "
        f"min {spec.min_count}; negative share >= {spec.negative_share:.0%} "
        f"(min {spec.min_share_volume}); reach >= {reach}; cool-down "
        f"{_span(spec.cooldown_seconds)}{state}"
    )


def cmd_topic_list(args: argparse.Namespace) -> int:
    from inboxtui.detection.topics import list_topics

    specs = list_topics(_open(args))
    if args.json:
        for spec in specs:
            _emit(spec.as_dict())
        return EXIT_OK
    if not specs:
        print("no topics yet: inboxtui topic add NAME QUERY", file=sys.stderr)
    for spec in specs:
        print(f"{spec.name}\t{spec.query}\t{_describe(spec)}")
    return EXIT_OK


def cmd_topic_remove(args: argparse.Namespace) -> int:
    from inboxtui.detection.topics import remove_topic

    remove_topic(_open(args), args.name, actor=_actor(args))
    print(f"topic {args.name} removed (its incidents are kept)")
    return EXIT_OK


# ---------------------------------------------------------------- incidents


def _incident_line(view: Any) -> str:
    owner = view.owner or "-"
    return (
        f"#{view.id}\t{view.status}\tsev {view.severity}\t{view.topic or '-'}\t"
        f"opened {iso(view.opened_at)}\towner {owner}\t{view.conversations} conv\t{view.title}"
    )


def cmd_incidents(args: argparse.Namespace) -> int:
    from inboxtui.detection import incidents

    with _open(args).read() as session:
        views = incidents.list_incidents(session, open_only=args.open, limit=args.limit)
    if args.json:
        for view in views:
            _emit(view.as_json())
        return EXIT_OK
    if not views:
        print("no incidents", file=sys.stderr)
    for view in views:
        print(_incident_line(view))
    return EXIT_OK


def cmd_incident(args: argparse.Namespace) -> int:
    from inboxtui.detection import incidents

    database = _open(args)
    actor = _actor(args)
    if args.incident_command == "show":
        with database.read() as session:
            view = incidents.get_incident(session, args.id)
            events = incidents.timeline(session, args.id)
            conversations = incidents.conversation_ids(session, args.id)
        if args.json:
            data = view.as_json()
            data["timeline"] = [
                {
                    "at": iso(e.created_at),
                    "actor": e.actor,
                    "action": e.action,
                    "detail": e.detail,
                    "data": e.data,
                }
                for e in events
            ]
            data["conversation_ids"] = conversations
            _emit(data)
            return EXIT_OK
        print(_incident_line(view))
        if view.postmortem:
            print(f"post-mortem: {view.postmortem}")
        for event in events:
            detail = f"  {event.detail}" if event.detail else ""
            print(f"{iso(event.created_at)}\t{event.actor}\t{event.action}{detail}")
        if conversations:
            print("conversations: " + " ".join(f"#{c}" for c in conversations))
        return EXIT_OK
    if args.incident_command == "webhook":
        return _webhook(args, database)
    if args.incident_command == "ack":
        view = incidents.acknowledge(database, args.id, actor=actor)
    elif args.incident_command == "own":
        view = incidents.own(database, args.id, actor=actor, agent=args.agent)
    elif args.incident_command == "note":
        view = incidents.note(database, args.id, actor=actor, text=args.text)
    else:
        if not args.note:
            raise UserError("incident resolve needs --note 'what happened, what we did'")
        view = incidents.resolve(database, args.id, actor=actor, note=args.note)
    print(_incident_line(view))
    return EXIT_OK


def _webhook(args: argparse.Namespace, database: Database) -> int:
    from inboxtui import secrets
    from inboxtui.detection import webhook

    name = webhook.SECRET_NAME
    if args.webhook_command == "set":
        from inboxtui.cli_sources import _read_secret

        url = _read_secret(name, args.stdin).strip()
        if not url.lower().startswith(("https://", "http://")):
            raise UserError("the webhook must be an http(s) URL; nothing stored")
        secrets.set_secret(name, url)
        print(f"incident webhook stored in the keyring as {name!r}")
        return EXIT_OK
    if args.webhook_command == "remove":
        removed = secrets.delete_secret(name)
        print("incident webhook removed" if removed else "no incident webhook was stored")
        return EXIT_OK
    url = secrets.get_secret(name)
    if not url:
        raise UserError(
            f"no incident webhook: inboxtui incident webhook set (or {secrets.env_var_name(name)})"
        )
    if args.webhook_command == "test":
        error = webhook.send_test(url)
        if error:
            print(f"inboxtui: webhook test failed: {error}", file=sys.stderr)
            return EXIT_FAILURE
        print("webhook test sent")
        return EXIT_OK
    result = webhook.deliver_pending(database, url)
    assert result is not None
    print(
        f"{result.posts} post(s): {result.sent} sent, {result.retrying} to retry, "
        f"{result.failed} failed, {result.expired} expired"
    )
    return EXIT_OK if not result.failed else EXIT_FAILURE


# ---------------------------------------------------------------- detect


def cmd_detect(args: argparse.Namespace) -> int:
    if args.replay:
        return _replay(args)
    from inboxtui.detection import detect

    results = detect(_open(args))
    for result in results:
        if args.json:
            _emit(
                {
                    "topic": result.topic,
                    "triggers": [
                        {"kind": t.kind, "severity": t.severity, "reason": t.reason}
                        for t in result.triggers
                    ],
                    "incident": result.outcome.incident_id if result.outcome else None,
                    "action": result.outcome.action if result.outcome else None,
                    "escalated": result.escalated,
                }
            )
            continue
        if not result.triggers:
            print(f"{result.topic}: quiet")
            continue
        assert result.outcome is not None
        print(
            f"{result.topic}: incident #{result.outcome.incident_id} {result.outcome.action}, "
            f"{result.escalated} conversation(s) escalated"
        )
        for trigger in result.triggers:
            print(f"  {trigger.kind} (severity {trigger.severity}): {trigger.reason}")
    if not results:
        print("no topics to watch: inboxtui topic add NAME QUERY", file=sys.stderr)
    return EXIT_OK


def _replay_topics(args: argparse.Namespace) -> list[Any]:
    if args.topic:
        topics = []
        for item in args.topic:
            name, sep, query = item.partition("=")
            if not sep or not name.strip() or not query.strip():
                raise UserError(
                    f"--topic takes NAME=QUERY (e.g. acme='acme OR @acme'), not {item!r}"
                )
            topics.append({"name": name.strip(), "query": query})
        return topics
    from inboxtui.detection.topics import list_topics

    return list_topics(_open(args), enabled_only=True)


def _replay(args: argparse.Namespace) -> int:
    from inboxtui.detection.replay import ReplayError, load_stream, replay

    step = _seconds(args.step, "--step") or 300
    try:
        topics = _replay_topics(args)
        mentions = load_stream(Path(args.replay))
        report = replay(mentions, topics, step=timedelta(seconds=step))
    except ReplayError as exc:
        raise UserError(str(exc)) from None
    if args.json:
        for incident in report.incidents:
            _emit(incident.as_json())
    else:
        for incident in report.incidents:
            print(
                f"{iso(incident.opened_at)}\tincident #{incident.id} opened\t"
                f"{incident.topic}\tsev {incident.severity}\t{incident.title}"
            )
            for kind, at in sorted(incident.first_trigger.items(), key=lambda kv: kv[1]):
                print(f"  {kind} first fired {iso(at)}")
    print(
        f"replayed {report.mentions} mention(s) from {iso(report.start) or '-'} to "
        f"{iso(report.end) or '-'} in {report.steps} step(s) of {_span(step)} "
        f"({report.detections} detection run(s)): {len(report.incidents)} incident(s)",
        file=sys.stderr,
    )
    return EXIT_OK


# ---------------------------------------------------------------- parser


def _topic_options(q: argparse.ArgumentParser) -> None:
    q.add_argument("--window", help="window length, e.g. 1h (default 1h)")
    q.add_argument("--baseline", help="baseline span in days, e.g. 7d (default 7d)")
    q.add_argument("--k", type=float, help="sigmas over the baseline mean for a spike (default 3)")
    q.add_argument("--min-count", type=int, help="mentions a window needs to spike (default 20)")
    q.add_argument("--negative-share", type=float, help="alarm share, 0-1 (default 0.4)")
    q.add_argument(
        "--min-share-volume", type=int, help="polar mentions the share needs (default 10)"
    )
    q.add_argument(
        "--reach",
        action="append",
        metavar="KIND=N",
        help="influencer reach threshold per source kind (repeat; default=10000)",
    )
    q.add_argument("--cooldown", help="quiet time that ends a storm, e.g. 2h (default 2h)")


def register(sub: Any) -> None:
    """Add `topic`, `incidents`, `incident` and `detect` to the main parser's subcommands."""
    p = sub.add_parser("topic", help="watched topics for crisis detection: add, list, set, remove")
    tsub = p.add_subparsers(dest="topic_command", metavar="SUBCOMMAND", required=True)
    q = tsub.add_parser("add", help="watch NAME: a filter-language QUERY (e.g. 'acme OR @acme')")
    q.add_argument("name")
    q.add_argument("query")
    _topic_options(q)
    q.set_defaults(func=cmd_topic_add)
    q = tsub.add_parser("set", help="change a topic's query or settings")
    q.add_argument("name")
    q.add_argument("--query")
    q.add_argument("--enable", action="store_true")
    q.add_argument("--disable", action="store_true")
    _topic_options(q)
    q.set_defaults(func=cmd_topic_set)
    q = tsub.add_parser("list", help="topics and their settings")
    q.add_argument("--json", action="store_true", help="one JSON object per line")
    q.set_defaults(func=cmd_topic_list)
    q = tsub.add_parser("remove", help="stop watching a topic (its incidents stay)")
    q.add_argument("name")
    q.set_defaults(func=cmd_topic_remove)

    p = sub.add_parser("incidents", help="list incidents (open first)")
    p.add_argument("--open", action="store_true", help="only open or acknowledged ones")
    p.add_argument("--limit", type=int, default=50)
    p.add_argument("--json", action="store_true", help="one JSON object per line")
    p.set_defaults(func=cmd_incidents)

    p = sub.add_parser("incident", help="show, ack, own, note or resolve one incident")
    isub = p.add_subparsers(dest="incident_command", metavar="SUBCOMMAND", required=True)
    q = isub.add_parser("show", help="the incident, its timeline and conversations")
    q.add_argument("id", type=int)
    q.add_argument("--json", action="store_true")
    q = isub.add_parser("ack", help="acknowledge: someone is on it")
    q.add_argument("id", type=int)
    q = isub.add_parser("own", help="take ownership (or give it with --agent)")
    q.add_argument("id", type=int)
    q.add_argument("--agent", help="make this agent the owner (default: you)")
    q = isub.add_parser("note", help="add a line to the timeline")
    q.add_argument("id", type=int)
    q.add_argument("text")
    q = isub.add_parser("resolve", help="close it with a post-mortem note")
    q.add_argument("id", type=int)
    q.add_argument("--note", "-n", help="post-mortem: what happened, what was done")
    q = isub.add_parser("webhook", help="outbound alerts: set|remove the URL, test, send now")
    q.add_argument("webhook_command", choices=["set", "remove", "test", "send"])
    q.add_argument("--stdin", action="store_true", help="set: read the URL from stdin")
    p.set_defaults(func=cmd_incident)

    p = sub.add_parser("detect", help="run crisis detection once now, or replay a stream")
    p.add_argument("--replay", metavar="FILE.jsonl", help="replay a historical stream (scratch db)")
    p.add_argument("--step", help="replay: stream time per ingest step (default 5m)")
    p.add_argument(
        "--topic",
        action="append",
        metavar="NAME=QUERY",
        help="replay: watch this topic (repeat; default: this database's topics)",
    )
    p.add_argument("--json", action="store_true", help="one JSON object per line")
    p.set_defaults(func=cmd_detect)


__all__ = ["register"]

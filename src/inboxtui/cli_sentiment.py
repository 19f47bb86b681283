"""CLI: `inboxtui sentiment TEXT`, `--file FILE.jsonl [--json]`, `--rescore`, `--corrections`.

Scoring text needs no database (scripts can use it as a filter); `--rescore`
and `--corrections` work on the store. `cli.build_parser` calls `register(sub)`.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TextIO

from inboxtui.cli_common import EXIT_FAILURE, EXIT_OK, UserError
from inboxtui.cli_common import open_db as _open
from inboxtui.sentiment import Sentiment, default_scorer


def _as_dict(result: Sentiment) -> dict[str, Any]:
    return {"score": result.score, "label": result.label, "language": result.language}


def _human(result: Sentiment, text: str | None = None) -> str:
    from inboxtui.text import one_line, sanitize

    line = f"{result.label:8} {result.score:+.3f}  {result.language}"
    return f"{line}  {one_line(sanitize(text), 80)}" if text is not None else line


def _records(stream: TextIO, name: str) -> Iterator[tuple[int, str | None, str | None, str]]:
    """(line number, text or None, lang, error) per non-blank line of a JSONL file.

    A line is a JSON object with a string `text` (and optionally `lang`), or a
    bare JSON string.
    """
    for number, line in enumerate(stream, 1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except ValueError as exc:
            yield number, None, None, f"{name}:{number}: not JSON ({exc.msg})"
            continue
        if isinstance(value, str):
            yield number, value, None, ""
            continue
        if not isinstance(value, dict):
            yield number, None, None, f"{name}:{number}: expected an object with 'text'"
            continue
        text, lang = value.get("text"), value.get("lang")
        if not isinstance(text, str):
            yield number, None, None, f"{name}:{number}: field 'text' must be a string"
        elif lang is not None and not isinstance(lang, str):
            yield number, None, None, f"{name}:{number}: field 'lang' must be a string"
        else:
            yield number, text, lang, ""


def _score_file(args: argparse.Namespace) -> int:
    name = str(args.file)
    try:
        stream = sys.stdin if name == "-" else Path(name).open(encoding="utf-8")  # noqa: SIM115
    except OSError as exc:
        raise UserError(f"cannot read {name}: {exc.strerror}") from None
    scorer = default_scorer()
    bad = 0
    out = sys.stdout
    try:
        for number, text, lang, error in _records(stream, "<stdin>" if name == "-" else name):
            if text is None:
                bad += 1
                print(f"inboxtui: {error} (skipped)", file=sys.stderr)
                continue
            result = scorer.score(text, lang or args.lang)
            if args.json:  # `line` joins results back to the input when lines are skipped
                record = {**_as_dict(result), "line": number}
                out.write(json.dumps(record, ensure_ascii=False) + "\n")
            else:
                out.write(_human(result, text) + "\n")
    except UnicodeDecodeError as exc:
        raise UserError(f"{name}: not UTF-8 text ({exc.reason})") from None
    finally:
        if stream is not sys.stdin:
            stream.close()
    if bad:
        print(f"inboxtui: {bad} bad line(s) skipped", file=sys.stderr)
        return EXIT_FAILURE
    return EXIT_OK


def _rescore(args: argparse.Namespace) -> int:
    from inboxtui.services.sentiment_labels import rescore

    database = _open(args)
    written = rescore(database, all_mentions=args.all)
    what = "mentions" if args.all else "unscored mentions"
    print(f"scored {written} {what} (agents' corrected labels kept)")
    return EXIT_OK


def _corrections(args: argparse.Namespace) -> int:
    from inboxtui.services.sentiment_labels import correction_counts
    from inboxtui.timeutil import parse_when

    database = _open(args)
    try:
        since = parse_when(args.since) if args.since else None
    except ValueError as exc:
        raise UserError(f"--since: {exc}") from None
    with database.read() as session:
        counts = correction_counts(session, since=since)
    if args.json:
        print(
            json.dumps(
                {
                    "total": counts.total,
                    "by_change": [
                        {"from": old, "to": new, "count": n}
                        for (old, new), n in sorted(counts.by_change.items(), key=str)
                    ],
                    "by_agent": dict(sorted(counts.by_actor.items())),
                },
                ensure_ascii=False,
            )
        )
        return EXIT_OK
    print(f"{counts.total} label correction(s)")
    for (old, new), n in sorted(counts.by_change.items(), key=str):
        print(f"  {old or 'none'} -> {new}: {n}")
    for actor, n in sorted(counts.by_actor.items()):
        print(f"  by {actor}: {n}")
    return EXIT_OK


def cmd_sentiment(args: argparse.Namespace) -> int:
    modes = sum(bool(x) for x in (args.text, args.file, args.rescore, args.corrections))
    if modes != 1:
        raise UserError(
            "sentiment: give TEXT, or --file FILE.jsonl, or --rescore, or --corrections"
        )
    if args.all and not args.rescore:
        raise UserError("sentiment: --all only goes with --rescore")
    if args.rescore:
        return _rescore(args)
    if args.corrections:
        return _corrections(args)
    if args.file:
        return _score_file(args)
    text = " ".join(args.text)
    result = default_scorer().score(text, args.lang)
    print(json.dumps(_as_dict(result), ensure_ascii=False) if args.json else _human(result))
    return EXIT_OK


def register(sub: Any) -> None:
    """Add `sentiment` to the main parser's subcommands."""
    p = sub.add_parser(
        "sentiment",
        help="score text (or a JSONL file) for sentiment; re-score stored mentions",
        description=(
            "Score TEXT, or every line of a JSONL file ({'text': ..., 'lang': ...} or a JSON "
            "string; '-' reads standard input), with the built-in offline scorer: score in "
            "[-1, 1], label negative/neutral/positive, detected language."
        ),
    )
    p.add_argument("text", nargs="*", help="the text to score")
    p.add_argument("--file", metavar="FILE.jsonl", help="score each line of a JSONL file")
    p.add_argument("--json", action="store_true", help="one JSON object per line")
    p.add_argument("--lang", help="language hint (e.g. zh-TW) when the text does not say")
    p.add_argument(
        "--rescore",
        action="store_true",
        help="score stored mentions that have no score (corrected labels are kept)",
    )
    p.add_argument("--all", action="store_true", help="with --rescore: every mention")
    p.add_argument("--corrections", action="store_true", help="count agents' label corrections")
    p.add_argument("--since", help="with --corrections: only those since (e.g. 7d, 2026-11-01)")
    p.set_defaults(func=cmd_sentiment)


__all__ = ["cmd_sentiment", "register"]

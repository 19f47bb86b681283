"""A report as data: one JSON document, or long-format CSV rows for spreadsheets.

JSON keeps the report's structure (times in ISO 8601 UTC, durations in
seconds). CSV has one figure per row, `section,group,name,metric,value`, so a
spreadsheet pivot table can rebuild any view without knowing the layout.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from typing import Any

from inboxtui.reports.figures import AuthorFigure, Report, SentimentSplit, TimeStat
from inboxtui.timeutil import iso

CSV_HEADER = ("section", "group", "name", "metric", "value")


def _split(split: SentimentSplit) -> dict[str, int]:
    return {
        "negative": split.negative,
        "neutral": split.neutral,
        "positive": split.positive,
        "unscored": split.unscored,
    }


def _time(stat: TimeStat) -> dict[str, Any]:
    return {
        "by": stat.dimension,
        "name": stat.name,
        "count": stat.count,
        "median_seconds": stat.median,
        "p90_seconds": stat.p90,
    }


def _author(a: AuthorFigure) -> dict[str, Any]:
    return {
        "handle": a.handle,
        "kind": a.kind,
        "name": a.name,
        "followers": a.followers,
        "mentions": a.mentions,
        "sentiment": _split(a.sentiment),
    }


def report_dict(report: Report) -> dict[str, Any]:
    p = report.period
    topics_total = sum(t.mentions for t in report.share_of_voice)
    return {
        "period": {"label": p.label, "since": iso(p.since), "until": iso(p.until)},
        "previous": {"since": iso(report.previous.since), "until": iso(report.previous.until)},
        "bucket": p.bucket,
        "query": report.query,
        "generated_at": iso(report.generated_at),
        "volume": {
            "total": report.total,
            "previous_total": report.previous_total,
            "by_kind": report.totals,
            "previous_by_kind": report.previous_totals,
            "buckets": [
                {
                    "start": iso(b.start),
                    "by_kind": b.by_kind,
                    "total": b.total,
                    "previous_total": b.previous_total,
                    "negative": b.negative,
                    "positive": b.positive,
                    "negative_share": b.negative_share,
                }
                for b in report.volume
            ],
        },
        "sentiment": {
            "negative": report.negative,
            "positive": report.positive,
            "negative_share": report.negative_share,
            "target": report.negative_target,
            "corrections": report.corrections,
            "corrections_by_change": [
                {"from": old, "to": new, "count": n}
                for (old, new), n in sorted(report.corrections_by_change.items(), key=str)
            ],
        },
        "share_of_voice": [
            {
                "topic": t.name,
                "query": t.query,
                "mentions": t.mentions,
                "share": t.share(topics_total),
                "sentiment": _split(t.sentiment),
            }
            for t in report.share_of_voice
        ],
        "response": {
            "first_response": [_time(s) for s in report.first_response],
            "resolution": [_time(s) for s in report.resolution],
            "sla": None
            if report.sla is None
            else {"due": report.sla.due, "breached": report.sla.breaches},
            "handled": report.handled,
            "replies_sent": report.replies_sent,
        },
        "engagement": {
            "templates": [{"name": n, "uses": c} for n, c in report.templates],
            "templates_all_time": report.templates_all_time,
            "outcomes": report.outcomes,
        },
        "top_authors": {
            "by_reach": [_author(a) for a in report.top_by_reach],
            "by_volume": [_author(a) for a in report.top_by_volume],
        },
        "people": [
            {
                "tag": p.tag,
                "name": p.name,
                "accounts": p.accounts,
                "reach": p.reach,
                "mentions": p.mentions,
                "sentiment": _split(p.sentiment),
            }
            for p in report.people
        ],
        "notes": report.notes,
    }


def render_json(report: Report) -> str:
    return json.dumps(report_dict(report), ensure_ascii=False, indent=2) + "\n"


def csv_rows(report: Report) -> Iterator[tuple[str, str, str, str, Any]]:
    yield "period", "", "", "since", iso(report.period.since)
    yield "period", "", "", "until", iso(report.period.until)
    yield "period", "", "", "query", report.query
    for kind in report.kinds:
        yield "volume", "kind", kind, "mentions", report.totals.get(kind, 0)
        yield "volume", "kind", kind, "previous", report.previous_totals.get(kind, 0)
    for b in report.volume:
        start = iso(b.start) or ""
        for kind, n in b.by_kind.items():
            yield "volume", start, kind, "mentions", n
        yield "volume", start, "", "previous", b.previous_total
        yield "sentiment", start, "", "negative", b.negative
        yield "sentiment", start, "", "positive", b.positive
    yield "sentiment", "", "", "negative_share", report.negative_share
    yield "sentiment", "", "", "target", report.negative_target
    yield "sentiment", "", "", "corrections", report.corrections
    for t in report.share_of_voice:
        yield "share_of_voice", t.name, t.query, "mentions", t.mentions
        for label, n in _split(t.sentiment).items():
            yield "share_of_voice", t.name, t.query, label, n
    for section, stats in (
        ("first_response", report.first_response),
        ("resolution", report.resolution),
    ):
        for s in stats:
            yield section, s.dimension, s.name, "count", s.count
            yield section, s.dimension, s.name, "median_seconds", s.median
            yield section, s.dimension, s.name, "p90_seconds", s.p90
    if report.sla is not None:
        for name in sorted(report.sla.due):
            yield "sla", name, "", "due", report.sla.due[name]
            yield "sla", name, "", "breached", report.sla.breaches[name]
    for agent, n in report.handled.items():
        yield "handled", "agent", agent, "conversations", n
    for agent, n in report.replies_sent.items():
        yield "replies_sent", "agent", agent, "replies", n
    for name, n in report.templates:
        yield "templates", "all_time" if report.templates_all_time else "period", name, "uses", n
    for status, n in report.outcomes.items():
        yield "outcomes", "status", status, "conversations", n
    for group, authors in (("by_reach", report.top_by_reach), ("by_volume", report.top_by_volume)):
        for a in authors:
            yield "top_authors", group, a.handle, "followers", a.followers
            yield "top_authors", group, a.handle, "mentions", a.mentions
            for label, n in _split(a.sentiment).items():
                yield "top_authors", group, a.handle, label, n
    for p in report.people:
        yield "people", p.tag, p.name, "mentions", p.mentions
        for label, n in _split(p.sentiment).items():
            yield "people", p.tag, p.name, label, n


def render_csv(report: Report) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_HEADER)
    for row in csv_rows(report):
        writer.writerow(["" if v is None else v for v in row])
    return out.getvalue()


__all__ = ["CSV_HEADER", "csv_rows", "render_csv", "render_json", "report_dict"]

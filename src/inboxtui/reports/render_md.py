"""A report as Markdown: what a lead pastes into a status mail or a wiki page.

Author handles and names come from the internet: Markdown table syntax in
them (`|`, backticks, line breaks) is escaped so a handle cannot break a table.
"""

from __future__ import annotations

from datetime import datetime

from inboxtui.reports.figures import AuthorFigure, Report, SentimentSplit, TimeStat
from inboxtui.text import sanitize

_BUCKET_FORMAT = {"hour": "%m-%d %H:%M", "day": "%a %m-%d %H:%M", "week": "%Y-%m-%d"}


def cell(value: object) -> str:
    """Inert table text: control characters gone, Markdown table syntax escaped."""
    text = sanitize(str(value)).replace("\n", " ").replace("\r", " ")
    for ch in "\\|`*_[]<>":
        text = text.replace(ch, "\\" + ch)
    return text


def percent(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.1f}%"


def duration(seconds: int | None) -> str:
    """`4h 05m`, `2d 03h`, `45s`: short and sortable by eye."""
    if seconds is None:
        return "-"
    if seconds < 60:
        return f"{seconds}s"
    minutes, hours = seconds // 60, seconds // 3600
    if hours < 1:
        return f"{minutes}m"
    if hours < 48:
        return f"{hours}h {minutes % 60:02d}m"
    return f"{hours // 24}d {hours % 24:02d}h"


def change(now: int, before: int) -> str:
    if before == 0:
        return "new" if now else "-"
    return f"{(now - before) / before * 100:+.0f}%"


def when(value: datetime) -> str:
    return value.strftime("%Y-%m-%d %H:%M UTC")


def bucket_label(report: Report, start: datetime) -> str:
    return start.strftime(_BUCKET_FORMAT[report.period.bucket])


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return lines


def _corrections(report: Report) -> list[str]:
    """Agents' corrections of the model's labels: how often, and which way."""
    if not report.corrections:
        return ["Agents corrected no sentiment labels in this period.", ""]
    changes = ", ".join(
        f"{old or 'unscored'} → {new}: {n:,}"
        for (old, new), n in sorted(report.corrections_by_change.items(), key=lambda kv: -kv[1])
    )
    return [f"Agents corrected **{report.corrections:,}** sentiment labels ({changes}).", ""]


def _split(split: SentimentSplit) -> list[str]:
    return [str(split.negative), str(split.neutral), str(split.positive)]


def _times(title: str, stats: list[TimeStat]) -> list[str]:
    if not stats:
        return [f"**{title}**: none in this period.", ""]
    rows = [
        [
            s.dimension if s.dimension != "all" else "**all**",
            cell(s.name),
            str(s.count),
            duration(s.median),
            duration(s.p90),
        ]
        for s in stats
    ]
    return [f"**{title}**", "", *_table(["by", "who", "count", "median", "p90"], rows), ""]


def _authors(title: str, authors: list[AuthorFigure]) -> list[str]:
    if not authors:
        return [f"**{title}**: nobody in this period.", ""]
    rows = [
        [
            cell(a.handle),
            a.kind,
            "-" if a.followers is None else f"{a.followers:,}",
            str(a.mentions),
            *_split(a.sentiment),
        ]
        for a in authors
    ]
    header = ["author", "kind", "followers", "mentions", "neg", "neu", "pos"]
    return [f"**{title}**", "", *_table(header, rows), ""]


def _people(report: Report) -> list[str]:
    """Advocates and detractors (persons tagged so): their mentions in the period."""
    out = ["## Advocates and detractors", ""]
    if not report.people:
        return [*out, "Nobody is tagged advocate or detractor (`inboxtui person tag`).", ""]
    rows = [
        [
            p.tag,
            cell(p.name),
            str(p.accounts),
            f"{p.reach:,}",
            str(p.mentions),
            *_split(p.sentiment),
        ]
        for p in report.people
    ]
    header = ["tag", "person", "accounts", "reach", "mentions", "neg", "neu", "pos"]
    return [*out, *_table(header, rows), ""]


def render_markdown(report: Report) -> str:
    p, prev = report.period, report.previous
    out = [
        f"# Inbox report: {p.label}",
        "",
        f"{when(p.since)} to {when(p.until)}, compared with {when(prev.since)} to "
        f"{when(prev.until)}. Filter: {cell(report.query) if report.query else 'none'}. "
        f"Generated {when(report.generated_at)}.",
        "",
        "## Volume",
        "",
        f"**{report.total:,} mentions** ({change(report.total, report.previous_total)} vs "
        f"{report.previous_total:,} in the previous period).",
        "",
    ]
    kind_rows = [
        [
            k,
            f"{report.totals.get(k, 0):,}",
            f"{report.previous_totals.get(k, 0):,}",
            change(report.totals.get(k, 0), report.previous_totals.get(k, 0)),
        ]
        for k in report.kinds
    ]
    out += [*_table(["kind", "mentions", "previous", "change"], kind_rows), ""]
    bucket_rows = [
        [bucket_label(report, b.start)]
        + [str(b.by_kind[k]) for k in report.kinds]
        + [str(b.total), str(b.previous_total), percent(b.negative_share)]
        for b in report.volume
    ]
    header = [p.bucket, *report.kinds, "total", "previous", "negative share"]
    out += [*_table(header, bucket_rows), ""]
    share = report.negative_share
    verdict = (
        ""
        if share is None
        else " (above target)"
        if share > report.negative_target
        else " (within target)"
    )
    out += [
        "## Sentiment",
        "",
        f"Negative share **{percent(share)}** of {report.negative + report.positive:,} "
        f"scored mentions (negative / (negative + positive)); target "
        f"{percent(report.negative_target)}{verdict}.",
        "",
        *_corrections(report),
        "## Share of voice",
        "",
    ]
    if report.share_of_voice:
        total = sum(t.mentions for t in report.share_of_voice)
        rows = [
            [
                cell(t.name),
                cell(t.query),
                f"{t.mentions:,}",
                percent(t.share(total)),
                *_split(t.sentiment),
            ]
            for t in report.share_of_voice
        ]
        header = ["topic", "query", "mentions", "share", "neg", "neu", "pos"]
        out += [*_table(header, rows), ""]
    else:
        out += ["No watched topics.", ""]
    out += ["## Response", ""]
    out += _times("First response time", report.first_response)
    out += _times("Resolution time", report.resolution)
    if report.sla is None:
        out += ["SLA breaches: not available (no SLA due times are recorded).", ""]
    elif not any(report.sla.due.values()):
        out += ["SLA: no deadline fell due in this period (no SLA policy for these roles?).", ""]
    else:
        rows = [
            [
                name.replace("_", " "),
                str(report.sla.due[name]),
                str(report.sla.breaches[name]),
                percent(report.sla.breaches[name] / n if (n := report.sla.due[name]) else None),
            ]
            for name in sorted(report.sla.due)
        ]
        out += [*_table(["SLA deadline", "due in period", "missed", "missed share"], rows), ""]
    handled = sum(report.handled.values())
    sent = sum(report.replies_sent.values())
    agents = sorted(set(report.handled) | set(report.replies_sent))
    out += [f"**{handled:,} conversations handled**, **{sent:,} replies sent**.", ""]
    if agents:
        rows = [
            [cell(a), str(report.handled.get(a, 0)), str(report.replies_sent.get(a, 0))]
            for a in agents
        ]
        out += [*_table(["agent", "handled", "replies sent"], rows), ""]
    out += ["## Engagement", ""]
    if report.templates:
        when_used = "all time" if report.templates_all_time else "in this period"
        out += [f"**Templates used most** ({when_used})", ""]
        out += [*_table(["template", "uses"], [[cell(n), str(c)] for n, c in report.templates])]
        out += [""]
    else:
        out += ["No templates used.", ""]
    created = sum(report.outcomes.values())
    rows = [
        [status, f"{n:,}", percent(n / created if created else None)]
        for status, n in report.outcomes.items()
    ]
    out += [f"**How conversations end** ({created:,} created in the period, status now)", ""]
    out += [*_table(["status", "conversations", "share"], rows), ""]
    out += ["## Top authors", ""]
    out += _authors("By reach", report.top_by_reach)
    out += _authors("By volume", report.top_by_volume)
    out += _people(report)
    if report.notes:
        out += ["---", ""] + [f"- {cell(n)}" for n in report.notes] + [""]
    return "\n".join(out).rstrip("\n") + "\n"


__all__ = ["bucket_label", "cell", "change", "duration", "percent", "render_markdown"]

"""The Reports screen (`R`): KPI charts drawn in the terminal, each with a table view.

Figures come from `reports.compute_report`, the code behind `inboxtui
report`, computed in a thread worker (a report reads many rows; the UI never
waits on it). Charts are plotext plots inside Textual (`textual-plotext`);
`t` swaps every chart for a table of its exact numbers. The period keys
(`1` today, `7`, `3` thirty days) recompute; the inbox's filter, if any,
narrows every figure.

Author handles and topic names are untrusted: table cells are plain `Text`.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from rich.text import Text
from sqlalchemy.exc import SQLAlchemyError
from textual import work
from textual.app import ComposeResult
from textual.containers import Grid, Vertical, VerticalScroll
from textual.screen import Screen
from textual.widgets import ContentSwitcher, DataTable, Footer, Header, Static
from textual.worker import get_current_worker
from textual_plotext import PlotextPlot

from inboxtui.db import Database
from inboxtui.keymap import REPORTS_KEYS, bindings
from inboxtui.reports import Report, compute_report, make_period
from inboxtui.reports.figures import AuthorFigure, TimeStat
from inboxtui.reports.render_md import bucket_label, change, duration, percent
from inboxtui.screens.picker import plain
from inboxtui.timeutil import utcnow

CHARTS: tuple[tuple[str, str], ...] = (
    ("volume", "Volume by source kind"),
    ("negative", "Negative share vs target"),
    ("response", "Response times (hours) by agent"),
    ("voice", "Share of voice by sentiment"),
)


def _table(table: DataTable, columns: tuple[str, ...], rows: list[tuple[object, ...]]) -> None:
    table.clear(columns=True)
    table.add_columns(*columns)
    for row in rows:
        table.add_row(*[c if isinstance(c, Text) else Text(str(c)) for c in row])


def _hours(seconds: int | None) -> float:
    return 0.0 if seconds is None else round(seconds / 3600, 2)


class ChartPanel(Vertical):
    """A titled chart, and the table of its numbers in its place when tables are shown."""

    def __init__(self, key: str, title: str) -> None:
        super().__init__(id=f"panel-{key}", classes="panel")
        self.key = key
        self.border_title = title

    def compose(self) -> ComposeResult:
        with ContentSwitcher(initial=f"{self.key}-chart"):
            yield PlotextPlot(id=f"{self.key}-chart")
            yield DataTable(id=f"{self.key}-table", zebra_stripes=True, cursor_type="none")

    def show_table(self, tables: bool) -> None:
        self.query_one(ContentSwitcher).current = f"{self.key}-{'table' if tables else 'chart'}"

    @property
    def plot(self) -> PlotextPlot:
        return self.query_one(f"#{self.key}-chart", PlotextPlot)

    @property
    def table(self) -> DataTable:
        return self.query_one(f"#{self.key}-table", DataTable)


class ReportsScreen(Screen[None]):
    CSS_PATH = "reports.tcss"
    BINDINGS = bindings(REPORTS_KEYS)

    def __init__(
        self,
        db: Database,
        *,
        query: str = "",
        me_id: int | None = None,
        clock: Callable[[], datetime] = utcnow,
        since: str = "7d",
    ) -> None:
        super().__init__()
        self.db = db
        self.query_text = query
        self.me_id = me_id
        self.clock = clock
        self.since = since
        self.tables = False
        self.report: Report | None = None
        self.loading_report = False

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(id="report-status")
        with VerticalScroll(id="report-body"):
            with Grid(id="charts"):
                for key, title in CHARTS:
                    yield ChartPanel(key, title)
            with Grid(id="summary"):
                for key, title in (
                    ("team", "Team: handled, replies, times"),
                    ("outcomes", "How conversations end"),
                    ("reach", "Top authors by reach"),
                    ("volume-authors", "Top authors by volume"),
                    ("people", "Advocates and detractors"),
                ):
                    table = DataTable(id=f"{key}-table", zebra_stripes=True, cursor_type="none")
                    table.border_title = title
                    yield table
        yield Footer()

    def on_mount(self) -> None:
        self.title = "Reports"
        self.refresh_report()

    # ------------------------------------------------------------------ actions

    def action_period(self, since: str) -> None:
        self.since = since
        self.refresh_report()

    def action_refresh_report(self) -> None:
        self.refresh_report()

    def action_toggle_tables(self) -> None:
        self.tables = not self.tables
        for panel in self.query(ChartPanel):
            panel.show_table(self.tables)

    def action_close(self) -> None:
        self.dismiss()

    # ------------------------------------------------------------------ loading

    def refresh_report(self) -> None:
        self.loading_report = True
        self._status(Text(f"computing the report for {self.since} ...", style="dim"))
        self._compute(self.since, self.query_text)

    @work(thread=True, exclusive=True, group="report")
    def _compute(self, since: str, query: str) -> None:
        """Read the figures off the UI thread; a newer request (a period key) wins."""
        worker = get_current_worker()
        now = self.clock()
        try:
            period = make_period(since, now=now)
            with self.db.read() as session:
                report = compute_report(session, period, query=query, me_id=self.me_id, now=now)
        except (ValueError, SQLAlchemyError) as exc:  # bad period or query; database trouble
            if not worker.is_cancelled:
                self.app.call_from_thread(self._failed, str(exc).splitlines()[0])
            return
        if not worker.is_cancelled:
            self.app.call_from_thread(self._show, report)

    def _failed(self, message: str) -> None:
        self.loading_report = False
        self._status(Text(message, style="bold red"))

    def _status(self, text: Text) -> None:
        self.query_one("#report-status", Static).update(text)

    # ------------------------------------------------------------------ showing

    def _show(self, report: Report) -> None:
        self.report = report
        share = report.negative_share
        status = Text()
        status.append(f"{report.period.label}", style="bold")
        status.append(
            f"  {report.total:,} mentions ({change(report.total, report.previous_total)} vs "
            f"previous {report.previous_total:,})  negative {percent(share)} "
            f"(target {percent(report.negative_target)})"
        )
        if report.query:
            status.append("  filter: ")
            status.append_text(plain(report.query))
        status.append("   1 today · 7 week · 3 month · t tables", style="dim")
        self._status(status)
        self._volume(report)
        self._negative(report)
        self._response(report)
        self._voice(report)
        self._summary(report)
        self.loading_report = False

    def _panel(self, key: str) -> ChartPanel:
        return self.query_one(f"#panel-{key}", ChartPanel)

    def _volume(self, report: Report) -> None:
        panel = self._panel("volume")
        labels = [bucket_label(report, b.start) for b in report.volume]
        short = _short_labels(report)
        plt = panel.plot.plt
        plt.clear_data()
        plt.clear_figure()
        if report.kinds:
            series = [[b.by_kind[k] for b in report.volume] for k in report.kinds]
            plt.stacked_bar(short, series, labels=list(report.kinds))
        plt.title(f"{report.total:,} mentions; previous period {report.previous_total:,}")
        panel.plot.refresh()
        rows = [
            (label, *(b.by_kind[k] for k in report.kinds), b.total, b.previous_total)
            for label, b in zip(labels, report.volume, strict=True)
        ]
        _table(panel.table, (report.period.bucket, *report.kinds, "total", "previous"), rows)

    def _negative(self, report: Report) -> None:
        panel = self._panel("negative")
        plt = panel.plot.plt
        plt.clear_data()
        plt.clear_figure()
        points = [
            (i + 1, b.negative_share * 100)
            for i, b in enumerate(report.volume)
            if b.negative_share is not None
        ]
        if points:
            plt.plot([x for x, _ in points], [y for _, y in points], label="negative %")
        ticks = list(range(1, len(report.volume) + 1))
        plt.xticks(ticks, _short_labels(report))
        plt.hline(report.negative_target * 100, "red")
        plt.ylim(0, 100)
        plt.title(f"target {percent(report.negative_target)} (red line)")
        panel.plot.refresh()
        rows = [
            (bucket_label(report, b.start), b.negative, b.positive, percent(b.negative_share))
            for b in report.volume
        ]
        _table(panel.table, (report.period.bucket, "negative", "positive", "share"), rows)

    def _response(self, report: Report) -> None:
        panel = self._panel("response")
        first = {s.name: s for s in report.first_response if s.dimension == "agent"}
        resolved = {s.name: s for s in report.resolution if s.dimension == "agent"}
        agents = sorted(set(first) | set(resolved))
        plt = panel.plot.plt
        plt.clear_data()
        plt.clear_figure()
        if agents:
            plt.multiple_bar(
                agents,
                [
                    [_hours(first[a].median if a in first else None) for a in agents],
                    [_hours(resolved[a].median if a in resolved else None) for a in agents],
                ],
                labels=["first response p50", "resolution p50"],
            )
        plt.title("median hours per agent")
        panel.plot.refresh()

        def rows(what: str, stats: list[TimeStat]) -> list[tuple[object, ...]]:
            return [
                (
                    what,
                    s.dimension,
                    plain(s.name or "all"),
                    s.count,
                    duration(s.median),
                    duration(s.p90),
                )
                for s in stats
            ]

        _table(
            panel.table,
            ("time", "by", "who", "count", "median", "p90"),
            rows("first response", report.first_response) + rows("resolution", report.resolution),
        )

    def _voice(self, report: Report) -> None:
        panel = self._panel("voice")
        topics = report.share_of_voice
        plt = panel.plot.plt
        plt.clear_data()
        plt.clear_figure()
        if topics:
            plt.stacked_bar(
                [t.name[:12] for t in topics],
                [
                    [t.sentiment.negative for t in topics],
                    [t.sentiment.neutral for t in topics],
                    [t.sentiment.positive for t in topics],
                ],
                labels=["negative", "neutral", "positive"],
            )
            plt.title("mentions per watched topic")
        else:
            plt.title("no watched topics")
        panel.plot.refresh()
        total = sum(t.mentions for t in topics)
        _table(
            panel.table,
            ("topic", "mentions", "share", "negative", "neutral", "positive"),
            [
                (
                    plain(t.name),
                    t.mentions,
                    percent(t.share(total)),
                    t.sentiment.negative,
                    t.sentiment.neutral,
                    t.sentiment.positive,
                )
                for t in topics
            ],
        )

    def _summary(self, report: Report) -> None:
        agents = sorted(set(report.handled) | set(report.replies_sent))
        first = {s.name: s for s in report.first_response if s.dimension == "agent"}
        team_rows = [
            (
                plain(a),
                report.handled.get(a, 0),
                report.replies_sent.get(a, 0),
                duration(first[a].median if a in first else None),
            )
            for a in agents
        ]
        if report.sla is None:
            team_rows.append(("SLA", "-", "-", "no deadlines recorded"))
        else:
            for name in sorted(report.sla.due):
                label = f"SLA {name.replace('_', ' ')}"
                missed = f"{report.sla.breaches[name]} of {report.sla.due[name]} missed"
                team_rows.append((label, "", "", missed))
        _table(
            self.query_one("#team-table", DataTable),
            ("agent", "handled", "replies sent", "first resp. p50"),
            team_rows,
        )
        created = sum(report.outcomes.values())
        outcome_rows: list[tuple[object, ...]] = [
            (status, n, percent(n / created if created else None))
            for status, n in report.outcomes.items()
        ]
        outcome_rows += [
            (plain(f"template {n}"), c, "all time" if report.templates_all_time else "period")
            for n, c in report.templates[:5]
        ]
        _table(
            self.query_one("#outcomes-table", DataTable), ("status", "count", "share"), outcome_rows
        )
        for key, authors in (
            ("reach", report.top_by_reach),
            ("volume-authors", report.top_by_volume),
        ):
            _table(
                self.query_one(f"#{key}-table", DataTable),
                ("author", "followers", "mentions", "neg", "pos"),
                [_author_row(a) for a in authors],
            )
        _table(
            self.query_one("#people-table", DataTable),
            ("tag", "person", "mentions", "neg", "pos"),
            [
                (p.tag, plain(p.name, 40), p.mentions, p.sentiment.negative, p.sentiment.positive)
                for p in report.people
            ],
        )


def _short_labels(report: Report) -> list[str]:
    """Axis labels: `14:00` for hours, `11-20` for days and weeks."""
    spec = "%H:%M" if report.period.bucket == "hour" else "%m-%d"
    return [b.start.strftime(spec) for b in report.volume]


def _author_row(a: AuthorFigure) -> tuple[object, ...]:
    followers = "-" if a.followers is None else f"{a.followers:,}"
    return (plain(a.handle, 40), followers, a.mentions, a.sentiment.negative, a.sentiment.positive)


__all__ = ["ReportsScreen"]

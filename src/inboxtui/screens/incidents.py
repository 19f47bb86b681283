"""The Incidents screen (`I`): list, timeline, sparklines, conversations, owner; ack/own/resolve.

It calls the same service functions as `inboxtui incident ack|own|note|resolve`
(`inboxtui.detection.incidents`), with the version the screen showed, so a
change made meanwhile by someone else is a clear "reload" notice, never a
silent overwrite. Reads and writes run in thread workers. Titles, reasons,
notes and excerpts quote hostile text: everything is plain `Text`.

The sparklines are the topic's last 24 windows up to now (or up to when the
incident was resolved): mentions per window and the negative share in percent.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from rich.text import Text
from sqlalchemy import select
from textual import on, work
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Label, Sparkline, Static

from inboxtui import query as q
from inboxtui.db import Database
from inboxtui.detection import incidents
from inboxtui.detection.incidents import IncidentView, TimelineEntry
from inboxtui.detection.topics import spec_of
from inboxtui.detection.windows import series
from inboxtui.keymap import INCIDENTS_KEYS, bindings
from inboxtui.models import Topic
from inboxtui.screens.note import NoteModal
from inboxtui.screens.picker import plain
from inboxtui.screens.reading import NewestReadWins
from inboxtui.services.errors import ServiceError
from inboxtui.text import one_line, sanitize
from inboxtui.timeutil import utcnow

POINTS = 24  # windows in each sparkline
POLL_SECONDS = 3.0
STATUS_STYLE = {"open": "bold red", "acknowledged": "yellow", "resolved": "green"}
COLUMNS = (
    ("#", "id"),
    ("Status", "status"),
    ("Sev", "severity"),
    ("Topic", "topic"),
    ("Opened", "opened"),
    ("Owner", "owner"),
    ("Conv", "conversations"),
    ("Title", "title"),
)


@dataclass
class Detail:
    """What the panel shows for one incident."""

    view: IncidentView
    timeline: list[TimelineEntry] = field(default_factory=list)
    conversations: list[q.ConversationRow] = field(default_factory=list)
    volume: list[float] = field(default_factory=list)
    share: list[float] = field(default_factory=list)


def _when(value: datetime | None) -> str:
    """`Nov 23 05:45 UTC`: a person reads these, scripts use `inboxtui incidents --json`."""
    return f"{value:%b %d %H:%M} UTC" if value else ""


def row_cells(view: IncidentView) -> list[Text]:
    return [
        Text(f"#{view.id}"),
        Text(view.status, STATUS_STYLE.get(view.status, "")),
        Text(str(view.severity), "bold" if view.severity >= 3 else ""),
        plain(view.topic or "-", 20),
        Text(_when(view.opened_at) or "-"),
        plain(view.owner or "-", 16),
        Text(str(view.conversations)),
        plain(view.title, 80),
    ]


def summary_text(view: IncidentView) -> Text:
    out = Text()
    out.append(f"Incident #{view.id} ", "bold")
    out.append(view.status, STATUS_STYLE.get(view.status, ""))
    out.append(f" · severity {view.severity} · topic {sanitize(view.topic or '-')}\n")
    out.append(one_line(sanitize(view.title), 300) + "\n", "bold")
    out.append(f"opened {_when(view.opened_at)}")
    if view.last_triggered_at:
        out.append(f" · last trigger {_when(view.last_triggered_at)}")
    if view.cooldown_until:
        out.append(f" · quiet after {_when(view.cooldown_until)}")
    out.append("\n")
    out.append("owner: ", "dim")
    out.append(sanitize(view.owner) if view.owner else "nobody (o: take it)")
    if view.acknowledged_at:
        out.append(f" · acknowledged {_when(view.acknowledged_at)}")
    if view.closed_at:
        out.append(f" · resolved {_when(view.closed_at)}")
    out.append("\n")
    for kind in view.triggers:
        reason = view.metrics.get(kind, {}).get("reason")
        out.append(f"{kind}: ", "dim")
        out.append(one_line(sanitize(str(reason or "")), 300) + "\n")
    if view.postmortem:
        out.append("post-mortem: ", "bold")
        out.append(sanitize(view.postmortem) + "\n")
    return out


def timeline_text(entries: list[TimelineEntry]) -> Text:
    out = Text()
    out.append("Timeline\n", "bold")
    for entry in entries:
        out.append(f"{_when(entry.created_at)}  ", "dim")
        out.append(one_line(sanitize(entry.actor), 30) + "  ")
        out.append(entry.action, "bold")
        if entry.detail:
            out.append("  " + one_line(sanitize(entry.detail), 200))
        out.append("\n")
    return out


def conversations_text(rows: list[q.ConversationRow], total: int) -> Text:
    out = Text()
    out.append(f"Escalated conversations ({total})\n", "bold")
    for row in rows:
        severity = f"sev {row.severity}" if row.severity else "not escalated"
        out.append(f"#{row.id}  ", "bold")
        out.append(f"{severity} · {row.status} · ", "dim")
        out.append(one_line(sanitize(row.excerpt or ""), 100) + "\n")
    if total > len(rows):
        out.append(f"… and {total - len(rows)} more\n", "dim")
    return out


def _series(session: Any, view: IncidentView, now: datetime) -> tuple[list[float], list[float]]:
    if view.topic_id is None:
        return [], []
    topic = session.execute(select(Topic).where(Topic.id == view.topic_id)).scalar_one_or_none()
    if topic is None:
        return [], []
    spec = spec_of(topic)
    end = (
        min(now, view.closed_at + timedelta(seconds=spec.window_seconds)) if view.closed_at else now
    )
    buckets = series(session, spec, end, POINTS)
    volume = [float(b.count) for b in buckets]
    share = [100.0 * (b.share or 0.0) for b in buckets]
    return volume, share


def load_detail(db: Database, incident_id: int, now: datetime, shown: int = 30) -> Detail:
    with db.read() as session:
        view = incidents.get_incident(session, incident_id)
        ids = incidents.conversation_ids(session, incident_id)
        detail = Detail(view, incidents.timeline(session, incident_id))
        detail.conversations = q.fetch_rows(session, ids[:shown])
        detail.volume, detail.share = _series(session, view, now)
    return detail


class IncidentsScreen(NewestReadWins, Screen[None]):
    """Incidents, newest open first; the panel follows the cursor."""

    CSS_PATH = "incidents.tcss"
    AUTO_FOCUS = "#incidents"
    BINDINGS = bindings(INCIDENTS_KEYS)

    def __init__(
        self,
        db: Database,
        agent: str,
        *,
        clock: Callable[[], datetime] = utcnow,
        db_label: str | None = None,
    ) -> None:
        super().__init__()
        self.db = db
        self.agent = agent
        self.clock = clock
        self.db_label = db_label or db.display_name
        self.views: list[IncidentView] = []
        self.detail: Detail | None = None
        # reads of the detail asked for / the newest one: an exclusive worker that is
        # replaced before it runs never reports back, so a count would never reach 0
        self._shows = 0
        self._shown_number = 0
        self._actions_running = 0

    def compose(self) -> ComposeResult:
        yield Header(icon="✉")
        table: DataTable[Text] = DataTable(id="incidents", cursor_type="row", zebra_stripes=True)
        yield table
        with VerticalScroll(id="incident-panel"):
            yield Static(id="incident-summary")
            with Horizontal(id="sparklines"):
                with Vertical(classes="spark"):
                    yield Label("mentions per window", classes="spark-label")
                    yield Sparkline([], id="volume", summary_function=max)
                with Vertical(classes="spark"):
                    yield Label("negative share %", classes="spark-label")
                    yield Sparkline([], id="share", summary_function=max)
            yield Static(id="incident-timeline")
            yield Static(id="incident-conversations")
        yield Footer()

    @property
    def table(self) -> DataTable[Text]:
        return self.query_one("#incidents", DataTable)

    @property
    def is_busy(self) -> bool:
        return self._loading or self._showing or self._actions_running > 0

    @property
    def _showing(self) -> bool:
        return self._shown_number != self._shows

    @property
    def current(self) -> IncidentView | None:
        row = self.table.cursor_row
        return self.views[row] if 0 <= row < len(self.views) else None

    def on_mount(self) -> None:
        for label, key in COLUMNS:
            self.table.add_column(label, key=key)
        self.title = "inboxtui · Incidents"
        self.sub_title = self.db_label
        if getattr(self.app, "live", False):
            self.set_interval(POLL_SECONDS, self.load)
        self.load()

    # ------------------------------------------------------------------ loading

    read_error = "could not read the incidents"

    def read(self) -> list[IncidentView]:
        with self.db.read() as session:
            return incidents.list_incidents(session)

    def show_read(self, views: list[IncidentView]) -> None:
        keep = self.current.id if self.current else None
        self.views = views
        table = self.table
        table.clear()
        for view in views:
            table.add_row(*row_cells(view), key=str(view.id))
        ids = [v.id for v in views]
        if keep in ids:
            table.move_cursor(row=ids.index(keep))
        if not views:
            self.query_one("#incident-summary", Static).update(
                Text("No incidents. Detection opens one when a watched topic alarms.")
            )
            return
        self.show(self.views[max(0, table.cursor_row)].id)

    @on(DataTable.RowHighlighted, "#incidents")
    def _highlighted(self, event: DataTable.RowHighlighted) -> None:
        if event.row_key.value is not None and self.views:
            incident_id = int(event.row_key.value)
            if self.detail is None or self.detail.view.id != incident_id or not self._showing:
                self.show(incident_id)

    def show(self, incident_id: int) -> None:
        self._shows += 1
        self._detail_worker(incident_id, self._shows)

    @work(thread=True, exclusive=True, exit_on_error=False, group="incidents-detail")
    def _detail_worker(self, incident_id: int, number: int) -> None:
        try:
            detail, error = load_detail(self.db, incident_id, self.clock()), None
        except Exception as exc:
            detail, error = None, f"could not read incident #{incident_id}: {exc}"
        with contextlib.suppress(RuntimeError):
            self.app.call_from_thread(self._shown, number, detail, error)

    def _shown(self, number: int, detail: Detail | None, error: str | None) -> None:
        if number != self._shows:
            return  # a newer read is on the way
        self._shown_number = number
        if detail is None:
            self.say(error or "could not read the incident", "error")
            return
        if self.current is not None and detail.view.id != self.current.id:
            return  # the cursor moved on; its own read is on the way
        self.detail = detail
        self.query_one("#incident-summary", Static).update(summary_text(detail.view))
        self.query_one("#volume", Sparkline).data = detail.volume
        self.query_one("#share", Sparkline).data = detail.share
        self.query_one("#incident-timeline", Static).update(timeline_text(detail.timeline))
        self.query_one("#incident-conversations", Static).update(
            conversations_text(detail.conversations, detail.view.conversations)
        )

    # ------------------------------------------------------------------ keys

    def action_incident_down(self) -> None:
        self.table.action_cursor_down()

    def action_incident_up(self) -> None:
        self.table.action_cursor_up()

    def action_refresh_incidents(self) -> None:
        self.load()

    def action_close(self) -> None:
        self.app.pop_screen()

    def _target(self) -> IncidentView | None:
        view = self.current
        if view is None:
            self.say("No incident selected", "warning")
        return view

    def action_acknowledge(self) -> None:
        view = self._target()
        if view is not None:
            self._act(view, "acknowledge")

    def action_own(self) -> None:
        view = self._target()
        if view is not None:
            self._act(view, "own")

    def action_note(self) -> None:
        view = self._target()
        if view is None:
            return

        def chosen(text: str | None) -> None:
            if text:
                self._act(view, "note", text=text)

        self.app.push_screen(NoteModal(f"Note on incident #{view.id}"), chosen)

    def action_resolve(self) -> None:
        view = self._target()
        if view is None:
            return
        if view.status == "resolved":
            self.say(f"Incident #{view.id} is already resolved", "warning")
            return

        def chosen(text: str | None) -> None:
            if text:
                self._act(view, "resolve", note=text)

        title = f"Resolve incident #{view.id}: post-mortem (what happened, what was done)"
        self.app.push_screen(NoteModal(title), chosen)

    def _act(self, view: IncidentView, op: str, **kwargs: Any) -> None:
        self._actions_running += 1
        self._act_worker(view, op, kwargs)

    @work(thread=True, exit_on_error=False, group="incidents-act")
    def _act_worker(self, view: IncidentView, op: str, kwargs: dict[str, Any]) -> None:
        severity = "information"
        try:
            if op == "note":
                incidents.note(self.db, view.id, actor=self.agent, **kwargs)
                message = f"Note added to incident #{view.id}"
            else:
                changed = getattr(incidents, op)(
                    self.db, view.id, actor=self.agent, expected_version=view.version, **kwargs
                )
                message = f"Incident #{changed.id} is {changed.status}" + (
                    f", owner {changed.owner}" if op == "own" else ""
                )
        except ServiceError as exc:
            severity, message = "warning", str(exc)
        except Exception as exc:
            severity, message = "error", f"{op} failed: {exc}"
        with contextlib.suppress(RuntimeError):
            self.app.call_from_thread(self._acted, message, severity)

    def _acted(self, message: str, severity: str) -> None:
        self._actions_running -= 1
        self.say(message, severity)
        self.load()
        with contextlib.suppress(Exception):
            banner = self.app.inbox.query_one("#incident-banner")  # type: ignore[attr-defined]
            banner.load()

"""The inbox: views | queue | detail, and every triage key.

Messages go up (the queue says "cursor moved", the sidebar "view chosen"),
method calls go down (the screen tells the queue which query to show and
which rows to refresh). Every database write is a service call in a thread
worker with the row's `expected_version`: a conflict becomes a notification
naming who changed the conversation, and the row is re-read.

Bulk: `space`/`v`/`*` mark, `;` arms the next action for the marked set.
Over 20 conversations an action asks for confirmation first.
`n`/`N`: a filter shows only its matches, so the next/previous match is the
next/previous row of the filtered queue; they wrap around at the ends and
the status line says which match you are on.
"""

from __future__ import annotations

import contextlib
import gc
import sys
import webbrowser
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from rich.text import Text
from sqlalchemy import func, select
from textual import events, on, work
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import Footer, Header

from inboxtui import query as q
from inboxtui import services
from inboxtui.db import Database
from inboxtui.keymap import INBOX_KEYS, bindings
from inboxtui.models import Agent, Mention, Role, Source, Tag
from inboxtui.screens.confirm import ConfirmModal
from inboxtui.screens.escalate import EscalateModal
from inboxtui.screens.note import NoteModal
from inboxtui.screens.picker import AssignPicker
from inboxtui.screens.priority import PriorityModal
from inboxtui.screens.save_view import SaveViewModal
from inboxtui.screens.sentiment import SentimentModal
from inboxtui.screens.snooze import SnoozeModal
from inboxtui.screens.tag import TagModal
from inboxtui.services import sentiment_labels, views
from inboxtui.text import sanitize
from inboxtui.timeutil import utcnow
from inboxtui.widgets.detail_pane import DetailPane
from inboxtui.widgets.filter_bar import FilterBar
from inboxtui.widgets.incident_banner import IncidentBanner
from inboxtui.widgets.queue_list import QueueList
from inboxtui.widgets.sidebar import Sidebar, View

CONFIRM_OVER = 20
NARROW = 120
DETAIL_DELAY = 0.1  # seconds the cursor rests before the detail pane reads the conversation
GC_FULL_EVERY = 100  # young-generation collections between full ones (Python's default: 10)
SWITCH_INTERVAL = 0.001  # seconds a thread may hold the GIL while another waits (Python: 0.005)

# op -> the service for one conversation (bulk uses services.bulk_ids with the same op names)
SINGLE_OPS: dict[str, Callable[..., services.Change]] = {
    "assign": services.assign,
    "unassign": services.unassign,
    "resolve": services.resolve,
    "reopen": services.reopen,
    "snooze": services.snooze,
    "priority": services.set_priority,
    "escalate": services.escalate,
    "tag": services.tag,
    "untag": services.untag,
    "note": services.add_note,
    "sentiment": sentiment_labels.correct_label,
}


@dataclass(frozen=True)
class Targets:
    """What an action applies to: the highlighted row, or the marked set (bulk)."""

    ids: list[int]
    row: q.ConversationRow | None = None

    @property
    def bulk(self) -> bool:
        return self.row is None

    def describe(self) -> str:
        return f"#{self.ids[0]}" if self.row else f"{len(self.ids):,} marked conversations"


@dataclass
class Meta:
    """Small shared lists the modals need, re-read on every live change."""

    roles: list[str] = field(default_factory=list)
    agents: list[tuple[str, str]] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)
    sources: int = 0
    failing: list[str] = field(default_factory=list)


class InboxScreen(Screen):
    CSS_PATH = "inbox.tcss"
    BINDINGS = bindings(INBOX_KEYS)

    def __init__(
        self,
        db: Database,
        agent: str,
        *,
        me_id: int | None = None,
        clock: Callable[[], datetime] = utcnow,
        db_label: str | None = None,
    ) -> None:
        super().__init__()
        self.db = db
        self.agent = agent
        self.me_id = me_id
        self.clock = clock
        self.db_label = db_label or db.display_name
        self.meta = Meta()
        self.view = View("inbox", "Inbox", "-is:resolved")
        self.bulk_armed = False
        self._detail_timer: Timer | None = None
        self._actions_running = 0
        self._marking = False
        # (gc thresholds, switch interval) before `_tune_runtime`
        self._runtime_before: tuple[tuple[int, int, int], float] | None = None

    # ------------------------------------------------------------------ layout

    def compose(self) -> ComposeResult:
        yield Header(icon="✉")
        yield IncidentBanner(self.db, id="incident-banner")
        with Horizontal(id="body"):
            yield Sidebar(self.db, me_id=self.me_id, agent=self.agent, id="sidebar")
            with Horizontal(id="main"):
                with Vertical(id="queue-column"):
                    yield FilterBar(id="filter")
                    yield QueueList(self.db, me_id=self.me_id, clock=self.clock, id="queue")
                yield DetailPane(self.db, clock=self.clock, id="detail")
        yield Footer()

    @property
    def queue(self) -> QueueList:
        return self.query_one("#queue", QueueList)

    @property
    def sidebar(self) -> Sidebar:
        return self.query_one("#sidebar", Sidebar)

    @property
    def detail(self) -> DetailPane:
        return self.query_one("#detail", DetailPane)

    @property
    def filter_bar(self) -> FilterBar:
        return self.query_one("#filter", FilterBar)

    @property
    def is_busy(self) -> bool:
        """True while anything is still loading or writing (tests and benchmarks wait on it)."""
        return (
            self.queue.is_loading
            or self.sidebar.is_loading
            or self.detail.is_loading
            or self._detail_timer is not None
            or self._actions_running > 0
            or self._marking
        )

    def on_mount(self) -> None:
        self._layout_for(self.app.size.width)
        self.queue.set_query(q.parse(self.view.query))
        self.queue.focus()
        self._update_title()
        self.load_meta()

    def on_resize(self, event: events.Resize) -> None:
        self._layout_for(event.size.width)

    def _layout_for(self, width: int) -> None:
        self.set_class(width < NARROW, "-narrow")

    def say(self, message: str, severity: str = "information") -> None:
        """Notify with plain text: messages may quote hostile data."""
        self.app.notify(message, severity=severity, markup=False)  # type: ignore[arg-type]

    # ------------------------------------------------------------------ header, meta

    def _update_title(self) -> None:
        self.title = f"inboxtui · {self.agent}"
        health = f"{self.meta.sources} source{'s' if self.meta.sources != 1 else ''}"
        if self.meta.failing:
            health += f", {len(self.meta.failing)} failing ({', '.join(self.meta.failing[:2])})"
        elif self.meta.sources:
            health += ", all ok"
        self.sub_title = f"{self.db_label} · {health}"

    def load_meta(self) -> None:
        self._meta_worker()

    @work(thread=True, exit_on_error=False, group="meta")
    def _meta_worker(self) -> None:
        with self.db.read() as session:
            roles = list(session.execute(select(Role.name).order_by(Role.name)).scalars())
            agents = [
                (handle, display or "")
                for handle, display in session.execute(
                    select(Agent.handle, Agent.display_name).order_by(Agent.handle)
                )
            ]
            tags = list(session.execute(select(Tag.name).order_by(Tag.name)).scalars())
            sources = session.execute(select(func.count()).select_from(Source)).scalar_one()
            failing = list(
                session.execute(
                    select(Source.name)
                    .where(Source.consecutive_failures > 0, Source.enabled.is_(True))
                    .order_by(Source.name)
                ).scalars()
            )
            me_id = services.agent_id_for(session, self.agent)
        meta = Meta(roles, agents, tags, int(sources), [sanitize(f) for f in failing])
        with contextlib.suppress(RuntimeError):
            self.app.call_from_thread(self._meta_loaded, meta, me_id)

    def _meta_loaded(self, meta: Meta, me_id: int | None) -> None:
        self.meta = meta
        if me_id != self.me_id:
            self.me_id = me_id
            self.queue.me_id = me_id
            self.sidebar.me_id = me_id
        self._update_title()

    # ------------------------------------------------------------------ status line

    def _update_status(self) -> None:
        queue = self.queue
        text = Text(no_wrap=True, overflow="ellipsis", end="")
        text.append(sanitize(self.view.name.strip()), "bold")
        if queue.query_obj.text:
            text.append("  ")
            text.append(sanitize(queue.query_obj.text))
        total = queue.total
        text.append("  ·  ")
        if total is None:
            text.append("counting…")
        else:
            # the position first, in one phrase: a narrow queue still shows where you are
            where = f"{queue.cursor + 1:,}/" if total else ""
            text.append(f"{where}{total:,} conversation{'s' if total != 1 else ''}")
        if queue.marks:
            text.append(f"  ·  {len(queue.marks):,} marked", "bold")
        if self.bulk_armed:
            text.append("  ·  ; next action applies to the marked set", "reverse")
        self.filter_bar.set_status(text)

    @on(QueueList.Changed)
    def _queue_changed(self) -> None:
        self._update_status()
        if self._runtime_before is None and self.queue.total is not None:
            self._tune_runtime()

    def _tune_runtime(self) -> None:
        """Tune the interpreter for a UI fed by reader threads, once the queue is painted.

        - The cycle collector: a full pass walks every object while every thread
          waits; at a million mentions those pauses (~170 ms) were the slowest
          page downs and filters. What startup built (imports, Textual's DOM and
          styles, SQLAlchemy's mappers) lives as long as the app: `gc.freeze`
          takes it out of the walk. Scrolling churns through cached rows, which
          made a full pass due every few pages: allowing `GC_FULL_EVERY` young
          collections between full passes (Python: 10) spaces them out.
        - The GIL: SQLite releases it for every row it steps to, and a reader
          thread then waits up to the switch interval (Python: 5 ms) to get it
          back while the UI draws: a 90-row read took 40 ms of wall time for
          5 ms of work, and fast paging outran the read-ahead. `SWITCH_INTERVAL`.
        `on_unmount` restores all of it, so an app that ends (as in tests) leaves
        the interpreter as it found it.
        """
        young, middle, _ = gc.get_threshold()
        self._runtime_before = (gc.get_threshold(), sys.getswitchinterval())
        gc.freeze()
        gc.set_threshold(young, middle, GC_FULL_EVERY)
        sys.setswitchinterval(SWITCH_INTERVAL)

    def on_unmount(self) -> None:
        if self._runtime_before is not None:
            thresholds, interval = self._runtime_before
            gc.set_threshold(*thresholds)
            gc.unfreeze()
            sys.setswitchinterval(interval)
            self._runtime_before = None

    @on(QueueList.LoadFailed)
    def _queue_failed(self, event: QueueList.LoadFailed) -> None:
        self.say(event.error, "error")

    @on(QueueList.CursorMoved)
    def _cursor_moved(self, event: QueueList.CursorMoved) -> None:
        self._update_status()
        # Debounced: holding `j` reads no conversation until the cursor rests; and a
        # row still loading (a new filter, a far jump) cancels the previous row's read.
        if self._detail_timer is not None:
            self._detail_timer.stop()
            self._detail_timer = None
        if event.row is None:
            return
        row_id = event.row.id
        self._detail_timer = self.set_timer(DETAIL_DELAY, lambda: self._show_detail(row_id))

    def _show_detail(self, conversation_id: int) -> None:
        if self._detail_timer is not None:
            self._detail_timer.stop()
            self._detail_timer = None
        self.detail.show(conversation_id)

    @on(QueueList.Opened)
    def _opened(self, event: QueueList.Opened) -> None:
        self._show_detail(event.row.id)
        self.detail.focus()

    # ------------------------------------------------------------------ views and filter

    @on(Sidebar.ViewSelected)
    def _view_selected(self, event: Sidebar.ViewSelected) -> None:
        self.view = event.view
        try:
            parsed = q.parse(event.view.query)
        except q.QueryError as error:
            self.say(f"view {event.view.name!r} has a bad query: {error.reason}", "error")
            return
        self.queue.set_query(parsed)
        self.queue.focus()
        self._update_status()

    def action_filter(self) -> None:
        text = self.queue.query_obj.text
        self.filter_bar.open(f"{text} " if text else "")

    @on(FilterBar.Applied)
    def _filter_applied(self, event: FilterBar.Applied) -> None:
        self.view = View("filter", "Filter", event.query.text)
        self.sidebar.set_active("")
        self.queue.set_query(event.query)
        self._update_status()

    @on(FilterBar.Closed)
    def _filter_closed(self) -> None:
        self.queue.focus()

    def apply_filter(self, text: str) -> None:
        """Show the matches of `text` (raises QueryError): the palette and tests use it."""
        self.post_message(FilterBar.Applied(q.parse(text)))

    def action_save_view(self) -> None:
        """Name the current filter (`V`); re-saving a saved view's name replaces its query."""
        text = self.queue.query_obj.text.strip()
        if not text:
            self.say("Filter first (/), then save the filter as a view", "warning")
            return
        name = self.view.name.strip() if self.view.id.startswith("saved-") else ""

        def chosen(choice: tuple[str, bool] | None) -> None:
            if choice:
                self._save_view_worker(choice[0], text, choice[1])

        self.app.push_screen(SaveViewModal(text, name), chosen)

    @work(thread=True, exit_on_error=False, group="views")
    def _save_view_worker(self, name: str, text: str, shared: bool) -> None:
        try:
            row = views.save_view(self.db, name, text, actor=self.agent, shared=shared)
        except (services.ServiceError, q.QueryError) as error:
            self.app.call_from_thread(self.say, f"view not saved: {error}", "error")
            return
        self.app.call_from_thread(self._view_saved, row)

    def _view_saved(self, row: views.ViewRow) -> None:
        self.view = View(f"saved-{row.id}", row.name, row.query, row.shared)
        self.sidebar.active_id = self.view.id
        self.sidebar.load()
        self._update_status()
        self.say(f"Saved view {row.name!r}{' for the team' if row.shared else ''}")

    @on(Sidebar.RemoveRequested)
    def _remove_view(self, event: Sidebar.RemoveRequested) -> None:
        view = event.view

        def answered(yes: bool | None) -> None:
            if yes:
                self._remove_view_worker(view)

        whose = "the team's" if view.shared else "your"
        self.app.push_screen(ConfirmModal(f"Remove {whose} view {view.name!r}?"), answered)

    @work(thread=True, exit_on_error=False, group="views")
    def _remove_view_worker(self, view: View) -> None:
        try:
            views.remove_view(self.db, view.name, actor=self.agent, shared=bool(view.shared))
        except services.ServiceError as error:
            self.app.call_from_thread(self.say, f"view not removed: {error}", "error")
            return
        self.app.call_from_thread(self.sidebar.load)

    def action_next_match(self) -> None:
        self._step_match(1)

    def action_prev_match(self) -> None:
        self._step_match(-1)

    def _step_match(self, step: int) -> None:
        total = self.queue.total or 0
        if not total:
            self.say("No matches")
            return
        target = self.queue.cursor + step
        if not 0 <= target < total:
            target %= total
            self.say("Search wrapped around")
        self.queue.move_to(target)

    def action_back(self) -> None:
        if self.filter_bar.is_open:
            self.filter_bar.close()
        elif self.bulk_armed:
            self.bulk_armed = False
            self._update_status()
        elif not self.queue.has_focus:
            self.queue.focus()

    def action_reload(self) -> None:
        self.on_db_changed()

    def action_incidents(self) -> None:
        """The Incidents screen (`I`): timeline, sparklines, owner, acknowledge, resolve."""
        from inboxtui.screens.incidents import IncidentsScreen

        self.app.push_screen(
            IncidentsScreen(self.db, self.agent, clock=self.clock, db_label=self.db_label)
        )

    def action_reports(self) -> None:
        """KPI reports (`R`) for the typed filter, if any, computed off the UI thread.

        Only a typed filter narrows them: views such as Inbox (`-is:resolved`)
        would leave resolved conversations out of the response figures.
        """
        from inboxtui.screens.reports import ReportsScreen  # plotext loads on first use

        query = self.queue.query_obj.text if self.view.id == "filter" else ""
        self.app.push_screen(
            ReportsScreen(self.db, query=query, me_id=self.me_id, clock=self.clock)
        )

    def action_team(self) -> None:
        """The Team screen (`M`): roles, agents, duty, capacity, a lead's rebalance."""
        from inboxtui.screens.team import TeamScreen

        self.app.push_screen(TeamScreen(self.db, self.agent, db_label=self.db_label))

    def action_activity(self) -> None:
        """The Activity screen (`E`): everyone's audit log; `enter` comes back to a row."""
        from inboxtui.screens.activity import ActivityScreen

        self.app.push_screen(
            ActivityScreen(self.db, clock=self.clock, db_label=self.db_label),
            lambda chosen: self.go_to_conversation(chosen) if chosen else None,
        )

    def action_profile(self) -> None:
        """The author profile (`P`; `enter` in the detail pane) of the shown conversation."""
        from inboxtui.screens.profile import ProfileScreen

        if self.detail.has_focus and self.detail.conversation_id is not None:
            conversation_id: int | None = self.detail.conversation_id
        else:
            row = self.queue.current_row
            conversation_id = row.id if row is not None else self.detail.conversation_id
        if conversation_id is None:
            self.say("No conversation selected", "warning")
            return
        self.app.push_screen(
            ProfileScreen(
                self.db,
                self.agent,
                conversation_id=conversation_id,
                clock=self.clock,
                db_label=self.db_label,
            ),
            lambda chosen: self.go_to_conversation(chosen) if chosen else None,
        )

    def go_to_conversation(self, conversation_id: int) -> None:
        """Put the cursor on `conversation_id` in the current view (else show it in detail)."""
        self._go_to_worker(conversation_id, self.queue.query_obj)

    @work(thread=True, exclusive=True, exit_on_error=False, group="go-to")
    def _go_to_worker(self, conversation_id: int, query: q.Query) -> None:
        try:
            with self.db.read() as session:
                index = q.position_of(session, query, conversation_id, me_id=self.me_id)
        except Exception as exc:  # a database failure: said plainly, the inbox stays
            self.app.call_from_thread(self.say, f"could not find #{conversation_id}: {exc}")
            return
        self.app.call_from_thread(self._went_to, conversation_id, index)

    def _went_to(self, conversation_id: int, index: int | None) -> None:
        if index is None:
            self.say(f"#{conversation_id} is not in this view: shown in the detail pane")
            self._show_detail(conversation_id)
            return
        self.queue.move_to(index)
        self.queue.focus()
        self._show_detail(conversation_id)

    def action_templates(self) -> None:
        """The Templates screen (`T`): list, edit, create and delete canned replies."""
        from inboxtui.screens.templates import TemplatesScreen

        self.app.push_screen(TemplatesScreen(self.db, self.agent, db_label=self.db_label))

    # ------------------------------------------------------------------ live

    def on_db_changed(self) -> None:
        """Someone (maybe us) committed: re-count, refresh visible rows, views, detail."""
        self.queue.reload()
        self.sidebar.load()
        self.detail.reload()
        self.load_meta()
        self.query_one(IncidentBanner).load()

    # ------------------------------------------------------------------ marks

    def action_mark_all(self) -> None:
        self._marking = True
        self._mark_all_worker(self.queue.query_obj, self.me_id)

    @work(thread=True, exit_on_error=False, group="marks")
    def _mark_all_worker(self, query: q.Query, me_id: int | None) -> None:
        with self.db.read() as session:
            ids = q.matching_ids(session, query, me_id=me_id)
        self.app.call_from_thread(self._marked_all, ids)

    def _marked_all(self, ids: list[int]) -> None:
        self._marking = False
        self.queue.mark_ids(ids)
        self.say(f"Marked {len(ids):,} matches (; applies the next action to them)")

    def action_clear_marks(self) -> None:
        self.queue.clear_marks()
        self.bulk_armed = False
        self._update_status()

    def action_bulk(self) -> None:
        if not self.queue.marks:
            self.say("Nothing is marked: space marks a row, * marks every match", "warning")
            return
        self.bulk_armed = True
        self._update_status()

    def _targets(self) -> Targets | None:
        if self.bulk_armed:
            self.bulk_armed = False
            self._update_status()
            if not self.queue.marks:
                self.say("Nothing is marked", "warning")
                return None
            return Targets(sorted(self.queue.marks))
        row = self.queue.current_row
        if row is None:
            self.say("No conversation selected", "warning")
            return None
        return Targets([row.id], row)

    # ------------------------------------------------------------------ actions

    def action_assign(self) -> None:
        targets = self._targets()
        if targets is None:
            return

        def chosen(choice: tuple[str, str] | None) -> None:
            if choice:
                kind, name = choice
                self.apply(targets, "assign", **{kind: name})

        self.app.push_screen(AssignPicker(self.meta.roles, self.meta.agents), chosen)

    def action_unassign(self) -> None:
        targets = self._targets()
        if targets is None:
            return
        # Clear the agent; a conversation with only a role loses the role.
        role = bool(targets.row and targets.row.agent is None)
        self.apply(targets, "unassign", role=role)

    def action_take(self) -> None:
        targets = self._targets()
        if targets is not None:
            self.apply(targets, "assign", agent=self.agent)

    def action_escalate(self) -> None:
        targets = self._targets()
        if targets is None:
            return
        current = targets.row.severity if targets.row else None

        def chosen(choice: tuple[int, str] | None) -> None:
            if choice:
                self.apply(targets, "escalate", severity=choice[0], reason=choice[1])

        self.app.push_screen(EscalateModal(current), chosen)

    def action_resolve(self) -> None:
        targets = self._targets()
        if targets is not None:
            self.apply(targets, "resolve")

    def action_reopen(self) -> None:
        targets = self._targets()
        if targets is not None:
            self.apply(targets, "reopen")

    def action_snooze(self) -> None:
        targets = self._targets()
        if targets is None:
            return

        def chosen(until: datetime | None) -> None:
            if until is not None:
                self.apply(targets, "snooze", until=until)

        self.app.push_screen(SnoozeModal(), chosen)

    def action_priority(self) -> None:
        targets = self._targets()
        if targets is None:
            return

        def chosen(priority: str | None) -> None:
            if priority:
                self.apply(targets, "priority", priority=priority)

        current = targets.row.priority if targets.row else "normal"
        self.app.push_screen(PriorityModal(current), chosen)

    def action_tag(self) -> None:
        targets = self._targets()
        if targets is None:
            return

        def chosen(choice: tuple[str, str] | None) -> None:
            if choice:
                verb, name = choice
                self.apply(targets, "untag" if verb == "remove" else "tag", name=name)

        current = list(targets.row.tags) if targets.row else []
        self.app.push_screen(TagModal(self.meta.tags, current), chosen)

    def action_note(self) -> None:
        targets = self._targets()
        if targets is None:
            return

        def chosen(body: str | None) -> None:
            if body and body.strip():
                self.apply(targets, "note", body=body)

        self.app.push_screen(NoteModal(), chosen)

    def action_sentiment(self) -> None:
        """Correct the root mention's label; one conversation at a time (a judgement per post)."""
        if self.bulk_armed:
            self.bulk_armed = False
            self._update_status()
            self.say("Sentiment is corrected one conversation at a time", "warning")
            return
        targets = self._targets()
        if targets is None:
            return
        with self.db.read() as session:
            current, corrected = sentiment_labels.root_label(session, targets.ids[0])

        def chosen(label: str | None) -> None:
            if label:
                self.apply(targets, "sentiment", label=label)

        self.app.push_screen(SentimentModal(current, corrected), chosen)

    def action_reply(self) -> None:
        row = self.queue.current_row
        if row is None:
            self.say("No conversation selected", "warning")
            return
        from inboxtui.screens.composer import ComposerScreen  # only when first needed

        def closed(summary: str | None) -> None:
            if summary:
                self.on_db_changed()

        composer = ComposerScreen(self.db, row.id, self.agent, on_outcome=self.say)
        self.app.push_screen(composer, closed)

    def action_open_url(self) -> None:
        row = self.queue.current_row
        if row is not None:
            self._url_worker(row.id, "open")

    def action_copy_link(self) -> None:
        row = self.queue.current_row
        if row is not None:
            self._url_worker(row.id, "copy")

    @work(thread=True, exit_on_error=False, group="url")
    def _url_worker(self, conversation_id: int, what: str) -> None:
        with self.db.read() as session:
            url = session.execute(
                select(Mention.url)
                .where(Mention.conversation_id == conversation_id, Mention.url.is_not(None))
                .order_by(Mention.depth, Mention.created_at, Mention.id)
                .limit(1)
            ).scalar_one_or_none()
        url = sanitize(url or "").strip()
        if not url.lower().startswith(("https://", "http://")):
            self.app.call_from_thread(self.say, f"#{conversation_id} has no web link", "warning")
            return
        if what == "open":
            opened = webbrowser.open(url)
            message = f"Opened {url}" if opened else f"No browser available; the link is {url}"
            self.app.call_from_thread(self.say, message)
        else:
            self.app.call_from_thread(self._copy, url)

    def _copy(self, url: str) -> None:
        self.app.copy_to_clipboard(url)
        self.say(f"Copied {url}")

    # ------------------------------------------------------------------ applying

    def apply(self, targets: Targets, op: str, **kwargs: Any) -> None:
        """Run `op` on `targets` (asking first when it is a bulk action over 20)."""
        if targets.bulk and len(targets.ids) > CONFIRM_OVER:
            question = f"Apply {op} to {len(targets.ids):,} marked conversations?"

            def answered(yes: bool | None) -> None:
                if yes:
                    self._start(targets, op, kwargs)

            self.app.push_screen(ConfirmModal(question), answered)
            return
        self._start(targets, op, kwargs)

    def _start(self, targets: Targets, op: str, kwargs: dict[str, Any]) -> None:
        self._actions_running += 1
        loaded = set(self.queue.loaded_ids())
        refresh = [i for i in targets.ids if i in loaded][:500]
        self._apply_worker(targets, op, kwargs, refresh)

    @work(thread=True, exit_on_error=False, group="apply")
    def _apply_worker(
        self, targets: Targets, op: str, kwargs: dict[str, Any], refresh: list[int]
    ) -> None:
        severity = "information"
        try:
            if targets.bulk:
                result = services.bulk_ids(self.db, targets.ids, op, actor=self.agent, **kwargs)
                message = (
                    f"{op}: {result.changed:,} changed, {result.unchanged:,} unchanged"
                    f" of {result.matched:,}"
                )
                if result.conflicts:
                    severity = "warning"
                    message += f"; {len(result.conflicts)} conflict(s): " + "; ".join(
                        result.conflicts[:3]
                    )
            else:
                assert targets.row is not None
                expected = None if op == "note" else targets.row.version
                change = SINGLE_OPS[op](
                    self.db, targets.row.id, actor=self.agent, expected_version=expected, **kwargs
                )
                message = change.summary
        except services.ConflictError as exc:
            severity, message = "warning", str(exc)
        except services.ServiceError as exc:
            severity, message = "error", str(exc)
        except Exception as exc:  # a database failure: said plainly, the TUI keeps running
            severity, message = "error", f"{op} failed: {exc}"
        try:
            with self.db.read() as session:
                rows = q.fetch_rows(session, refresh)
        except Exception:
            rows = []
        with contextlib.suppress(RuntimeError):
            self.app.call_from_thread(self._applied, message, severity, rows, targets)

    def _applied(
        self, message: str, severity: str, rows: list[q.ConversationRow], targets: Targets
    ) -> None:
        self._actions_running -= 1
        self.say(message, severity)
        self.queue.refresh_rows(rows)
        if self.detail.conversation_id in targets.ids:
            self.detail.reload()
        self.sidebar.load()
        if self.me_id is None:
            self.load_meta()

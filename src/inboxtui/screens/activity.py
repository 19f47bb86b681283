"""The Activity screen (`E`): everyone's audit log, newest first, with a filter.

`/` filters with `actor:NAME action:NAME since:1d #ID` (`inboxtui.activity_log`);
a bad term is said inline under the input, pointing at it. `enter` on an event
of a conversation closes the screen with that conversation's id, and the
inbox moves its cursor there. Pages of `PAGE_SIZE` events are read in a thread
worker as the cursor or the scroll reaches the bottom: the whole log is never in memory.

Actors, actions, values and details may come from imported files or remote
posts: every cell is plain `Text`, never markup.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from datetime import datetime

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Input, Static

from inboxtui import activity_log
from inboxtui.activity_log import (
    TERMS,
    ActivityFilter,
    ActivityFilterError,
    change_summary,
    parse_filter,
    read_page,
)
from inboxtui.db import Database
from inboxtui.keymap import ACTIVITY_KEYS, bindings
from inboxtui.screens.picker import plain
from inboxtui.services.audit import EventRow
from inboxtui.timeutil import utcnow

COLUMNS = ("Time (UTC)", "Actor", "Action", "Conv", "Change", "Rule / detail")


def event_cells(event: EventRow) -> list[Text]:
    """One table row, every cell inert text."""
    where = f"#{event.conversation_id}" if event.conversation_id is not None else "team"
    return [
        Text(event.created_at.strftime("%Y-%m-%d %H:%M:%S")),
        plain(event.actor, 30),
        plain(event.action, 24),
        Text(where, style="" if event.conversation_id is not None else "dim"),
        plain(change_summary(event), 100),
        plain(event.detail or "", 40),
    ]


def error_text(error: ActivityFilterError) -> Text:
    """The filter with a caret line under the bad term, and why."""
    out = Text()
    out.append(error.text + "\n", "")
    out.append(" " * error.start + "^" * max(error.end - error.start, 1) + "\n", "bold red")
    out.append(error.reason, "red")
    return out


class ActivityScreen(Screen[int | None]):
    """The audit log; dismissed with a conversation id when `enter` opens one."""

    CSS_PATH = "activity.tcss"
    AUTO_FOCUS = "#events"
    BINDINGS = bindings(ACTIVITY_KEYS)

    def __init__(
        self,
        db: Database,
        *,
        clock: Callable[[], datetime] = utcnow,
        db_label: str | None = None,
        page_size: int | None = None,
    ) -> None:
        super().__init__()
        self.db = db
        self.clock = clock
        self.db_label = db_label or db.display_name
        self.page_size = page_size or activity_log.PAGE_SIZE
        self.where = ActivityFilter()
        self.filter_text = ""
        self.events: list[EventRow] = []
        self.more = False  # the last page was full: older events may follow
        self._gen = 0  # bumped by a new filter: an older read's answer is dropped
        self._loading = False

    def compose(self) -> ComposeResult:
        yield Header(icon="✉")
        yield Input(placeholder=f"filter: {TERMS}", id="filter")
        yield Static(id="filter-error")
        yield DataTable(id="events", cursor_type="row", zebra_stripes=True)
        yield Static(id="status")
        yield Footer()

    @property
    def table(self) -> DataTable[Text]:
        return self.query_one("#events", DataTable)

    @property
    def filter_input(self) -> Input:
        return self.query_one("#filter", Input)

    @property
    def is_busy(self) -> bool:
        return self._loading

    @property
    def current(self) -> EventRow | None:
        row = self.table.cursor_row
        return self.events[row] if 0 <= row < len(self.events) else None

    def on_mount(self) -> None:
        self.table.add_columns(*COLUMNS)
        self.title = "inboxtui · Activity"
        self.sub_title = self.db_label
        self.filter_input.display = False
        self.query_one("#filter-error", Static).display = False
        self.watch(self.table, "scroll_y", self._scrolled, init=False)
        self.reload()

    # ------------------------------------------------------------------ loading

    def reload(self) -> None:
        """Read from the newest event again (a new filter, `r`)."""
        self._gen += 1
        self.events = []
        self.more = False
        self.table.clear()
        self._read(None)

    def _read(self, before_id: int | None) -> None:
        self._loading = True
        self._read_worker(self._gen, self.where, before_id)

    @work(thread=True, exit_on_error=False, group="activity-load")
    def _read_worker(self, gen: int, where: ActivityFilter, before_id: int | None) -> None:
        try:
            rows, error = read_page(self.db, where, before_id=before_id, limit=self.page_size), None
        except Exception as exc:  # a database failure: said plainly, the screen stays
            rows, error = [], f"could not read the audit log: {exc}"
        with contextlib.suppress(RuntimeError):
            self.app.call_from_thread(self._page_read, gen, rows, error)

    def _page_read(self, gen: int, rows: list[EventRow], error: str | None) -> None:
        if gen != self._gen:
            return
        self._loading = False
        if error is not None:
            self.app.notify(error, severity="error", markup=False)
            return
        self.events.extend(rows)
        self.more = len(rows) == self.page_size
        for event in rows:
            self.table.add_row(*event_cells(event))
        self._show_status()

    def _show_status(self) -> None:
        shown = f"{len(self.events):,} event{'s' if len(self.events) != 1 else ''}"
        where = f" matching {self.filter_text}" if self.filter_text else ""
        tail = " · more below" if self.more else " · end of the log"
        status = self.query_one("#status", Static)
        status.update(Text(f"{shown}{where}, newest first{tail}"))

    @on(DataTable.RowHighlighted, "#events")
    def _highlighted(self, event: DataTable.RowHighlighted) -> None:
        if event.cursor_row >= len(self.events) - 1:
            self._next_page()

    def _scrolled(self, y: float) -> None:
        if y >= self.table.max_scroll_y:
            self._next_page()

    def _next_page(self) -> None:
        """The cursor or the scroll reached the bottom: read the next (older) page."""
        if self.more and not self._loading and self.events:
            self._read(self.events[-1].id)

    # ------------------------------------------------------------------ filter

    def action_filter_events(self) -> None:
        box = self.filter_input
        box.display = True
        box.value = self.filter_text
        box.focus()

    @on(Input.Submitted, "#filter")
    def _filter_submitted(self, event: Input.Submitted) -> None:
        self.apply_filter(event.value)

    def apply_filter(self, text: str) -> bool:
        """Filter by `text`; False (with the error shown under the input) if a term is bad."""
        message = self.query_one("#filter-error", Static)
        try:
            where = parse_filter(text, now=self.clock())
        except ActivityFilterError as error:
            message.update(error_text(error))
            message.display = True
            return False
        message.display = False
        self.where, self.filter_text = where, " ".join(text.split())
        if not self.filter_text:
            self.filter_input.display = False
        self.table.focus()
        self.reload()
        return True

    # ------------------------------------------------------------------ actions

    @on(DataTable.RowSelected, "#events")
    def _selected(self) -> None:
        self.action_open_event()

    def action_open_event(self) -> None:
        event = self.current
        if event is None:
            return
        if event.conversation_id is None:
            self.app.notify("This event is about the team, not a conversation", markup=False)
            return
        self.dismiss(event.conversation_id)

    def action_refresh_activity(self) -> None:
        self.reload()

    def action_close(self) -> None:
        if self.filter_input.has_focus:  # leave the filter, keep what it applied
            self.query_one("#filter-error", Static).display = False
            self.filter_input.display = bool(self.filter_text)
            self.table.focus()
            return
        if self.app.screen is self:
            self.dismiss(None)

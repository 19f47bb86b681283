"""The Sources screen (`S`): every source with its health; enable, test, poll now.

It calls the same functions as `inboxtui source ...` (`inboxtui.sources_admin`
and `inboxtui.polling.poll_source`), so a change here is audited like one made
from the CLI. Everything that touches the database or the network runs in a
thread worker: adapters parse feeds synchronously, which must not stall the UI.

Error texts come from remote servers and source names from imported files:
every cell and the detail panel are built as plain `Text`, never markup.
Polling and the adapters are imported when first used, so opening the inbox
does not pay for them.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Static

from inboxtui.db import Database
from inboxtui.keymap import SOURCES_KEYS, bindings
from inboxtui.screens.picker import plain
from inboxtui.screens.reading import NewestReadWins
from inboxtui.services.errors import ServiceError
from inboxtui.text import one_line, sanitize
from inboxtui.timeutil import utcnow

if TYPE_CHECKING:
    from inboxtui.polling import PollOutcome
    from inboxtui.sources_admin import DryRun, SourceInfo

ACTION_TIMEOUT = 30.0  # seconds a test or a poll started from here may take
SHOWN_RECORDS = 50  # records of a test listed in the panel
HEALTH_STYLE = {
    "ok": "green",
    "failing": "bold red",
    "new": "yellow",
    "disabled": "dim",
    "imported": "dim",
}
COLUMNS = (
    ("Name", "name"),
    ("Kind", "kind"),
    ("Health", "health"),
    ("On", "enabled"),
    ("Every", "interval"),
    ("Last success", "success"),
    ("Next poll", "next"),
    ("Fails", "failures"),
    ("Items", "items"),
    ("Mentions", "mentions"),
    ("Last error", "error"),
)


def span(seconds: float) -> str:
    """A short duration: 45s, 5m, 2h 5m, 3d."""
    seconds = int(max(seconds, 0))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m"
    if seconds < 86400:
        hours, minutes = divmod(seconds // 60, 60)
        return f"{hours}h {minutes}m" if minutes else f"{hours}h"
    return f"{seconds // 86400}d"


def ago(when: datetime | None, now: datetime) -> str:
    return "never" if when is None else f"{span((now - when).total_seconds())} ago"


def next_poll(info: SourceInfo, now: datetime) -> str:
    if not info.polled:
        return "never"
    if not info.enabled:
        return "off"
    if info.leased_by:
        return "polling"
    if info.next_poll_at is None or info.next_poll_at <= now:
        return "due"
    return f"in {span((info.next_poll_at - now).total_seconds())}"


def health_summary(infos: list[SourceInfo]) -> str:
    """The header's words: "7 sources, all ok" or "7 sources, 2 failing (a, b)"."""
    text = f"{len(infos)} source{'s' if len(infos) != 1 else ''}"
    failing = [sanitize(i.name) for i in infos if i.health == "failing"]
    if failing:
        return text + f", {len(failing)} failing ({', '.join(failing[:2])})"
    return text + (", all ok" if infos else "")


def row_cells(info: SourceInfo, now: datetime) -> list[Text]:
    """One table row, every cell inert text."""
    health = info.health
    return [
        plain(info.name, 40),
        plain(info.kind, 12),
        Text(health, style=HEALTH_STYLE.get(health, "")),
        Text(("yes" if info.enabled else "no") if info.polled else "-"),
        Text(span(info.interval_seconds) if info.interval_seconds else "-"),
        Text(ago(info.last_success_at, now)),
        Text(next_poll(info, now)),
        Text(str(info.consecutive_failures), style="red" if info.consecutive_failures else ""),
        Text("-" if info.items_last_poll is None else str(info.items_last_poll)),
        Text(f"{info.mentions:,}"),
        plain(info.last_error or "", 60),
    ]


def details(info: SourceInfo, now: datetime) -> Text:
    """The panel for one source: its settings and health in full (error text included)."""
    out = Text()
    out.append(sanitize(info.name), "bold")
    out.append(f"  {sanitize(info.kind)} · ")
    out.append(info.health, HEALTH_STYLE.get(info.health, ""))
    out.append("\n")
    if not info.polled:
        out.append("Imported mentions only: never polled. ", "dim")
        out.append("Set it up with `inboxtui source add KIND NAME --option ...`.\n", "dim")
    for key, value in sorted(info.options.items()):
        out.append(f"{sanitize(str(key))}: ", "dim")
        out.append(one_line(sanitize(str(value)), 300) + "\n")
    if info.secret_ref:
        out.append("secret: ", "dim")
        out.append(f"keyring entry {sanitize(info.secret_ref)!r}\n")
    if info.polled:
        out.append(
            f"every {span(info.interval_seconds or 0)} · last poll {ago(info.last_polled_at, now)}"
            f" · last success {ago(info.last_success_at, now)} · next {next_poll(info, now)}\n"
        )
        items = "-" if info.items_last_poll is None else str(info.items_last_poll)
        out.append(
            f"{info.consecutive_failures} consecutive failure(s) · {items} item(s) last poll"
            f" · {info.mentions:,} mention(s) stored\n"
        )
    if info.leased_by:
        out.append("being polled by ", "dim")
        out.append(sanitize(info.leased_by) + "\n")
    if info.last_error:
        out.append(f"last error ({ago(info.last_error_at, now)}): ", "red")
        out.append(sanitize(info.last_error) + "\n")
    return out


def dry_run_text(report: DryRun) -> Text:
    """What a test fetch saw, as plain text: counts, then one line per record."""
    new = set(report.new_ids)
    out = Text()
    out.append(f"Test of {sanitize(report.source)}: ", "bold")
    out.append(
        f"{len(report.new_ids)} new, {len(report.known_ids)} already known (nothing stored)\n"
    )
    for record in report.records[:SHOWN_RECORDS]:
        author = record.get("author") or {}
        handle = author.get("handle") if isinstance(author, dict) else None
        words = str(record.get("title") or record.get("text") or "")
        out.append("  new   " if record.get("external_id") in new else "  known ", "dim")
        if handle:
            out.append(one_line(sanitize(str(handle)), 40) + ": ", "bold")
        out.append(one_line(sanitize(words), 120) + "\n")
    if len(report.records) > SHOWN_RECORDS:
        out.append(f"  … and {len(report.records) - SHOWN_RECORDS} more\n", "dim")
    for problem in report.problems:
        out.append("problem: ", "red")
        out.append(sanitize(problem) + "\n")
    for note in report.notes:
        out.append("note: ", "yellow")
        out.append(sanitize(note) + "\n")
    if report.rate_remaining is not None:
        out.append(f"requests left in the server's rate window: {report.rate_remaining}\n", "dim")
    return out


def outcome_text(outcome: PollOutcome) -> Text:
    style = {"ok": "green", "failed": "red"}.get(outcome.status, "yellow")
    out = Text()
    out.append("Poll now: ", "bold")
    out.append(sanitize(outcome.summary()) + "\n", style)
    for note in outcome.notes[:10]:
        out.append("note: ", "yellow")
        out.append(sanitize(note) + "\n")
    return out


class SourcesScreen(NewestReadWins, Screen[None]):
    """Sources with health; `on_change(outcome or None)` after a toggle or a poll from here."""

    CSS_PATH = "sources.tcss"
    AUTO_FOCUS = "#sources"
    BINDINGS = bindings(SOURCES_KEYS)

    def __init__(
        self,
        db: Database,
        agent: str,
        *,
        clock: Callable[[], datetime] = utcnow,
        db_label: str | None = None,
        on_change: Callable[[PollOutcome | None], None] | None = None,
    ) -> None:
        super().__init__()
        self.db = db
        self.agent = agent
        self.clock = clock
        self.db_label = db_label or db.display_name
        self.on_change = on_change
        self.infos: list[SourceInfo] = []
        self.results: dict[str, Text] = {}  # source name -> last test / poll shown
        self._actions_running = 0

    def compose(self) -> ComposeResult:
        yield Header(icon="✉")
        table: DataTable[Text] = DataTable(id="sources", cursor_type="row", zebra_stripes=True)
        yield table
        with VerticalScroll(id="panel-scroll"):
            yield Static(id="panel")
        yield Footer()

    @property
    def table(self) -> DataTable[Text]:
        return self.query_one("#sources", DataTable)

    @property
    def panel(self) -> Static:
        return self.query_one("#panel", Static)

    @property
    def is_busy(self) -> bool:
        """True while the list loads or a toggle, test or poll runs (tests wait on it)."""
        return self._loading or self._actions_running > 0

    @property
    def current(self) -> SourceInfo | None:
        row = self.table.cursor_row
        return self.infos[row] if 0 <= row < len(self.infos) else None

    def on_mount(self) -> None:
        for label, key in COLUMNS:
            self.table.add_column(label, key=key)
        self.title = "inboxtui · Sources"
        self.sub_title = self.db_label
        self.set_interval(10, self._render_rows)  # relative times ("in 4m") stay true
        self.load()

    # ------------------------------------------------------------------ loading

    read_error = "could not read the sources"

    def read(self) -> list[SourceInfo]:
        from inboxtui import sources_admin

        return sources_admin.list_sources(self.db)

    def show_read(self, infos: list[SourceInfo]) -> None:
        keep = self.current.name if self.current else None
        self.infos = infos
        self._render_rows(keep)

    def _render_rows(self, keep: str | None = None) -> None:
        """Fill the table from `infos`, the cursor staying on source `keep` (default: current)."""
        table = self.table
        if keep is None and self.current is not None:
            keep = self.current.name
        now = self.clock()
        table.clear()
        for info in self.infos:
            table.add_row(*row_cells(info, now), key=str(info.id))
        names = [i.name for i in self.infos]
        if keep in names:
            table.move_cursor(row=names.index(keep), animate=False)
        self.sub_title = f"{self.db_label} · {health_summary(self.infos)}"
        self._show_panel()

    @on(DataTable.RowHighlighted)
    def _highlighted(self) -> None:
        self._show_panel()

    def _show_panel(self) -> None:
        info = self.current
        if info is None:
            text = Text("No sources yet. Add one with `inboxtui source add KIND NAME ...`.")
        else:
            text = details(info, self.clock())
            if info.name in self.results:
                text.append("\n")
                text.append_text(self.results[info.name])
        self.panel.update(text)

    # ------------------------------------------------------------------ actions

    def action_source_down(self) -> None:
        self.table.action_cursor_down()

    def action_source_up(self) -> None:
        self.table.action_cursor_up()

    def action_close(self) -> None:
        if self.app.screen is self:
            self.app.pop_screen()

    def action_refresh_sources(self) -> None:
        self.load()

    def _selected(self) -> SourceInfo | None:
        info = self.current
        if info is None:
            self.say("No source selected", "warning")
        return info

    def action_toggle_enabled(self) -> None:
        info = self._selected()
        if info is None:
            return
        if not info.polled:  # never polled either way: switching it would mean nothing
            self.say(
                f"{info.name} holds imported mentions only; set it up for polling with "
                f"`inboxtui source add {info.kind} {info.name} --option ...`",
                "warning",
            )
            return
        self._actions_running += 1
        self._toggle_worker(info.name, not info.enabled)

    @work(thread=True, exit_on_error=False, group="sources-action")
    def _toggle_worker(self, name: str, enabled: bool) -> None:
        from inboxtui import sources_admin

        severity = "information"
        try:
            changed = sources_admin.set_enabled(self.db, name, enabled, actor=self.agent)
            state = "enabled (polled at once)" if enabled else "disabled"
            message = f"{name} {state}" if changed else f"{name} was already {state}"
        except ServiceError as exc:
            severity, message = "warning", str(exc)
        except Exception as exc:
            severity, message = "error", f"could not change {name}: {exc}"
        self._finish(message, severity, changed=True)

    def action_test_source(self) -> None:
        info = self._selected()
        if info is None:
            return
        if not info.polled:
            self.say(f"{info.name} holds imported mentions only: there is nothing to test")
            return
        self.results[info.name] = Text(f"Testing {sanitize(info.name)} …", "dim")
        self._show_panel()
        self._actions_running += 1
        self._test_worker(info.name)

    @work(thread=True, exit_on_error=False, group="sources-action")
    def _test_worker(self, name: str) -> None:
        from inboxtui import sources_admin
        from inboxtui.sources.base import make_client

        async def fetch() -> DryRun:
            async with make_client(timeout=ACTION_TIMEOUT) as client:
                return await sources_admin.dry_run(self.db, name, client=client)

        try:
            result = dry_run_text(asyncio.run(fetch()))
        except ServiceError as exc:
            result = Text(sanitize(str(exc)), "red")
        except Exception as exc:
            result = Text(sanitize(f"test of {name} failed: {exc}"), "red")
        self._finish(None, "information", name, result)

    def action_poll_now(self) -> None:
        info = self._selected()
        if info is None:
            return
        if not info.polled or not info.enabled:
            why = "holds imported mentions only" if not info.polled else "is disabled (e enables)"
            self.say(f"{info.name} {why}: not polled", "warning")
            return
        self.results[info.name] = Text(f"Polling {sanitize(info.name)} …", "dim")
        self._show_panel()
        self._actions_running += 1
        self._poll_worker(info.name)

    @work(thread=True, exit_on_error=False, group="sources-action")
    def _poll_worker(self, name: str) -> None:
        from inboxtui.polling import make_owner, poll_source
        from inboxtui.sources.base import make_client

        async def poll() -> PollOutcome:
            async with make_client() as client:
                return await poll_source(
                    self.db,
                    name,
                    client=client,
                    owner=make_owner(),
                    force=True,
                    timeout=ACTION_TIMEOUT,
                )

        outcome: PollOutcome | None = None
        try:
            outcome = asyncio.run(poll())
            result = outcome_text(outcome)
        except ServiceError as exc:
            result = Text(sanitize(str(exc)), "red")
        except Exception as exc:
            result = Text(sanitize(f"poll of {name} failed: {exc}"), "red")
        self._finish(None, "information", name, result, outcome)

    def _finish(
        self,
        message: str | None,
        severity: str,
        name: str | None = None,
        result: Text | None = None,
        outcome: PollOutcome | None = None,
        *,
        changed: bool = False,
    ) -> None:
        """From a worker thread: show what happened, re-read the list."""
        changed = changed or outcome is not None
        with contextlib.suppress(RuntimeError):  # the app is shutting down
            self.app.call_from_thread(
                self._finished, message, severity, name, result, outcome, changed
            )

    def _finished(
        self,
        message: str | None,
        severity: str,
        name: str | None,
        result: Text | None,
        outcome: PollOutcome | None,
        changed: bool,
    ) -> None:
        self._actions_running -= 1
        if message:
            self.say(message, severity)
        if name is not None and result is not None:
            self.results[name] = result
        if changed and self.on_change is not None:
            self.on_change(outcome)  # the app refreshes the inbox and this screen
        else:
            self.load()

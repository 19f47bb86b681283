"""The Textual application: the inbox screen, global keys, themes, live updates.

`run(db, agent)` is what `inboxtui` and `inboxtui demo` call. The app owns
the change watcher (`inboxtui.live`): when another process commits, the
inbox re-reads what is on screen, keeping cursor and marks. With `poll=True`
(what `run` does) it also owns a `Poller` on a thread of its own, polling the
enabled sources at their intervals until the app quits.
Every action of the inbox is also in the command palette (`:` or `ctrl+p`),
and every key can be rebound by its binding id in config.toml's `[keymap]`.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import TYPE_CHECKING

from textual.app import App, SystemCommand
from textual.message import Message
from textual.screen import ModalScreen, Screen
from textual.timer import Timer

from inboxtui import keymap
from inboxtui.db import Database
from inboxtui.live import Watcher
from inboxtui.screens.activity import ActivityScreen
from inboxtui.screens.help import HelpScreen
from inboxtui.screens.inbox import InboxScreen
from inboxtui.screens.profile import ProfileScreen
from inboxtui.screens.sources import SourcesScreen
from inboxtui.screens.team import TeamScreen
from inboxtui.timeutil import utcnow

if TYPE_CHECKING:
    from inboxtui.polling import Poller, PollOutcome

DARK_THEME = "textual-dark"
LIGHT_THEME = "textual-light"
POLL_REFRESH_DELAY = 0.5  # seconds: outcomes of polls finishing together, one refresh


def me_id_for(db: Database, agent: str) -> int | None:
    from inboxtui.services import agent_id_for

    with db.read() as session:
        return agent_id_for(session, agent)


class Polled(Message):
    """A background poll finished (posted from the poller's thread: never blocks it)."""

    def __init__(self, outcome: PollOutcome) -> None:
        super().__init__()
        self.outcome = outcome


class InboxApp(App[None]):
    """inboxtui's TUI. `clock` and `db_label` exist so snapshots are reproducible.

    `poll` starts the background poller; off by default so tests and benchmarks
    make no network calls (`run` turns it on).
    """

    CSS_PATH = "app.tcss"
    TITLE = "inboxtui"
    BINDINGS = keymap.bindings(keymap.APP_KEYS)
    ENABLE_COMMAND_PALETTE = True

    def __init__(
        self,
        db: Database,
        agent: str,
        *,
        clock: Callable[[], datetime] = utcnow,
        live: bool = True,
        db_label: str | None = None,
        user_keymap: dict[str, str] | None = None,
        poll: bool = False,
    ) -> None:
        super().__init__()
        self.db = db
        self.agent = agent
        self.clock = clock
        self.live = live
        self.db_label = db_label
        self._user_keymap = user_keymap
        self._loop_thread: int | None = None
        self.me_id = me_id_for(db, agent)
        self.watcher = Watcher(db, self._changed)
        self.poll = poll
        self.poller: Poller | None = None
        self._poll_refresh: Timer | None = None
        self._polled_new = False
        self.theme = DARK_THEME

    @property
    def inbox(self) -> InboxScreen:
        for screen in reversed(self.screen_stack):
            if isinstance(screen, InboxScreen):
                return screen
        raise LookupError("the inbox screen is not open")

    def on_mount(self) -> None:
        self._loop_thread = threading.get_ident()
        try:
            mapping = self._user_keymap if self._user_keymap is not None else keymap.user_keymap()
        except keymap.KeymapError as error:
            mapping = {}
            self.notify(str(error), severity="error", markup=False, timeout=10)
        if mapping:
            self.set_keymap(mapping)
        self.push_screen(
            InboxScreen(
                self.db, self.agent, me_id=self.me_id, clock=self.clock, db_label=self.db_label
            )
        )
        if self.live:
            self.watcher.start()
        if self.poll:
            from inboxtui.polling import Poller  # not before it is needed: startup time

            self.poller = Poller(self.db, on_outcome=lambda o: self.post_message(Polled(o)))
            self.poller.start_in_thread()

    def on_unmount(self) -> None:
        # post_message (not call_from_thread) in on_outcome: the join below cannot deadlock
        poller, self.poller = self.poller, None
        if poller is not None:
            poller.stop_thread()
        self.watcher.stop()

    # ------------------------------------------------------------------ live

    def _changed(self) -> None:
        """Called by the watcher (its thread, or ours when a test polls directly)."""
        if threading.get_ident() == self._loop_thread:
            self.db_changed()
            return
        with contextlib.suppress(RuntimeError):  # shutting down
            self.call_from_thread(self.db_changed)

    def db_changed(self) -> None:
        with contextlib.suppress(LookupError):
            self.inbox.on_db_changed()
        for screen in self.screen_stack:
            if isinstance(screen, SourcesScreen | TeamScreen | ProfileScreen):
                screen.load()

    def on_polled(self, message: Polled) -> None:
        """Background polls: refresh once for outcomes that arrive together."""
        outcome = message.outcome
        if outcome.status not in ("ok", "failed"):
            return  # busy / skipped: nothing was written
        self._polled_new = self._polled_new or outcome.inserted > 0
        if self._poll_refresh is None:
            self._poll_refresh = self.set_timer(POLL_REFRESH_DELAY, self._after_polls)

    def sources_changed(self, outcome: PollOutcome | None = None) -> None:
        """The Sources screen changed a source or polled one: show it (and health) at once."""
        if outcome is not None:
            self._polled_new = self._polled_new or outcome.inserted > 0
        self._after_polls()

    def _after_polls(self) -> None:
        timer, self._poll_refresh = self._poll_refresh, None
        if timer is not None:
            timer.stop()
        new, self._polled_new = self._polled_new, False
        if new:
            self.db_changed()  # queue, views, header, Sources screen
            return
        with contextlib.suppress(LookupError):
            self.inbox.load_meta()  # the header's health summary
        for screen in self.screen_stack:
            if isinstance(screen, SourcesScreen):
                screen.load()

    def poll_changes(self) -> bool:
        """One watcher check now (tests call this instead of waiting for the thread)."""
        return self.watcher.check()

    # ------------------------------------------------------------------ actions

    def action_toggle_theme(self) -> None:
        self.theme = LIGHT_THEME if self.current_theme.dark else DARK_THEME

    def help_rows(self) -> list[tuple[str, str, str]]:
        """(keys, description, group) for the bindings in force on the current screen.

        Keys come from the live bindings (so remapped keys show as remapped), in
        the keymap's order; Textual's own unnamed scrolling keys are left out.
        """
        order = {spec.id: n for n, spec in enumerate(keymap.ALL_KEYS)}
        by_id: dict[str, tuple[list[str], str, str]] = {}
        for key, active in self.screen.active_bindings.items():
            binding = active.binding
            if not binding.description or binding.id is None:
                continue
            spec = keymap.BY_ID.get(binding.id)
            group = spec.group if spec else "Other"
            text = spec.description if spec else binding.description
            slot = by_id.setdefault(binding.id, ([], text, group))
            shown = self.get_key_display(binding.with_key(key))
            if shown not in slot[0]:
                slot[0].append(shown)
        ranked = sorted(by_id.items(), key=lambda item: order.get(item[0], len(order)))
        return [(", ".join(keys), text, group) for _, (keys, text, group) in ranked]

    def action_help(self) -> None:
        if isinstance(self.screen, ModalScreen):
            return
        self.push_screen(HelpScreen(self.help_rows()))

    def action_sources(self) -> None:
        if isinstance(self.screen, ModalScreen | SourcesScreen):
            return
        self.push_screen(
            SourcesScreen(
                self.db,
                self.agent,
                clock=self.clock,
                db_label=self.db_label,
                on_change=self.sources_changed,
            )
        )

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        """The palette lists every inbox action (with its key) plus Textual's own."""
        specs: list[tuple[keymap.KeySpec, object]] = []
        if isinstance(screen, InboxScreen):
            specs = [(s, screen.queue) for s in keymap.QUEUE_KEYS]
            specs += [(s, screen) for s in keymap.INBOX_KEYS]
        elif isinstance(screen, SourcesScreen):
            specs = [(s, screen) for s in keymap.SOURCES_KEYS]
        elif isinstance(screen, TeamScreen):
            specs = [(s, screen) for s in keymap.TEAM_KEYS]
        elif isinstance(screen, ActivityScreen):
            specs = [(s, screen) for s in keymap.ACTIVITY_KEYS]
        elif isinstance(screen, ProfileScreen):
            specs = [(s, screen) for s in keymap.PROFILE_KEYS]
        for spec, target in specs:
            keys = self._keymap.get(spec.id, spec.keys).split(",")[0]
            yield SystemCommand(
                spec.description,
                f"{keys}  ·  {spec.group}  ·  {spec.id}",
                self._runner(target, spec.action),
            )
        yield SystemCommand("Light / dark theme", "ctrl+t", self.action_toggle_theme)
        yield SystemCommand("Help", "? · every key of this screen", self.action_help)
        yield from super().get_system_commands(screen)

    def _runner(self, target: Screen | object, action: str) -> Callable[[], None]:
        def run() -> None:
            self.call_later(target.run_action, action)  # type: ignore[attr-defined]

        return run


def run(db: Database, agent: str) -> None:
    """Open the inbox on `db` as `agent` (blocks until the user quits)."""
    InboxApp(db, agent, poll=True).run()

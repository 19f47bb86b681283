"""Every key binding of the TUI in one place, each with a stable id.

Why ids: Textual's keymap (`App.set_keymap`) rebinds a `Binding` by its id,
so a user's `[keymap]` table in config.toml (`"inbox.resolve" = "z"`) moves a
key without touching code. The same table feeds the help screen (key,
description, group) and the command palette (every action listed by name).
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path

from textual.binding import Binding

from inboxtui import paths


@dataclass(frozen=True)
class KeySpec:
    """One action: default keys, what it does (help, palette), and its footer label if shown."""

    id: str
    keys: str
    action: str
    description: str
    group: str
    footer: str | None = None  # short label; None keeps it out of the footer
    key_display: str | None = None

    def binding(self) -> Binding:
        return Binding(
            self.keys,
            self.action,
            self.footer or self.description,
            show=self.footer is not None,
            key_display=self.key_display,
            tooltip=self.description,
            id=self.id,
        )


K = KeySpec

# Keys of the queue itself (active while the queue has focus).
QUEUE_KEYS: tuple[KeySpec, ...] = (
    K("queue.down", "j,down", "cursor_down", "Next conversation", "Move"),
    K("queue.up", "k,up", "cursor_up", "Previous conversation", "Move"),
    K("queue.top", "g,home", "cursor_top", "First conversation", "Move"),
    K("queue.bottom", "G,end", "cursor_bottom", "Last conversation", "Move"),
    K("queue.half_down", "ctrl+d", "half_page_down", "Half a page down", "Move"),
    K("queue.half_up", "ctrl+u", "half_page_up", "Half a page up", "Move"),
    K("queue.page_down", "pagedown", "page_down", "Page down", "Move"),
    K("queue.page_up", "pageup", "page_up", "Page up", "Move"),
    K("queue.open", "enter,l", "open", "Open the conversation", "Move", "Open", "⏎"),
    K("queue.mark", "space", "toggle_mark", "Mark / unmark", "Select", "Mark"),
    K("queue.range_mark", "v", "range_mark", "Mark the range from the last mark", "Select"),
)

# Keys of the inbox screen (whichever pane has focus; inputs keep their typing keys).
INBOX_KEYS: tuple[KeySpec, ...] = (
    K("inbox.back", "escape,h", "back", "Back: close filter, cancel ;, leave detail", "Move"),
    K("inbox.filter", "slash", "filter", "Filter with the query language", "Search", "Filter", "/"),
    K("inbox.next_match", "n", "next_match", "Next match (wraps)", "Search"),
    K("inbox.prev_match", "N", "prev_match", "Previous match (wraps)", "Search"),
    K(
        "inbox.mark_all",
        "asterisk",
        "mark_all",
        "Mark every match of the filter",
        "Select",
        None,
        "*",
    ),
    K(
        "inbox.bulk",
        "semicolon",
        "bulk",
        "Apply the next action to the marked set",
        "Select",
        None,
        ";",
    ),
    K("inbox.clear_marks", "u", "clear_marks", "Clear all marks", "Select"),
    K("inbox.assign", "a", "assign", "Assign to a role or an agent", "Triage", "Assign"),
    K("inbox.unassign", "A", "unassign", "Unassign (agent; a role alone too)", "Triage"),
    K("inbox.take", "t", "take", "Take: assign to me", "Triage", "Take"),
    K("inbox.escalate", "e", "escalate", "Escalate (severity, reason)", "Triage", "Escalate"),
    K("inbox.resolve", "x", "resolve", "Resolve", "Triage", "Resolve"),
    K("inbox.reopen", "X", "reopen", "Reopen", "Triage"),
    K("inbox.snooze", "s", "snooze", "Snooze until a time", "Triage", "Snooze"),
    K("inbox.priority", "p", "priority", "Set the priority", "Triage"),
    K("inbox.tag", "number_sign", "tag", "Tag / untag", "Triage", None, "#"),
    K("inbox.note", "i", "note", "Add an internal note", "Triage"),
    K("inbox.sentiment", "L", "sentiment", "Correct the sentiment label", "Triage"),
    K("inbox.reply", "r", "reply", "Reply", "Triage"),
    K("inbox.open_url", "o", "open_url", "Open the post in the browser", "Post"),
    K("inbox.copy_link", "y", "copy_link", "Copy the post's link (OSC 52)", "Post"),
    K("inbox.refresh", "ctrl+r", "reload", "Reload from the database", "View"),
    K("inbox.save_view", "V", "save_view", "Save the filter as a view", "View"),
    K("inbox.sources", "S", "app.sources", "Sources: health, enable, test, poll now", "View"),
    K("inbox.incidents", "I", "incidents", "Incidents: timeline, owner, resolve", "View"),
    K("inbox.reports", "R", "reports", "Reports: KPI charts for the current filter", "View"),
    K("inbox.team", "M", "team", "Team: roles, agents, duty, capacity, rebalance", "View"),
    K("inbox.activity", "E", "activity", "Activity: the audit log of everyone", "View"),
    K("inbox.templates", "T", "templates", "Templates: edit canned replies", "View"),
    K("inbox.profile", "P", "profile", "Author profile: the person behind the author", "View"),
)

# Keys of the Sources screen (`S`).
SOURCES_KEYS: tuple[KeySpec, ...] = (
    K("sources.down", "j", "source_down", "Next source", "Move"),
    K("sources.up", "k", "source_up", "Previous source", "Move"),
    K("sources.toggle", "e,space", "toggle_enabled", "Enable / disable", "Sources", "On/off"),
    K("sources.test", "t", "test_source", "Test: fetch once, store nothing", "Sources", "Test"),
    K("sources.poll", "p", "poll_now", "Poll now, even if not due", "Sources", "Poll now"),
    K("sources.refresh", "r", "refresh_sources", "Re-read the list", "Sources", "Refresh"),
    K("sources.back", "escape,q", "close", "Back to the inbox", "Move", "Back", "esc"),
)

# Keys of the Reports screen (`R`).
REPORTS_KEYS: tuple[KeySpec, ...] = (
    K("reports.today", "1", "period('today')", "Period: today (hourly)", "Reports", "Today"),
    K("reports.week", "7", "period('7d')", "Period: last 7 days", "Reports", "7d"),
    K("reports.month", "3", "period('30d')", "Period: last 30 days", "Reports", "30d"),
    K("reports.tables", "t", "toggle_tables", "Charts / exact numbers", "Reports", "Table"),
    K("reports.refresh", "r", "refresh_report", "Recompute the figures", "Reports", "Refresh"),
    K("reports.back", "escape,q", "close", "Back to the inbox", "Move", "Back", "esc"),
)

# Keys of the Incidents screen (`I`).
INCIDENTS_KEYS: tuple[KeySpec, ...] = (
    K("incidents.down", "j", "incident_down", "Next incident", "Move"),
    K("incidents.up", "k", "incident_up", "Previous incident", "Move"),
    K("incidents.ack", "a", "acknowledge", "Acknowledge: someone is on it", "Incidents", "Ack"),
    K("incidents.own", "o", "own", "Take ownership", "Incidents", "Own"),
    K("incidents.note", "n", "note", "Add a line to the timeline", "Incidents", "Note"),
    K("incidents.resolve", "x", "resolve", "Resolve with a post-mortem", "Incidents", "Resolve"),
    K("incidents.refresh", "r", "refresh_incidents", "Re-read the list", "Incidents"),
    K("incidents.back", "escape,q", "close", "Back to the inbox", "Move", "Back", "esc"),
)

# Keys of the Team screen (`M`).
TEAM_KEYS: tuple[KeySpec, ...] = (
    K("team.duty", "d", "toggle_duty", "On duty / away (the agent)", "Team", "Duty"),
    K("team.more", "plus", "capacity_up", "Capacity +1 (the agent)", "Team", "Cap+", "+"),
    K("team.less", "minus", "capacity_down", "Capacity -1 (the agent)", "Team", "Cap-", "-"),
    K("team.rebalance", "b", "rebalance", "Rebalance the role (leads)", "Team", "Rebalance"),
    K("team.refresh", "r", "refresh_team", "Re-read the team", "Team"),
    K("team.back", "escape,q", "close", "Back to the inbox", "Move", "Back", "esc"),
)

# Keys of the Activity screen (`E`).
ACTIVITY_KEYS: tuple[KeySpec, ...] = (
    K(
        "activity.filter",
        "slash",
        "filter_events",
        "Filter: actor: action: since: #ID",
        "Activity",
        "Filter",
        "/",
    ),
    K(
        "activity.open",
        "enter",
        "open_event",
        "Open the conversation in the inbox",
        "Activity",
        "Open",
        "⏎",
    ),
    K("activity.refresh", "r", "refresh_activity", "Re-read from the newest", "Activity"),
    K(
        "activity.back",
        "escape,q",
        "close",
        "Back (closes the filter first)",
        "Move",
        "Back",
        "esc",
    ),
)

# Keys of the author profile screen (`P`).
PROFILE_KEYS: tuple[KeySpec, ...] = (
    K(
        "profile.open",
        "enter",
        "open_conversation",
        "Go to the conversation in the inbox",
        "Profile",
        "Open",
        "⏎",
    ),
    K("profile.tag", "number_sign", "profile_tag", "Tag / untag the person", "Profile", "Tag", "#"),
    K("profile.note", "i", "profile_note", "Add a note about the person", "Profile", "Note"),
    K("profile.link", "l", "profile_link", "Link another account (picker)", "Profile", "Link"),
    K("profile.unlink", "u", "profile_unlink", "Unlink one of the accounts", "Profile", "Unlink"),
    K("profile.rename", "n", "profile_rename", "Name the person", "Profile", "Name"),
    K("profile.refresh", "r", "refresh_profile", "Re-read the profile", "Profile"),
    K("profile.back", "escape,q", "close", "Back to the inbox", "Move", "Back", "esc"),
)

# Keys of the whole application.
APP_KEYS: tuple[KeySpec, ...] = (
    K("app.help", "question_mark", "help", "Help: every key here", "App", "Help", "?"),
    K("app.palette", "colon,ctrl+p", "command_palette", "Command palette", "App", "Palette", ":"),
    K("app.theme", "ctrl+t", "toggle_theme", "Light / dark theme", "App"),
    K("app.quit", "q", "quit", "Quit", "App", "Quit"),
)

ALL_KEYS: tuple[KeySpec, ...] = (
    QUEUE_KEYS
    + INBOX_KEYS
    + SOURCES_KEYS
    + REPORTS_KEYS
    + INCIDENTS_KEYS
    + TEAM_KEYS
    + ACTIVITY_KEYS
    + PROFILE_KEYS
    + APP_KEYS
)
BY_ACTION: dict[str, KeySpec] = {spec.action: spec for spec in ALL_KEYS}
BY_ID: dict[str, KeySpec] = {spec.id: spec for spec in ALL_KEYS}


def bindings(specs: tuple[KeySpec, ...]) -> list[Binding]:
    return [spec.binding() for spec in specs]


class KeymapError(ValueError):
    """A `[keymap]` entry that names no known action or is not a key string."""


def user_keymap(path: Path | None = None) -> dict[str, str]:
    """The `[keymap]` table of config.toml: binding id -> keys (comma-separated).

    A missing file is an empty keymap; an unknown id or a non-string value is
    an error naming the entry, so a typo does not silently leave a key unbound.
    """
    path = path or paths.config_file()
    if not path.is_file():
        return {}
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise KeymapError(f"cannot read {path}: {exc}") from None
    table = data.get("keymap", {})
    if not isinstance(table, dict):
        raise KeymapError(f'{path}: [keymap] must be a table of id = "keys"')
    keymap: dict[str, str] = {}
    for binding_id, keys in table.items():
        if binding_id not in BY_ID:
            known = ", ".join(sorted(BY_ID))
            raise KeymapError(f"{path}: unknown key binding id {binding_id!r} (known: {known})")
        if not isinstance(keys, str) or not keys.strip():
            raise KeymapError(f'{path}: keymap.{binding_id} must be a key string like "z"')
        keymap[binding_id] = keys.strip()
    return keymap

"""The author profile screen (`P` in the inbox, `enter` in the detail pane).

Everything about the person behind a conversation's author, across platforms:
accounts with reach, first seen, tags, who on the team talked to them last,
the weekly sentiment trend, every conversation with its outcome, and notes.
Keys: `#` tag / untag, `i` note, `l` link another account (fuzzy picker), `u`
unlink one, `n` name the person, `enter` on a conversation goes to it in the
inbox (the screen is dismissed with its id, like the Activity screen).

Reads and writes run in thread workers (`NewestReadWins`; the services of
`services.people`). Names, handles, notes and excerpts come from the internet
or from people: every cell and line is built as plain `Text`, never markup.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from datetime import datetime

from rich.text import Text
from sqlalchemy import select
from textual import on, work
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Static

from inboxtui.db import Database
from inboxtui.keymap import PROFILE_KEYS, bindings
from inboxtui.person_names import SUGGESTED_TAGS
from inboxtui.screens.picker import FuzzyPicker, PickerBase, plain
from inboxtui.screens.reading import NewestReadWins
from inboxtui.services import people
from inboxtui.services.errors import ServiceError
from inboxtui.text import one_line, sanitize
from inboxtui.timeutil import utcnow
from inboxtui.widgets.queue_list import reach

CONVERSATION_COLUMNS = ("#", "Status", "Last activity", "", "Source", "Excerpt")
BARS = " ▁▂▃▄▅▆▇█"
SENTIMENT_STYLE = {"negative": "red", "neutral": "yellow", "positive": "green"}


def _day(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d") if value else "-"


def _reach(followers: int | None) -> str:
    """`12k`, `1.2M` as in the queue; `?` when the platform never said."""
    return "?" if followers is None else reach(followers)


def head_text(profile: people.Profile) -> Text:
    """Name, tags, reach, first seen and the last contact: the card at the top."""
    out = Text(one_line(sanitize(profile.name), 80), style="bold")
    if profile.ref.implicit:
        out.append("  one account, not linked (l links another)", "dim")
    out.append("\n")
    if profile.tags:
        for tag in profile.tags:
            out.append(f" {one_line(sanitize(tag), 40)} ", "reverse")
            out.append(" ")
    else:
        out.append("no tags (# adds one)", "dim")
    out.append("\n")
    out.append(
        f"reach {_reach(profile.reach)} · {profile.mentions} mentions · "
        f"{profile.conversations_total} conversations · first seen {_day(profile.first_seen_at)}"
    )
    contact = profile.last_contact
    out.append("\n")
    if contact is None:
        out.append("nobody on the team has talked to them yet", "dim")
    else:
        out.append("last contact: ")
        out.append(one_line(sanitize(contact.agent or "unknown"), 40), "bold")
        where = f" in #{contact.conversation_id}" if contact.conversation_id else ""
        out.append(f" · {contact.via}{where} · {_day(contact.at)}")
    return out


def identities_text(profile: people.Profile) -> Text:
    out = Text()
    for n, i in enumerate(profile.identities):
        if n:
            out.append("\n")
        out.append(f"{one_line(sanitize(i.kind), 20)} ", "dim")
        out.append(one_line(sanitize(i.handle), 60), "bold")
        if i.name:
            out.append(f" · {one_line(sanitize(i.name), 40)}")
        out.append(
            f" · {_reach(i.followers)} followers · {i.mentions} mentions · "
            f"since {_day(i.first_seen_at)}",
            "dim",
        )
    return out


def trend_text(trend: list[people.WeekSentiment]) -> Text:
    """Mentions per week as bars, each coloured by the week's prevailing sentiment."""
    most = max((w.mentions for w in trend), default=0)
    out = Text()
    for w in trend:
        if not w.mentions:
            out.append("·", "dim")
            continue
        level = max(1, round(w.mentions / most * (len(BARS) - 1))) if most else 0
        counts = {"negative": w.negative, "neutral": w.neutral, "positive": w.positive}
        top = max(counts, key=lambda k: counts[k])
        out.append(BARS[level], SENTIMENT_STYLE[top] if counts[top] else "")
    first = trend[0].week if trend else None
    out.append(f"  mentions per week since {_day(first)}, coloured by mood", "dim")
    scored = [w for w in trend if w.net is not None]
    if scored:
        last = scored[-1].net or 0.0
        out.append(f" · latest net sentiment {last:+.2f}", "green" if last >= 0 else "red")
    return out


def notes_text(notes: list[people.NoteRow]) -> Text:
    if not notes:
        return Text("no notes (i adds one)", style="dim")
    out = Text()
    for n, note in enumerate(notes):
        if n:
            out.append("\n")
        out.append(f"{note.created_at.strftime('%Y-%m-%d %H:%M')} ", "dim")
        out.append(one_line(sanitize(note.agent or "unknown"), 30), "bold")
        out.append(": ")
        out.append(sanitize(note.body))
    return out


def conversation_cells(c: people.ConversationOutcome) -> list[Text]:
    status = c.status + (f" {_day(c.resolved_at)}" if c.resolved_at else "")
    return [
        Text(str(c.id)),
        Text(status, style="green" if c.status == "resolved" else ""),
        Text(c.last_activity_at.strftime("%Y-%m-%d %H:%M")),
        Text("" if c.started else "replied", style="dim"),
        plain(c.source, 24),
        plain(c.title or c.excerpt, 80),
    ]


class AuthorPicker(PickerBase[int]):
    """Accounts to link: `kind handle (name) · followers · person` -> the author id."""

    def __init__(self, choices: list[people.AuthorChoice], title: str) -> None:
        entries = []
        for a in choices:
            label = Text(f"{sanitize(a.kind)} ", style="dim", no_wrap=True, overflow="ellipsis")
            label.append(one_line(sanitize(a.handle), 60))
            if a.name:
                label.append(f" ({one_line(sanitize(a.name), 40)})")
            label.append(f" · {_reach(a.followers)}", "dim")
            if a.person:
                label.append(f" · {one_line(sanitize(a.person), 40)}", "dim italic")
            entries.append((a.id, label))
        super().__init__(
            title, entries, placeholder="handle or name", empty_message="no other accounts yet"
        )


class ProfileScreen(NewestReadWins, Screen[int | None]):
    """One person's profile; dismissed with a conversation id when `enter` opens one."""

    CSS_PATH = "profile.tcss"
    AUTO_FOCUS = "#profile-conversations"
    BINDINGS = bindings(PROFILE_KEYS)
    read_error = "could not read the profile"

    def __init__(
        self,
        db: Database,
        agent: str,
        target: people.Target | None = None,
        *,
        conversation_id: int | None = None,
        clock: Callable[[], datetime] = utcnow,
        db_label: str | None = None,
    ) -> None:
        super().__init__()
        if target is None and conversation_id is None:
            raise ValueError("a profile needs a person or a conversation")
        self.db = db
        self.agent = agent
        self.target = target
        self.conversation_id = conversation_id
        self.clock = clock
        self.db_label = db_label or db.display_name
        self.profile: people.Profile | None = None
        self.known_tags: list[str] = list(SUGGESTED_TAGS)
        self._actions_running = 0

    def compose(self) -> ComposeResult:
        yield Header(icon="✉")
        with VerticalScroll(id="profile-body"):
            with Horizontal(id="profile-top"):
                yield Static(id="profile-head")
                with Vertical(id="profile-side"):
                    yield Static(id="profile-accounts")
                    yield Static(id="profile-trend")
            yield Static(
                "Conversations", id="profile-conversations-heading", classes="profile-heading"
            )
            yield DataTable(id="profile-conversations", cursor_type="row", zebra_stripes=True)
            yield Static("Notes", classes="profile-heading")
            yield Static(id="profile-notes")
        yield Footer()

    @property
    def table(self) -> DataTable[Text]:
        return self.query_one("#profile-conversations", DataTable)

    @property
    def is_busy(self) -> bool:
        """True while the profile loads or a change runs (tests wait on it)."""
        return self._loading or self._actions_running > 0

    def on_mount(self) -> None:
        self.table.add_columns(*CONVERSATION_COLUMNS)
        self.title = "inboxtui · Profile"
        self.sub_title = self.db_label
        self.query_one("#profile-head", Static).update(Text("loading…", style="dim"))
        self.load()

    # ------------------------------------------------------------------ loading

    def read(self) -> tuple[people.Profile, list[str]] | None:
        from inboxtui.models import PersonTag

        with self.db.read() as session:
            if self.target is None:
                assert self.conversation_id is not None
                author_id = people.author_of_conversation(session, self.conversation_id)
                if author_id is None:
                    raise ServiceError(f"#{self.conversation_id} has no known author")
                self.target = people.ByAuthor(author_id)
            profile = people.profile(session, self.target, now=self.clock())
            used = session.execute(select(PersonTag.tag).distinct().order_by(PersonTag.tag))
            tags = list(dict.fromkeys([*SUGGESTED_TAGS, *used.scalars()]))
        return profile, tags

    def show_read(self, data: tuple[people.Profile, list[str]]) -> None:
        profile, self.known_tags = data
        self.profile = profile
        self._follow(profile.ref)
        self.sub_title = f"{self.db_label} · {one_line(sanitize(profile.name), 60)}"
        self.query_one("#profile-head", Static).update(head_text(profile))
        self.query_one("#profile-accounts", Static).update(identities_text(profile))
        self.query_one("#profile-trend", Static).update(trend_text(profile.trend))
        self.query_one("#profile-notes", Static).update(notes_text(profile.notes))
        table = self.table
        keep = table.cursor_row
        table.clear()
        for c in profile.conversations:
            table.add_row(*conversation_cells(c))
        if profile.conversations:
            table.move_cursor(row=min(max(keep, 0), len(profile.conversations) - 1), animate=False)
        shown, total = len(profile.conversations), profile.conversations_total
        heading = (
            f"Conversations ({total})"
            if shown == total
            else (f"Conversations (newest {shown} of {total})")
        )
        outcomes = ", ".join(f"{n} {s}" for s, n in sorted(profile.outcomes.items()))
        self.query_one("#profile-conversations-heading", Static).update(
            Text(heading + (f" · {outcomes}" if outcomes else ""))
        )

    def _follow(self, ref: people.PersonRef) -> None:
        """Keep reading the same person, by its row once it has one."""
        if ref.person_id is not None:
            self.target = people.ByPerson(ref.person_id)
        elif ref.author_ids:
            self.target = people.ByAuthor(ref.author_ids[0])

    def _ref(self) -> people.Target | None:
        if self.target is None:
            self.say("The profile is still loading", "warning")
        return self.target

    # ------------------------------------------------------------------ actions

    def action_close(self) -> None:
        if self.app.screen is self:
            self.dismiss(None)

    def action_refresh_profile(self) -> None:
        self.load()

    @on(DataTable.RowSelected, "#profile-conversations")
    def _selected(self) -> None:
        self.action_open_conversation()

    def action_open_conversation(self) -> None:
        profile = self.profile
        row = self.table.cursor_row
        if profile is None or not 0 <= row < len(profile.conversations):
            self.say("No conversation selected", "warning")
            return
        self.dismiss(profile.conversations[row].id)

    def action_profile_tag(self) -> None:
        from inboxtui.screens.tag import TagModal

        target = self._ref()
        if target is None or self.profile is None:
            return

        def chosen(choice: tuple[str, str] | None) -> None:
            if choice:
                verb, name = choice
                op = people.untag if verb == "remove" else people.tag
                self._change(lambda: op(self.db, target, [name], actor=self.agent))

        self.app.push_screen(TagModal(self.known_tags, self.profile.tags), chosen)

    def action_profile_note(self) -> None:
        from inboxtui.screens.note import NoteModal

        target = self._ref()
        if target is None:
            return

        def chosen(body: str | None) -> None:
            if body and body.strip():
                self._change(lambda: people.add_note(self.db, target, body, actor=self.agent))

        self.app.push_screen(NoteModal("Note about this person"), chosen)

    def action_profile_rename(self) -> None:
        from inboxtui.screens.person_name import PersonNameModal

        target = self._ref()
        if target is None or self.profile is None:
            return

        def chosen(name: str | None) -> None:
            if name and name.strip():
                self._change(lambda: people.rename(self.db, target, name, actor=self.agent))

        self.app.push_screen(PersonNameModal(self.profile.name), chosen)

    def action_profile_link(self) -> None:
        target = self._ref()
        if target is None or self.profile is None:
            return
        self._actions_running += 1
        self._choices_worker(list(self.profile.ref.author_ids))

    @work(thread=True, exit_on_error=False, group="profile-choices")
    def _choices_worker(self, exclude: list[int]) -> None:
        try:
            with self.db.read() as session:
                choices, error = people.author_choices(session, exclude=exclude), None
        except Exception as exc:
            choices, error = [], f"could not read the accounts: {exc}"
        with contextlib.suppress(RuntimeError):
            self.app.call_from_thread(self._pick_account, choices, error)

    def _pick_account(self, choices: list[people.AuthorChoice], error: str | None) -> None:
        self._actions_running -= 1
        if error is not None:
            self.say(error, "error")
            return
        target = self.target
        assert target is not None and self.profile is not None

        def chosen(author_id: int | None) -> None:
            if author_id is not None:
                self._change(lambda: people.link(self.db, target, author_id, actor=self.agent))

        title = f"Link an account to {one_line(sanitize(self.profile.name), 40)}"
        self.app.push_screen(AuthorPicker(choices, title), chosen)

    def action_profile_unlink(self) -> None:
        profile = self.profile
        if profile is None:
            return
        if len(profile.identities) < 2:
            self.say("This person has one account: nothing to unlink", "warning")
            return

        def chosen(value: str | None) -> None:
            if value is not None:
                author_id = int(value)
                self._change(
                    lambda: people.unlink(self.db, author_id, actor=self.agent), follow=False
                )

        items = [(str(i.author_id), f"{i.kind} {i.handle}") for i in profile.identities]
        self.app.push_screen(FuzzyPicker("Unlink which account?", items), chosen)

    def _change(self, run: Callable[[], people.Result], *, follow: bool = True) -> None:
        self._actions_running += 1
        self._change_worker(run, follow)

    @work(thread=True, exit_on_error=False, group="profile-action")
    def _change_worker(self, run: Callable[[], people.Result], follow: bool) -> None:
        result: people.Result | None = None
        try:
            result = run()
            severity, message = "information", result.summary
        except ServiceError as exc:
            severity, message = "warning", str(exc)
        except Exception as exc:
            severity, message = "error", f"could not change the person: {exc}"
        with contextlib.suppress(RuntimeError):
            self.app.call_from_thread(self._finished, result, follow, message, severity)

    def _finished(
        self, result: people.Result | None, follow: bool, message: str, severity: str
    ) -> None:
        self._actions_running -= 1
        if result is not None and follow:
            self._follow(result.ref)
        self.say(message, severity)
        self.load()


__all__ = ["AuthorPicker", "ProfileScreen"]

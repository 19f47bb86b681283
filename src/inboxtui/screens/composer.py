"""The reply composer (`r` in the queue): the thread above, the reply below.

`ctrl+t` (or `/` while the reply is empty) picks a template (fuzzy, by
name, shortcut or body) and inserts it, filled for this conversation in the
author's language, asking for custom fields it needs; several templates can
go into one reply. A live counter shows the platform's limit and sending over
it is refused. `ctrl+o` switches between a public reply and an internal
note. `ctrl+s` writes the reply to the outbox (nothing is lost if the network
is down) and starts the sender.
Sources without a reply API (RSS, Hacker News): `ctrl+s` copies the text for
pasting on the site and, once confirmed, records the reply as made by hand.

Approvers (pr, leads) opening a conversation whose reply awaits approval
review it instead: the reply is in the editor, `ctrl+s` approves it as shown
(edited or not), `ctrl+r` rejects it with a comment to its author. Others
see that a reply awaits approval, and who else has the composer open.

The draft is saved to the database as it is typed (debounced) and on close,
so it survives closing the composer and restarting the app. Text from the
internet (the thread, names) is shown as plain `Text`, never as markup.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import ClassVar

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical, VerticalScroll
from textual.css.query import NoMatches
from textual.screen import ModalScreen, Screen
from textual.timer import Timer
from textual.widgets import Input, Label, Static, TextArea

from inboxtui import details
from inboxtui.db import Database
from inboxtui.drafts import DraftState, delete_draft, load_draft, save_draft
from inboxtui.outbox import (
    OutboxItem,
    OutboxWorker,
    ReplyTarget,
    approve,
    is_approver,
    list_outbox,
    load_target,
    queue_reply,
    reject,
    render_templates,
)
from inboxtui.presence import HEARTBEAT, describe, leave, replies_since, replying, touch
from inboxtui.reply_limits import Length, mastodon_instance_limit
from inboxtui.screens.confirm import ConfirmModal
from inboxtui.screens.note import NoteModal
from inboxtui.screens.picker import PickerBase, key_hint, plain
from inboxtui.services.errors import ServiceError
from inboxtui.templates import TemplateSpec, list_templates
from inboxtui.text import one_line, sanitize
from inboxtui.timeutil import utcnow
from inboxtui.widgets.detail_pane import THREAD_SHOWN

log = logging.getLogger(__name__)
DRAFT_SAVE_DELAY = 0.5  # seconds of quiet typing before the draft is written
THREAD_MENTIONS = 50  # the newest mentions shown above the reply


@dataclass
class _Loaded:
    target: ReplyTarget
    thread: Text
    templates: list[TemplateSpec]
    draft: DraftState | None
    opened_at: datetime
    others: list[str]
    pending: OutboxItem | None  # a reply here awaiting approval
    approver: bool


class TemplatePicker(PickerBase[str]):
    """Templates that fit the source -> the chosen name, or None on escape."""

    def __init__(self, templates: list[TemplateSpec]) -> None:
        entries: list[tuple[str, Text]] = []
        for spec in templates:
            label = Text(no_wrap=True, overflow="ellipsis")
            label.append(sanitize(spec.name), style="bold")
            if spec.shortcut:
                label.append(f" [{sanitize(spec.shortcut)}]", style="dim")
            label.append("  ")
            label.append(one_line(sanitize(spec.body), 120))
            entries.append((spec.name, label))
        super().__init__(
            "Insert a template",
            entries,
            placeholder="name, shortcut or words of the text",
            empty_message="no templates for this source: inboxtui template import FILE",
        )


class FieldPrompt(ModalScreen[str | None]):
    """Ask for one custom field's value -> the value, or None on escape."""

    CSS_PATH = "composer.tcss"
    AUTO_FOCUS = "#value"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", id="field.cancel"),
    ]

    def __init__(self, template: str, name: str, value: str = "") -> None:
        super().__init__()
        self._template = template
        self._name = name
        self._value = value

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Label(plain(f"{{{self._name}}} for template {self._template}"), id="title")
            yield Input(value=self._value, id="value", placeholder=self._name)
            yield Label(id="error")
            yield Label(key_hint(("enter", "insert"), ("esc", "cancel")), id="hint")

    def on_mount(self) -> None:
        self.query_one("#error", Label).display = False

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        value = event.value.strip()
        if not value:
            error = self.query_one("#error", Label)
            error.update(Text(f"{self._name} is needed by the template"))
            error.display = True
            return
        self.dismiss(value)

    def action_cancel(self) -> None:
        self.dismiss(None)


def _thread_text(detail: details.ConversationDetail | None) -> Text:
    out = Text()
    if detail is None:
        return out
    for mention in detail.mentions[-THREAD_MENTIONS:]:
        who = sanitize(mention.author_handle)
        if mention.author_name:
            who += f" ({sanitize(mention.author_name)})"
        out.append("  " * min(mention.depth, 4))
        out.append(who, style="bold")
        out.append(f"  {mention.created_at:%Y-%m-%d %H:%M}", style="dim")
        out.append("\n")
        for line in sanitize(mention.text).splitlines() or [""]:
            out.append("  " * min(mention.depth, 4) + line + "\n")
        out.append("\n")
    return out


class ComposerScreen(Screen[str | None]):
    """Compose a reply to one conversation -> a summary when queued, None when closed."""

    CSS_PATH = "composer.tcss"
    AUTO_FOCUS = "#body"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+s", "send", "Send", id="composer.send", priority=True),
        Binding("ctrl+t", "templates", "Template", id="composer.templates", priority=True),
        # only while the reply is empty (check_action): otherwise `/` is typed as usual
        Binding(
            "slash", "templates(True)", "Template", show=False, id="composer.slash", priority=True
        ),
        Binding("ctrl+o", "toggle_mode", "Reply/Note", id="composer.toggle", priority=True),
        Binding("ctrl+r", "reject", "Reject", id="composer.reject", priority=True),
        Binding("escape", "close", "Close (keeps the draft)", id="composer.close"),
    ]

    def __init__(
        self,
        db: Database,
        conversation_id: int,
        agent: str,
        *,
        on_outcome: Callable[[str, str], None] | None = None,
    ) -> None:
        super().__init__()
        self.db = db
        self.conversation_id = conversation_id
        self.agent = agent
        self.on_outcome = on_outcome
        self.target: ReplyTarget | None = None
        self.templates: list[TemplateSpec] = []
        self.used: list[str] = []
        self.fields: dict[str, str] = {}
        self.note = False
        self.length: Length | None = None
        self.sending = False
        self.loaded = False
        self.opened_at: datetime | None = None
        self.duplicate_ok = False
        self.review: OutboxItem | None = None  # approving someone's reply, not writing one
        self.pending: OutboxItem | None = None
        self._save_timer: Timer | None = None

    # ------------------------------------------------------------------ layout

    def compose(self) -> ComposeResult:
        yield Label(Text(f"Reply to #{self.conversation_id}"), id="title")
        yield Label(id="presence")
        with VerticalScroll(id="thread"):
            yield Static(Text("loading…"), id="thread-text")
        with Vertical(id="editor"):
            yield Label(id="mode")
            yield TextArea(id="body", soft_wrap=True, show_line_numbers=False)
            yield Label(id="counter")
            yield Label(id="error")
            yield Label(
                key_hint(
                    ("ctrl+s", "send"),
                    ("ctrl+t", "template"),
                    ("ctrl+o", "reply/note"),
                    ("esc", "close, keep draft"),
                ),
                id="hint",
            )

    def on_mount(self) -> None:
        self._set_error("")
        self._show_presence([])
        self._update_mode()
        self._load()

    @work(thread=True, exit_on_error=False, group="composer-load")
    def _load(self) -> None:
        with self.db.read() as session:
            target = load_target(session, self.conversation_id, self.agent)
            detail = details.load(session, self.conversation_id, newest=THREAD_SHOWN)
            approver = is_approver(session, self.agent)
        waiting = list_outbox(
            self.db, states=["awaiting_approval"], conversation_id=self.conversation_id
        )
        pending = waiting[-1] if waiting else None  # the oldest first
        options = target.options
        if target.kind == "mastodon" and "max_characters" not in options and options.get("url"):
            limit = mastodon_instance_limit(options["url"])
            if limit is not None:
                options["max_characters"] = str(limit)
        templates = [spec for spec in list_templates(self.db) if spec.fits(target.kind)]
        draft = load_draft(self.db, self.conversation_id, self.agent)
        opened_at = utcnow()
        touch(self.db, self.conversation_id, self.agent, opened_at)
        others = replying(self.db, self.conversation_id, self.agent)
        loaded = _Loaded(
            target, _thread_text(detail), templates, draft, opened_at, others, pending, approver
        )
        self.app.call_from_thread(self._loaded, loaded)

    def _loaded(self, loaded: _Loaded) -> None:
        self.target = loaded.target
        self.templates = loaded.templates
        target = loaded.target
        title = Text(f"Reply to #{self.conversation_id} on ")
        title.append(sanitize(target.source_name), style="bold")
        title.append(f" ({target.kind})")
        if target.author_handle:
            title.append(" · ")
            title.append(sanitize(target.author_handle))
        self.query_one("#title", Label).update(title)
        self.query_one("#thread-text", Static).update(loaded.thread)
        self.query_one("#thread", VerticalScroll).scroll_end(animate=False)
        self.pending = loaded.pending
        if loaded.pending is not None and loaded.approver:
            self.review = loaded.pending
            self.query_one("#body", TextArea).load_text(loaded.pending.body)
            self._end_of_text()
        elif loaded.draft is not None:
            self.note = loaded.draft.note
            self.used = list(loaded.draft.templates)
            self.fields = dict(loaded.draft.fields)
            self.query_one("#body", TextArea).load_text(loaded.draft.body)
            self._end_of_text()
        self.loaded = True
        self.opened_at = loaded.opened_at
        self._show_presence(loaded.others)
        self.set_interval(HEARTBEAT, self._heartbeat)
        self._update_mode()
        self._update_counter()

    # ------------------------------------------------------------------ presence

    def _show_presence(self, others: list[str]) -> None:
        label = self.query_one("#presence", Label)
        parts = [describe([sanitize(name) for name in others])] if others else []
        if self.pending is not None and self.review is None:
            who = sanitize(self.pending.agent or "someone")
            parts.append(f"a reply by {who} awaits approval")
        label.update(Text(" · ".join(parts)))
        label.display = bool(parts)

    def _heartbeat(self) -> None:
        if not self.sending:
            self._presence_worker()

    @work(thread=True, exit_on_error=False, group="composer-presence")
    def _presence_worker(self) -> None:
        touch(self.db, self.conversation_id, self.agent)
        others = replying(self.db, self.conversation_id, self.agent)
        self.app.call_from_thread(self._show_presence, others)

    def _end_of_text(self) -> None:
        area = self.query_one("#body", TextArea)
        last = area.document.line_count - 1
        area.move_cursor((last, len(area.document.get_line(last))))

    # ------------------------------------------------------------------ state shown

    def _set_error(self, message: str) -> None:
        error = self.query_one("#error", Label)
        error.update(Text(message))
        error.display = bool(message)

    def _update_mode(self) -> None:
        label = self.query_one("#mode", Label)
        if self.review is not None:
            text = Text(f"Review: reply {self.review.id} by ", style="bold")
            text.append(sanitize(self.review.agent or "?"))
            text.append(f" awaits approval ({sanitize(self.review.approval_reason or '')}). ")
            text.append("ctrl+s approves it as shown (edit first if needed), ctrl+r rejects")
            label.update(text)
        elif self.note:
            label.update(Text("Internal note: seen by the team, never sent", style="bold"))
        elif self.target is not None and not self.target.can_reply:
            label.update(
                Text(
                    f"{self.target.kind} has no reply API: ctrl+s copies the text, "
                    "you reply on the site and confirm",
                    style="bold",
                )
            )
        else:
            label.update(Text("Public reply", style="bold"))
        self._update_counter()

    def _update_counter(self) -> None:
        counter = self.query_one("#counter", Label)
        if self.target is None:
            counter.update("")
            return
        text = self.query_one("#body", TextArea).text
        self.length = self.target.measure(text)
        if self.note or self.length.limit is None:
            counter.update(Text(f"{self.length.used} {self.length.unit}", style="dim"))
            return
        style = "bold red" if self.length.over else "dim"
        shown = Text(self.length.describe(), style=style)
        if self.length.over:
            shown.append(f"  {self.length.used - self.length.limit} over the limit")
        counter.update(shown)

    def on_text_area_changed(self, event: TextArea.Changed) -> None:
        self._set_error("")
        self._update_counter()
        if not self.loaded or self.review is not None:  # a review is not our draft
            return
        if self._save_timer is not None:
            self._save_timer.stop()
        self._save_timer = self.set_timer(DRAFT_SAVE_DELAY, self._save_draft)

    def _draft(self) -> DraftState:
        return DraftState(
            self.query_one("#body", TextArea).text, self.note, list(self.used), dict(self.fields)
        )

    def _save_draft(self) -> None:
        self._save_timer = None
        self._draft_worker(self._draft())

    @work(thread=True, exit_on_error=False, group="composer-draft")
    def _draft_worker(self, draft: DraftState) -> None:
        save_draft(self.db, self.conversation_id, self.agent, draft)

    # ------------------------------------------------------------------ actions

    def action_toggle_mode(self) -> None:
        if self.review is not None:
            return
        self.note = not self.note
        self._update_mode()
        if self.loaded:
            self._draft_worker(self._draft())

    def action_templates(self, slash: bool = False) -> None:
        """The picker (`ctrl+t`, or `/` on an empty reply: escape then leaves the `/` typed)."""
        if self.target is None:
            return

        def chosen(name: str | None) -> None:
            spec = next((s for s in self.templates if s.name == name), None)
            if spec is not None:
                self._ask_fields(spec, [f for f in spec.fields() if not self.fields.get(f)])
            elif slash:  # as in chat apps: a reply may start with "/"
                self.query_one("#body", TextArea).insert("/")

        self.app.push_screen(TemplatePicker(self.templates), chosen)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "templates" and parameters == (True,):  # False: `/` is typed as text
            return self.target is not None and self.review is None and not self._typed()
        return True

    def _typed(self) -> bool:
        try:
            return bool(self.query_one("#body", TextArea).text)
        except NoMatches:  # not composed yet
            return True

    def _ask_fields(self, spec: TemplateSpec, missing: list[str]) -> None:
        if not missing:
            self._insert(spec)
            return

        def answered(value: str | None) -> None:
            if value is None:
                return  # cancelled: nothing inserted
            self.fields[missing[0]] = value
            self._ask_fields(spec, missing[1:])

        self.app.push_screen(FieldPrompt(spec.name, missing[0]), answered)

    def _insert(self, spec: TemplateSpec) -> None:
        assert self.target is not None
        try:
            text = render_templates(self.target, [spec], self.fields).body
        except ServiceError as exc:
            self._set_error(str(exc))
            return
        area = self.query_one("#body", TextArea)
        before = area.get_text_range((0, 0), area.cursor_location)
        prefix = "\n\n" if before.strip() and not before.endswith("\n\n") else ""
        area.insert(prefix + text)
        if spec.name not in self.used:
            self.used.append(spec.name)
        area.focus()

    def action_close(self) -> None:
        if self._save_timer is not None:
            self._save_timer.stop()
            self._save_timer = None
        if self.sending:
            return
        if not self.loaded:
            self.dismiss(None)
            return
        self.sending = True  # no more heartbeats or sends: we are leaving
        self._close_worker(None if self.review is not None else self._draft())

    @work(thread=True, exit_on_error=False, group="composer-close")
    def _close_worker(self, draft: DraftState | None) -> None:
        # written before the screen goes: a restart right after still finds it
        try:
            if draft is not None:
                save_draft(self.db, self.conversation_id, self.agent, draft)
            leave(self.db, self.conversation_id, self.agent)
        except Exception as exc:  # keep the screen (and the text) rather than lose it
            log.exception("composer: saving the draft failed")
            message = f"the draft was not saved ({type(exc).__name__}: {exc}); try again"
            self.app.call_from_thread(self._send_failed, message)
            return
        self.app.call_from_thread(self.dismiss, None)

    def action_send(self) -> None:
        if self.target is None or self.sending:
            return
        text = self.query_one("#body", TextArea).text
        if not text.strip():
            self._set_error("the reply is empty")
            return
        if self.review is not None:
            edited = None if text.strip() == self.review.body.strip() else text
            self.sending = True
            self._review_worker(self.review.id, edited, None)
            return
        if not self.note and self.length is not None and self.length.over:
            self._set_error(
                f"too long for {self.target.kind}: {self.length.describe()}; shorten it to send"
            )
            return
        if not self.note and not self.target.can_reply:
            self.app.copy_to_clipboard(text.strip())

            def confirmed(yes: bool | None) -> None:
                if yes:
                    self._queue(text, external=True)

            self.app.push_screen(
                ConfirmModal(
                    "The reply is copied. Paste it on the site, then confirm you replied.",
                    yes="I replied",
                    no="Not yet",
                ),
                confirmed,
            )
            return
        self._queue(text, external=False)

    def _queue(self, text: str, *, external: bool) -> None:
        self.sending = True
        self._send_worker(text, external, self.note)

    @work(thread=True, exit_on_error=False, group="composer-send")
    def _send_worker(self, text: str, external: bool, note: bool) -> None:
        try:
            if not note and not self.duplicate_ok and self.opened_at is not None:
                others = replies_since(self.db, self.conversation_id, self.agent, self.opened_at)
                if others:
                    self.app.call_from_thread(self._confirm_duplicate, others, text, external)
                    return
            queued = queue_reply(
                self.db,
                self.conversation_id,
                actor=self.agent,
                templates=list(self.used),
                fields=dict(self.fields),
                body=text,
                note=note,
                external=external,
            )
        except ServiceError as exc:
            self.app.call_from_thread(self._send_failed, str(exc))
            return
        except Exception as exc:  # the database went away...: say so, keep the text
            log.exception("composer: sending failed")
            self.app.call_from_thread(
                self._send_failed, f"not sent ({type(exc).__name__}: {exc}); try again"
            )
            return
        try:
            delete_draft(self.db, self.conversation_id, self.agent)
            leave(self.db, self.conversation_id, self.agent)
        except Exception:  # the reply is queued; a stale draft or presence is harmless
            log.exception("composer: cleaning up after sending")
        self.app.call_from_thread(self._queued, queued.summary, queued.state)

    def action_reject(self) -> None:
        if self.review is None or self.sending:
            return
        review = self.review

        def commented(comment: str | None) -> None:
            if comment and comment.strip():
                self.sending = True
                self._review_worker(review.id, None, comment)

        self.app.push_screen(NoteModal("Why reject it? (a note to its author)"), commented)

    @work(thread=True, exit_on_error=False, group="composer-review")
    def _review_worker(self, outbox_id: int, edited: str | None, comment: str | None) -> None:
        try:
            if comment is not None:
                summary = reject(self.db, outbox_id, actor=self.agent, comment=comment)
            else:
                summary = approve(self.db, outbox_id, actor=self.agent, body=edited)
            leave(self.db, self.conversation_id, self.agent)
        except ServiceError as exc:
            self.app.call_from_thread(self._send_failed, str(exc))
            return
        except Exception as exc:
            log.exception("composer: review failed")
            self.app.call_from_thread(self._send_failed, f"{type(exc).__name__}: {exc}")
            return
        state = "rejected" if comment is not None else "queued"
        self.app.call_from_thread(self._queued, summary, state)

    def _confirm_duplicate(self, others: list[str], text: str, external: bool) -> None:
        self.sending = False
        names = ", ".join(sanitize(name) for name in others)

        def answered(yes: bool | None) -> None:
            if yes:
                self.duplicate_ok = True
                self._queue(text, external=external)

        self.app.push_screen(
            ConfirmModal(
                f"{names} replied to this conversation since you opened it. Send yours too?",
                yes="Send",
                no="Not yet",
            ),
            answered,
        )

    def _send_failed(self, message: str) -> None:
        self.sending = False
        self._set_error(message)

    def _queued(self, summary: str, state: str) -> None:
        if self._save_timer is not None:
            self._save_timer.stop()
            self._save_timer = None
        if state == "queued":
            start_sender(self.app, self.db, self.on_outcome)
        if self.on_outcome is not None:
            self.on_outcome(summary, "information")
        self.dismiss(summary)


def start_sender(app: object, db: Database, report: Callable[[str, str], None] | None) -> None:
    """Run the outbox sender once in the app (it outlives the composer) and report outcomes."""

    async def send() -> None:
        outcomes = await OutboxWorker(db).run_once()
        for outcome in outcomes:
            if report is not None:
                report(outcome.summary(), "information" if outcome.state == "sent" else "warning")

    app.run_worker(send(), group="outbox", exit_on_error=False)  # type: ignore[attr-defined]


__all__ = ["ComposerScreen", "FieldPrompt", "TemplatePicker", "start_sender"]

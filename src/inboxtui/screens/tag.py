"""Tag or untag a conversation from one box.

Typing narrows the existing tags fuzzily; tags already on the conversation
carry a ✓ and choosing one removes it. A new tag is the last row ("+ new
tag ..."), never the default while an existing tag matches: that keeps
`refund` from growing siblings like `refunds` and `refnd` by accident.
New names are checked here (lowercase, no spaces) so the mistake shows where
it was typed; existing names are shown literally, whatever they contain.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label, OptionList
from textual.widgets.option_list import Option

from inboxtui.fuzzy import match
from inboxtui.screens.picker import MAX_ROWS, highlight, key_hint, plain

TAG_MAX_LENGTH = 40
_TAG_NAME = re.compile(r"[^\W_][\w.\-/]*")
_CREATE = "create"


def tag_name_error(name: str) -> str | None:
    """Why `name` cannot be a new tag, or None when it can."""
    if not name:
        return "type a tag name"
    if any(char.isspace() for char in name):
        suggestion = "-".join(name.lower().split())
        return f"tag names have no spaces: try {suggestion!r}"
    if name != name.lower():
        return f"tag names are lowercase: try {name.lower()!r}"
    if len(name) > TAG_MAX_LENGTH:
        return f"a tag name is at most {TAG_MAX_LENGTH} characters"
    if not _TAG_NAME.fullmatch(name):
        return "a tag name starts with a letter or digit and has only letters, digits, - _ . /"
    return None


class TagModal(ModalScreen[tuple[str, str] | None]):
    """-> ("add", name) or ("remove", name), or None on escape."""

    CSS_PATH = "tag.tcss"
    AUTO_FOCUS = "#query"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", id="tag.cancel"),
        Binding("down,ctrl+n", "move(1)", "Next", id="tag.next", priority=True),
        Binding("up,ctrl+p", "move(-1)", "Previous", id="tag.previous", priority=True),
    ]

    def __init__(self, existing: Sequence[str], current: Sequence[str]) -> None:
        super().__init__()
        self._current = set(current)
        # Tags on the conversation first, then the rest, each once.
        self._names = list(dict.fromkeys([*current, *existing]))
        self._labels = [plain(name) for name in self._names]
        self._typed = ""

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Label(Text("Tag"), id="title")
            yield Input(placeholder="tag name", id="query")
            yield OptionList(id="options", markup=False)
            yield Label(id="error")
            yield Label(
                key_hint(
                    ("enter", "add / remove ✓"),
                    ("↑↓", "move"),
                    ("esc", "cancel"),
                ),
                id="hint",
            )

    def on_mount(self) -> None:
        self._refill("")

    def _set_error(self, message: str) -> None:
        error = self.query_one("#error", Label)
        error.update(Text(message))
        error.display = bool(message)

    def _row(self, index: int, positions: Sequence[int]) -> Option:
        name = self._names[index]
        label = highlight(self._labels[index], positions)
        if name in self._current:
            row = Text.assemble(("✓ ", "bold green"), label, ("  remove", "dim"))
        else:
            row = Text.assemble("  ", label)
        return Option(row, id=f"tag-{index}")

    def _refill(self, typed: str) -> None:
        self._typed = typed.strip()
        options = self.query_one("#options", OptionList)
        if not self._typed:
            rows = [(index, ()) for index in range(len(self._names))]
        else:
            scored: list[tuple[float, int, tuple[int, ...]]] = []
            for index, label in enumerate(self._labels):
                found = match(self._typed, label.plain)
                if found is not None:
                    scored.append((found.score, index, found.positions))
            scored.sort(key=lambda row: -row[0])
            rows = [(index, positions) for _, index, positions in scored]
        prompts = [self._row(index, positions) for index, positions in rows[:MAX_ROWS]]
        if self._typed and self._typed not in self._names:
            prompts.append(
                Option(Text.assemble(("+ new tag  ", "dim"), plain(self._typed)), id=_CREATE)
            )
        options.set_options(prompts)
        if prompts:
            options.highlighted = 0
        self._set_error("")

    @on(Input.Changed, "#query")
    def _changed(self, event: Input.Changed) -> None:
        self._refill(event.value)

    def action_move(self, step: int) -> None:
        options = self.query_one("#options", OptionList)
        if step > 0:
            options.action_cursor_down()
        else:
            options.action_cursor_up()

    def action_cancel(self) -> None:
        self.dismiss(None)

    @on(Input.Submitted, "#query")
    def _submitted(self, event: Input.Submitted) -> None:
        event.stop()
        option = self.query_one("#options", OptionList).highlighted_option
        if option is None:
            self._set_error("type a tag name")
            return
        self._choose(option)

    @on(OptionList.OptionSelected, "#options")
    def _selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self._choose(event.option)

    def _choose(self, option: Option) -> None:
        if option.id == _CREATE:
            problem = tag_name_error(self._typed)
            if problem:
                self._set_error(problem)
                return
            self.dismiss(("add", self._typed))
            return
        assert option.id is not None
        name = self._names[int(option.id.removeprefix("tag-"))]
        self.dismiss(("remove" if name in self._current else "add", name))

"""Fuzzy pickers: type to narrow a list, arrows to move, enter to choose.

`FuzzyPicker` is generic over what a row stands for; `AssignPicker` lists
roles and agents for assignment, and the reply composer reuses `FuzzyPicker`
for templates. Labels are data (agent names, template titles), so they are
sanitised and shown as plain `Text`, never parsed as markup.

Also home to two small helpers the other modals share: `key_hint` (the
"keys: what they do" line) and `highlight` (bold the matched letters).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar, Generic, TypeVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label, OptionList
from textual.widgets.option_list import Option

from inboxtui.fuzzy import match
from inboxtui.text import one_line, sanitize

V = TypeVar("V")

#: Rows shown at most; typing narrows further (keeps each keystroke cheap).
MAX_ROWS = 200


def plain(text: str, limit: int = 200) -> Text:
    """Untrusted text as one inert line."""
    return Text(one_line(sanitize(text), limit), no_wrap=True, overflow="ellipsis")


def key_hint(*pairs: tuple[str, str]) -> Text:
    """`("enter", "pick"), ("esc", "cancel")` -> a dim line with the keys in bold."""
    out = Text(no_wrap=True, overflow="ellipsis")
    for index, (key, what) in enumerate(pairs):
        if index:
            out.append("  ·  ", style="dim")
        out.append(key, style="bold")
        out.append(f" {what}", style="dim")
    return out


def highlight(label: Text, positions: Sequence[int]) -> Text:
    """A copy of `label` with the matched characters emphasised."""
    out = label.copy()
    for position in positions:
        out.stylize("bold underline", position, position + 1)
    return out


class PickerBase(ModalScreen[V | None], Generic[V]):
    """Input + OptionList over `entries` (value, label); dismisses with the chosen value."""

    CSS_PATH = "picker.tcss"
    AUTO_FOCUS = "#query"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", id="picker.cancel"),
        Binding("down,ctrl+n", "move(1)", "Next", id="picker.next", priority=True),
        Binding("up,ctrl+p", "move(-1)", "Previous", id="picker.previous", priority=True),
        Binding("pagedown", "page(1)", "Page down", id="picker.page_down", priority=True),
        Binding("pageup", "page(-1)", "Page up", id="picker.page_up", priority=True),
    ]

    def __init__(
        self,
        title: str,
        entries: Sequence[tuple[V, Text]],
        *,
        placeholder: str = "type to filter",
        empty_message: str = "nothing to choose from",
    ) -> None:
        super().__init__()
        self._title = title
        self._entries = list(entries)
        self._placeholder = placeholder
        self._empty_message = empty_message
        self._shown: list[int] = []

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Label(plain(self._title), id="title")
            yield Input(placeholder=self._placeholder, id="query")
            yield OptionList(id="options", markup=False)
            yield Label(id="error")
            yield Label(key_hint(("↑↓", "move"), ("enter", "choose"), ("esc", "cancel")), id="hint")

    def on_mount(self) -> None:
        self._refill("")

    # -- filtering ---------------------------------------------------------

    def _refill(self, query: str) -> None:
        options = self.query_one("#options", OptionList)
        if not query.strip():
            order = [(index, ()) for index in range(len(self._entries))]
        else:
            scored: list[tuple[float, int, tuple[int, ...]]] = []
            for index, (_, label) in enumerate(self._entries):
                found = match(query, label.plain)
                if found is not None:
                    scored.append((found.score, index, found.positions))
            scored.sort(key=lambda row: -row[0])
            order = [(index, positions) for _, index, positions in scored]
        order = order[:MAX_ROWS]
        self._shown = [index for index, _ in order]
        options.set_options(
            Option(highlight(self._entries[index][1], positions), id=str(index))
            for index, positions in order
        )
        if self._shown:
            options.highlighted = 0
        self._set_error(
            "" if self._shown else ("no match" if self._entries else self._empty_message)
        )

    def _set_error(self, message: str) -> None:
        error = self.query_one("#error", Label)
        error.update(Text(message))
        error.display = bool(message)

    @on(Input.Changed, "#query")
    def _query_changed(self, event: Input.Changed) -> None:
        self._refill(event.value)

    # -- choosing ----------------------------------------------------------

    def action_move(self, step: int) -> None:
        options = self.query_one("#options", OptionList)
        if step > 0:
            options.action_cursor_down()
        else:
            options.action_cursor_up()

    def action_page(self, step: int) -> None:
        options = self.query_one("#options", OptionList)
        if step > 0:
            options.action_page_down()
        else:
            options.action_page_up()

    def action_cancel(self) -> None:
        self.dismiss(None)

    @on(Input.Submitted, "#query")
    def _submitted(self, event: Input.Submitted) -> None:
        event.stop()
        option = self.query_one("#options", OptionList).highlighted_option
        if option is None:
            self._set_error("no match — change the filter or press esc")
            return
        self._choose(option)

    @on(OptionList.OptionSelected, "#options")
    def _selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self._choose(event.option)

    def _choose(self, option: Option) -> None:
        assert option.id is not None
        self.dismiss(self._entries[int(option.id)][0])


class FuzzyPicker(PickerBase[str]):
    """Pick one of `items` (value, label) -> the value, or None on escape."""

    def __init__(self, title: str, items: Sequence[tuple[str, str]]) -> None:
        super().__init__(title, [(value, plain(label)) for value, label in items])


def _kind(kind: str, name: Text) -> Text:
    # "role " is padded to the width of "agent" so the names line up.
    return Text.assemble((f"{kind:<5} ", "dim"), name, no_wrap=True, overflow="ellipsis")


class AssignPicker(PickerBase[tuple[str, str]]):
    """Roles and agents -> ("role", name) or ("agent", handle), or None on escape.

    `agents` are handles or (handle, display name) pairs; the label shows
    `agent alice (Alice Smith)` and the filter matches either name.
    """

    def __init__(
        self,
        roles: Sequence[str],
        agents: Sequence[str] | Sequence[tuple[str, str]],
        title: str = "Assign to",
    ) -> None:
        entries: list[tuple[tuple[str, str], Text]] = [
            (("role", role), _kind("role", plain(role))) for role in roles
        ]
        for agent in agents:
            handle, display = (agent, "") if isinstance(agent, str) else agent
            label = sanitize(handle)
            if display and display != handle:
                label = f"{label} ({sanitize(display)})"
            entries.append((("agent", handle), _kind("agent", plain(label))))
        super().__init__(
            title,
            entries,
            placeholder="role or agent",
            empty_message="no roles or agents yet",
        )

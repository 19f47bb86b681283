"""Escalate a conversation: a severity (1 watch, 2 serious, 3 crisis) and a reason.

Focus starts on the severity list so that `1`/`2`/`3` choose one and jump to
the reason (digits typed in the reason are text, not shortcuts). In the
reason, up/down still change the severity, and enter escalates. The reason is
required: the audit trail and the people paged later need to know why.
"""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label, OptionList
from textual.widgets.option_list import Option

from inboxtui.screens.picker import key_hint

SEVERITIES: dict[int, str] = {1: "watch", 2: "serious", 3: "crisis"}


def severity_label(severity: int) -> str:
    """`2` -> `2 serious` (how severities are shown everywhere)."""
    return f"{severity} {SEVERITIES.get(severity, '?')}"


class EscalateModal(ModalScreen[tuple[int, str] | None]):
    """-> (severity, reason), or None on escape."""

    CSS_PATH = "escalate.tcss"
    AUTO_FOCUS = "#severity"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", id="escalate.cancel"),
        Binding("1", "severity(1)", "Watch", id="escalate.watch"),
        Binding("2", "severity(2)", "Serious", id="escalate.serious"),
        Binding("3", "severity(3)", "Crisis", id="escalate.crisis"),
        Binding("up", "step(-1)", "Less severe", id="escalate.less", priority=True),
        Binding("down", "step(1)", "More severe", id="escalate.more", priority=True),
    ]

    def __init__(self, current_severity: int | None = None) -> None:
        super().__init__()
        self._current = current_severity
        self._severity = current_severity if current_severity in SEVERITIES else 1

    @property
    def severity(self) -> int:
        return self._severity

    def compose(self) -> ComposeResult:
        title = "Escalate"
        if self._current in SEVERITIES:
            title = f"Escalate (now {severity_label(self._current)})"
        with Vertical(id="dialog"):
            yield Label(Text(title), id="title")
            yield OptionList(
                *(
                    Option(
                        Text.assemble((str(level), "bold"), f"  {name}"),
                        id=f"severity-{level}",
                    )
                    for level, name in SEVERITIES.items()
                ),
                id="severity",
                markup=False,
            )
            yield Label(Text("Reason"), id="reason-label")
            yield Input(placeholder="why does this need attention?", id="reason")
            yield Label(id="error")
            yield Label(
                key_hint(
                    ("1/2/3", "severity"),
                    ("enter", "escalate"),
                    ("esc", "cancel"),
                ),
                id="hint",
            )

    def on_mount(self) -> None:
        self.query_one("#severity", OptionList).highlighted = self._severity - 1
        self._set_error("")

    def _set_error(self, message: str) -> None:
        error = self.query_one("#error", Label)
        error.update(Text(message))
        error.display = bool(message)

    def _show_severity(self, severity: int) -> None:
        self._severity = severity
        options = self.query_one("#severity", OptionList)
        if options.highlighted != severity - 1:
            options.highlighted = severity - 1

    def action_severity(self, severity: int) -> None:
        self._show_severity(severity)
        self.query_one("#reason", Input).focus()

    def action_step(self, step: int) -> None:
        self._show_severity(min(3, max(1, self._severity + step)))

    def action_cancel(self) -> None:
        self.dismiss(None)

    @on(OptionList.OptionHighlighted, "#severity")
    def _highlighted(self, event: OptionList.OptionHighlighted) -> None:
        self._severity = event.option_index + 1

    @on(OptionList.OptionSelected, "#severity")
    def _selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self.action_severity(event.option_index + 1)

    @on(Input.Submitted, "#reason")
    def _submitted(self, event: Input.Submitted) -> None:
        event.stop()
        reason = event.value.strip()
        if not reason:
            self._set_error("a reason is required")
            return
        self.dismiss((self._severity, reason))

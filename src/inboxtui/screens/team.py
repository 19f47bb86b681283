"""The Team screen (`M`): roles and agents, duty, capacity and a lead's rebalance.

Every change goes through the audited services the CLI uses (`team.set_agent`,
`routing.rebalance`), so permissions and the audit log are the same; a refusal
is shown as the service's own words. Reads and writes run in thread workers.

Handles, names and role names come from imported team files: every cell is
built as plain `Text`, never markup.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any

from rich.text import Text
from sqlalchemy import select
from textual import work
from textual.app import ComposeResult
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Static

from inboxtui.db import Database
from inboxtui.keymap import TEAM_KEYS, bindings
from inboxtui.screens.picker import plain
from inboxtui.screens.reading import NewestReadWins
from inboxtui.services.errors import ServiceError

ROLE_COLUMNS = ("Role", "SLA policy", "Lead", "Members")
AGENT_COLUMNS = ("Handle", "Name", "Roles", "Open/cap", "Duty")


@dataclass(frozen=True)
class RoleLine:
    name: str
    sla: str | None
    lead: bool
    members: tuple[str, ...]


@dataclass(frozen=True)
class AgentLine:
    handle: str
    name: str | None
    roles: tuple[str, ...]
    open: int
    capacity: int | None
    on_duty: bool


@dataclass(frozen=True)
class TeamView:
    roles: tuple[RoleLine, ...]
    agents: tuple[AgentLine, ...]


def load_team_view(db: Database) -> TeamView:
    """Roles with members and agents with their open load, in one read."""
    from inboxtui import routing, team
    from inboxtui.models import Agent, Role

    with db.read() as session:
        config = team.read_team(session)
        leads = set(session.execute(select(Role.name).where(Role.is_lead.is_(True))).scalars())  # type: ignore[attr-defined]
        members = team.role_members(session, [r.name for r in config.roles])
        ids = {a.handle: a.id for a in session.execute(select(Agent)).scalars()}
        loads = routing.open_counts(session, [i for i in ids.values() if i is not None])
    roles = tuple(
        RoleLine(r.name, r.sla, r.name in leads, tuple(members.get(r.name, ())))
        for r in config.roles
    )
    agents = tuple(
        AgentLine(
            a.handle,
            a.display_name,
            a.roles,
            loads.get(ids.get(a.handle) or 0, 0),
            a.capacity,
            a.on_duty,
        )
        for a in config.agents
    )
    return TeamView(roles, agents)


def role_cells(role: RoleLine) -> list[Text]:
    return [
        plain(role.name, 40),
        plain(role.sla or "-", 40),
        Text("lead", style="bold") if role.lead else Text(""),
        plain(", ".join(role.members) or "(nobody)", 80),
    ]


def agent_cells(agent: AgentLine) -> list[Text]:
    capacity = "-" if agent.capacity is None else str(agent.capacity)
    full = agent.capacity is not None and agent.open >= agent.capacity
    return [
        plain(agent.handle, 40),
        plain(agent.name or "", 40),
        plain(", ".join(agent.roles) or "(no roles)", 60),
        Text(f"{agent.open}/{capacity}", style="yellow" if full else ""),
        Text("on duty", style="green") if agent.on_duty else Text("away", style="dim"),
    ]


class TeamScreen(NewestReadWins, Screen[None]):
    """Roles (top) and agents (bottom); `tab` moves between them."""

    CSS_PATH = "team.tcss"
    AUTO_FOCUS = "#agents"
    BINDINGS = bindings(TEAM_KEYS)

    def __init__(self, db: Database, agent: str, *, db_label: str | None = None) -> None:
        super().__init__()
        self.db = db
        self.agent = agent
        self.db_label = db_label or db.display_name
        self.view = TeamView((), ())
        self._actions_running = 0

    def compose(self) -> ComposeResult:
        yield Header(icon="✉")
        yield Static("Roles", classes="team-heading")
        yield DataTable(id="roles", cursor_type="row", zebra_stripes=True)
        yield Static("Agents", classes="team-heading")
        yield DataTable(id="agents", cursor_type="row", zebra_stripes=True)
        yield Footer()

    @property
    def roles_table(self) -> DataTable[Text]:
        return self.query_one("#roles", DataTable)

    @property
    def agents_table(self) -> DataTable[Text]:
        return self.query_one("#agents", DataTable)

    @property
    def is_busy(self) -> bool:
        """True while the team loads or a change runs (tests wait on it)."""
        return self._loading or self._actions_running > 0

    @property
    def current_agent(self) -> AgentLine | None:
        row = self.agents_table.cursor_row
        return self.view.agents[row] if 0 <= row < len(self.view.agents) else None

    @property
    def current_role(self) -> RoleLine | None:
        row = self.roles_table.cursor_row
        return self.view.roles[row] if 0 <= row < len(self.view.roles) else None

    def on_mount(self) -> None:
        self.roles_table.add_columns(*ROLE_COLUMNS)
        self.agents_table.add_columns(*AGENT_COLUMNS)
        self.title = "inboxtui · Team"
        self.sub_title = self.db_label
        self.load()

    # ------------------------------------------------------------------ loading

    read_error = "could not read the team"

    def read(self) -> TeamView:
        return load_team_view(self.db)

    def show_read(self, view: TeamView) -> None:
        self.view = view
        self._fill(self.roles_table, [role_cells(r) for r in view.roles])
        self._fill(self.agents_table, [agent_cells(a) for a in view.agents])
        on_duty = sum(a.on_duty for a in view.agents)
        self.sub_title = (
            f"{self.db_label} · {len(view.roles)} roles · {len(view.agents)} agents, "
            f"{on_duty} on duty"
        )

    @staticmethod
    def _fill(table: DataTable[Text], rows: list[list[Text]]) -> None:
        """Replace the rows, the cursor staying on the same line."""
        keep = table.cursor_row
        table.clear()
        for cells in rows:
            table.add_row(*cells)
        if rows:
            table.move_cursor(row=min(max(keep, 0), len(rows) - 1), animate=False)

    # ------------------------------------------------------------------ actions

    def action_close(self) -> None:
        if self.app.screen is self:
            self.app.pop_screen()

    def action_refresh_team(self) -> None:
        self.load()

    def _agent(self) -> AgentLine | None:
        agent = self.current_agent
        if agent is None:
            self.say("No agent selected", "warning")
        return agent

    def action_toggle_duty(self) -> None:
        agent = self._agent()
        if agent is not None:
            self._change(
                f"agent {agent.handle}", "set_agent", agent.handle, on_duty=not agent.on_duty
            )

    def action_capacity_up(self) -> None:
        agent = self._agent()
        if agent is None:
            return
        if agent.capacity is None:
            self.say(f"{agent.handle} has no capacity limit (- sets one)", "warning")
            return
        self._change(
            f"agent {agent.handle}", "set_agent", agent.handle, capacity=agent.capacity + 1
        )

    def action_capacity_down(self) -> None:
        """One less; from "no limit" the limit starts at the agent's current open load."""
        agent = self._agent()
        if agent is None:
            return
        capacity = agent.open if agent.capacity is None else agent.capacity - 1
        self._change(f"agent {agent.handle}", "set_agent", agent.handle, capacity=capacity)

    def action_rebalance(self) -> None:
        role = self.current_role
        if role is None:
            self.say("No role selected (tab to the roles)", "warning")
            return
        self._change(f"role {role.name}", "rebalance", role.name)

    def _change(self, what: str, op: str, name: str, **values: Any) -> None:
        self._actions_running += 1
        self._change_worker(what, op, name, values)

    @work(thread=True, exit_on_error=False, group="team-action")
    def _change_worker(self, what: str, op: str, name: str, values: dict[str, Any]) -> None:
        from inboxtui import routing, team

        severity, changed = "information", False
        try:
            if op == "rebalance":
                report = routing.rebalance(self.db, name, actor=self.agent)
                changed = report.routed > 0
                message = (
                    f"rebalanced role {name}: {report.routed} moved, {report.assigned} assigned, "
                    f"{report.queued} back in the queue"
                )
            else:
                changed = team.set_agent(self.db, name, actor=self.agent, **values)
                message = f"{what} " + ("updated (nothing rebalanced)" if changed else "unchanged")
        except ServiceError as exc:
            severity, message = "warning", str(exc)
        except Exception as exc:
            severity, message = "error", f"could not change {what}: {exc}"
        with contextlib.suppress(RuntimeError):
            self.app.call_from_thread(self._finished, message, severity, changed)

    def _finished(self, message: str, severity: str, changed: bool) -> None:
        self._actions_running -= 1
        self.say(message, severity)
        db_changed = getattr(self.app, "db_changed", None)
        if changed and callable(db_changed):
            db_changed()  # the inbox shows new assignees at once; this screen re-reads too
        else:
            self.load()

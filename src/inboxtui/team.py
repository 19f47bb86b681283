"""The team: roles and agents from TOML, and who may move which conversation.

Team file (`inboxtui team import team.toml`)::

    lead_role = "lead"            # agents in this role may reassign anything

    [[role]]
    name = "support"
    description = "billing and account questions"

    [[agent]]
    handle = "alice"
    name = "Alice Chen"
    roles = ["support", "lead"]
    capacity = 20                 # open conversations auto-assignment may give her
    on_duty = true                # false: away, auto-assignment skips her

Importing adds and updates; it never deletes a role or an agent (conversations
and the audit log refer to them). Every change is an audit event.

Permissions (`Permissions`): until some agent is in the lead role the team is
not configured and everything stays allowed, so a fresh install, the demo and
teams that only use roles as queues work as before (enforcing with no lead
would leave nobody able to reassign anything). Once a team exists, a lead
may assign and unassign anything; other agents may take an unassigned
conversation in one of their roles (or one with no role) and hand back their
own. `system:*` actors (rules, the poller) are
never refused. Every refusal is a `PermissionDenied` that says why.
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import delete, select
from sqlmodel import Session

from inboxtui import sla
from inboxtui.db import Database
from inboxtui.identity import is_system
from inboxtui.models import PRIORITY_RANK, Agent, AgentRole, Role, SlaPolicy
from inboxtui.services import audit
from inboxtui.services.errors import NotFound, PermissionDenied, ServiceError
from inboxtui.text import sanitize
from inboxtui.timeutil import utcnow

DEFAULT_LEAD_ROLE = "lead"
_ROLE_KEYS = {"name", "description", "sla"}
_AGENT_KEYS = {"handle", "name", "display_name", "roles", "capacity", "on_duty", "status"}
_TOP_KEYS = {"lead_role", "role", "agent", "sla"}


class TeamError(ServiceError):
    """A team file that cannot be used: names the file, the entry and the field."""


@dataclass(frozen=True)
class RoleSpec:
    name: str
    description: str | None = None
    sla: str | None = None  # the SLA policy's name


@dataclass(frozen=True)
class AgentSpec:
    handle: str
    display_name: str | None = None
    roles: tuple[str, ...] = ()
    capacity: int | None = None
    on_duty: bool = True


@dataclass(frozen=True)
class TeamConfig:
    lead_role: str = DEFAULT_LEAD_ROLE
    roles: tuple[RoleSpec, ...] = ()
    agents: tuple[AgentSpec, ...] = ()
    policies: tuple[sla.Policy, ...] = ()


# ---------------------------------------------------------------- parsing


def _role_name(value: Any, where: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise TeamError(f"{where}: must be a non-empty text")
    name = sanitize(value).strip().lower()
    if any(ch.isspace() for ch in name):
        raise TeamError(f"{where}: role names cannot contain spaces: {value!r}")
    return name


def _text(value: Any, where: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise TeamError(f"{where}: must be a text, not {type(value).__name__}")
    return sanitize(value).strip() or None


def _unknown(entry: dict[str, Any], allowed: set[str], where: str) -> None:
    extra = sorted(set(entry) - allowed)
    if extra:
        raise TeamError(
            f"{where}: unknown field '{extra[0]}' (fields: {', '.join(sorted(allowed))})"
        )


def _parse_role(entry: Any, where: str) -> RoleSpec:
    if not isinstance(entry, dict):
        raise TeamError(f"{where}: must be a table ([[role]])")
    _unknown(entry, _ROLE_KEYS, where)
    if "name" not in entry:
        raise TeamError(f"{where}: field 'name' is required")
    name = _role_name(entry["name"], f"{where}: field 'name'")
    where = f"{where} ({name})"
    policy = _text(entry.get("sla"), f"{where}: field 'sla'")
    return RoleSpec(name, _text(entry.get("description"), f"{where}: field 'description'"), policy)


def _parse_policy(entry: Any, where: str) -> sla.Policy:
    if not isinstance(entry, dict):
        raise TeamError(f"{where}: must be a table ([[sla]])")
    allowed = {"name", "timezone", "business_hours", *PRIORITY_RANK}
    _unknown(entry, allowed, where)
    name = _text(entry.get("name"), f"{where}: field 'name'")
    if name is None:
        raise TeamError(f"{where}: field 'name' is required")
    try:
        return sla.parse_policy(name, entry, f"{where} ({name})")
    except sla.PolicyError as exc:
        raise TeamError(str(exc)) from None


def _parse_agent(entry: Any, where: str) -> AgentSpec:
    if not isinstance(entry, dict):
        raise TeamError(f"{where}: must be a table ([[agent]])")
    _unknown(entry, _AGENT_KEYS, where)
    handle = entry.get("handle")
    if not isinstance(handle, str) or not handle.strip():
        raise TeamError(f"{where}: field 'handle' is required (a non-empty text)")
    handle = sanitize(handle).strip()
    where = f"{where} ({handle})"
    display = _text(entry.get("name", entry.get("display_name")), f"{where}: field 'name'")
    roles = entry.get("roles", [])
    if not isinstance(roles, list):
        raise TeamError(f"{where}: field 'roles' must be a list of role names")
    names = tuple(
        dict.fromkeys(
            _role_name(r, f"{where}: field 'roles' item {i + 1}") for i, r in enumerate(roles)
        )
    )
    capacity = entry.get("capacity")
    if capacity is not None and (
        isinstance(capacity, bool) or not isinstance(capacity, int) or capacity < 0
    ):
        raise TeamError(f"{where}: field 'capacity' must be a whole number >= 0, not {capacity!r}")
    on_duty = entry.get("on_duty", True)
    status = entry.get("status")
    if status is not None:
        if status not in ("on_duty", "away"):
            raise TeamError(
                f'{where}: field \'status\' must be "on_duty" or "away", not {status!r}'
            )
        on_duty = status == "on_duty"
    if not isinstance(on_duty, bool):
        raise TeamError(f"{where}: field 'on_duty' must be true or false, not {on_duty!r}")
    return AgentSpec(handle, display, names, capacity, on_duty)


def parse_team(text: str, source: str = "<team>") -> TeamConfig:
    """Parse and check a team file; errors start with `source` and name entry and field."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise TeamError(f"{source}: not valid TOML: {exc}") from None
    extra = sorted(set(data) - _TOP_KEYS)
    if extra:
        raise TeamError(
            f"{source}: unknown key '{extra[0]}' (keys: lead_role, [[role]], [[agent]])"
        )
    lead = _role_name(data.get("lead_role", DEFAULT_LEAD_ROLE), f"{source}: 'lead_role'")
    role_entries = data.get("role", [])
    agent_entries = data.get("agent", [])
    if not isinstance(role_entries, list) or not isinstance(agent_entries, list):
        raise TeamError(f"{source}: write roles as [[role]] and agents as [[agent]]")
    roles = [_parse_role(e, f"{source}: [[role]] #{i + 1}") for i, e in enumerate(role_entries)]
    sla_entries = data.get("sla", [])
    if not isinstance(sla_entries, list):
        raise TeamError(f"{source}: write SLA policies as [[sla]]")
    policies = [_parse_policy(e, f"{source}: [[sla]] #{i + 1}") for i, e in enumerate(sla_entries)]
    names = [p.name for p in policies]
    for i, role in enumerate(roles):
        if role.sla is not None and role.sla not in names:
            raise TeamError(
                f"{source}: [[role]] #{i + 1} ({role.name}): field 'sla': no [[sla]] named "
                f"'{role.sla}' (policies: {', '.join(names) or 'none'})"
            )
    agents = [_parse_agent(e, f"{source}: [[agent]] #{i + 1}") for i, e in enumerate(agent_entries)]
    seen: set[str] = set()
    for i, role in enumerate(roles):
        if role.name in seen:
            raise TeamError(f"{source}: [[role]] #{i + 1}: role '{role.name}' is listed twice")
        seen.add(role.name)
    handles: set[str] = set()
    for i, agent in enumerate(agents):
        if agent.handle in handles:
            raise TeamError(f"{source}: [[agent]] #{i + 1}: agent '{agent.handle}' is listed twice")
        handles.add(agent.handle)
    return TeamConfig(lead, tuple(roles), tuple(agents), tuple(policies))


def load_team(path: str | Path) -> TeamConfig:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise TeamError(f"{path}: cannot read: {exc.strerror or exc}") from None
    return parse_team(text, str(path))


# ---------------------------------------------------------------- import / export


@dataclass
class ImportReport:
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: int = 0


def _role_rows(session: Session) -> dict[str, Role]:
    return {r.name: r for r in session.execute(select(Role)).scalars()}


def _agent_roles(session: Session, agent_id: int) -> list[str]:
    stmt = (
        select(Role.name)
        .join(AgentRole, AgentRole.role_id == Role.id)
        .where(AgentRole.agent_id == agent_id)
        .order_by(Role.name)
    )
    return list(session.execute(stmt).scalars())


def import_team(
    db: Database, config: TeamConfig, *, actor: str, source: str = "<team>"
) -> ImportReport:
    """Create or update the file's roles and agents in one transaction (all or nothing)."""
    from inboxtui.services.triage import _ensure_actor

    report = ImportReport()
    with db.write() as session:
        _ensure_actor(session, actor)
        roles = _role_rows(session)
        known = set(roles) | {r.name for r in config.roles} | {config.lead_role}
        for i, spec in enumerate(config.agents):
            for name in spec.roles:
                if name not in known:
                    raise TeamError(
                        f"{source}: [[agent]] #{i + 1} ({spec.handle}): field 'roles': "
                        f"no role '{name}' (add a [[role]] for it)"
                    )
        policy_ids, changed_policies = _import_policies(session, config.policies, actor, report)
        touched: set[int] = set()  # roles whose conversations' deadlines must be recomputed
        wanted = {r.name: r for r in config.roles}
        if config.lead_role not in wanted and config.lead_role not in roles:
            wanted[config.lead_role] = RoleSpec(
                config.lead_role, "may reassign anyone's conversations"
            )
        for spec in wanted.values():
            is_lead = spec.name == config.lead_role
            role = roles.get(spec.name)
            policy_id = policy_ids.get(spec.sla) if spec.sla else None
            if role is None:
                role = Role(
                    name=spec.name,
                    description=spec.description,
                    is_lead=is_lead,
                    sla_policy_id=policy_id,
                )
                session.add(role)
                session.flush()
                roles[spec.name] = role
                report.created.append(f"role {spec.name}")
                created = {"role": spec.name, "description": spec.description, "lead": is_lead}
                audit.record_setting(
                    session, actor, "role.create", None, {**created, "sla": spec.sla}
                )
                continue
            names = {i: n for n, i in policy_ids.items()}
            before = {
                "description": role.description,
                "lead": role.is_lead,
                "sla": names.get(role.sla_policy_id) if role.sla_policy_id else None,
            }
            after = {"description": spec.description, "lead": is_lead, "sla": spec.sla}
            if spec.name not in {r.name for r in config.roles}:
                after["description"] = role.description  # only the lead flag was implied
                after["sla"] = before["sla"]
            if role.sla_policy_id in changed_policies:
                touched.add(role.id)  # type: ignore[arg-type]
            if before != after:
                if before["sla"] != after["sla"]:
                    role.sla_policy_id = policy_ids.get(after["sla"]) if after["sla"] else None
                    touched.add(role.id)  # type: ignore[arg-type]
                role.description, role.is_lead = after["description"], is_lead
                report.updated.append(f"role {spec.name}")
                audit.record_setting(
                    session,
                    actor,
                    "role.update",
                    {"role": spec.name, **before},
                    {"role": spec.name, **after},
                )
            else:
                report.unchanged += 1
        for other in roles.values():  # one lead role: the file's
            if other.is_lead and other.name != config.lead_role:
                other.is_lead = False
                report.updated.append(f"role {other.name}")
                was, now = {"role": other.name, "lead": True}, {"role": other.name, "lead": False}
                audit.record_setting(session, actor, "role.update", was, now)
        session.flush()
        for spec in config.agents:
            _import_agent(session, spec, roles, actor, report)
        _refresh_roles(session, touched)
    return report


def _import_policies(
    session: Session, policies: Iterable[sla.Policy], actor: str, report: ImportReport
) -> tuple[dict[str, int], set[int]]:
    """Create/update SLA policies: (name -> id of every stored one, ids whose targets changed)."""
    stored = {p.name: p for p in session.execute(select(SlaPolicy)).scalars()}
    changed: set[int] = set()
    for policy in policies:
        values = sla.to_row(policy)
        row = stored.get(policy.name)
        if row is None:
            row = SlaPolicy(**values, created_at=utcnow())
            session.add(row)
            session.flush()
            stored[policy.name] = row
            report.created.append(f"sla {policy.name}")
            audit.record_setting(session, actor, "sla.create", None, sla.to_toml_entry(policy))
            continue
        old = {k: getattr(row, k) for k in values}
        if old != values:
            was = sla.to_toml_entry(sla.from_row(row))
            for key, value in values.items():
                setattr(row, key, value)
            assert row.id is not None
            changed.add(row.id)
            report.updated.append(f"sla {policy.name}")
            audit.record_setting(session, actor, "sla.update", was, sla.to_toml_entry(policy))
    session.flush()
    return {name: row.id for name, row in stored.items() if row.id is not None}, changed


def _refresh_roles(session: Session, role_ids: set[int]) -> None:
    """Deadlines of the open conversations of roles whose SLA policy changed."""
    if not role_ids:
        return
    from inboxtui.models import Conversation, Status

    stmt = select(Conversation.id).where(
        Conversation.role_id.in_(sorted(role_ids)),  # type: ignore[union-attr]
        Conversation.status != Status.RESOLVED.value,
    )
    ids = list(session.execute(stmt).scalars())
    for start in range(0, len(ids), 1000):
        sla.refresh(session, ids[start : start + 1000])


def _agent_state(agent: Agent, roles: list[str]) -> dict[str, Any]:
    return {
        "display_name": agent.display_name,
        "roles": roles,
        "capacity": agent.capacity,
        "on_duty": agent.on_duty,
    }


def _import_agent(
    session: Session, spec: AgentSpec, roles: dict[str, Role], actor: str, report: ImportReport
) -> None:
    agent = session.execute(select(Agent).where(Agent.handle == spec.handle)).scalar_one_or_none()
    after = {
        "display_name": spec.display_name,
        "roles": sorted(spec.roles),
        "capacity": spec.capacity,
        "on_duty": spec.on_duty,
    }
    if agent is None:
        agent = Agent(
            handle=spec.handle,
            display_name=spec.display_name,
            capacity=spec.capacity,
            on_duty=spec.on_duty,
            created_at=utcnow(),
        )
        session.add(agent)
        session.flush()
        before = None
        report.created.append(f"agent {spec.handle}")
    else:
        assert agent.id is not None
        before = _agent_state(agent, _agent_roles(session, agent.id))
        if before == after:
            report.unchanged += 1
            return
        agent.display_name, agent.capacity, agent.on_duty = (
            spec.display_name,
            spec.capacity,
            spec.on_duty,
        )
        report.updated.append(f"agent {spec.handle}")
    assert agent.id is not None
    session.execute(delete(AgentRole).where(AgentRole.agent_id == agent.id))  # type: ignore[arg-type]
    for name in sorted(spec.roles):
        session.add(AgentRole(agent_id=agent.id, role_id=roles[name].id))
    session.flush()
    action = "agent.create" if before is None else "agent.update"
    was = None if before is None else {"agent": spec.handle, **before}
    audit.record_setting(session, actor, action, was, {"agent": spec.handle, **after})


def read_team(session: Session) -> TeamConfig:
    """The team as stored (every role and agent), in the import format's shape."""
    role_rows = list(session.execute(select(Role).order_by(Role.name)).scalars())
    lead = next((r.name for r in role_rows if r.is_lead), DEFAULT_LEAD_ROLE)
    agents = []
    for agent in session.execute(select(Agent).order_by(Agent.handle)).scalars():
        assert agent.id is not None
        agents.append(
            AgentSpec(
                agent.handle,
                agent.display_name,
                tuple(_agent_roles(session, agent.id)),
                agent.capacity,
                agent.on_duty,
            )
        )
    policy_rows = list(session.execute(select(SlaPolicy).order_by(SlaPolicy.name)).scalars())
    names = {p.id: p.name for p in policy_rows}
    roles = tuple(
        RoleSpec(r.name, r.description, names.get(r.sla_policy_id) if r.sla_policy_id else None)
        for r in role_rows
    )
    policies = tuple(sla.from_row(p) for p in policy_rows)
    return TeamConfig(lead, roles, tuple(agents), policies)


def _toml(value: Any) -> str:
    """A TOML value: JSON strings are valid TOML basic strings (escapes included)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {_toml(v)}" for k, v in value.items()) + " }"
    if isinstance(value, int):
        return str(value)
    return json.dumps(str(value), ensure_ascii=False)


def dump_team(config: TeamConfig) -> str:
    """TOML that `parse_team` reads back to the same `TeamConfig`."""
    lines = [f"lead_role = {_toml(config.lead_role)}"]
    for policy in config.policies:
        lines += ["", "[[sla]]"]
        lines += [f"{k} = {_toml(v)}" for k, v in sla.to_toml_entry(policy).items()]
    for role in config.roles:
        lines += ["", "[[role]]", f"name = {_toml(role.name)}"]
        if role.description is not None:
            lines.append(f"description = {_toml(role.description)}")
        if role.sla is not None:
            lines.append(f"sla = {_toml(role.sla)}")
    for agent in config.agents:
        lines += ["", "[[agent]]", f"handle = {_toml(agent.handle)}"]
        if agent.display_name is not None:
            lines.append(f"name = {_toml(agent.display_name)}")
        lines.append(f"roles = {_toml(list(agent.roles))}")
        if agent.capacity is not None:
            lines.append(f"capacity = {agent.capacity}")
        lines.append(f"on_duty = {_toml(agent.on_duty)}")
    return "\n".join(lines) + "\n"


def export_team(db: Database) -> str:
    with db.read() as session:
        return dump_team(read_team(session))


def set_agent(
    db: Database,
    handle: str,
    *,
    actor: str,
    capacity: int | None = None,
    clear_capacity: bool = False,
    on_duty: bool | None = None,
) -> bool:
    """Change an agent's capacity or duty (audited). Rebalances nothing: see `routing.rebalance`."""
    from inboxtui.services.triage import _ensure_actor

    if capacity is not None and capacity < 0:
        raise ServiceError(f"capacity must be >= 0, not {capacity}")
    with db.write() as session:
        _ensure_actor(session, actor)
        agent = session.execute(select(Agent).where(Agent.handle == handle)).scalar_one_or_none()
        if agent is None:
            raise NotFound(f"no agent '{handle}'")
        assert agent.id is not None
        roles = _agent_roles(session, agent.id)
        before = _agent_state(agent, roles)
        if capacity is not None or clear_capacity:
            agent.capacity = capacity
        if on_duty is not None:
            agent.on_duty = on_duty
        after = _agent_state(agent, roles)
        if before == after:
            return False
        changed = [k for k in before if before[k] != after[k]]
        was = {"agent": handle, **{k: before[k] for k in changed}}
        audit.record_setting(
            session, actor, "agent.update", was, {"agent": handle, **{k: after[k] for k in changed}}
        )
        return True


# ---------------------------------------------------------------- permissions


def team_configured(session: Session) -> bool:
    """True once some agent is in a lead role: before that, nothing is refused.

    Not "once anyone has a role": enforcing without a lead would leave nobody
    able to reassign anything, and roles alone predate permissions.
    """
    stmt = (
        select(AgentRole.agent_id)
        .join(Role, Role.id == AgentRole.role_id)
        .where(Role.is_lead.is_(True))  # type: ignore[attr-defined]
        .limit(1)
    )
    return session.execute(stmt).first() is not None


@dataclass(frozen=True)
class Permissions:
    """What one actor may do, read once per transaction (`for_actor`)."""

    actor: str
    enforced: bool
    lead: bool
    role_ids: frozenset[int]
    role_names: tuple[str, ...]

    @classmethod
    def for_actor(cls, session: Session, actor: str) -> Permissions:
        if is_system(actor) or not team_configured(session):
            return cls(actor, False, True, frozenset(), ())
        stmt = (
            select(Role.id, Role.name, Role.is_lead)
            .join(AgentRole, AgentRole.role_id == Role.id)
            .join(Agent, Agent.id == AgentRole.agent_id)
            .where(Agent.handle == actor)
            .order_by(Role.name)
        )
        rows = list(session.execute(stmt))
        lead = any(bool(r.is_lead) for r in rows)
        return cls(actor, True, lead, frozenset(r.id for r in rows), tuple(r.name for r in rows))

    @property
    def unrestricted(self) -> bool:
        return not self.enforced or self.lead

    def _yours(self) -> str:
        return ", ".join(self.role_names) if self.role_names else "no roles"

    def check_assign(
        self,
        conversation_id: int,
        *,
        current_role: tuple[int | None, str | None],
        current_agent: str | None,
        new_role: tuple[int | None, str | None] | None,
        new_agent: str | None,
    ) -> None:
        """Raise `PermissionDenied` (saying why) unless this actor may make the change."""
        if self.unrestricted:
            return
        me = f"#{conversation_id}"
        if (
            new_role is not None
            and new_role[0] != current_role[0]
            and (current_role[0] is not None or new_role[0] not in self.role_ids)
        ):
            raise PermissionDenied(
                f"{me}: only a lead may route it to role {new_role[1]} "
                f"(you are in: {self._yours()})"
            )
        if new_agent is None:
            return
        if new_agent != self.actor:
            raise PermissionDenied(
                f"{me}: only a lead may assign conversations to others ({new_agent}); "
                "you may take unassigned ones yourself"
            )
        if current_agent is not None and current_agent != self.actor:
            raise PermissionDenied(
                f"{me} is assigned to {current_agent}; only a lead may reassign it"
            )
        role_id, role_name = new_role if new_role is not None else current_role
        if role_id is not None and role_id not in self.role_ids:
            raise PermissionDenied(
                f"{me} is in role {role_name}; you may take conversations in: {self._yours()}"
            )

    def check_unassign(
        self, conversation_id: int, *, current_agent: str | None, clear_role: bool
    ) -> None:
        if self.unrestricted:
            return
        me = f"#{conversation_id}"
        if current_agent is not None and current_agent != self.actor:
            raise PermissionDenied(
                f"{me} is assigned to {current_agent}; only a lead may unassign it"
            )
        if clear_role:
            raise PermissionDenied(f"{me}: only a lead may take it out of its role")


def role_members(session: Session, role_names: Iterable[str]) -> dict[str, list[str]]:
    """Role name -> member handles (for listings)."""
    stmt = (
        select(Role.name, Agent.handle)
        .join(AgentRole, AgentRole.role_id == Role.id)
        .join(Agent, Agent.id == AgentRole.agent_id)
        .where(Role.name.in_(list(role_names)))  # type: ignore[attr-defined]
        .order_by(Role.name, Agent.handle)
    )
    out: dict[str, list[str]] = {}
    for role, handle in session.execute(stmt):
        out.setdefault(role, []).append(handle)
    return out


__all__ = [
    "DEFAULT_LEAD_ROLE",
    "AgentSpec",
    "ImportReport",
    "Permissions",
    "RoleSpec",
    "TeamConfig",
    "TeamError",
    "dump_team",
    "export_team",
    "import_team",
    "load_team",
    "parse_team",
    "read_team",
    "role_members",
    "set_agent",
    "team_configured",
]

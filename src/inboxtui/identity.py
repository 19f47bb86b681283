"""Who is acting: `--as NAME`, else `$INBOXTUI_AGENT`, else the OS user.

Audit events name the actor; automatic changes use `system:<component>`.
"""

from __future__ import annotations

import getpass
import os


def current_agent_handle(explicit: str | None = None) -> str:
    for candidate in (explicit, os.environ.get("INBOXTUI_AGENT")):
        if candidate and candidate.strip():
            return candidate.strip()
    try:
        return getpass.getuser()
    except Exception:  # no passwd entry (containers): still someone
        return "agent"


def is_system(actor: str) -> bool:
    return actor.startswith("system:")

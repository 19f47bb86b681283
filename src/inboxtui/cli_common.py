"""What every CLI module needs: the database, who is acting, JSON lines, user errors.

One place, so `inboxtui source ...`, `view ...`, `reply ...` and the rest open
the database, name the actor and print JSON the same way.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any, TextIO

from inboxtui.db import Database, open_database
from inboxtui.identity import current_agent_handle

EXIT_OK = 0
EXIT_FAILURE = 1  # the command ran but something failed (some import lines, conflicts)
EXIT_USAGE = 2  # the user asked for something impossible (bad query, unknown id, bad args)


class UserError(Exception):
    """A mistake the user can fix; printed without a traceback."""


def open_db(args: argparse.Namespace) -> Database:
    return open_database(args.db)


def actor(args: argparse.Namespace) -> str:
    return current_agent_handle(args.as_agent)


def emit_json(obj: Any, out: TextIO | None = None) -> None:
    """One JSON object per line; non-ASCII kept (Chinese stays readable)."""
    (out or sys.stdout).write(json.dumps(obj, ensure_ascii=False, default=str) + "\n")

"""Errors the services raise: their messages are shown to users as they are.

The CLI prints `str(error)` and exits non-zero; the TUI shows it in a
notification. So every message names the thing and says what to do, and no
traceback is ever needed to understand it.
"""

from __future__ import annotations


class ServiceError(Exception):
    """A request that cannot be done; the message is for the user."""

    @property
    def message(self) -> str:
        return str(self)


class NotFound(ServiceError):
    """A conversation, role, agent or tag named by the user does not exist."""


class ConflictError(ServiceError):
    """Someone else changed the conversation since the caller loaded it; nothing was written."""

    def __init__(
        self,
        message: str,
        *,
        conversation_id: int,
        changed_by: list[str] | None = None,
        current_version: int | None = None,
    ) -> None:
        super().__init__(message)
        self.conversation_id = conversation_id
        self.changed_by = list(changed_by or [])
        self.current_version = current_version


class PermissionDenied(ServiceError):
    """The acting agent may not do this (unused until roles gain permissions)."""


__all__ = ["ConflictError", "NotFound", "PermissionDenied", "ServiceError"]

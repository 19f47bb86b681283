"""Tokens and passwords: in the OS keyring, or in the environment; never in the database.

The database and config hold only a *name* (`Source.secret_ref`). The value is
looked up here: `INBOXTUI_SECRET_<NAME>` first (headless servers, containers,
CI), then the keyring entry (service "inboxtui", user NAME). On a machine with
no keyring backend, storing fails with a message naming the variable to set
instead, rather than silently writing the secret somewhere weaker.

`redact` is the last line of defence: every error text that may have seen a
secret (HTTP error bodies, exception messages) goes through it before it is
stored, logged or printed.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable
from urllib.parse import quote, quote_plus

import keyring
import keyring.errors
from keyring.backend import KeyringBackend

from inboxtui.services.errors import ServiceError

SERVICE = "inboxtui"
ENV_PREFIX = "INBOXTUI_SECRET_"
MASK = "[secret]"


class SecretError(ServiceError):
    """A secret cannot be stored or read; the message says why and what to do instead."""


def env_var_name(name: str) -> str:
    """`acme-social` -> `INBOXTUI_SECRET_ACME_SOCIAL` (every non-alphanumeric char -> `_`)."""
    return ENV_PREFIX + re.sub(r"[^A-Za-z0-9]", "_", name).upper()


def _usable(backend: KeyringBackend) -> bool:
    """False for the `fail` backend and for a chainer with nothing to chain."""
    from keyring.backends import chainer, fail

    if isinstance(backend, fail.Keyring):
        return False
    if isinstance(backend, chainer.ChainerBackend):
        return any(_usable(b) for b in backend.backends)
    return True


def keyring_backend() -> KeyringBackend | None:
    """The active keyring backend, or None where there is none (a headless server)."""
    backend = keyring.get_keyring()
    return backend if _usable(backend) else None


def _no_backend(name: str) -> str:
    return (
        "no keyring backend is available on this machine (headless server?), so the secret "
        f"cannot be stored. Set the environment variable {env_var_name(name)} for the "
        "processes that poll instead, or install a keyring backend (e.g. keyrings.alt)"
    )


def set_secret(name: str, value: str) -> None:
    if not name:
        raise SecretError("a secret needs a name (the source name)")
    if not value:
        raise SecretError(f"empty secret for {name!r}: nothing stored")
    if keyring_backend() is None:
        raise SecretError(_no_backend(name))
    try:
        keyring.set_password(SERVICE, name, value)
    except keyring.errors.KeyringError as exc:
        raise SecretError(
            f"the keyring refused to store the secret for {name!r} ({type(exc).__name__}); "
            f"unlock it, or set {env_var_name(name)} instead"
        ) from None


def env_secret(name: str) -> str | None:
    value = os.environ.get(env_var_name(name))
    return value or None


def get_secret(name: str) -> str | None:
    """The environment variable if set, else the keyring entry, else None."""
    value = env_secret(name)
    if value is not None:
        return value
    if keyring_backend() is None:
        return None
    try:
        return keyring.get_password(SERVICE, name)
    except keyring.errors.KeyringError as exc:
        raise SecretError(
            f"the keyring could not be read for {name!r} ({type(exc).__name__}); "
            f"unlock it, or set {env_var_name(name)} instead"
        ) from None


def delete_secret(name: str) -> bool:
    """Remove the keyring entry; False when there was none (or no keyring at all)."""
    if keyring_backend() is None:
        return False
    try:
        keyring.delete_password(SERVICE, name)
    except keyring.errors.PasswordDeleteError:
        return False
    except keyring.errors.KeyringError as exc:
        raise SecretError(
            f"the keyring refused to delete the secret for {name!r} ({type(exc).__name__})"
        ) from None
    return True


def _parts(secret: str) -> list[str]:
    """The secret, and each string inside it when it is a JSON object (Reddit's secret)."""
    parts = [secret]
    if secret.lstrip().startswith("{"):
        try:
            data = json.loads(secret)
        except ValueError:
            data = None
        if isinstance(data, dict):
            parts += [str(v) for v in data.values() if isinstance(v, (str, int)) and v != ""]
    # longest first, so a part inside a longer form never leaves a tail behind
    return sorted({p for p in parts if len(p) >= 4}, key=len, reverse=True)


def redact(text: str, secrets: Iterable[str | None]) -> str:
    """`text` with every secret (as is, URL-encoded, JSON-escaped) replaced by a mask.

    Secrets shorter than 4 characters are left alone: masking "a" everywhere
    would destroy the text, and no real token is that short.
    """
    for secret in secrets:
        if not secret:
            continue
        for part in _parts(secret):
            forms = {part, quote(part), quote(part, safe=""), quote_plus(part)}
            forms.add(json.dumps(part)[1:-1])
            for form in sorted(forms, key=len, reverse=True):
                text = text.replace(form, MASK)
    return text


__all__ = [
    "ENV_PREFIX",
    "MASK",
    "SERVICE",
    "SecretError",
    "delete_secret",
    "env_secret",
    "env_var_name",
    "get_secret",
    "keyring_backend",
    "redact",
    "set_secret",
]

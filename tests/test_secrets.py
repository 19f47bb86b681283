"""Secrets: a real (file-backed) keyring backend, the environment fallback, headless hosts."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import keyring
import keyring.errors
import pytest
from keyring.backend import KeyringBackend
from keyring.backends import chainer
from keyring.compat import properties
from polling_support import FileKeyring, headless_keyring, installed_keyring

from inboxtui import secrets
from inboxtui.secrets import SecretError


@pytest.fixture
def file_keyring(tmp_path: Path) -> Iterator[FileKeyring]:
    with installed_keyring(FileKeyring(tmp_path / "keyring.json")) as backend:
        yield backend


@pytest.fixture
def no_keyring() -> Iterator[None]:
    with installed_keyring(headless_keyring()):
        yield


class LockedKeyring(FileKeyring):
    def set_password(self, service: str, username: str, password: str) -> None:
        raise keyring.errors.KeyringLocked(f"locked while storing {password}")


class EmptyChainer(chainer.ChainerBackend):
    """What keyring falls back to on a host with no usable backend at all.

    (Its priority, computed from no backends, is below `fail`'s: never auto-chosen.)
    """

    @properties.classproperty
    def backends(cls) -> list[KeyringBackend]:
        return []


def test_env_var_name_maps_every_other_character_to_underscore() -> None:
    assert secrets.env_var_name("acme-social") == "INBOXTUI_SECRET_ACME_SOCIAL"
    assert secrets.env_var_name("r/acme.news") == "INBOXTUI_SECRET_R_ACME_NEWS"
    assert secrets.env_var_name("bob@mastodon:443") == "INBOXTUI_SECRET_BOB_MASTODON_443"


def test_set_get_delete_in_the_keyring(file_keyring: FileKeyring) -> None:
    assert secrets.get_secret("acme-social") is None
    secrets.set_secret("acme-social", "tok-123456")
    assert secrets.get_secret("acme-social") == "tok-123456"
    assert "tok-123456" in file_keyring.path.read_text()  # it really went to the backend
    assert secrets.delete_secret("acme-social") is True
    assert secrets.get_secret("acme-social") is None
    assert secrets.delete_secret("acme-social") is False


def test_environment_is_checked_first(
    file_keyring: FileKeyring, monkeypatch: pytest.MonkeyPatch
) -> None:
    secrets.set_secret("acme-social", "from-keyring")
    monkeypatch.setenv("INBOXTUI_SECRET_ACME_SOCIAL", "from-env")
    assert secrets.get_secret("acme-social") == "from-env"
    monkeypatch.setenv("INBOXTUI_SECRET_ACME_SOCIAL", "")  # empty means unset
    assert secrets.get_secret("acme-social") == "from-keyring"


def test_headless_host_says_so_and_names_the_variable(
    no_keyring: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert secrets.keyring_backend() is None
    with pytest.raises(SecretError) as caught:
        secrets.set_secret("acme-social", "tok-123456")
    message = str(caught.value)
    assert "no keyring backend" in message
    assert "INBOXTUI_SECRET_ACME_SOCIAL" in message
    assert "tok-123456" not in message
    assert secrets.get_secret("acme-social") is None
    assert secrets.delete_secret("acme-social") is False
    monkeypatch.setenv("INBOXTUI_SECRET_ACME_SOCIAL", "env-token")
    assert secrets.get_secret("acme-social") == "env-token"


def test_a_chainer_with_nothing_to_chain_counts_as_no_backend() -> None:
    with installed_keyring(EmptyChainer()):
        assert secrets.keyring_backend() is None
        with pytest.raises(SecretError, match="no keyring backend"):
            secrets.set_secret("x-source", "value-1234")


def test_keyring_refusal_is_clear_and_does_not_echo_the_secret(tmp_path: Path) -> None:
    with (
        installed_keyring(LockedKeyring(tmp_path / "k.json")),
        pytest.raises(SecretError) as caught,
    ):
        secrets.set_secret("acme-social", "tok-123456")
    assert "KeyringLocked" in str(caught.value)
    assert "tok-123456" not in str(caught.value)
    assert "INBOXTUI_SECRET_ACME_SOCIAL" in str(caught.value)


def test_empty_secret_is_refused(file_keyring: FileKeyring) -> None:
    with pytest.raises(SecretError, match="empty"):
        secrets.set_secret("acme-social", "")


def test_redact_masks_plain_encoded_and_json_parts() -> None:
    token = "s3cr3t/to+ken=="
    text = f"a {token} b s3cr3t%2Fto%2Bken%3D%3D c s3cr3t/to%2Bken%3D%3D"
    masked = secrets.redact(text, [token])
    assert "s3cr3t" not in masked
    assert masked.count(secrets.MASK) == 3
    reddit = json.dumps({"client_secret": "cs-abcdef", "password": "pw-ghijkl"})
    leaked = "refused: client cs-abcdef with password pw-ghijkl"
    masked = secrets.redact(leaked, [reddit])
    assert "cs-abcdef" not in masked and "pw-ghijkl" not in masked
    assert secrets.redact("nothing here", [None, ""]) == "nothing here"

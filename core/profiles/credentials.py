"""Passwords live in the OS keychain (``keyring``), never in a config file or a log."""

from __future__ import annotations

import logging

import keyring
from keyring.errors import KeyringError, NoKeyringError, PasswordDeleteError

log = logging.getLogger(__name__)

SERVICE = "eventscope"


class CredentialError(RuntimeError):
    """The keychain could not store or read a password; the message says why."""


def _account(profile_name: str, username: str) -> str:
    return f"{profile_name}:{username}"


def save_password(profile_name: str, username: str, password: str) -> None:
    try:
        keyring.set_password(SERVICE, _account(profile_name, username), password)
    except NoKeyringError as exc:
        raise CredentialError("No OS keychain is available: the password is kept for this session only") from exc
    except KeyringError as exc:
        raise CredentialError(f"The OS keychain refused to store the password: {exc}") from exc


def load_password(profile_name: str, username: str) -> str | None:
    try:
        return keyring.get_password(SERVICE, _account(profile_name, username))
    except KeyringError as exc:
        log.warning("keychain unavailable: %s", type(exc).__name__)
        return None


def forget_password(profile_name: str, username: str) -> None:
    try:
        keyring.delete_password(SERVICE, _account(profile_name, username))
    except (PasswordDeleteError, KeyringError):
        pass

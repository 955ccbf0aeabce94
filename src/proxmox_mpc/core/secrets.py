"""Which Proxmox keys hold secrets: the one rule for the state store, traces and printed requests."""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from typing import Any

# What stands for a secret in a stored config; PVE itself answers `cipassword` with the same mask.
MASK = "**********"
# What stands for a secret in text meant for people (dry runs, debug traces, journals).
SHOWN = "<redacted>"
SECRET_WORDS = ("password", "secret", "token")
# Public keys are no secret, but long URL-encoded blobs: printed output leaves them out as well.
SSH_KEY_PARAMS = frozenset({"sshkeys", "ssh-public-keys"})


# Parameters that hold a secret without saying so (a storage's PBS encryption key, a Ceph keyring).
SECRET_PARAMS = frozenset({"encryption-key", "keyring"})


@functools.lru_cache(maxsize=4096)  # a fleet's configs repeat the same few dozen keys
def is_secret_key(key: str) -> bool:
    """Return True for a config key or request parameter that holds a secret (cipassword, password...)."""
    lowered = key.lower()
    return lowered in SECRET_PARAMS or any(word in lowered for word in SECRET_WORDS)


def redact_config(config: Mapping[str, Any]) -> dict[str, Any]:
    """Return a guest config fit for the store: secrets replaced, PVE's `digest` removed."""
    return {k: (MASK if is_secret_key(k) else v) for k, v in config.items() if k != "digest"}


def hidden_in_output(key: str) -> bool:
    """Return True for a parameter that printed output replaces: secrets and SSH public keys."""
    return is_secret_key(key) or key.lower() in SSH_KEY_PARAMS


def for_output(values: Mapping[str, Any]) -> dict[str, Any]:
    """Return parameters fit for printing: secrets and SSH keys replaced by SHOWN."""
    return {k: (SHOWN if hidden_in_output(k) else v) for k, v in values.items()}


# A manifest names a secret by the environment variable that holds it (`password_env: NAME`), never by value.
ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def check_env_name(value: str) -> str:
    """Return the name of an environment variable that holds a secret, or raise ValueError."""
    if not ENV_NAME.fullmatch(value):
        raise ValueError(f"{value!r} is not an environment variable name (letters, digits and _, not a digit first)")
    return value

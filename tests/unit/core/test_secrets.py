"""The one rule for secret keys: stored masked, printed redacted; SSH public keys only kept out of print."""

from __future__ import annotations

import pytest

from proxmox_mpc.core.secrets import SHOWN, for_output, hidden_in_output, is_secret_key, redact_config


@pytest.mark.parametrize(
    ("key", "secret", "hidden"),
    [
        ("cipassword", True, True),
        ("password", True, True),
        ("Token-Secret", True, True),
        ("sshkeys", False, True),
        ("ssh-public-keys", False, True),
        ("memory", False, False),
        ("tags", False, False),
    ],
    ids=lambda v: str(v),
)
def test_secret_keys(key, secret, hidden):
    assert is_secret_key(key) is secret
    assert hidden_in_output(key) is hidden


def test_for_output_replaces_only_hidden_values():
    assert for_output({"cipassword": "x", "sshkeys": "ssh-ed25519 AAA", "cores": 2}) == {
        "cipassword": SHOWN,
        "sshkeys": SHOWN,
        "cores": 2,
    }


@pytest.mark.parametrize(
    ("key", "secret"),
    [
        ("cipassword", True),
        ("password", True),
        ("token_secret", True),
        ("memory", False),
        ("sshkeys", False),
    ],
)
def test_redact_config(key, secret):
    out = redact_config({key: "value", "digest": "abc"})
    assert "digest" not in out
    assert (out[key] == "**********") is secret

"""PVE's property strings: the `agent` option, as `vm show` and `generate ansible` read it."""

from __future__ import annotations

import pytest

from proxmox_mpc.core.pveconfig import agent_enabled, parse_property_string


def test_a_property_string_keeps_its_leading_value_under_the_default_key() -> None:
    assert parse_property_string("1,fstrim_cloned_disks=1", default_key="enabled") == {
        "enabled": "1",
        "fstrim_cloned_disks": "1",
    }


@pytest.mark.parametrize(
    ("value", "enabled"),
    [
        (None, False),
        ("0", False),
        ("1", True),
        (1, True),
        ("enabled=1,fstrim_cloned_disks=1", True),
        ("fstrim_cloned_disks=1,enabled=1", True),
        ("fstrim_cloned_disks=1", False),  # the agent's other options alone leave it off
        ("enabled=0,type=virtio", False),
        ("yes", True),
    ],
)
def test_the_agent_option(value: object, enabled: bool) -> None:
    assert agent_enabled(value) is enabled

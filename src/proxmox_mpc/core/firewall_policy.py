"""The firewall policy of one level: the options and the ordered rules of the cluster, a node or a guest.

A policy's manifest name is its level: `cluster`, `node/pve1`, `vm/101` or `ct/201` (its address is
`firewall/` and the name). `options` and `rules` left out of a manifest are not managed; `rules: []`
asks for no rules at all. Option values compare as PVE means them: booleans as 0/1, numbers as
text, and an option PVE leaves out of its answer as its documented default.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import field_validator, model_validator

from proxmox_mpc.core.firewall import (
    LOG_LEVELS,
    FirewallModel,
    FirewallRule,
    check_rules,
    rule_from_api,
    rule_references,
)
from proxmox_mpc.core.identity import api_type


@dataclass(frozen=True)
class OptionSpec:
    """What an option takes: `bool` (0/1), `int`, one of `choices`, or any text; and PVE's default."""

    type: str
    default: str | None = None
    choices: tuple[str, ...] = ()


_BOOL_TRUE = ("1", "true", "yes", "on")
_BOOL_FALSE = ("0", "false", "no", "off")
_VERDICT = ("ACCEPT", "REJECT", "DROP")
_LOG = OptionSpec("enum", "nolog", LOG_LEVELS)
_GUEST_OPTIONS = {
    "enable": OptionSpec("bool", "0"),
    "dhcp": OptionSpec("bool", "0"),
    "ipfilter": OptionSpec("bool", "0"),
    "macfilter": OptionSpec("bool", "1"),
    "ndp": OptionSpec("bool", "1"),
    "radv": OptionSpec("bool", "0"),
    "log_level_in": _LOG,
    "log_level_out": _LOG,
    "policy_in": OptionSpec("enum", "DROP", _VERDICT),
    "policy_out": OptionSpec("enum", "ACCEPT", _VERDICT),
}
OPTIONS: dict[str, dict[str, OptionSpec]] = {
    "cluster": {
        "enable": OptionSpec("bool", "0"),
        "ebtables": OptionSpec("bool", "1"),
        "log_ratelimit": OptionSpec("text"),
        "policy_in": OptionSpec("enum", "DROP", _VERDICT),
        "policy_out": OptionSpec("enum", "ACCEPT", _VERDICT),
        "policy_forward": OptionSpec("enum", "ACCEPT", ("ACCEPT", "DROP")),
    },
    "node": {
        "enable": OptionSpec("bool", "1"),
        "log_level_in": _LOG,
        "log_level_out": _LOG,
        "log_level_forward": _LOG,
        "log_nf_conntrack": OptionSpec("bool", "0"),
        "ndp": OptionSpec("bool", "1"),
        "nf_conntrack_allow_invalid": OptionSpec("bool", "0"),
        "nf_conntrack_helpers": OptionSpec("text", ""),
        "nf_conntrack_max": OptionSpec("int", "262144"),
        "nf_conntrack_tcp_timeout_established": OptionSpec("int", "432000"),
        "nf_conntrack_tcp_timeout_syn_recv": OptionSpec("int", "60"),
        "nftables": OptionSpec("bool", "0"),
        "nosmurfs": OptionSpec("bool", "1"),
        "protection_synflood": OptionSpec("bool", "0"),
        "protection_synflood_burst": OptionSpec("int", "1000"),
        "protection_synflood_rate": OptionSpec("int", "200"),
        "smurf_log_level": _LOG,
        "tcp_flags_log_level": _LOG,
        "tcpflags": OptionSpec("bool", "0"),
    },
    "vm": _GUEST_OPTIONS,
    "ct": _GUEST_OPTIONS,
}
_POLICY_NAME = re.compile(r"cluster|node/([A-Za-z0-9]([A-Za-z0-9\-.]*[A-Za-z0-9])?)|(vm|ct)/([1-9][0-9]{2,8})")


def option_value(scope: str, name: str, value: Any) -> str:
    """Return an option value as PVE means it (text; booleans 0/1), or raise ValueError naming the option."""
    spec = OPTIONS[scope].get(name)
    if spec is None:
        raise ValueError(f"{name!r} is not a {scope} firewall option (known: {', '.join(sorted(OPTIONS[scope]))})")
    text = ("1" if value else "0") if isinstance(value, bool) else str(value)
    if spec.type == "bool":
        if text.lower() in _BOOL_TRUE or (scope == "cluster" and name == "enable" and text.isdigit()):
            # The cluster's `enable` holds the time it was switched on: any number above 0 means on.
            return "1" if text.lower() in _BOOL_TRUE or int(text) > 0 else "0"
        if text.lower() in _BOOL_FALSE:
            return "0"
        raise ValueError(f"option {name} is a boolean (0 or 1), not {text!r}")
    if spec.type == "int" and not re.fullmatch(r"-?[0-9]+", text):
        raise ValueError(f"option {name} is a whole number, not {text!r}")
    if spec.choices and text not in spec.choices:
        raise ValueError(f"option {name} is one of {', '.join(spec.choices)}, not {text!r}")
    return text


def options_from_api(scope: str, data: Mapping[str, Any]) -> dict[str, str]:
    """Return GET .../firewall/options as option texts (digest and options pmpc does not know left out)."""
    return {k: option_value(scope, k, v) for k, v in sorted(data.items()) if k in OPTIONS[scope] and v is not None}


def diff_options(
    scope: str, desired: Mapping[str, str], observed: Mapping[str, str]
) -> dict[str, tuple[str | None, str]]:
    """Return {option: (old, new)} for each option a manifest sets that the level does not have yet."""
    changed: dict[str, tuple[str | None, str]] = {}
    for name, want in sorted(desired.items()):
        have = observed.get(name, OPTIONS[scope][name].default)
        if have != want:
            changed[name] = (observed.get(name), want)
    return changed


def parse_policy_name(name: str) -> tuple[str, str | None]:
    """Return (scope, target) of a policy name: `cluster` -> ("cluster", None), `vm/101` -> ("vm", "101")."""
    found = _POLICY_NAME.fullmatch(name)
    if not found:
        raise ValueError(f"{name!r} is not a firewall level: cluster, node/NAME, vm/VMID or ct/VMID")
    if name == "cluster":
        return "cluster", None
    scope, target = name.split("/", 1)
    return scope, target


def firewall_path(scope: str, target: str | None = None, node: str | None = None) -> str:
    """Return the API base of a level: `/cluster/firewall`, `/nodes/pve1/firewall`, `/nodes/pve1/qemu/101/firewall`.

    A security group's rules live at `/cluster/firewall/groups/NAME` (scope `group`, target its name).
    """
    if scope == "cluster":
        return "/cluster/firewall"
    if scope == "group":
        return f"/cluster/firewall/groups/{target}"
    if scope == "node":
        return f"/nodes/{target}/firewall"
    if node is None:
        raise ValueError(f"the firewall of {scope}/{target} is reached through its node, which is not known")
    return f"/nodes/{node}/{api_type(scope)}/{target}/firewall"


def rules_path(scope: str, target: str | None = None, node: str | None = None) -> str:
    """Return the path of a level's rule list (a security group's rules are the group itself)."""
    base = firewall_path(scope, target, node)
    return base if scope == "group" else f"{base}/rules"


class FirewallPolicy(FirewallModel):
    """The options and the ordered rules of the cluster, a node or a guest (None: not managed)."""

    name: str
    options: dict[str, str] | None = None
    rules: tuple[FirewallRule, ...] | None = None

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        parse_policy_name(value)
        return value

    @model_validator(mode="before")
    @classmethod
    def _option_texts(cls, data: Any) -> Any:
        # YAML gives numbers and booleans; PVE's options are text, checked against the level's own options.
        if isinstance(data, Mapping) and isinstance(data.get("options"), Mapping) and isinstance(data.get("name"), str):
            scope = parse_policy_name(data["name"])[0]
            options = {str(k): option_value(scope, str(k), v) for k, v in data["options"].items()}
            data = {**data, "options": dict(sorted(options.items()))}
        return data

    @model_validator(mode="after")
    def _scoped_rules(self) -> FirewallPolicy:
        if self.rules is not None:
            check_rules(self.scope, self.rules)
        return self

    @property
    def scope(self) -> str:
        """Return `cluster`, `node`, `vm` or `ct`."""
        return parse_policy_name(self.name)[0]

    @property
    def target(self) -> str | None:
        """Return the node name or the VMID of the level (None for the cluster)."""
        return parse_policy_name(self.name)[1]

    @property
    def address(self) -> str:
        """Return `firewall/cluster`, `firewall/node/pve1`, `firewall/vm/101`."""
        return f"firewall/{self.name}"

    def references(self) -> list[tuple[str, str]]:
        """Return (field, address) for each security group, alias and IP set the rules name."""
        return [(f"rules[{i}].{f}", a) for i, r in enumerate(self.rules or ()) for f, a in rule_references(r)]

    @classmethod
    def from_api(cls, name: str, options: Mapping[str, Any], rules: list[Mapping[str, Any]]) -> FirewallPolicy:
        """Return a level's policy from GET .../firewall/options and GET .../firewall/rules."""
        scope = parse_policy_name(name)[0]
        return cls(name=name, options=options_from_api(scope, options), rules=tuple(rule_from_api(r) for r in rules))

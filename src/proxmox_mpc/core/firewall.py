"""Firewall objects as pmpc models them: aliases, IP sets, security groups, and the policy of a level.

A *policy* is the options and the ordered rules of one level of PVE's firewall: the cluster
(`/cluster/firewall`), a node (`/nodes/N/firewall`) or a guest (`/nodes/N/qemu|lxc/VMID/firewall`).
Aliases, IP sets and security groups are the cluster's (`/cluster/firewall/{aliases,ipset,groups}`).
Each model validates what PVE's own `verify_rule` would refuse, with one sentence per problem, and
normalises PVE's answers (numbers as strings, `nolog`, empty comments, host bits of a CIDR, the
cluster's `enable` time stamp) so that what PVE reads back compares equal to what a manifest asks.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Mapping
from typing import Any, ClassVar, Literal

from pydantic import ConfigDict, Field, field_validator, model_validator

from proxmox_mpc.core.modeling import Model

NAME_RE = re.compile(r"[A-Za-z][A-Za-z0-9\-_]+")
MAX_NAME = 64
MAX_GROUP_NAME = 18
RuleType = Literal["in", "out", "forward", "group"]
LogLevel = Literal["emerg", "alert", "crit", "err", "warning", "notice", "info", "debug", "nolog"]
LOG_LEVELS: tuple[str, ...] = ("emerg", "alert", "crit", "err", "warning", "notice", "info", "debug", "nolog")
VERDICTS = ("ACCEPT", "DROP", "REJECT")
Scope = Literal["cluster", "node", "vm", "ct", "group"]
# The rule types each level accepts (a security group's rules cannot jump to another group).
RULE_TYPES: dict[str, tuple[str, ...]] = {
    "cluster": ("in", "out", "forward", "group"),
    "node": ("in", "out", "forward", "group"),
    "vm": ("in", "out", "group"),
    "ct": ("in", "out", "group"),
    "group": ("in", "out", "forward"),
}
PORT_PROTOCOLS = frozenset({"udp", "17", "udplite", "136", "tcp", "6", "dccp", "33", "sctp", "132"})
ICMP_PROTOCOLS = frozenset({"icmp", "icmpv6", "ipv6-icmp", "1", "58"})
MACROS: tuple[str, ...] = (
    "Amanda",
    "Auth",
    "BGP",
    "BitTorrent",
    "BitTorrent32",
    "Ceph",
    "CVS",
    "Citrix",
    "DAAP",
    "DCC",
    "DHCPfwd",
    "DNS",
    "Distcc",
    "FTP",
    "Finger",
    "GNUnet",
    "GRE",
    "Git",
    "HKP",
    "HTTP",
    "HTTPS",
    "ICPV2",
    "ICQ",
    "IMAP",
    "IMAPS",
    "IPIP",
    "IPsec",
    "IPsecah",
    "IPsecnat",
    "IRC",
    "Jetdirect",
    "L2TP",
    "LDAP",
    "LDAPS",
    "MSNP",
    "MSSQL",
    "Mail",
    "MDNS",
    "Munin",
    "MySQL",
    "NNTP",
    "NNTPS",
    "NTP",
    "OSPF",
    "OpenVPN",
    "PCA",
    "PMG",
    "POP3",
    "POP3S",
    "PPtP",
    "Ping",
    "PostgreSQL",
    "Printer",
    "RDP",
    "RIP",
    "RNDC",
    "Razor",
    "Rdate",
    "Rsync",
    "SANE",
    "SMB",
    "SMBswat",
    "SMTP",
    "SMTPS",
    "SNMP",
    "SPAMD",
    "SSH",
    "SVN",
    "SixXS",
    "SPICEproxy",
    "Squid",
    "Submission",
    "Syslog",
    "TFTP",
    "Telnet",
    "Telnets",
    "Time",
    "Trcrt",
    "VNC",
    "VNCL",
    "Web",
    "Webcache",
    "Webmin",
    "Whois).split(",
)
_MACRO_BY_LOWER = {name.lower(): name for name in MACROS}
_PROTO_RE = re.compile(r"[a-z][a-z0-9_.+\-]*|[0-9]{1,3}")
_PORT_RE = re.compile(r"([0-9]+)(?::([0-9]+))?|[a-z][a-z0-9_.+\-]*")
_IFACE_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:\-]{0,19}")
_ALIAS_REF = re.compile(r"(?:dc/|guest/)?([A-Za-z][A-Za-z0-9\-_]+)")
_IPSET_REF = re.compile(r"\+(dc/|guest/|sdn/)?([A-Za-z][A-Za-z0-9\-_]+)")
MAX_PORT_NUMBERS = 15


class FirewallModel(Model):
    """Base of the firewall models: strict (unknown keys refused), frozen, PVE's key spellings accepted."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True)


def check_name(value: str, what: str, limit: int = MAX_NAME) -> str:
    """Return a firewall object name, or raise ValueError saying what a `what` name must be."""
    if not NAME_RE.fullmatch(value) or len(value) > limit:
        raise ValueError(
            f"{value!r} is not {what} name: a letter, then letters, digits, - or _ (2 to {limit} characters)"
        )
    return value


def check_lower_name(value: str, what: str, limit: int = MAX_NAME) -> str:
    """Return the name of an IP set or a security group as a manifest writes it: PVE reads those names back
    in lower case (its config parser lowers them), so a name with capitals would never match; ValueError."""
    check_name(value, what, limit)
    if value != value.lower():
        raise ValueError(f"{value!r}: PVE keeps {what} name in lower case, write {value.lower()!r}")
    return value


def _comment(value: str | None) -> str | None:
    if value is not None and ("\n" in value or "\r" in value):
        raise ValueError("a comment is one line")
    return value or None


# ----------------------------------------------------------------------------- addresses and ports


def _ip_or_network(text: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    """Return the network an IP or a CIDR names; ValueError when it is neither."""
    try:
        return ipaddress.ip_network(text, strict=False)
    except ValueError:
        raise ValueError(f"{text!r} is not an IP address or CIDR") from None


def clean_cidr(text: str) -> str:
    """Return an IP set entry as PVE stores it: host bits dropped, /32 and /128 left out; names unchanged."""
    if _ALIAS_REF.fullmatch(text):
        return text
    net = _ip_or_network(text)
    if "/" not in text or net.prefixlen == net.max_prefixlen:
        return str(net.network_address)
    return f"{net.network_address}/{net.prefixlen}"


def check_cidr(text: str) -> str:
    """Return an IP or CIDR (an alias's value), or raise ValueError."""
    _ip_or_network(text)
    return text


def _range_part(part: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    try:
        return ipaddress.ip_address(part)
    except ValueError:
        raise ValueError(f"{part!r} in an IP range must be a single IP address") from None


def check_address(text: str) -> str:
    """Return a rule's source or dest (CIDRs, an IP range, an alias or +ipset), or raise ValueError."""
    if _IPSET_REF.fullmatch(text) or (_ALIAS_REF.fullmatch(text) and len(text) <= MAX_NAME):
        return text
    elements = text.split(",")
    versions = set()
    for element in elements:
        parts = element.split("-")
        if len(parts) > 2 or (len(parts) == 2 and len(elements) > 1):
            raise ValueError(f"{text!r}: an IP range cannot be part of a list")
        if len(parts) == 2:
            first, last = (_range_part(p) for p in parts)
            if first.version != last.version or int(last) < int(first):
                raise ValueError(f"{element!r} is not an IP range: the last address must follow the first")
            versions.add(first.version)
        else:
            versions.add(_ip_or_network(element).version)
    if len(versions) > 1:
        raise ValueError(f"{text!r} mixes IPv4 and IPv6 addresses")
    return text


def check_ports(text: str, what: str) -> str:
    """Return a port list (`22`, `80,443`, `8000:8080`, `ssh`), or raise ValueError naming `what`."""
    numbers = 0
    for item in text.split(","):
        found = _PORT_RE.fullmatch(item)
        if not found:
            raise ValueError(f"{item!r} is not a port, a port range or a service name in {what}")
        if found.group(1):
            first, last = int(found.group(1)), int(found.group(2) or found.group(1))
            if max(first, last) > 65535:
                raise ValueError(f"{item!r} in {what}: ports go up to 65535")
            if first > last:
                raise ValueError(f"{item!r} in {what} is a backwards range (did you mean {last}:{first}?)")
            numbers += 2 if found.group(2) else 1
    if numbers > MAX_PORT_NUMBERS:
        raise ValueError(f"{what} names more than {MAX_PORT_NUMBERS} port numbers")
    return text


# ----------------------------------------------------------------------------- rules


class FirewallRule(FirewallModel):
    """One firewall rule, as a manifest writes it and PVE reads it back (field names as PVE's)."""

    type: RuleType
    action: str
    macro: str | None = None
    iface: str | None = None
    source: str | None = None
    dest: str | None = None
    proto: str | None = None
    sport: str | None = None
    dport: str | None = None
    icmp_type: str | None = Field(None, alias="icmp-type")
    log: LogLevel | None = None
    enable: bool = True
    comment: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _verdict_case(cls, data: Any) -> Any:
        # PVE spells verdicts in capitals; `accept` in a manifest means the same.
        action = data.get("action") if isinstance(data, dict) else None
        if isinstance(action, str) and data.get("type") != "group" and action.upper() in VERDICTS:
            data = {**data, "action": action.upper()}
        return data

    @field_validator("macro")
    @classmethod
    def _macro(cls, value: str | None) -> str | None:
        if value is None:
            return None
        found = _MACRO_BY_LOWER.get(value.lower())
        if found is None:
            raise ValueError(f"{value!r} is not a PVE firewall macro (e.g. SSH, HTTP, Web, DNS, Ping)")
        return found

    @field_validator("proto")
    @classmethod
    def _proto(cls, value: str | None) -> str | None:
        if value is not None and (not _PROTO_RE.fullmatch(value) or (value.isdigit() and int(value) > 255)):
            raise ValueError(f"{value!r} is not a protocol name or number (tcp, udp, icmp, 6, 17)")
        return value

    @field_validator("iface")
    @classmethod
    def _iface(cls, value: str | None) -> str | None:
        if value is not None and not _IFACE_RE.fullmatch(value):
            raise ValueError(f"{value!r} is not an interface name (at most 20 characters)")
        return value

    @field_validator("source", "dest")
    @classmethod
    def _address(cls, value: str | None) -> str | None:
        return None if value is None else check_address(value)

    @field_validator("log")
    @classmethod
    def _log(cls, value: str | None) -> str | None:
        return None if value == "nolog" else value  # PVE's default: the same rule, spelled two ways

    @field_validator("comment")
    @classmethod
    def _one_line(cls, value: str | None) -> str | None:
        return _comment(value)

    @model_validator(mode="after")
    def _consistent(self) -> FirewallRule:
        if self.type == "group":
            check_name(self.action, "a security group", MAX_GROUP_NAME)
        elif self.action not in VERDICTS:
            raise ValueError(f"action {self.action!r} is none of ACCEPT, DROP, REJECT (or use type: group)")
        if self.type == "forward" and self.action == "REJECT":
            raise ValueError("a forward rule cannot REJECT (use DROP)")
        _check_ports_and_icmp(self)
        return self

    def api_params(self) -> dict[str, Any]:
        """Return the rule as PVE's create parameters (`icmp-type`, `enable` as 0/1)."""
        data = self.model_dump(by_alias=True, exclude_none=True)
        data["enable"] = 1 if self.enable else 0
        return data

    def text(self) -> str:
        """Return the rule in one line for a plan: `in ACCEPT macro=SSH source=+admins # ssh`."""
        data = self.model_dump(exclude_none=True, exclude={"type", "action", "comment", "enable"})
        words = [self.type, self.action, *(f"{k}={v}" for k, v in data.items())]
        if not self.enable:
            words.append("(disabled)")
        return " ".join(words) + (f" # {self.comment}" if self.comment else "")


def parse_rule_text(text: str) -> FirewallRule:
    """Return the rule a plan line describes (the inverse of FirewallRule.text()).

    Raises:
        ValueError: the text is not a rule as FirewallRule.text() writes one.
    """
    body, marked, comment = text.partition(" # ")
    words = body.split()
    if len(words) < 2:
        raise ValueError(f"{text!r} is not a firewall rule (TYPE ACTION key=value ... # comment)")
    data: dict[str, Any] = {"type": words[0], "action": words[1]}
    for word in words[2:]:
        key, equals, value = word.partition("=")
        if word == "(disabled)":
            data["enable"] = False
        elif not equals:
            raise ValueError(f"{text!r}: {word!r} is not key=value")
        else:
            data[key] = value
    if marked:
        data["comment"] = comment
    return FirewallRule.model_validate(data)


def _check_ports_and_icmp(rule: FirewallRule) -> None:
    proto = rule.proto
    icmp = proto in ICMP_PROTOCOLS
    for name in ("dport", "sport"):
        value = getattr(rule, name)
        if value is None:
            continue
        if proto is None:
            raise ValueError(f"{name} needs proto (tcp, udp, ...)")
        if proto not in PORT_PROTOCOLS and not (icmp and name == "dport"):
            raise ValueError(f"protocol {proto!r} has no ports ({name})")
        if not icmp:
            check_ports(value, name)
    if rule.icmp_type is not None:
        if not icmp:
            raise ValueError("icmp_type needs proto icmp or icmpv6")
        if rule.dport is not None:
            raise ValueError("icmp_type and dport cannot be used together")


def check_rules(scope: str, rules: Iterable[FirewallRule]) -> None:
    """Raise ValueError for the first rule its level does not accept (type, iface), naming its index."""
    allowed = RULE_TYPES[scope]
    for index, rule in enumerate(rules):
        where = f"rules[{index}]"
        if rule.type not in allowed:
            raise ValueError(f"{where}: a {scope} rule's type is one of {', '.join(allowed)}, not {rule.type!r}")
        if rule.iface is not None and scope == "group":
            raise ValueError(f"{where}: a security group's rule has no iface")
        if rule.iface is not None and scope in ("vm", "ct") and not re.fullmatch(r"net[0-9]+", rule.iface):
            raise ValueError(f"{where}: a guest rule's iface is one of its network devices (net0, net1, ...)")


def rule_from_api(item: Mapping[str, Any]) -> FirewallRule:
    """Return one rule of a GET .../rules answer, without PVE's pos, digest and ipversion."""
    data = {k: v for k, v in item.items() if k not in ("pos", "digest", "ipversion") and v not in (None, "")}
    data["enable"] = str(data.get("enable", 1)) not in ("0", "false")
    return FirewallRule.model_validate(data)


# ----------------------------------------------------------------------------- references


def address_references(value: str | None) -> list[str]:
    """Return the addresses a rule's source/dest or an IP set entry names: `alias/NAME`, `ipset/NAME`.

    Guest-level (`guest/`) and SDN (`+sdn/`) names are not cluster objects and name nothing here.
    """
    if not value:
        return []
    found = _IPSET_REF.fullmatch(value)
    if found:
        return [f"ipset/{found.group(2)}"] if found.group(1) in (None, "dc/") else []
    found = _ALIAS_REF.fullmatch(value)
    if found and not value.startswith("guest/"):
        return [f"alias/{found.group(1).lower()}"]
    return []


def rule_references(rule: FirewallRule) -> list[tuple[str, str]]:
    """Return (field, address) for each cluster object a rule names: a security group, aliases, IP sets."""
    found = [("action", f"secgroup/{rule.action}")] if rule.type == "group" else []
    for name in ("source", "dest"):
        found += [(name, address) for address in address_references(getattr(rule, name))]
    return found


# ----------------------------------------------------------------------------- aliases, IP sets, groups


class FirewallObject(FirewallModel):
    """A named cluster object with a comment: its name is checked as PVE checks it, its address is `prefix/NAME`."""

    prefix: ClassVar[str]
    what: ClassVar[str]
    name_limit: ClassVar[int] = MAX_NAME

    name: str
    comment: str | None = None

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        return check_name(value, cls.what, cls.name_limit)

    @field_validator("comment")
    @classmethod
    def _one_line(cls, value: str | None) -> str | None:
        return _comment(value)

    @property
    def address(self) -> str:
        """Return `alias/NAME`, `ipset/NAME`, `secgroup/NAME`."""
        return f"{self.prefix}/{self.name}"


class FirewallAlias(FirewallObject):
    """A cluster alias: a name for an IP or a network (`/cluster/firewall/aliases`)."""

    prefix: ClassVar[str] = "alias"
    what: ClassVar[str] = "an alias"

    cidr: str

    @field_validator("cidr")
    @classmethod
    def _cidr(cls, value: str) -> str:
        return check_cidr(value)

    @property
    def address(self) -> str:
        """Return `alias/NAME`; PVE keeps alias names case-insensitively, so the address is lower-case."""
        return f"alias/{self.name.lower()}"

    @classmethod
    def from_api(cls, item: Mapping[str, Any]) -> FirewallAlias:
        """Return one item of GET /cluster/firewall/aliases."""
        return cls(name=str(item["name"]), cidr=str(item["cidr"]), comment=item.get("comment") or None)


class IPSetEntry(FirewallModel):
    """One member of an IP set: an IP, a network or an alias; `nomatch` excludes it."""

    cidr: str
    nomatch: bool = False
    comment: str | None = None

    @field_validator("cidr")
    @classmethod
    def _cidr(cls, value: str) -> str:
        cleaned = clean_cidr(value)
        if cleaned.endswith("/0"):
            raise ValueError(f"{value!r}: an IP set entry cannot have a zero prefix")
        return cleaned

    @field_validator("nomatch", mode="before")
    @classmethod
    def _flag(cls, value: Any) -> Any:
        return str(value) not in ("0", "", "false", "False") if isinstance(value, (int, str)) else value

    @field_validator("comment")
    @classmethod
    def _one_line(cls, value: str | None) -> str | None:
        return _comment(value)

    def text(self) -> str:
        """Return the entry in one line for a plan: `10.0.0.0/8 nomatch # office`."""
        return self.cidr + (" nomatch" if self.nomatch else "") + (f" # {self.comment}" if self.comment else "")

    @classmethod
    def parse(cls, text: str) -> IPSetEntry:
        """Return the entry a plan line describes (the inverse of text()).

        Raises:
            ValueError: the text is not an entry as text() writes one.
        """
        body, marked, comment = text.partition(" # ")
        words = body.split()
        if len(words) not in (1, 2) or (len(words) == 2 and words[1] != "nomatch"):
            raise ValueError(f"{text!r} is not an IP set entry (CIDR [nomatch] # comment)")
        return cls(cidr=words[0], nomatch=len(words) == 2, comment=comment if marked else None)


class FirewallIPSet(FirewallObject):
    """A cluster IP set and its entries (`/cluster/firewall/ipset`); entries are a set, not a list."""

    prefix: ClassVar[str] = "ipset"
    what: ClassVar[str] = "an IP set"

    entries: tuple[IPSetEntry, ...] = ()

    @field_validator("entries")
    @classmethod
    def _unique(cls, value: tuple[IPSetEntry, ...]) -> tuple[IPSetEntry, ...]:
        seen: set[str] = set()
        for entry in value:
            if entry.cidr in seen:
                raise ValueError(f"{entry.cidr!r} is listed twice")
            seen.add(entry.cidr)
        return tuple(sorted(value, key=lambda e: e.cidr))

    def references(self) -> list[tuple[str, str]]:
        """Return (field, address) for each alias an entry names."""
        return [(f"entries[{i}].cidr", a) for i, e in enumerate(self.entries) for a in address_references(e.cidr)]

    @classmethod
    def from_api(cls, item: Mapping[str, Any], entries: Iterable[Mapping[str, Any]]) -> FirewallIPSet:
        """Return an IP set from its GET /cluster/firewall/ipset item and GET .../ipset/NAME entries."""
        members = [
            IPSetEntry(cidr=str(e["cidr"]), nomatch=e.get("nomatch") or False, comment=e.get("comment") or None)
            for e in entries
        ]
        return cls(name=str(item["name"]), comment=item.get("comment") or None, entries=tuple(members))


class SecurityGroup(FirewallObject):
    """A cluster security group: a named, ordered list of rules that other rules jump to."""

    # `secgroup/`: the access Group (users) keeps `group/`.
    prefix: ClassVar[str] = "secgroup"
    what: ClassVar[str] = "a security group"
    name_limit: ClassVar[int] = MAX_GROUP_NAME

    rules: tuple[FirewallRule, ...] = ()

    @model_validator(mode="after")
    def _rules(self) -> SecurityGroup:
        check_rules("group", self.rules)
        return self

    def references(self) -> list[tuple[str, str]]:
        """Return (field, address) for each alias and IP set its rules name."""
        return [(f"rules[{i}].{f}", a) for i, r in enumerate(self.rules) for f, a in rule_references(r)]

    @classmethod
    def from_api(cls, item: Mapping[str, Any], rules: Iterable[Mapping[str, Any]]) -> SecurityGroup:
        """Return a group from its GET /cluster/firewall/groups item and GET .../groups/NAME rules."""
        found = tuple(rule_from_api(r) for r in rules)
        return cls(name=str(item["group"]), comment=item.get("comment") or None, rules=found)

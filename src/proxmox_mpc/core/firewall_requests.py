"""The requests that make the cluster's aliases, IP sets, security groups and a level's options what a manifest says.

Aliases, IP sets and groups are keyed by name, so a concurrent edit shows as a changed value when a saved
plan is checked; only the positional rule lists (core/firewall_rules.py) need a digest on every write.
An IP set's entries are a set: each entry is added, changed or removed on its own. PVE drops an empty
parameter, so the comment of an IP set or a group can be changed but not cleared: a manifest without a
comment leaves theirs alone (an alias is written anew, so its comment can go).
"""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import quote

from proxmox_mpc.core.batch import PlannedRequest
from proxmox_mpc.core.firewall import FirewallAlias, FirewallIPSet, IPSetEntry, SecurityGroup

CLUSTER = "/cluster/firewall"


def _seg(value: str) -> str:
    # An IP set entry is a CIDR: its `/` is part of one path segment.
    return quote(value, safe="")


def _comment(comment: str | None) -> dict[str, str]:
    return {"comment": comment} if comment else {}


def alias_requests(action: str, current: str, desired: FirewallAlias | None = None) -> list[PlannedRequest]:
    """Return the requests of an alias change: `create`, `update` (a new case of its name renames it),
    `replace` or `delete` of the alias PVE now knows as `current`."""
    path = f"{CLUSTER}/aliases/{current}"
    delete = PlannedRequest(method="DELETE", path=path)
    if action == "delete" or desired is None:
        return [delete]
    if action in ("create", "replace"):
        params = {"name": desired.name, "cidr": desired.cidr, **_comment(desired.comment)}
        create = PlannedRequest(method="POST", path=f"{CLUSTER}/aliases", params=params)
        return [create] if action == "create" else [delete, create]
    # PVE writes the alias anew: the cidr goes every time, and a comment left out is cleared. It keeps the
    # name as the path spells it, so a new case of the name is the path's; another name is a rename.
    params = {"cidr": desired.cidr, **_comment(desired.comment)}
    if desired.name.lower() == current.lower():
        path = f"{CLUSTER}/aliases/{desired.name}"
    else:
        params["rename"] = desired.name
    return [PlannedRequest(method="PUT", path=path, params=params)]


def _entry_params(entry: IPSetEntry) -> dict[str, str | int]:
    return {"nomatch": 1 if entry.nomatch else 0, **_comment(entry.comment)}


def ipset_requests(desired: FirewallIPSet | None, observed: FirewallIPSet | None) -> list[PlannedRequest]:
    """Return the requests that make an IP set and its entries as desired (delete: the set with its entries)."""
    if desired is None:
        if observed is None:
            return []
        return [PlannedRequest(method="DELETE", path=f"{CLUSTER}/ipset/{observed.name}", params={"force": 1})]
    name = desired.name
    requests = []
    if observed is None:
        requests.append(
            PlannedRequest(method="POST", path=f"{CLUSTER}/ipset", params={"name": name, **_comment(desired.comment)})
        )
    elif desired.comment is not None and observed.comment != desired.comment:
        params = {"name": name, "rename": name, "comment": desired.comment}
        requests.append(PlannedRequest(method="POST", path=f"{CLUSTER}/ipset", params=params))
    have = {e.cidr: e for e in (observed.entries if observed else ())}
    want = {e.cidr: e for e in desired.entries}
    for cidr in sorted(set(have) - set(want)):
        requests.append(PlannedRequest(method="DELETE", path=f"{CLUSTER}/ipset/{name}/{_seg(cidr)}"))
    for cidr, entry in sorted(want.items()):
        if cidr not in have:
            added = {"cidr": cidr, **_entry_params(entry)}
            requests.append(PlannedRequest(method="POST", path=f"{CLUSTER}/ipset/{name}", params=added))
        elif have[cidr] != entry:
            path = f"{CLUSTER}/ipset/{name}/{_seg(cidr)}"
            requests.append(PlannedRequest(method="PUT", path=path, params=_entry_params(entry)))
    return requests


def group_requests(desired: SecurityGroup | None, observed: SecurityGroup | None) -> list[PlannedRequest]:
    """Return the request that creates a group, changes its comment or deletes it (its rules are separate).

    PVE deletes only an empty group: the caller empties it (core/firewall_rules.py) before the delete.
    """
    if desired is None:
        return [] if observed is None else [PlannedRequest(method="DELETE", path=f"{CLUSTER}/groups/{observed.name}")]
    if observed is None:
        params = {"group": desired.name, **_comment(desired.comment)}
        return [PlannedRequest(method="POST", path=f"{CLUSTER}/groups", params=params)]
    if desired.comment is None or observed.comment == desired.comment:
        return []
    params = {"group": desired.name, "rename": desired.name, "comment": desired.comment}
    return [PlannedRequest(method="POST", path=f"{CLUSTER}/groups", params=params)]


def options_request(base: str, changed: Mapping[str, tuple[str | None, str]], digest: str | None) -> PlannedRequest:
    """Return the PUT that sets a level's changed options, checked by the options' digest."""
    params: dict[str, object] = {name: new for name, (_, new) in sorted(changed.items())}
    if digest:
        params["digest"] = digest
    return PlannedRequest(method="PUT", path=f"{base}/options", params=params)

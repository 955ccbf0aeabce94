"""`pmpc vm|ct list`, `get` and `describe`: read guests and print them."""

from __future__ import annotations

from typing import Any

from proxmox_mpc.commands._options import (
    DocumentOutputOpt,
    LimitOpt,
    NodeFilterOpt,
    NoHeadersOpt,
    OutputOpt,
    SortByOpt,
    StatusFilterOpt,
)
from proxmox_mpc.commands._run import run
from proxmox_mpc.commands._watch import WatchOpt, watch
from proxmox_mpc.commands.guest.verbs import GUEST, SELECTOR, TARGETS, WORDS, Param, Verb, selector_of
from proxmox_mpc.context import AppContext
from proxmox_mpc.core.identity import GuestKind
from proxmox_mpc.errors import UsageError
from proxmox_mpc.output.printers import check_format

LIST_OUTPUT = Param("output", OutputOpt, "table")
NO_HEADERS = Param("no_headers", NoHeadersOpt, False)
WATCH = Param("watch_", WatchOpt, False)


def print_guests(app_ctx: AppContext, kind: GuestKind, records: list[Any], output: str, no_headers: bool) -> None:
    """Print guests as a list (a table, or an array)."""
    from proxmox_mpc.output.columns import GUEST_COLUMNS
    from proxmox_mpc.output.printers import print_list

    columns, plural = GUEST_COLUMNS, WORDS[kind].plural
    print_list(app_ctx.out, app_ctx.err, records, fmt=output, columns=columns, plural=plural, headers=not no_headers)


def watch_guests(app_ctx: AppContext, kind: GuestKind, fetch: Any, output: str, no_headers: bool) -> None:
    """Redraw the guests `fetch` returns until Ctrl-C (`--watch`)."""
    from proxmox_mpc.output.columns import GUEST_COLUMNS

    watch(app_ctx, fetch, fmt=output, columns=GUEST_COLUMNS, plural=WORDS[kind].plural, headers=not no_headers)


def list_(
    app_ctx: AppContext,
    kind: GuestKind,
    *,
    node: str | None,
    status: str | None,
    selector: list[str] | None,
    sort_by: str | None,
    limit: int | None,
    output: str,
    no_headers: bool,
    watch_: bool,
) -> None:
    check_format(output)
    sel = selector_of(selector)
    from proxmox_mpc.core.models import Guest
    from proxmox_mpc.output.printers import model_fields, sort_records, to_data
    from proxmox_mpc.services import guests

    def fetch() -> list[dict[str, Any]]:
        found = run(guests.list_guests(app_ctx, kind, node=node, status=status, selector=sel))
        records = sort_records(to_data(found), sort_by, known=model_fields(Guest))
        return records[:limit] if limit is not None else records

    if watch_:
        watch_guests(app_ctx, kind, fetch, output, no_headers)
    else:
        print_guests(app_ctx, kind, fetch(), output, no_headers)


def get(
    app_ctx: AppContext, kind: GuestKind, *, targets: list[str] | None, output: str, no_headers: bool, watch_: bool
) -> None:
    check_format(output)
    from proxmox_mpc.output.columns import GUEST_COLUMNS
    from proxmox_mpc.output.printers import print_one, to_data
    from proxmox_mpc.services import guests

    if not targets:
        raise UsageError(f"Name at least one {WORDS[kind].noun} (VMID or name).")
    names = list(targets)
    if watch_:
        fetch = lambda: [to_data(g) for g in run(guests.get_guests(app_ctx, kind, names))]  # noqa: E731
        watch_guests(app_ctx, kind, fetch, output, no_headers)
        return
    found = run(guests.get_guests(app_ctx, kind, names))
    if len(found) == 1:
        print_one(app_ctx.out, found[0], fmt=output, columns=GUEST_COLUMNS, headers=not no_headers)
    else:
        print_guests(app_ctx, kind, found, output, no_headers)


def describe(app_ctx: AppContext, kind: GuestKind, *, guest: str, output: str) -> None:
    check_format(output)
    from proxmox_mpc.output.columns import GUEST_COLUMNS
    from proxmox_mpc.output.printers import print_details, print_one, to_data
    from proxmox_mpc.services import guests

    described = run(guests.describe_guest(app_ctx, kind, guest))
    if output not in ("table", "wide"):
        print_one(app_ctx.out, described, fmt=output, columns=GUEST_COLUMNS)
        return
    from proxmox_mpc.output.units import duration, human_bytes

    data = to_data(described)
    for key in ("memory", "memory_used", "disk_size"):
        data[key] = human_bytes(data[key])
    data["uptime"] = duration(data["uptime"])
    for key in ("pending", "snapshots", "tasks"):
        rows = [{k: v for k, v in row.items() if k not in ("kind", "guest", "upid")} for row in data[key]]
        data[key] = rows or "-"
    print_details(app_ctx.out, data)


VERBS = (
    Verb(
        "list",
        "List the {plural} of the whole cluster (templates included).\n\n"
        "Example: pmpc {prefix} list -l tag=web,template=false -o wide   |   pmpc {prefix} list -o json",
        (
            Param("node", NodeFilterOpt, None),
            Param("status", StatusFilterOpt, None),
            SELECTOR,
            Param("sort_by", SortByOpt, None),
            Param("limit", LimitOpt, None),
            LIST_OUTPUT,
            NO_HEADERS,
            WATCH,
        ),
        list_,
    ),
    Verb(
        "get",
        "Show {plural} by VMID or name.\n\nExample: pmpc {prefix} get 101 -o yaml",
        (TARGETS, LIST_OUTPUT, NO_HEADERS, WATCH),
        get,
    ),
    Verb(
        "describe",
        {
            "vm": "Describe a VM: status, config, pending changes, snapshots, recent tasks and IP addresses.\n\n"
            "Example: pmpc vm describe web-1",
            "ct": "Describe a container: status, config, pending changes, snapshots, recent tasks.\n\n"
            "Example: pmpc ct describe 201",
        },
        (GUEST, Param("output", DocumentOutputOpt, "table")),
        describe,
    ),
)

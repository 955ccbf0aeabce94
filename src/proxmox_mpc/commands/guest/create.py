"""`pmpc vm create`, `pmpc ct create` and `clone`: new guests, each with a VMID from the cluster unless given."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from proxmox_mpc.commands import _complete
from proxmox_mpc.commands._run import confirmer
from proxmox_mpc.commands.guest.verbs import BATCH, WRITE, GuestArg, Param, Verb, verb_options, with_progress
from proxmox_mpc.context import AppContext
from proxmox_mpc.core.identity import GuestKind
from proxmox_mpc.errors import UsageError
from proxmox_mpc.output.printers import check_format

NameOpt = Annotated[str, typer.Option("--name", help="Name of the new guest.", metavar="NAME")]
NodeOpt = Annotated[
    str,
    typer.Option(
        "--node", help="Node to create on (never guessed).", metavar="NODE", autocompletion=_complete.of("nodes")
    ),
]
VmidOpt = Annotated[
    int | None, typer.Option("--vmid", min=100, help="VMID (default: the next free one).", metavar="VMID")
]
CoresOpt = Annotated[int | None, typer.Option("--cores", help="CPU cores.", metavar="N")]
SocketsOpt = Annotated[int | None, typer.Option("--sockets", help="CPU sockets.", metavar="N")]
MemoryOpt = Annotated[
    str | None, typer.Option("--memory", help="Memory: 2G, 512M, or a bare number of MiB.", metavar="SIZE")
]
SwapOpt = Annotated[str | None, typer.Option("--swap", help="Swap: 1G, 512M, or a bare number of MiB.", metavar="SIZE")]
DiskOpt = Annotated[
    list[str] | None,
    typer.Option("--disk", help="STORAGE:SIZE, e.g. local-lvm:32G (repeatable).", metavar="STORAGE:SIZE"),
]
VmNetOpt = Annotated[
    list[str] | None, typer.Option("--net", help="bridge=vmbr0[,model=virtio][,tag=VLAN] (repeatable).", metavar="SPEC")
]
CtNetOpt = Annotated[
    list[str] | None,
    typer.Option("--net", help="name=eth0,bridge=vmbr0,ip=dhcp|CIDR[,gw=IP] (repeatable).", metavar="SPEC"),
]
CloudInitOpt = Annotated[
    str | None, typer.Option("--cloud-init", help="user=U,ssh-key=FILE,ip=dhcp|CIDR[,gw=IP]", metavar="SPEC")
]
TagOpt = Annotated[
    list[str] | None,
    typer.Option("--tag", help="Tag (repeatable).", metavar="TAG", autocompletion=_complete.of("tags")),
]
PoolOpt = Annotated[
    str | None, typer.Option("--pool", help="Resource pool.", metavar="POOL", autocompletion=_complete.of("pools"))
]
OsTypeOpt = Annotated[str | None, typer.Option("--os-type", help="Guest OS type, e.g. l26.", metavar="TYPE")]
StartOpt = Annotated[bool, typer.Option("--start", help="Start it once created.")]
TemplateOpt = Annotated[bool, typer.Option("--template", help="Convert it to a template once created.")]
SetOpt = Annotated[
    list[str] | None, typer.Option("--set", help="Any other config KEY=VALUE (repeatable).", metavar="KEY=VALUE")
]
HostnameOpt = Annotated[
    str, typer.Option("--hostname", "--name", help="Hostname (and name) of the container.", metavar="NAME")
]
OsTemplateOpt = Annotated[str, typer.Option("--ostemplate", help="STORAGE:vztmpl/FILE", metavar="STORAGE:vztmpl/FILE")]
RootfsOpt = Annotated[
    str | None, typer.Option("--rootfs", help="STORAGE:SIZE, e.g. local-lvm:8G.", metavar="STORAGE:SIZE")
]
PasswordFileOpt = Annotated[
    str | None, typer.Option("--password-file", help="File holding the root password.", metavar="FILE")
]
SshKeyOpt = Annotated[str | None, typer.Option("--ssh-key", help="File of SSH public keys for root.", metavar="FILE")]
UnprivilegedOpt = Annotated[bool, typer.Option("--unprivileged/--privileged", help="Unprivileged container.")]
CloneNameOpt = Annotated[
    str, typer.Option("--name", help="Name of the clone (NAME-1..NAME-K with --count).", metavar="NAME")
]
FullOpt = Annotated[
    bool | None,
    typer.Option("--full/--linked", help="Full copy or linked clone (default: linked from templates)."),
]
CloneTargetOpt = Annotated[
    str | None,
    typer.Option("--target", help="Node to place the clone on.", metavar="NODE", autocompletion=_complete.of("nodes")),
]
StorageOpt = Annotated[
    str | None,
    typer.Option(
        "--storage",
        help="Storage for a full clone's disks.",
        metavar="STORAGE",
        autocompletion=_complete.of("storages"),
    ),
]
CountOpt = Annotated[int, typer.Option("--count", min=1, max=1000, help="How many clones.", metavar="N")]

NODE, VMID = Param("node", NodeOpt), Param("vmid", VmidOpt, None)
CORES, MEMORY = Param("cores", CoresOpt, None), Param("memory", MemoryOpt, None)
TAG, POOL = Param("tag", TagOpt, None), Param("pool", PoolOpt, None)
START, SET = Param("start", StartOpt, False), Param("set_", SetOpt, None)


def create(
    app_ctx: AppContext,
    kind: GuestKind,
    node: str,
    params: dict[str, Any],
    vmid: int | None,
    template: bool,
    *,
    dry_run: bool,
    yes: bool,
    output: str,
    wait: bool,
    timeout: float,
) -> None:
    """Create one guest from its config parameters on a node, then print it."""
    from proxmox_mpc.services import guests

    with_progress(
        app_ctx,
        kind,
        output,
        lambda progress: guests.create_guest(
            app_ctx,
            kind,
            node=node,
            params=params,
            vmid=vmid,
            make_template=template,
            options=verb_options(timeout=timeout, wait=wait),
            dry_run=dry_run,
            confirm=confirmer(app_ctx, yes, output),
            progress=progress,
        ),
        waited=wait,
    )


def create_vm(app_ctx: AppContext, kind: GuestKind, *, node: str, vmid: int | None, cloud_init: str | None,
              template: bool, **values: Any) -> None:  # fmt: skip
    check_format(values["output"])
    from proxmox_mpc.core.guest_params import parse_cloud_init, vm_create_params
    from proxmox_mpc.services import guests

    flags = {key: values.pop(key) for key in ("name", "cores", "sockets", "memory", "pool", "os_type", "start")}
    if flags["start"] and template:
        raise UsageError("--start and --template exclude each other: a template cannot run.")
    ci = parse_cloud_init(cloud_init) if cloud_init is not None else None
    keys = guests.read_flag_file(ci.ssh_key_file, "--cloud-init ssh-key") if ci and ci.ssh_key_file else None
    params = vm_create_params(**flags, disks=values.pop("disk") or [], nets=values.pop("net") or [], cloud_init=ci,
                              ssh_keys=keys, tags=values.pop("tag") or [], extra=values.pop("set_") or [])  # fmt: skip
    if ci and ci.password_file:
        params["cipassword"] = guests.read_flag_file(ci.password_file, "--cloud-init password-file")
    create(app_ctx, kind, node, params, vmid, template, **values)


def create_ct(app_ctx: AppContext, kind: GuestKind, *, node: str, vmid: int | None, password_file: str | None,
              ssh_key: str | None, **values: Any) -> None:  # fmt: skip
    check_format(values["output"])
    from proxmox_mpc.core.guest_params import ct_create_params
    from proxmox_mpc.services import guests

    flags = {key: values.pop(key) for key in ("hostname", "ostemplate", "cores", "memory", "swap", "rootfs")}
    flags |= {key: values.pop(key) for key in ("unprivileged", "pool", "start")}
    password = guests.read_flag_file(password_file, "--password-file").strip() if password_file else None
    keys = guests.read_flag_file(ssh_key, "--ssh-key") if ssh_key else None
    params = ct_create_params(**flags, nets=values.pop("net") or [], password=password, ssh_keys=keys,
                              tags=values.pop("tag") or [], extra=values.pop("set_") or [])  # fmt: skip
    create(app_ctx, kind, node, params, vmid, False, **values)


def clone(app_ctx: AppContext, kind: GuestKind, *, source: str, name: str, vmid: int | None, count: int,
          dry_run: bool, yes: bool, output: str, wait: bool, timeout: float, concurrency: int | None,
          **placement: Any) -> None:  # fmt: skip
    check_format(output)
    from proxmox_mpc.core.guest_params import clone_names, clone_params
    from proxmox_mpc.services import guests

    names = clone_names(name, count)
    params = clone_params(kind, name=names[0], **placement)
    with_progress(
        app_ctx,
        kind,
        output,
        lambda progress: guests.clone_guests(
            app_ctx,
            kind,
            source,
            names=names,
            params=params,
            vmid=vmid,
            options=verb_options(timeout=timeout, wait=wait),
            dry_run=dry_run,
            confirm=confirmer(app_ctx, yes, output),
            concurrency=concurrency,
            progress=progress,
        ),
        waited=wait,
    )


VERBS = (
    Verb(
        "create",
        "Create a VM from flags; its VMID comes from the cluster unless given.\n\n"
        "Example: pmpc vm create --name web-3 --node pve1 --cores 2 --memory 2G --disk local-lvm:32G\n"
        "--net bridge=vmbr0 --cloud-init user=ops,ssh-key=~/.ssh/id_ed25519.pub,ip=dhcp -y",
        (
            Param("name", NameOpt),
            NODE,
            VMID,
            CORES,
            Param("sockets", SocketsOpt, None),
            MEMORY,
            Param("disk", DiskOpt, None),
            Param("net", VmNetOpt, None),
            Param("cloud_init", CloudInitOpt, None),
            TAG,
            POOL,
            Param("os_type", OsTypeOpt, None),
            START,
            Param("template", TemplateOpt, False),
            SET,
            *WRITE,
        ),
        create_vm,
        kinds=("vm",),
    ),
    Verb(
        "create",
        "Create a container from an OS template; its VMID comes from the cluster unless given.\n\n"
        "Example: pmpc ct create --hostname dns-2 --node pve1 --ostemplate\n"
        "local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst --rootfs local-lvm:8G\n"
        "--net name=eth0,bridge=vmbr0,ip=dhcp --ssh-key ~/.ssh/id_ed25519.pub -y",
        (
            Param("hostname", HostnameOpt),
            NODE,
            Param("ostemplate", OsTemplateOpt),
            VMID,
            CORES,
            MEMORY,
            Param("swap", SwapOpt, None),
            Param("rootfs", RootfsOpt, None),
            Param("net", CtNetOpt, None),
            Param("password_file", PasswordFileOpt, None),
            Param("ssh_key", SshKeyOpt, None),
            Param("unprivileged", UnprivilegedOpt, True),
            TAG,
            POOL,
            START,
            SET,
            *WRITE,
        ),
        create_ct,
        kinds=("ct",),
    ),
    Verb(
        "clone",
        "Clone a {noun} (or template), once or --count times, each with a new VMID.\n\n"
        "Example: pmpc {prefix} clone {example} --name web --count 3 --full -y",
        (
            Param("source", GuestArg),
            Param("name", CloneNameOpt),
            VMID,
            Param("full", FullOpt, None),
            Param("target", CloneTargetOpt, None),
            Param("storage", StorageOpt, None),
            POOL,
            Param("count", CountOpt, 1),
            *BATCH,
        ),
        clone,
        example={"vm": "ubuntu-tmpl", "ct": "201"},
    ),
)

"""`pmpc vm ...` and `pmpc ct ...`: one factory builds both groups, so they share every verb."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, Literal

import typer

from proxmox_mpc.commands import _complete
from proxmox_mpc.commands._options import (
    DEFAULT_TIMEOUT,
    ConcurrencyOpt,
    DocumentOutputOpt,
    DryRunOpt,
    LimitOpt,
    NodeFilterOpt,
    NoHeadersOpt,
    OutputOpt,
    ResultOutputOpt,
    SelectorOpt,
    SortByOpt,
    StatusFilterOpt,
    TimeoutOpt,
    WaitOpt,
    YesOpt,
)
from proxmox_mpc.commands._run import confirmer, run
from proxmox_mpc.commands._watch import WatchOpt, watch
from proxmox_mpc.context import AppContext
from proxmox_mpc.core.models import KIND_PREFIX
from proxmox_mpc.errors import UsageError
from proxmox_mpc.output.printers import check_format

if TYPE_CHECKING:
    from proxmox_mpc.core.batch import BatchResult
    from proxmox_mpc.services.guests import VerbOptions

NOUN = {"qemu": "VM", "lxc": "container"}
PLURAL = {"qemu": "VMs", "lxc": "containers"}

TargetsArg = Annotated[
    list[str] | None,
    typer.Argument(
        help="VMIDs or names (or use -l).", metavar="GUEST...", show_default=False, autocompletion=_complete.guests
    ),
]
GuestArg = Annotated[str, typer.Argument(help="VMID or name.", metavar="GUEST", autocompletion=_complete.guests)]
ItemsArg = Annotated[
    list[str] | None,
    typer.Argument(help="GUEST... then KEY=VALUE...", metavar="GUEST... KEY=VALUE...", autocompletion=_complete.guests),
]
SnapArgs = Annotated[
    list[str] | None,
    typer.Argument(
        help="GUEST... then the snapshot NAME.", metavar="GUEST... NAME", autocompletion=_complete.guests_then_snapshots
    ),
]
ForceStopOpt = Annotated[
    bool, typer.Option("--force-stop", help="Stop the guest if it has not shut down in time.")
]
PurgeOpt = Annotated[
    bool,
    typer.Option(
        "--purge", help="Also remove it from backup jobs, HA and replication, and destroy unreferenced disks."
    ),
]
DeleteKeyOpt = Annotated[
    list[str] | None, typer.Option("--delete", help="Remove this config key (repeatable).", metavar="KEY")
]
TargetNodeOpt = Annotated[
    str, typer.Option("--target", help="Node to move to.", metavar="NODE", autocompletion=_complete.of("nodes"))
]
OnlineOpt = Annotated[
    bool | None,
    typer.Option("--online/--offline", help="Live migration (default: when running; containers restart)."),
]
LocalDisksOpt = Annotated[bool, typer.Option("--with-local-disks", help="Migrate local disks too (VMs).")]
DescriptionOpt = Annotated[str | None, typer.Option("--description", help="Snapshot description.", metavar="TEXT")]
VmstateOpt = Annotated[bool, typer.Option("--vmstate", help="Include the RAM of a running VM.")]
TodiskOpt = Annotated[bool, typer.Option("--todisk", help="Hibernate a VM to disk instead of pausing it.")]
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
DiskArg = Annotated[
    str, typer.Argument(help="Disk: scsi0, virtio1... (VM) or rootfs, mp0 (container).", metavar="DISK")
]
SizeArg = Annotated[
    str, typer.Argument(help="+SIZE to grow by, SIZE for the new total (grows only).", metavar="SIZE")
]
SnapNameArg = Annotated[
    str, typer.Argument(help="Snapshot name.", metavar="NAME", autocompletion=_complete.snapshots)
]


def _verb_options(**values: Any) -> VerbOptions:
    from proxmox_mpc.services.guests import VerbOptions

    return VerbOptions(**values)


def _finish(app_ctx: AppContext, batch: BatchResult, kind: str, fmt: str, *, waited: bool = True) -> None:
    from proxmox_mpc.output.batch import print_batch

    print_batch(app_ctx.out, app_ctx.err, batch, fmt=fmt, plural=PLURAL[kind], waited=waited)
    failure = batch.failure()
    if failure is not None:
        raise failure


def _selector(texts: list[str] | None) -> Any:
    from proxmox_mpc.core.selectors import parse_selector

    return parse_selector(texts) if texts is not None else None


def make_guest_app(kind: Literal["qemu", "lxc"]) -> typer.Typer:
    """Build the `vm` (kind qemu) or `ct` (kind lxc) command group."""
    prefix = KIND_PREFIX[kind]
    noun, plural = NOUN[kind], PLURAL[kind]
    app = typer.Typer(
        help=f"Manage {'QEMU virtual machines' if kind == 'qemu' else 'LXC containers'}.",
        no_args_is_help=True,
    )
    snapshot_app = typer.Typer(
        help=f"List, create, roll back and delete snapshots of {plural}.", no_args_is_help=True
    )
    app.add_typer(snapshot_app, name="snapshot")

    def batch(
        ctx: typer.Context,
        action: str,
        targets: list[str] | None,
        selector: list[str] | None,
        *,
        dry_run: bool,
        yes: bool,
        output: str,
        concurrency: int | None,
        **options: Any,
    ) -> None:
        app_ctx: AppContext = ctx.obj
        check_format(output)
        sel = _selector(selector)
        opts = _verb_options(**options)
        from proxmox_mpc.output.progress import make_progress
        from proxmox_mpc.services import guests

        with make_progress(app_ctx.err, color=app_ctx.color) as progress:
            result = run(
                guests.run_guest_action(
                    app_ctx,
                    kind,
                    action,
                    list(targets or []),
                    sel,
                    options=opts,
                    dry_run=dry_run,
                    confirm=confirmer(app_ctx, yes, output),
                    concurrency=concurrency,
                    progress=progress,
                )
            )
        _finish(app_ctx, result, kind, output, waited=opts.wait)

    @app.command("list")
    def list_(
        ctx: typer.Context,
        node: NodeFilterOpt = None,
        status: StatusFilterOpt = None,
        selector: SelectorOpt = None,
        sort_by: SortByOpt = None,
        limit: LimitOpt = None,
        output: OutputOpt = "table",
        no_headers: NoHeadersOpt = False,
        watch_: WatchOpt = False,
    ) -> None:
        app_ctx: AppContext = ctx.obj
        check_format(output)
        sel = _selector(selector)
        from proxmox_mpc.core.models import Guest
        from proxmox_mpc.output.columns import GUEST_COLUMNS
        from proxmox_mpc.output.printers import model_fields, print_list, sort_records, to_data
        from proxmox_mpc.services import guests

        def fetch() -> list[dict[str, Any]]:
            found = run(guests.list_guests(app_ctx, kind, node=node, status=status, selector=sel))
            records = sort_records(to_data(found), sort_by, known=model_fields(Guest))
            return records[:limit] if limit is not None else records

        if watch_:
            watch(app_ctx, fetch, fmt=output, columns=GUEST_COLUMNS, plural=plural, headers=not no_headers)
            return
        records = fetch()
        print_list(
            app_ctx.out,
            app_ctx.err,
            records,
            fmt=output,
            columns=GUEST_COLUMNS,
            plural=plural,
            headers=not no_headers,
        )

    list_.__doc__ = (
        f"List the {plural} of the whole cluster (templates included).\n\n"
        f"Example: pmpc {prefix} list -l tag=web,template=false -o wide   |   "
        f"pmpc {prefix} list -o json"
    )

    @app.command()
    def get(
        ctx: typer.Context,
        targets: TargetsArg = None,
        output: OutputOpt = "table",
        no_headers: NoHeadersOpt = False,
        watch_: WatchOpt = False,
    ) -> None:
        app_ctx: AppContext = ctx.obj
        check_format(output)
        from proxmox_mpc.output.columns import GUEST_COLUMNS
        from proxmox_mpc.output.printers import print_list, print_one, to_data
        from proxmox_mpc.services import guests

        if not targets:
            raise UsageError(f"Name at least one {noun} (VMID or name).")
        if watch_:
            names = list(targets)
            fetch = lambda: [to_data(g) for g in run(guests.get_guests(app_ctx, kind, names))]  # noqa: E731
            watch(app_ctx, fetch, fmt=output, columns=GUEST_COLUMNS, plural=plural, headers=not no_headers)
            return
        found = run(guests.get_guests(app_ctx, kind, targets))
        if len(found) == 1:
            print_one(app_ctx.out, found[0], fmt=output, columns=GUEST_COLUMNS, headers=not no_headers)
        else:
            print_list(
                app_ctx.out,
                app_ctx.err,
                found,
                fmt=output,
                columns=GUEST_COLUMNS,
                plural=plural,
                headers=not no_headers,
            )

    get.__doc__ = f"Show {plural} by VMID or name.\n\nExample: pmpc {prefix} get 101 -o yaml"

    @app.command()
    def describe(ctx: typer.Context, guest: GuestArg, output: DocumentOutputOpt = "table") -> None:
        app_ctx: AppContext = ctx.obj
        check_format(output)
        from proxmox_mpc.output.columns import GUEST_COLUMNS
        from proxmox_mpc.output.printers import print_details, print_one, to_data
        from proxmox_mpc.services import guests

        described = run(guests.describe_guest(app_ctx, kind, guest))
        if output in ("table", "wide"):
            from proxmox_mpc.output.units import duration, human_bytes

            data = to_data(described)
            for key in ("memory", "memory_used", "disk_size"):
                data[key] = human_bytes(data[key])
            data["uptime"] = duration(data["uptime"])
            for key in ("pending", "snapshots", "tasks"):
                rows = [
                    {k: v for k, v in row.items() if k not in ("kind", "guest", "upid")} for row in data[key]
                ]
                data[key] = rows or "-"
            print_details(app_ctx.out, data)
        else:
            print_one(app_ctx.out, described, fmt=output, columns=GUEST_COLUMNS)

    describe.__doc__ = (
        f"Describe a {noun}: status, config, pending changes, snapshots, recent tasks"
        f"{' and IP addresses' if kind == 'qemu' else ''}.\n\nExample: pmpc {prefix} describe "
        f"{'web-1' if kind == 'qemu' else '201'}"
    )

    if kind == "qemu":

        @app.command("create")
        def create_vm(
            ctx: typer.Context,
            name: NameOpt,
            node: NodeOpt,
            vmid: VmidOpt = None,
            cores: CoresOpt = None,
            sockets: SocketsOpt = None,
            memory: MemoryOpt = None,
            disk: DiskOpt = None,
            net: VmNetOpt = None,
            cloud_init: CloudInitOpt = None,
            tag: TagOpt = None,
            pool: PoolOpt = None,
            os_type: OsTypeOpt = None,
            start: StartOpt = False,
            template: TemplateOpt = False,
            set_: SetOpt = None,
            dry_run: DryRunOpt = False,
            yes: YesOpt = False,
            output: ResultOutputOpt = "table",
            wait: WaitOpt = True,
            timeout: TimeoutOpt = DEFAULT_TIMEOUT,
        ) -> None:
            """Create a VM from flags; its VMID comes from the cluster unless given.

            Example: pmpc vm create --name web-3 --node pve1 --cores 2 --memory 2G --disk local-lvm:32G
            --net bridge=vmbr0 --cloud-init user=ops,ssh-key=~/.ssh/id_ed25519.pub,ip=dhcp -y
            """
            app_ctx: AppContext = ctx.obj
            check_format(output)
            from proxmox_mpc.core.guest_params import parse_cloud_init, vm_create_params
            from proxmox_mpc.services import guests

            if start and template:
                raise UsageError("--start and --template exclude each other: a template cannot run.")
            ci = parse_cloud_init(cloud_init) if cloud_init is not None else None
            keys = (
                guests.read_flag_file(ci.ssh_key_file, "--cloud-init ssh-key")
                if ci and ci.ssh_key_file
                else None
            )
            params = vm_create_params(
                name=name,
                cores=cores,
                sockets=sockets,
                memory=memory,
                disks=disk or [],
                nets=net or [],
                cloud_init=ci,
                ssh_keys=keys,
                tags=tag or [],
                pool=pool,
                os_type=os_type,
                start=start,
                extra=set_ or [],
            )
            if ci and ci.password_file:
                params["cipassword"] = guests.read_flag_file(ci.password_file, "--cloud-init password-file")
            result = _create(app_ctx, node, params, vmid, template, dry_run, yes, output, wait, timeout)
            _finish(app_ctx, result, kind, output, waited=wait)

    else:

        @app.command("create")
        def create_ct(
            ctx: typer.Context,
            hostname: HostnameOpt,
            node: NodeOpt,
            ostemplate: OsTemplateOpt,
            vmid: VmidOpt = None,
            cores: CoresOpt = None,
            memory: MemoryOpt = None,
            swap: SwapOpt = None,
            rootfs: RootfsOpt = None,
            net: CtNetOpt = None,
            password_file: PasswordFileOpt = None,
            ssh_key: SshKeyOpt = None,
            unprivileged: UnprivilegedOpt = True,
            tag: TagOpt = None,
            pool: PoolOpt = None,
            start: StartOpt = False,
            set_: SetOpt = None,
            dry_run: DryRunOpt = False,
            yes: YesOpt = False,
            output: ResultOutputOpt = "table",
            wait: WaitOpt = True,
            timeout: TimeoutOpt = DEFAULT_TIMEOUT,
        ) -> None:
            """Create a container from an OS template; its VMID comes from the cluster unless given.

            Example: pmpc ct create --hostname dns-2 --node pve1 --ostemplate
            local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst --rootfs local-lvm:8G
            --net name=eth0,bridge=vmbr0,ip=dhcp --ssh-key ~/.ssh/id_ed25519.pub -y
            """
            app_ctx: AppContext = ctx.obj
            check_format(output)
            from proxmox_mpc.core.guest_params import ct_create_params
            from proxmox_mpc.services import guests

            password = (
                guests.read_flag_file(password_file, "--password-file").strip() if password_file else None
            )
            keys = guests.read_flag_file(ssh_key, "--ssh-key") if ssh_key else None
            params = ct_create_params(
                hostname=hostname,
                ostemplate=ostemplate,
                cores=cores,
                memory=memory,
                swap=swap,
                rootfs=rootfs,
                nets=net or [],
                password=password,
                ssh_keys=keys,
                unprivileged=unprivileged,
                tags=tag or [],
                pool=pool,
                start=start,
                extra=set_ or [],
            )
            result = _create(app_ctx, node, params, vmid, False, dry_run, yes, output, wait, timeout)
            _finish(app_ctx, result, kind, output, waited=wait)

    def _create(
        app_ctx: AppContext,
        node: str,
        params: dict[str, Any],
        vmid: int | None,
        template: bool,
        dry_run: bool,
        yes: bool,
        output: str,
        wait: bool,
        timeout: float,
    ) -> BatchResult:
        from proxmox_mpc.output.progress import make_progress
        from proxmox_mpc.services import guests

        with make_progress(app_ctx.err, color=app_ctx.color) as progress:
            return run(
                guests.create_guest(
                    app_ctx,
                    kind,
                    node=node,
                    params=params,
                    vmid=vmid,
                    make_template=template,
                    options=_verb_options(timeout=timeout, wait=wait),
                    dry_run=dry_run,
                    confirm=confirmer(app_ctx, yes, output),
                    progress=progress,
                )
            )

    @app.command()
    def clone(
        ctx: typer.Context,
        source: GuestArg,
        name: CloneNameOpt,
        vmid: VmidOpt = None,
        full: FullOpt = None,
        target: CloneTargetOpt = None,
        storage: StorageOpt = None,
        pool: PoolOpt = None,
        count: CountOpt = 1,
        dry_run: DryRunOpt = False,
        yes: YesOpt = False,
        output: ResultOutputOpt = "table",
        wait: WaitOpt = True,
        timeout: TimeoutOpt = DEFAULT_TIMEOUT,
        concurrency: ConcurrencyOpt = None,
    ) -> None:
        app_ctx: AppContext = ctx.obj
        check_format(output)
        from proxmox_mpc.core.guest_params import clone_names, clone_params
        from proxmox_mpc.output.progress import make_progress
        from proxmox_mpc.services import guests

        names = clone_names(name, count)
        params = clone_params(kind, name=names[0], full=full, target=target, storage=storage, pool=pool)
        with make_progress(app_ctx.err, color=app_ctx.color) as progress:
            result = run(
                guests.clone_guests(
                    app_ctx,
                    kind,
                    source,
                    names=names,
                    params=params,
                    vmid=vmid,
                    options=_verb_options(timeout=timeout, wait=wait),
                    dry_run=dry_run,
                    confirm=confirmer(app_ctx, yes, output),
                    concurrency=concurrency,
                    progress=progress,
                )
            )
        _finish(app_ctx, result, kind, output, waited=wait)

    clone.__doc__ = (
        f"Clone a {noun} (or template), once or --count times, each with a new VMID.\n\n"
        f"Example: pmpc {prefix} clone {'ubuntu-tmpl' if kind == 'qemu' else '201'} --name web "
        f"--count 3 --full -y"
    )

    def simple(action: str, doc: str) -> None:
        def command(
            ctx: typer.Context,
            targets: TargetsArg = None,
            selector: SelectorOpt = None,
            dry_run: DryRunOpt = False,
            yes: YesOpt = False,
            output: ResultOutputOpt = "table",
            wait: WaitOpt = True,
            timeout: TimeoutOpt = DEFAULT_TIMEOUT,
            concurrency: ConcurrencyOpt = None,
        ) -> None:
            batch(
                ctx,
                action,
                targets,
                selector,
                dry_run=dry_run,
                yes=yes,
                output=output,
                concurrency=concurrency,
                timeout=timeout,
                wait=wait,
            )

        command.__doc__ = doc
        app.command(action)(command)

    simple(
        "start",
        f"Start {plural} (already running ones are left alone).\n\n"
        f"Example: pmpc {prefix} start web-1 web-2   |   pmpc {prefix} start -l tag=web -y",
    )
    simple(
        "stop", f"Stop {plural} at once (no clean shutdown).\n\nExample: pmpc {prefix} stop -l tag=batch -y"
    )

    @app.command()
    def shutdown(
        ctx: typer.Context,
        targets: TargetsArg = None,
        selector: SelectorOpt = None,
        force_stop: ForceStopOpt = False,
        dry_run: DryRunOpt = False,
        yes: YesOpt = False,
        output: ResultOutputOpt = "table",
        wait: WaitOpt = True,
        timeout: TimeoutOpt = DEFAULT_TIMEOUT,
        concurrency: ConcurrencyOpt = None,
    ) -> None:
        batch(
            ctx,
            "shutdown",
            targets,
            selector,
            dry_run=dry_run,
            yes=yes,
            output=output,
            concurrency=concurrency,
            timeout=timeout,
            wait=wait,
            force_stop=force_stop,
        )

    shutdown.__doc__ = (
        f"Shut {plural} down cleanly; --timeout is also PVE's own, --force-stop stops "
        f"them after it.\n\nExample: pmpc {prefix} shutdown web-1 --timeout 120 --force-stop -y"
    )

    simple("reboot", f"Reboot running {plural}.\n\nExample: pmpc {prefix} reboot -l tag=web -y")
    if kind == "qemu":

        @app.command()
        def suspend(
            ctx: typer.Context,
            targets: TargetsArg = None,
            selector: SelectorOpt = None,
            todisk: TodiskOpt = False,
            dry_run: DryRunOpt = False,
            yes: YesOpt = False,
            output: OutputOpt = "table",
            wait: WaitOpt = True,
            timeout: TimeoutOpt = DEFAULT_TIMEOUT,
            concurrency: ConcurrencyOpt = None,
        ) -> None:
            """Suspend running VMs: pause them, or with --todisk hibernate them (RAM saved, VM stopped).

            Example: pmpc vm suspend web-1 -y   |   pmpc vm suspend web-1 --todisk -y
            """
            batch(
                ctx,
                "suspend",
                targets,
                selector,
                dry_run=dry_run,
                yes=yes,
                output=output,
                concurrency=concurrency,
                timeout=timeout,
                wait=wait,
                todisk=todisk,
            )

    else:
        simple("suspend", f"Suspend running {plural}.\n\nExample: pmpc {prefix} suspend web-1 -y")
    simple("resume", f"Resume suspended {plural}.\n\nExample: pmpc {prefix} resume web-1 -y")

    @app.command()
    def delete(
        ctx: typer.Context,
        targets: TargetsArg = None,
        selector: SelectorOpt = None,
        purge: PurgeOpt = False,
        dry_run: DryRunOpt = False,
        yes: YesOpt = False,
        output: ResultOutputOpt = "table",
        wait: WaitOpt = True,
        timeout: TimeoutOpt = DEFAULT_TIMEOUT,
        concurrency: ConcurrencyOpt = None,
    ) -> None:
        batch(
            ctx,
            "delete",
            targets,
            selector,
            dry_run=dry_run,
            yes=yes,
            output=output,
            concurrency=concurrency,
            timeout=timeout,
            wait=wait,
            purge=purge,
        )

    delete.__doc__ = (
        f"Delete stopped {plural} (protected ones are refused).\n\n"
        f"Example: pmpc {prefix} delete {'db-1' if kind == 'qemu' else 'cache-1'} --purge -y"
    )

    @app.command("set")
    def set_(
        ctx: typer.Context,
        items: ItemsArg = None,
        selector: SelectorOpt = None,
        delete_keys: DeleteKeyOpt = None,
        dry_run: DryRunOpt = False,
        yes: YesOpt = False,
        output: ResultOutputOpt = "table",
        wait: WaitOpt = True,
        timeout: TimeoutOpt = DEFAULT_TIMEOUT,
        concurrency: ConcurrencyOpt = None,
    ) -> None:
        from proxmox_mpc.core.guest_params import set_params

        targets = [i for i in items or [] if "=" not in i]
        values, deletes = set_params([i for i in items or [] if "=" in i], delete_keys or [])
        batch(
            ctx,
            "set",
            targets,
            selector,
            dry_run=dry_run,
            yes=yes,
            output=output,
            concurrency=concurrency,
            timeout=timeout,
            wait=wait,
            values=values,
            deletes=deletes,
        )

    set_.__doc__ = (
        f"Change config keys of {plural}; a change made by someone else since pmpc read the "
        f"config is refused (exit 7); memory, swap and balloon take sizes (4G) as --memory does.\n\n"
        f"Example: pmpc {prefix} set web-1 memory=4G cores=4 "
        f"--delete description -y"
    )

    @app.command()
    def resize(
        ctx: typer.Context,
        guest: GuestArg,
        disk: DiskArg,
        size: SizeArg,
        dry_run: DryRunOpt = False,
        yes: YesOpt = False,
        output: ResultOutputOpt = "table",
        wait: WaitOpt = True,
        timeout: TimeoutOpt = DEFAULT_TIMEOUT,
    ) -> None:
        from proxmox_mpc.core.guest_params import parse_resize

        spec = parse_resize(disk, size, kind)
        batch(
            ctx,
            "resize",
            [guest],
            None,
            dry_run=dry_run,
            yes=yes,
            output=output,
            concurrency=None,
            timeout=timeout,
            wait=wait,
            resize=spec,
        )

    resize.__doc__ = (
        f"Grow a disk of a {noun} (never shrinks).\n\nExample: pmpc {prefix} resize "
        f"{'web-1 scsi0 +10G' if kind == 'qemu' else 'dns-1 rootfs 16G'} -y"
    )

    @app.command()
    def migrate(
        ctx: typer.Context,
        target: TargetNodeOpt,
        targets: TargetsArg = None,
        selector: SelectorOpt = None,
        online: OnlineOpt = None,
        with_local_disks: LocalDisksOpt = False,
        dry_run: DryRunOpt = False,
        yes: YesOpt = False,
        output: ResultOutputOpt = "table",
        wait: WaitOpt = True,
        timeout: TimeoutOpt = DEFAULT_TIMEOUT,
        concurrency: ConcurrencyOpt = None,
    ) -> None:
        batch(
            ctx,
            "migrate",
            targets,
            selector,
            dry_run=dry_run,
            yes=yes,
            output=output,
            concurrency=concurrency,
            timeout=timeout,
            wait=wait,
            target_node=target,
            online=online,
            with_local_disks=with_local_disks,
        )

    migrate.__doc__ = (
        f"Move {plural} to another node.\n\nExample: pmpc {prefix} migrate "
        f"{'web-1' if kind == 'qemu' else 'dns-1'} --target pve2 -y"
    )

    @snapshot_app.command("list")
    def snapshot_list(
        ctx: typer.Context, guest: GuestArg, output: OutputOpt = "table", no_headers: NoHeadersOpt = False
    ) -> None:
        app_ctx: AppContext = ctx.obj
        check_format(output)
        from proxmox_mpc.output.columns import SNAPSHOT_COLUMNS
        from proxmox_mpc.output.printers import print_list
        from proxmox_mpc.services import guests

        snaps = run(guests.list_snapshots(app_ctx, kind, guest))
        print_list(
            app_ctx.out,
            app_ctx.err,
            snaps,
            fmt=output,
            columns=SNAPSHOT_COLUMNS,
            plural="snapshots",
            headers=not no_headers,
            name_of=lambda r: f"snapshot/{r['name']}",
        )

    snapshot_list.__doc__ = f"List the snapshots of a {noun}.\n\nExample: pmpc {prefix} snapshot list web-1"

    def snapshot_batch(
        ctx: typer.Context, action: str, args: list[str] | None, selector: list[str] | None, **kwargs: Any
    ) -> None:
        from proxmox_mpc.core.guest_params import check_snapshot_name

        if not args:
            raise UsageError("Give the snapshot NAME (after the guests).")
        *targets, name = args
        batch(ctx, action, targets, selector, snapshot=check_snapshot_name(name), **kwargs)

    @snapshot_app.command("create")
    def snapshot_create(
        ctx: typer.Context,
        args: SnapArgs = None,
        selector: SelectorOpt = None,
        description: DescriptionOpt = None,
        vmstate: VmstateOpt = False,
        dry_run: DryRunOpt = False,
        yes: YesOpt = False,
        output: ResultOutputOpt = "table",
        wait: WaitOpt = True,
        timeout: TimeoutOpt = DEFAULT_TIMEOUT,
        concurrency: ConcurrencyOpt = None,
    ) -> None:
        snapshot_batch(
            ctx,
            "snapshot-create",
            args,
            selector,
            dry_run=dry_run,
            yes=yes,
            output=output,
            concurrency=concurrency,
            timeout=timeout,
            wait=wait,
            description=description,
            vmstate=vmstate,
        )

    snapshot_create.__doc__ = (
        f"Snapshot {plural} (an existing snapshot of that name is left alone).\n\n"
        f"Example: pmpc {prefix} snapshot create -l tag=web before-upgrade -y"
    )

    @snapshot_app.command("rollback")
    def snapshot_rollback(
        ctx: typer.Context,
        guest: GuestArg,
        name: SnapNameArg,
        dry_run: DryRunOpt = False,
        yes: YesOpt = False,
        output: ResultOutputOpt = "table",
        wait: WaitOpt = True,
        timeout: TimeoutOpt = DEFAULT_TIMEOUT,
    ) -> None:
        from proxmox_mpc.core.guest_params import check_snapshot_name

        batch(
            ctx,
            "snapshot-rollback",
            [guest],
            None,
            dry_run=dry_run,
            yes=yes,
            output=output,
            concurrency=None,
            timeout=timeout,
            wait=wait,
            snapshot=check_snapshot_name(name),
        )

    snapshot_rollback.__doc__ = (
        f"Roll a {noun} back to a snapshot (its current state is lost).\n\n"
        f"Example: pmpc {prefix} snapshot rollback web-1 before-upgrade -y"
    )

    @snapshot_app.command("delete")
    def snapshot_delete(
        ctx: typer.Context,
        args: SnapArgs = None,
        selector: SelectorOpt = None,
        dry_run: DryRunOpt = False,
        yes: YesOpt = False,
        output: ResultOutputOpt = "table",
        wait: WaitOpt = True,
        timeout: TimeoutOpt = DEFAULT_TIMEOUT,
        concurrency: ConcurrencyOpt = None,
    ) -> None:
        snapshot_batch(
            ctx,
            "snapshot-delete",
            args,
            selector,
            dry_run=dry_run,
            yes=yes,
            output=output,
            concurrency=concurrency,
            timeout=timeout,
            wait=wait,
        )

    snapshot_delete.__doc__ = (
        f"Delete a snapshot of {plural} (a missing one is left alone).\n\n"
        f"Example: pmpc {prefix} snapshot delete web-1 web-2 before-upgrade -y"
    )

    from proxmox_mpc.commands import guest_ops, guest_wait

    guest_ops.register(app, kind)
    guest_wait.register(app, kind)
    return app


vm_app = make_guest_app("qemu")
ct_app = make_guest_app("lxc")

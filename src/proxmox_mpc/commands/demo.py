"""`pmpc demo [--vms N --cts M]` (a guided tour on a simulated cluster) and `pmpc demo serve`."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from proxmox_mpc.commands._run import run
from proxmox_mpc.context import AppContext
from proxmox_mpc.errors import DemoError

if TYPE_CHECKING:
    from proxmox_mpc.services.demo import DemoCluster

RUN_LINE_KEY = "pmpc.run_line"
app = typer.Typer(
    help="Try pmpc on a simulated 3-node cluster: a guided tour, or `pmpc demo serve` (demo extra).",
    invoke_without_command=True,
    no_args_is_help=False,
)
VmsOpt = Annotated[int, typer.Option("--vms", min=0, max=500, help="VMs to create (templates not counted).")]
CtsOpt = Annotated[int, typer.Option("--cts", min=0, max=500, help="Containers to create.")]
TimeScaleOpt = Annotated[
    float,
    typer.Option("--time-scale", min=0, help="Real seconds per simulated second (0: tasks finish at once)."),
]


MEMORY_EDIT = "memory"
FIREWALL_EDIT = "firewall-rule"


@dataclass(frozen=True)
class Step:
    """One stop of the tour: what it shows and the pmpc command line that shows it."""

    title: str
    args: tuple[str, ...]
    workspace: bool = False
    # Instead of a command: edit a manifest so plan has a change to show, (MEMORY_EDIT, guest name) to
    # double a guest's memory or (FIREWALL_EDIT, "") to add a cluster firewall rule.
    edit: tuple[str, str] | None = None
    # The step shows the result of this edit: skipped when the edit could not be made.
    after: str | None = None
    # When args names no command of this pmpc: run this instead (a `pmpc api get` of the same objects).
    fallback: tuple[str, ...] = ()

    @property
    def requires(self) -> tuple[str, ...]:
        return ("plan",) if self.edit else self.args


def _has_command(root: Any, args: tuple[str, ...]) -> bool:
    """Return True when the command named by the leading words of args exists in the app tree."""
    current = root
    for word in args:
        commands = getattr(current, "commands", None)
        if word.startswith("-") or commands is None:
            break
        found = commands.get(word)
        if found is None:
            return False
        current = found
    is_group = getattr(current, "commands", None) is not None
    return current is not root and not (is_group and not getattr(current, "invoke_without_command", False))


def _first(guests: list[dict[str, Any]], kind: str, status: str | None = None) -> str | None:
    for guest in guests:
        matches = guest.get("type", "qemu") == kind and not guest.get("template")
        if matches and (status is None or guest.get("status") == status):
            return str(guest.get("name"))
    return None


def tour_steps(cluster: DemoCluster) -> list[Step]:
    """Return the tour for this cluster (guest names come from what was created)."""
    steps = [
        Step("The cluster's nodes", ("node", "list")),
        Step("One node in detail: versions, usage, storages, guest counts", ("node", "describe", "pve1")),
        Step("Every VM, templates included", ("vm", "list")),
        Step("Filter with a selector: the production web servers", ("vm", "list", "-l", "tag=web,pool=prod")),
        Step("The LXC containers", ("ct", "list")),
        Step("For scripts: -o json, yaml or name", ("vm", "list", "-l", "tag=db", "-o", "json")),
    ]
    running_vm = _first(cluster.guests, "qemu", "running")
    any_vm = _first(cluster.guests, "qemu")
    any_ct = _first(cluster.guests, "lxc")
    if any_vm:
        steps.append(Step("A VM in detail", ("vm", "describe", any_vm)))
    if running_vm:
        steps += [
            Step("Stop a VM: pmpc waits for the Proxmox task", ("vm", "stop", running_vm, "-y")),
            Step("Start it again", ("vm", "start", running_vm, "-y")),
            Step("Starting a running VM is not an error: it says so", ("vm", "start", running_vm, "-y")),
        ]
    if any_ct:
        steps.append(Step("A container in detail", ("ct", "describe", any_ct)))
    steps += [
        Step("Beyond guests: the cluster firewall's rules, in order", ("firewall", "rules", "list", "--cluster")),
        Step("The backup jobs", ("backup-job", "list"), fallback=("api", "get", "/cluster/backup")),
        Step("What HA keeps running", ("ha", "list"), fallback=("api", "get", "/cluster/ha/resources")),
        Step("The users", ("user", "list"), fallback=("api", "get", "/access/users")),
        Step("Record the cluster in the state store; write a manifest per object", ("sync", "--import"), True),
        Step("Right after the import, manifests and cluster agree", ("plan",), workspace=True),
    ]
    if running_vm:
        steps += [
            Step(f"Change the desired state: more memory for {running_vm}", (), True, edit=(MEMORY_EDIT, running_vm)),
            Step("The plan shows exactly that change", ("plan",), workspace=True, after=MEMORY_EDIT),
            Step("Apply it; pmpc journals each action", ("apply", "-y"), workspace=True, after=MEMORY_EDIT),
            Step("The cluster matches the manifests again", ("plan",), workspace=True, after=MEMORY_EDIT),
        ]
    steps += [
        Step("Not only guests: open HTTPS in the cluster firewall", (), True, edit=(FIREWALL_EDIT, "")),
        Step("The plan adds the rule at its place in the list", ("plan",), workspace=True, after=FIREWALL_EDIT),
        Step("Apply it (digest-checked: a concurrent edit is refused)", ("apply", "-y"), True, after=FIREWALL_EDIT),
        Step("Nothing left to do", ("plan",), workspace=True, after=FIREWALL_EDIT),
    ]
    return steps


def _edit(step: Step, workspace: Path) -> str | None:
    """Make the step's manifest edit; return the line that tells what changed, or None when it cannot be made."""
    from proxmox_mpc.services import demo as demo_service

    if step.edit is None or not workspace.exists():
        return None
    what, name = step.edit
    if what == MEMORY_EDIT:
        grown = demo_service.grow_memory(workspace, name)
        if grown is None:
            return None
        path, old, new = grown
        return f"in {path.relative_to(workspace)}, memory: {old} -> {new}"
    added = demo_service.add_firewall_rule(workspace)
    if added is None:
        return None
    path, rule = added
    return f"in {path.relative_to(workspace)}, a rule at the end of rules: {rule}"


def _run_step(ctx: typer.Context, step_ctx: AppContext, args: tuple[str, ...]) -> bool:
    """Run one pmpc command line through the CLI's error edge (it reports any error); True when it succeeded."""
    # cli (above commands/) hands down the edge that runs a command line, as it does for `pmpc console`.
    run_line = ctx.meta[RUN_LINE_KEY]
    return int(run_line(list(args), step_ctx)) == 0


def _tour(ctx: typer.Context, app_ctx: AppContext, cluster: DemoCluster) -> None:
    import shlex
    import tempfile

    root = ctx.find_root().command
    out = app_ctx.out
    counts = cluster.counts()
    out.write(
        f"A simulated Proxmox VE cluster is running at {cluster.url}: {counts['nodes']} nodes, "
        f"{counts['vms']} VMs, {counts['cts']} containers and {counts['templates']} templates, "
        "in pools and with tags, with a cluster firewall, a backup job, HA and a user.\n"
        f"pmpc reaches it through the context {cluster.context!r} (password login, its own CA), "
        f"so each command below is what you would type with `pmpc --context {cluster.context} ...`.\n"
    )
    failed = []
    edited: set[str] = set()
    with tempfile.TemporaryDirectory(prefix="pmpc-demo-") as scratch:
        workspace = Path(scratch) / "demo-workspace"
        for step in tour_steps(cluster):
            args = step.args if _has_command(root, step.requires) else step.fallback
            if not _has_command(root, step.requires) and not (args and _has_command(root, args)):
                continue
            if step.after is not None and step.after not in edited:
                continue
            if step.workspace and not _has_command(root, ("init",)):
                continue
            if step.edit:
                change = _edit(step, workspace)
                if change is not None:
                    out.write(f"\n# {step.title}: {change}\n")
                    edited.add(step.edit[0])
                continue
            line = shlex.join(("pmpc", *args))
            if step.workspace and not workspace.exists():
                init = ("init", str(workspace))
                out.write("\n# A workspace for desired state and history\n")
                out.write(f"$ pmpc init {shlex.quote(str(workspace))}\n")
                out.flush()
                if not _run_step(ctx, cluster.app_context(app_ctx), init):
                    failed.append(shlex.join(("pmpc", *init)))
                    continue
            out.write(f"\n# {step.title}\n$ {line}\n")
            out.flush()
            step_ctx = cluster.app_context(app_ctx, workspace=workspace if step.workspace else None)
            if not _run_step(ctx, step_ctx, args):
                failed.append(line)
            step_ctx.out.flush()
    out.write(
        "\nThat was the tour. Keep a cluster running to explore from another shell with `pmpc demo serve`, "
        f"then `pmpc --context {cluster.context} vm list`.\n"
    )
    if failed:
        raise DemoError(f"{len(failed)} tour step(s) failed: {'; '.join(failed)}.")


@app.callback()
def demo(
    ctx: typer.Context,
    vms: VmsOpt = 8,
    cts: CtsOpt = 4,
    time_scale: TimeScaleOpt = 0.25,
) -> None:
    """Run a short guided tour of pmpc on a simulated 3-node cluster, then stop it.

    Example: pmpc demo   |   pmpc demo --vms 20 --cts 10   |   pmpc demo serve
    """
    if ctx.invoked_subcommand is not None:
        return
    app_ctx: AppContext = ctx.obj
    from proxmox_mpc.services import demo as demo_service

    with demo_service.running_cluster(vms=vms, cts=cts, time_scale=time_scale) as cluster:
        run(demo_service.prepare(cluster, app_ctx))
        _tour(ctx, app_ctx, cluster)


@app.command()
def serve(
    ctx: typer.Context,
    vms: VmsOpt = 8,
    cts: CtsOpt = 4,
    time_scale: TimeScaleOpt = 0.25,
) -> None:
    """Keep a simulated cluster up for exploring from another shell, until Ctrl-C.

    Example: pmpc demo serve   (then, elsewhere: pmpc --context demo vm list)
    """
    app_ctx: AppContext = ctx.obj
    from proxmox_mpc.services import demo as demo_service

    with demo_service.running_cluster(vms=vms, cts=cts, time_scale=time_scale) as cluster:
        run(demo_service.prepare(cluster, app_ctx))
        counts = cluster.counts()
        app_ctx.info(
            f"Demo cluster up at {cluster.url}: {counts['nodes']} nodes, {counts['vms']} VMs, "
            f"{counts['cts']} containers, {counts['templates']} templates.\n"
            f"Context {cluster.context!r} saved in {cluster.contexts_path}. From another shell:\n"
            f"  pmpc --context {cluster.context} vm list\n"
            "Press Ctrl-C to stop."
        )
        demo_service.wait_until_interrupted(cluster.process, cluster.log_file, cluster.front)
    app_ctx.info("Demo cluster stopped.")

"""The verb factory of `pmpc vm|ct`: a verb is a name, its help, its parameters and one action.

A verb declares its parameters once (`Param`s, see commands/_params.py) and an action
`action(app_ctx, kind, **values)` that gets pmpc's kind (`vm`/`ct`); `add_verbs` turns it into a Typer
command of the `vm` or the `ct` group. The flags every write shares (WRITE, BATCH) are declared here once,
in their --help order.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated, Any

import typer

from proxmox_mpc.commands import _complete
from proxmox_mpc.commands._options import (
    DEFAULT_TIMEOUT,
    ConcurrencyOpt,
    DryRunOpt,
    ResultOutputOpt,
    SelectorOpt,
    TimeoutOpt,
    WaitOpt,
    YesOpt,
)
from proxmox_mpc.commands._params import Param, takes
from proxmox_mpc.commands._run import confirmer, run
from proxmox_mpc.context import AppContext
from proxmox_mpc.core.identity import GUEST_KINDS, GuestKind
from proxmox_mpc.output.printers import check_format

if TYPE_CHECKING:
    from proxmox_mpc.core.batch import BatchResult
    from proxmox_mpc.core.selectors import Selector
    from proxmox_mpc.output.progress import Progress
    from proxmox_mpc.services.guests import VerbOptions


@dataclass(frozen=True)
class Words:
    """How help and messages name a kind of guest: `VM`/`VMs` under `pmpc vm`, `container`s under `pmpc ct`."""

    prefix: GuestKind
    noun: str
    plural: str
    title: str


WORDS: dict[str, Words] = {
    "vm": Words("vm", "VM", "VMs", "QEMU virtual machines"),
    "ct": Words("ct", "container", "containers", "LXC containers"),
}


@dataclass(frozen=True)
class Verb:
    """A guest verb: `help` is a template ({noun}, {plural}, {prefix}, {example}) or one text per kind."""

    name: str
    help: str | Mapping[str, str]
    params: tuple[Param, ...]
    action: Callable[..., Any]
    kinds: tuple[GuestKind, ...] = GUEST_KINDS
    example: Mapping[str, str] = field(default_factory=dict)

    def help_for(self, kind: GuestKind) -> str:
        """Return this verb's help under `pmpc KIND`."""
        text = self.help if isinstance(self.help, str) else self.help[kind]
        words = WORDS[kind]
        return text.format(noun=words.noun, plural=words.plural, prefix=words.prefix, example=self.example.get(kind))


def command(verb: Verb, kind: GuestKind) -> Callable[..., Any]:
    """Return the Typer callback of a verb: its signature is the verb's parameters after the context."""

    def callback(ctx: typer.Context, **values: Any) -> Any:
        return verb.action(ctx.obj, kind, **values)

    callback.__name__ = callback.__qualname__ = verb.name.replace("-", "_")
    return takes(*verb.params)(callback)


def add_verbs(app: typer.Typer, kind: GuestKind, verbs: tuple[Verb, ...]) -> None:
    """Add the verbs that apply to `kind` to a group, in the given order (the order of its --help)."""
    for verb in verbs:
        if kind in verb.kinds:
            app.command(verb.name, help=verb.help_for(kind))(command(verb, kind))


TargetsArg = Annotated[
    list[str] | None,
    typer.Argument(
        help="VMIDs or names (or use -l).", metavar="GUEST...", show_default=False, autocompletion=_complete.guests
    ),
]
GuestArg = Annotated[str, typer.Argument(help="VMID or name.", metavar="GUEST", autocompletion=_complete.guests)]

TARGETS = Param("targets", TargetsArg, None)
GUEST = Param("guest", GuestArg)
SELECTOR = Param("selector", SelectorOpt, None)
DRY_RUN, YES = Param("dry_run", DryRunOpt, False), Param("yes", YesOpt, False)
OUTPUT = Param("output", ResultOutputOpt, "table")
WAIT, TIMEOUT = Param("wait", WaitOpt, True), Param("timeout", TimeoutOpt, DEFAULT_TIMEOUT)
CONCURRENCY = Param("concurrency", ConcurrencyOpt, None)
# A write's own flags, in their --help order: on one target (WRITE), or on many at once (BATCH).
WRITE = (DRY_RUN, YES, OUTPUT, WAIT, TIMEOUT)
BATCH = (*WRITE, CONCURRENCY)
# backup, restore and unlock list the same flags with the waiting ones first.
WAIT_FIRST = (TIMEOUT, WAIT, CONCURRENCY, DRY_RUN, YES, OUTPUT)


def selector_of(texts: list[str] | None) -> Selector | None:
    """Parse the -l values (None when there are none)."""
    from proxmox_mpc.core.selectors import parse_selector

    return parse_selector(texts) if texts is not None else None


def verb_options(**values: Any) -> VerbOptions:
    """Return the service's options of a verb (its flags beyond the targets)."""
    from proxmox_mpc.services.guests import VerbOptions

    return VerbOptions(**values)


def finish(app_ctx: AppContext, batch: BatchResult, kind: GuestKind, fmt: str, *, waited: bool = True) -> None:
    """Print a batch's results, then raise its failure (a partial failure exits 3)."""
    from proxmox_mpc.output.batch import print_batch

    print_batch(app_ctx.out, app_ctx.err, batch, fmt=fmt, plural=WORDS[kind].plural, waited=waited)
    failure = batch.failure()
    if failure is not None:
        raise failure


def with_progress(
    app_ctx: AppContext,
    kind: GuestKind,
    output: str,
    start: Callable[[Progress], Coroutine[Any, Any, BatchResult]],
    *,
    waited: bool = True,
) -> None:
    """Run a batch service under the progress display on stderr, then print what it did."""
    from proxmox_mpc.output.progress import make_progress

    with make_progress(app_ctx.err, color=app_ctx.color) as progress:
        result = run(start(progress))
    finish(app_ctx, result, kind, output, waited=waited)


def run_batch(
    app_ctx: AppContext,
    kind: GuestKind,
    action: str,
    targets: list[str] | None,
    selector: list[str] | None,
    *,
    dry_run: bool,
    yes: bool,
    output: str,
    concurrency: int | None = None,
    **options: Any,
) -> None:
    """Run one guest action (start, set, snapshot-create...) on the targets; `options` are VerbOptions'."""
    check_format(output)
    sel = selector_of(selector)
    opts = verb_options(**options)
    from proxmox_mpc.services import guests

    with_progress(
        app_ctx,
        kind,
        output,
        lambda progress: guests.run_guest_action(
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
        ),
        waited=opts.wait,
    )


def batch_action(action: str) -> Callable[..., None]:
    """Return the action of a verb that is one guest action on many targets, its flags passed on as options."""

    def act(app_ctx: AppContext, kind: GuestKind, *, targets: list[str] | None, **values: Any) -> None:
        run_batch(app_ctx, kind, action, targets, values.pop("selector", None), **values)

    return act


def batch_verb(name: str, help: str, *options: Param, **settings: Any) -> Verb:
    """Return a verb that runs the guest action of its name on the targets (its options before BATCH's)."""
    return Verb(name, help, (TARGETS, SELECTOR, *options, *BATCH), batch_action(name), **settings)

"""`pmpc health | logs | debug | report-issue | test`: operating pmpc and the cluster."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import typer

from proxmox_mpc.commands import _complete
from proxmox_mpc.commands._options import NoHeadersOpt, OutputOpt, ResultOutputOpt, SelectorOpt, selector_text
from proxmox_mpc.commands._run import run
from proxmox_mpc.context import AppContext
from proxmox_mpc.errors import PmpcError, UsageError
from proxmox_mpc.output.printers import Column, check_format, print_list, print_one
from proxmox_mpc.output.units import timestamp


def _plain(*keys: str) -> tuple[Column, ...]:
    """Columns that show a field as it is, headed by its name in capitals."""
    return tuple(Column(key.upper(), key) for key in keys)


CHECK_COLUMNS = (Column("CHECK", "name"), *_plain("status", "message"))
LOG_COLUMNS = (
    Column("TIME", "start_time", format=timestamp),
    Column("SOURCE", "source", wide=True),
    *_plain("node", "type", "target", "guest", "status", "user"),
    Column("MESSAGE", "message", wide=True),
    Column("UPID", "upid", wide=True),
)
TEST_COLUMNS = _plain("guest", "result", "passed", "failed", "details")
OutFileOpt = Annotated[
    Path | None,
    typer.Option("--out", help="Write to this file instead of stdout.", dir_okay=False, metavar="FILE"),
]


LogGuestOpt = Annotated[
    str | None,
    typer.Option("--guest", "-g", help="Only this guest (VMID or name).", autocompletion=_complete.of("guests")),
]
LogNodeOpt = Annotated[
    str | None, typer.Option("--node", help="Only this node.", autocompletion=_complete.of("nodes"))
]
LogTypeOpt = Annotated[str | None, typer.Option("--type", help="Only this task type (qmstart, vzdump, apply...).")]
LogStatusOpt = Annotated[str | None, typer.Option("--status", help="Only ok, error, running or skipped.")]
SinceOpt = Annotated[str | None, typer.Option("--since", help="Only newer than 30m, 1h, 2d, 1w or an ISO time.")]
SourceOpt = Annotated[str, typer.Option("--source", help="all, cluster (Proxmox tasks) or pmpc (journal).")]
FollowOpt = Annotated[bool, typer.Option("--follow", "-f", help="Keep printing new entries until Ctrl-C.")]


@dataclass(frozen=True)
class Rows:
    """The rows a report shows as a table, their columns, what they are called, and the report's -o name."""

    items: Sequence[Any]
    columns: tuple[Column, ...]
    plural: str
    name_of: Callable[[dict[str, Any]], str]


def _print_report(app_ctx: AppContext, report: Any, rows: Rows, output: str, no_headers: bool) -> None:
    """Print a report: its rows as a table (-o table|wide), else the whole report as one document."""
    if output in ("table", "wide"):
        print_list(app_ctx.out, app_ctx.err, rows.items, fmt=output, columns=rows.columns, plural=rows.plural,
                   headers=not no_headers)  # fmt: skip
    else:
        print_one(app_ctx.out, report, fmt=output, columns=rows.columns, name_of=rows.name_of)


def health(
    ctx: typer.Context,
    storage_warn: Annotated[
        float, typer.Option("--storage-warn", min=0, max=100, help="Storage use (percent) that is a warning.")
    ] = 80.0,
    storage_fail: Annotated[
        float, typer.Option("--storage-fail", min=0, max=100, help="Storage use (percent) that is a failure.")
    ] = 95.0,
    output: OutputOpt = "table",
    no_headers: NoHeadersOpt = False,
) -> None:
    """Check the cluster and pmpc: quorum, nodes, storage, HA, failed tasks, onboot guests, API, state store.

    Each check is OK, WARN or FAIL; any FAIL exits 1.
    Example: pmpc health   |   pmpc health --storage-warn 70 -o json
    """
    app_ctx: AppContext = ctx.obj
    check_format(output)
    if storage_warn > storage_fail:
        raise UsageError(
            f"--storage-warn ({storage_warn:g}) must not be above --storage-fail ({storage_fail:g})."
        )
    from proxmox_mpc.services.health import Thresholds, run_health

    report = run(run_health(app_ctx, Thresholds(storage_warn=storage_warn, storage_fail=storage_fail)))
    rows = Rows(report.checks, CHECK_COLUMNS, "checks", name_of=lambda r: f"health/{r['status']}")
    _print_report(app_ctx, report, rows, output, no_headers)
    failed = report.failed
    if failed:
        raise PmpcError(f"{len(failed)} health check(s) failed: {', '.join(c.name for c in failed)}.")


def logs(
    ctx: typer.Context,
    guest: LogGuestOpt = None,
    node: LogNodeOpt = None,
    type_: LogTypeOpt = None,
    status: LogStatusOpt = None,
    since: SinceOpt = None,
    limit: Annotated[int, typer.Option("--limit", min=1, help="Show at most this many entries.")] = 50,
    source: SourceOpt = "all",
    follow: FollowOpt = False,
    output: OutputOpt = "table",
    no_headers: NoHeadersOpt = False,
) -> None:
    """Show recent cluster tasks and pmpc's own operation journal.

    With --follow, -o json prints one JSON object per line.
    Example: pmpc logs --since 1h --status error   |   pmpc logs -g web-1 -f
    """
    app_ctx: AppContext = ctx.obj
    check_format(output)
    from proxmox_mpc.services import logs as service

    if source not in ("all", "cluster", "pmpc"):
        raise UsageError(f"Bad --source {source!r}: use all, cluster or pmpc.")
    flt = service.LogFilter(
        guest=guest,
        node=node,
        type=type_,
        status=status,
        limit=limit,
        source=source,  # type: ignore[arg-type]
        since=service.parse_since(since) if since else None,
    )
    service.check_filter(flt)
    if follow and output not in ("table", "wide", "json", "name"):
        raise UsageError("--follow prints one entry per line: use -o table, wide, json or name.")

    def show(entries: list[service.LogEntry], warnings: list[str], first: bool) -> None:
        for warning in warnings:
            app_ctx.warn(warning)
        if follow and output == "json":
            for entry in entries:
                app_ctx.out.write(entry.model_dump_json() + "\n")
        elif entries or first:
            print_list(
                app_ctx.out,
                app_ctx.err,
                entries,
                fmt=output,
                columns=LOG_COLUMNS,
                plural="log entries",
                headers=first and not no_headers,
                name_of=lambda r: f"task/{r.get('upid') or r['type']}",
            )
        app_ctx.out.flush()

    if not follow:
        show(*run(service.collect(app_ctx, flt)), first=True)
        return

    async def stream() -> None:
        first = True
        async for entries, warnings in service.follow(app_ctx, flt):
            show(entries, warnings if first else [], first)
            first = False

    run(stream())


def debug(ctx: typer.Context, out: OutFileOpt = None, output: ResultOutputOpt = "table") -> None:
    """Print a diagnostics report: versions, context (secrets redacted), connectivity, TLS, API, state store.

    Example: pmpc debug   |   pmpc debug --out debug.txt   |   pmpc debug -o json
    """
    app_ctx: AppContext = ctx.obj
    check_format(output)
    from proxmox_mpc.services import diagnostics

    report = run(diagnostics.build_report(app_ctx))
    if output in ("table", "wide"):
        text = diagnostics.render_text(report)
    else:
        import io

        buffer = io.StringIO()
        print_one(buffer, report, fmt=output, columns=(), name_of=lambda r: "debug/report")
        text = buffer.getvalue()
    if out is None:
        app_ctx.out.write(text)
        return
    path = diagnostics.write_report_file(out, text)
    app_ctx.info(f"Wrote the diagnostics report to {path}.")


def report_issue(ctx: typer.Context, out: OutFileOpt = None, output: ResultOutputOpt = "table") -> None:
    """Write an anonymised bug report (diagnostics, last error, recent logs) and print the tracker URL.

    Nothing is sent and no browser is opened: review the file, then attach it to a new issue.
    Example: pmpc report-issue   |   pmpc report-issue --out report.md
    """
    app_ctx: AppContext = ctx.obj
    check_format(output)
    from proxmox_mpc.services.report import build_issue_report

    report, _text = run(build_issue_report(app_ctx, out))
    if output in ("table", "wide"):
        app_ctx.out.write(f"{report.path}\n")
        app_ctx.info(
            "Review the report (names and addresses are replaced), then open a new issue and attach it:"
        )
        app_ctx.out.write(f"{report.url}\n")
    else:
        print_one(app_ctx.out, report, fmt=output, columns=(), name_of=lambda r: r["path"])


def test(
    ctx: typer.Context,
    selector: SelectorOpt = None,
    builtin: Annotated[
        bool, typer.Option("--builtin", help="Run the built-in checks even if tests/ exists.")
    ] = False,
    junit: Annotated[
        Path | None,
        typer.Option("--junit", help="Also write a JUnit XML report: a testcase per guest and check.", metavar="FILE"),
    ] = None,
    output: OutputOpt = "table",
    no_headers: NoHeadersOpt = False,
) -> None:
    """Test the infrastructure: run the generated tests in tests/, else check manifests against the cluster.

    The generated suite (`pmpc generate tests`) runs under pytest; -l or --builtin run the built-in checks
    (existence, node, power, cores, memory, tags) instead. Reports pass/fail per guest; a failure exits 1.
    Example: pmpc test   |   pmpc test -l tag=web -o json   |   pmpc test --junit report.xml
    """
    app_ctx: AppContext = ctx.obj
    check_format(output)
    from proxmox_mpc.services import infra_test

    result = run(infra_test.run_tests(app_ctx, selector=selector_text(selector), builtin=builtin))
    app_ctx.info(result.summary)
    rows = Rows(result.guests, TEST_COLUMNS, "tests", name_of=lambda r: f"test/{r['result']}")
    _print_report(app_ctx, result, rows, output, no_headers)
    if junit is not None:
        infra_test.write_junit(result, junit)
    if not result.ok:
        raise PmpcError(result.failure_sentence())


def register(app: typer.Typer) -> None:
    """Add health, logs, debug, report-issue and test to the root app."""
    app.command("health")(health)
    app.command("logs")(logs)
    app.command("debug")(debug)
    app.command("report-issue")(report_issue)
    app.command("test")(test)

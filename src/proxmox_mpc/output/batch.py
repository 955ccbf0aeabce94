"""Print a batch verb's results: one line per target on stdout, failures on stderr, or the JSON array."""

from __future__ import annotations

from typing import TextIO

from proxmox_mpc.core.batch import BatchResult, TargetResult
from proxmox_mpc.output.printers import JSONPATH_PREFIX, get_printer


def result_line(result: TargetResult, *, dry_run: bool, waited: bool) -> str:
    """Return `vm/101 started`, `vm/101 already running`, `vm/101 started (dry run)`..."""
    text = f"{result.target} {result.message or result.action}".rstrip()
    if dry_run:
        return text + " (dry run)"
    if not waited and result.changed and result.upid:
        return f"{result.target} {result.action} submitted: {result.upid}"
    return text


def print_batch(
    out: TextIO, err: TextIO, batch: BatchResult, *, fmt: str, plural: str = "guests", waited: bool = True
) -> None:
    """Print every target's result in the chosen format; failures (and task log tails) go to stderr.

    With a single target its error is left to the caller's error line; only the log tail is shown here.
    """
    if not batch.results:
        err.write(f"No {plural} matched.\n")
        if fmt in ("json", "yaml") or fmt.startswith(JSONPATH_PREFIX):
            get_printer(fmt).print_list(out, [])
        return
    if fmt in ("json", "yaml") or fmt.startswith(JSONPATH_PREFIX):
        get_printer(fmt).print_list(out, batch.records())
    elif fmt == "name":
        for result in batch.ok:
            out.write(result.target + "\n")
    else:
        for result in batch.ok:
            out.write(result_line(result, dry_run=batch.dry_run, waited=waited) + "\n")
            if batch.dry_run:
                for request in result.requests:
                    out.write(f"  {request.line()}\n")
    single = len(batch.results) == 1
    for result in batch.failed:
        if not single:
            err.write(f"{result.target}: error: {result.error}\n")
        if result.log_tail:
            err.write(f"{'' if single else '  '}Last lines of the task log ({result.upid}):\n")
            for line in result.log_tail:
                err.write(f"{'  ' if single else '    '}{line}\n")
    out.flush()
    err.flush()

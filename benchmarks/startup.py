"""Cold-start time of pmpc commands as ratios to a bare one-command Typer app, measured in the same run.

    python benchmarks/startup.py [--runs 9]

Each command runs in a fresh interpreter; the median of several runs is reported. Aim: `pmpc --help`
at most 1.2x the bare Typer app.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from fake_cluster import fake_cluster

BARE_TYPER = """
import typer
app = typer.Typer()
@app.command()
def hello(name: str = "world") -> None:
    print(f"hello {name}")
app()
"""
# The same app with rich help turned off, as pmpc has it: the fair baseline for `--help`.
BARE_TYPER_PLAIN = BARE_TYPER.replace("typer.Typer()", "typer.Typer(rich_markup_mode=None)")
# What the `pmpc` console script runs.
PMPC = "from proxmox_mpc.cli import main; main()"
HELP_TARGET = 1.2


def run_once(argv: Sequence[str], env: dict[str, str]) -> tuple[float, float]:
    """Run argv once; return (wall ms, CPU ms of the child: user + system)."""
    started = time.perf_counter()
    process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    stderr = process.stderr.read() if process.stderr else b""
    if hasattr(os, "wait4"):
        _, status, usage = os.wait4(process.pid, 0)
        code = os.waitstatus_to_exitcode(status)
        process.returncode = code
        cpu = (usage.ru_utime + usage.ru_stime) * 1000
    else:  # no rusage per child here: report wall time only
        code, cpu = process.wait(), float("nan")
    wall = (time.perf_counter() - started) * 1000
    if code != 0:
        raise SystemExit(f"{' '.join(argv)} failed ({code}): {stderr.decode()[-500:]}")
    return wall, cpu


def measure(rows: list[tuple[str, list[str], dict[str, str]]], runs: int) -> list[tuple[str, float, float]]:
    """Return (label, median wall ms, median CPU ms) per row.

    The rows take turns, run after run, so a machine that gets busier or quieter affects them alike; the
    first round only warms the file cache and the bytecode.
    """
    samples: dict[str, list[tuple[float, float]]] = {label: [] for label, _, _ in rows}
    for round_ in range(runs + 1):
        for label, argv, env in rows:
            sample = run_once(argv, env)
            if round_:
                samples[label].append(sample)
    medians = []
    for label, _, _ in rows:
        walls, cpus = zip(*samples[label], strict=True)
        medians.append((label, statistics.median(walls), statistics.median(cpus)))
    return medians


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=9, help="runs per command (median reported)")
    args = parser.parse_args()
    python = sys.executable
    with tempfile.TemporaryDirectory(prefix="pmpc-startup-") as home, fake_cluster() as cluster:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PMPC_")}
        env.update(
            {
                "XDG_CONFIG_HOME": f"{home}/config",
                "XDG_CACHE_HOME": f"{home}/cache",
                "XDG_STATE_HOME": f"{home}/state",
                "NO_COLOR": "1",
            }
        )
        with_cluster = {**env, **cluster.env()}
        rows = [
            ("bare typer app --help", [python, "-c", BARE_TYPER, "--help"], env),
            ("bare typer, plain help", [python, "-c", BARE_TYPER_PLAIN, "--help"], env),
            ("pmpc --help", [python, "-c", PMPC, "--help"], env),
            ("pmpc --version", [python, "-c", PMPC, "--version"], env),
            ("pmpc node list --help", [python, "-c", PMPC, "node", "list", "--help"], env),
            ("pmpc node list -o json", [python, "-c", PMPC, "node", "list", "-o", "json"], with_cluster),
        ]
        results = measure(rows, args.runs)
        console = console_to_prompt(Path(home), args.runs)
    _, base_wall, base_cpu = results[0]
    print(
        f"cold start, median of {args.runs} runs (Python {sys.version.split()[0]});"
        " fakepve in its own process"
    )
    print(f"{'command':<26} {'wall ms':>8} {'ratio':>7} {'CPU ms':>8} {'ratio':>7}")
    for label, wall, cpu in results:
        print(f"{label:<26} {wall:8.1f} {wall / base_wall:6.2f}x {cpu:8.1f} {cpu / base_cpu:6.2f}x")
    help_wall = results[2][1]
    for label, base in (("bare Typer app", base_wall), ("bare Typer app with plain help", results[1][1])):
        ratio = help_wall / base
        verdict = "meets" if ratio <= HELP_TARGET else "misses"
        print(f"pmpc --help is {ratio:.2f}x the {label} (wall): {verdict} the {HELP_TARGET}x aim")
    if console is not None:
        python_ms, console_ms = console
        print(
            f"pmpc console to first prompt: {console_ms:.1f} ms, {console_ms / python_ms:.1f}x "
            f"`python -c pass` ({python_ms:.1f} ms) in a pseudo-terminal"
        )


def console_to_prompt(home: Path, runs: int) -> tuple[float, float] | None:
    """Return (python -c pass ms, console-to-first-prompt ms), or None without pexpect."""
    try:
        from console_startup import isolated_env, median_of, time_python, time_to_prompt
    except ImportError:  # pexpect is a dev dependency
        print("(console start not measured: pexpect is not installed)")
        return None
    workspace = home / "console-bench"
    workspace.mkdir()
    (workspace / "pmpc.yaml").write_text("name: bench\n")
    env = isolated_env(home / "console-home")
    return median_of(runs, lambda: time_python(env)), median_of(runs, lambda: time_to_prompt(workspace, env))


if __name__ == "__main__":
    main()

"""Time of one shell <TAB> (bash, zsh, fish) against a synced store, beside `pmpc vm start --help`.

    python benchmarks/completion.py [--vms 500] [--runs 9]

Each completion runs in a fresh interpreter, as a shell runs it; the median of several runs is reported.
The names come from the state store (SQLite), never the network: the cluster is stopped before timing.
Each shell's <TAB> (`pmpc vm start <TAB>`: names; `pmpc vm <TAB>`: subcommands with their help for zsh
and fish) goes through the `pmpc` entry point (the fast path: a cached completion table, no typer), and
through the Click path for comparison; `pmpc vm start --help` builds the same command group. The names
lookup itself is also timed in-process. Exits 1 when a fast <TAB> misses the aim (AIM_MS) or answers other
than the Click path.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from fake_cluster import fake_cluster

PMPC = "from proxmox_mpc.__main__ import main; main()"
CLICK_PATH = "from proxmox_mpc.cli import main; main()"
AIM_MS = 100.0


def tab_env(shell: str, words: list[str]) -> dict[str, str]:
    """The variables a shell's completion function sets for `pmpc <words>` (the last one incomplete)."""
    line = " ".join(["pmpc", *words])
    if shell == "bash":
        return {"_PMPC_COMPLETE": "complete_bash", "COMP_WORDS": line, "COMP_CWORD": str(len(words))}
    extra = {"_TYPER_COMPLETE_FISH_ACTION": "get-args"} if shell == "fish" else {}
    return {"_PMPC_COMPLETE": f"complete_{shell}", "_TYPER_COMPLETE_ARGS": line, **extra}


def median_ms(argv: list[str], env: dict[str, str], runs: int) -> tuple[float, str]:
    """Return the median wall time (ms) of argv and the output of its last run."""
    times, out = [], ""
    for _ in range(runs):
        started = time.perf_counter()
        done = subprocess.run(argv, env=env, capture_output=True, text=True, check=True)
        times.append((time.perf_counter() - started) * 1000)
        out = done.stdout
    return statistics.median(times), out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vms", type=int, default=90)
    parser.add_argument("--runs", type=int, default=9)
    args = parser.parse_args()
    python = sys.executable
    with tempfile.TemporaryDirectory(prefix="pmpc-completion-") as home:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PMPC_")}
        env.update({"XDG_CONFIG_HOME": f"{home}/c", "XDG_CACHE_HOME": f"{home}/k", "XDG_STATE_HOME": f"{home}/s"})
        with fake_cluster(vms=args.vms) as cluster:
            subprocess.run([python, "-c", PMPC, "sync"], env={**env, **cluster.env()}, check=True, capture_output=True)
        help_ms, _ = median_ms([python, "-c", PMPC, "vm", "start", "--help"], env, args.runs)
        # The first <TAB> writes the completion table (the Click path); the timed ones use it.
        first = {**env, **tab_env("bash", ["vm", ""])}
        subprocess.run([python, "-c", PMPC], env=first, check=True, capture_output=True)
        rows = []
        for shell in ("bash", "zsh", "fish"):
            for words in (["vm", "start", ""], ["vm", ""]):
                tab = {**env, **tab_env(shell, words)}
                tab_ms, out = median_ms([python, "-c", PMPC], tab, args.runs)
                click_ms, click_out = median_ms([python, "-c", CLICK_PATH], tab, args.runs)
                if out != click_out:
                    sys.exit(f"{shell}: the fast path and the Click path answer `pmpc {' '.join(words)}` differently")
                rows.append((shell, " ".join(["pmpc", *words]).rstrip(), tab_ms, click_ms, len(out.splitlines())))
        lookup = (
            "import time, statistics; from proxmox_mpc.services.completion import load_names\n"
            "t = []\nfor _ in range(20):\n"
            "    s = time.perf_counter(); load_names(); t.append(time.perf_counter() - s)\n"
            "print(f'{statistics.median(t) * 1000:.1f}')"
        )
        names_ms = subprocess.run([python, "-c", lookup], env=env, capture_output=True, text=True, check=True).stdout
        print(f"pmpc vm start --help               {help_ms:7.1f} ms")
        print(f"{'shell <TAB>':34} {'fast':>7}    {'Click path':>10}   (aim < {AIM_MS:.0f} ms, store only)")
        for shell, line, tab_ms, click_ms, lines in rows:
            print(f"{shell:5} {line + ' <TAB>':28} {tab_ms:7.1f} ms {click_ms:7.1f} ms   ({lines} lines)")
        print(f"names lookup (in-process)          {float(names_ms):7.1f} ms")
        slowest = max(rows, key=lambda row: row[2])
        if slowest[2] >= AIM_MS:
            sys.exit(f"missed: a {slowest[0]} <TAB> took {slowest[2]:.1f} ms (aim < {AIM_MS:.0f} ms)")


if __name__ == "__main__":
    main()

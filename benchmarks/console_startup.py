"""Console start to first prompt in a real pseudo-terminal, as a ratio to `python -c pass` (same run).

    python benchmarks/console_startup.py [--runs 9]

`pmpc console` runs in a fresh interpreter in a workspace with no cluster configured (the prompt needs
none); the clock stops when the prompt is on the terminal. The baseline is the same interpreter starting
and exiting (`python -c pass`) in the same kind of terminal. Medians of several runs are reported.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import pexpect

# The prompt's text, then the cursor shown again: the prompt is on the screen and takes input.
PROMPT = r"pmpc:bench \[no context\]>.*?\x1b\[\?25h"


def isolated_env(home: Path) -> dict[str, str]:
    """Return an environment with its own XDG directories and no pmpc settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PMPC_")}
    for name in ("XDG_CONFIG_HOME", "XDG_CACHE_HOME", "XDG_STATE_HOME"):
        path = home / name.lower()
        path.mkdir(parents=True, exist_ok=True)
        env[name] = str(path)
    env["TERM"] = "xterm"
    # No cursor-position queries: nothing in a benchmark answers them (prompt_toolkit would wait a moment).
    env["PROMPT_TOOLKIT_NO_CPR"] = "1"
    return env


def time_to_prompt(workspace: Path, env: dict[str, str]) -> float:
    """Return ms from spawning `pmpc console` to its first prompt."""
    started = time.perf_counter()
    child = pexpect.spawn(
        sys.executable,
        ["-m", "proxmox_mpc", "console"],
        cwd=str(workspace),
        env=env,
        dimensions=(40, 120),
        timeout=60,
    )
    child.expect(PROMPT)
    elapsed = (time.perf_counter() - started) * 1000
    child.send("/exit\r")
    child.expect(pexpect.EOF)
    child.close()
    if child.exitstatus != 0:
        raise SystemExit(f"pmpc console exited {child.exitstatus}")
    return elapsed


def time_python(env: dict[str, str]) -> float:
    """Return ms for `python -c pass` in a pseudo-terminal."""
    started = time.perf_counter()
    child = pexpect.spawn(sys.executable, ["-c", "pass"], env=env, dimensions=(40, 120), timeout=60)
    child.expect(pexpect.EOF)
    elapsed = (time.perf_counter() - started) * 1000
    child.close()
    return elapsed


def median_of(runs: int, measure) -> float:  # type: ignore[no-untyped-def]
    measure()  # warm the file cache and the bytecode
    return statistics.median(measure() for _ in range(runs))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=9)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="pmpc-bench-") as tmp:
        root = Path(tmp)
        workspace = root / "bench"
        workspace.mkdir()
        (workspace / "pmpc.yaml").write_text("name: bench\n")
        env = isolated_env(root / "home")
        baseline = median_of(args.runs, lambda: time_python(env))
        console = median_of(args.runs, lambda: time_to_prompt(workspace, env))
    print(f"python -c pass:               {baseline:8.1f} ms (median of {args.runs})")
    print(f"pmpc console to first prompt: {console:8.1f} ms (median of {args.runs})")
    print(f"ratio:                        {console / baseline:8.1f}x")


if __name__ == "__main__":
    main()

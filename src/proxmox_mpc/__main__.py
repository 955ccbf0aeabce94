"""The `pmpc` entry point (and `python -m proxmox_mpc`): a shell <TAB> first tries the fast path.

A bash, zsh or fish <TAB> is answered from the cached completion table without importing typer
(commands/_fastcomplete.py); every other run, and a <TAB> the table cannot answer exactly, goes through cli.main().
"""

import os
import sys


def main() -> None:
    """Console-script entry point."""
    if os.environ.get("_PMPC_COMPLETE"):
        from proxmox_mpc.commands._fastcomplete import answer

        try:
            answered = answer()
        except Exception:  # the Click path answers anyway
            answered = None
        if answered is not None:
            output, status = answered
            if output is not None:
                sys.stdout.write(output + "\n")
                sys.stdout.flush()
            sys.exit(status)
    from proxmox_mpc.cli import main as cli_main

    cli_main()


if __name__ == "__main__":
    main()

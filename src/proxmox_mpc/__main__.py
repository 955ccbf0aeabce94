"""python -m proxmox_mpc -> cli.main()."""

from proxmox_mpc.cli import main

if __name__ == "__main__":
    main()

"""proxmox-mpc: an Infrastructure-as-Code console for Proxmox VE."""

__version__ = "0.1.0"

"""The Proxmox VE API client: HTTP, authentication, errors and tasks.

Must not import state, services, output, commands or any CLI library.
"""

"""The Proxmox VE API client: HTTP, authentication, errors and tasks.

Must not import state, services, output, commands or any CLI library.
"""

import sys

# httpx imports its command-line client (click, rich, pygments: ~80 ms of CPU) whenever those happen to
# be installed, and falls back to a stub when the import fails. pmpc never uses httpx's CLI: make that
# import fail fast so every API command starts sooner. (A None entry makes `import` raise ImportError.)
sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]

"""Build a ProxmoxClient from the invocation's settings."""

from __future__ import annotations

from typing import TYPE_CHECKING

from proxmox_mpc.config import user_cache_dir, write_private
from proxmox_mpc.context import AppContext
from proxmox_mpc.errors import ConfigError

if TYPE_CHECKING:
    import httpx

    from proxmox_mpc.api.client import ProxmoxClient


def build_auth(app_ctx: AppContext) -> httpx.Auth:
    """Return token auth when a token is configured, else password/ticket auth.

    Raises:
        ConfigError: neither a token nor a user and password are configured.
    """
    from proxmox_mpc.api.auth import TicketAuth, TicketCache, TokenAuth

    s = app_ctx.settings
    if s.token_id and s.token_secret is not None:
        return TokenAuth(s.token_id, s.token_secret)
    if s.token_id and s.token_secret is None:
        raise ConfigError(f"Token {s.token_id} has no secret: set PMPC_TOKEN_SECRET or the context's token_secret.")
    if s.user and s.password is not None:
        cache = TicketCache(user_cache_dir(), f"{s.base_url}|{s.user}", write_private)
        return TicketAuth(s.user, s.password, cache=cache)
    raise ConfigError(
        "No credentials are configured: set PMPC_TOKEN_ID and PMPC_TOKEN_SECRET (or PMPC_USER and "
        "PMPC_PASSWORD), or add them to a context with `pmpc config set-context`."
    )


def request_limit(concurrency: int, *, bulk: bool = False) -> int:
    """Return how many HTTP requests may be in flight for a target concurrency.

    Bulk reads (sync, plan) are many small GETs whose time is mostly network latency, so they get
    a deeper pipeline than verbs, which mostly wait on tasks.
    """
    return max(32, concurrency * 4) if bulk else max(16, concurrency * 2)


# How deep a bulk read's pipeline may grow while its answers wait on the link (api/pipeline.py); a deeper
# start (PMPC_CONCURRENCY above 16) is the user's own choice and stays as it is.
BULK_CEILING = 64


def connect(app_ctx: AppContext, *, bulk: bool = False) -> ProxmoxClient:
    """Return a client for the configured cluster (use it as `async with connect(app_ctx) as api`)."""
    from proxmox_mpc.api.client import ProxmoxClient

    s = app_ctx.settings
    verify: bool | str = True
    if app_ctx.insecure or not s.verify_tls:
        verify = False
    elif s.ca_file:
        verify = s.ca_file
    fingerprint = None if app_ctx.insecure else s.fingerprint
    depth = request_limit(s.concurrency, bulk=bulk)
    tracer = None
    if app_ctx.debug:
        err = app_ctx.err

        def tracer(line: str) -> None:
            err.write(f"[debug] {line}\n")

    return ProxmoxClient(
        base_url=s.base_url,
        auth=build_auth(app_ctx),
        verify=verify,
        fingerprint=fingerprint,
        timeout=s.timeout,
        concurrency=depth,
        deepen_to=max(depth, BULK_CEILING) if bulk else None,
        tracer=tracer,
        read_only=(s.context or "(settings)") if s.read_only else None,
    )

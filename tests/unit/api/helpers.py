"""A ProxmoxClient wired to a respx router answering with PVE's envelope."""

from __future__ import annotations

import asyncio
import hashlib
import ssl
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

import httpx
import respx

from proxmox_mpc.api.client import ProxmoxClient
from proxmox_mpc.config import normalise_fingerprint

BASE = "https://pve.test:8006"
API = BASE + "/api2/json"
T = TypeVar("T")


def envelope(data: Any, status: int = 200) -> httpx.Response:
    """A PVE answer: {"data": ...}."""
    return httpx.Response(status, json={"data": data})


def pve_error(status: int, message: str, errors: dict[str, str] | None = None) -> httpx.Response:
    """A PVE error answer: the message as reason phrase and in the body, field errors under `errors`."""
    body: dict[str, Any] = {"data": None, "message": message}
    if errors:
        body["errors"] = errors
    return httpx.Response(status, json=body, extensions={"reason_phrase": message.encode()})


def make_client(router: respx.Router, auth: httpx.Auth | None = None, **kwargs: Any) -> ProxmoxClient:
    """A client whose transport is the router (no network), with no backoff between retries."""
    kwargs.setdefault("backoff", 0.0)
    return ProxmoxClient(
        base_url=BASE, auth=auth, transport=httpx.MockTransport(router.async_handler), **kwargs
    )


def arun(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine in a fresh event loop."""
    return asyncio.run(coro)


def router() -> respx.Router:
    return respx.Router(base_url=API, assert_all_called=False)


def fingerprint_of(certfile: str) -> str:
    """The SHA-256 fingerprint of a PEM certificate, as Proxmox shows it."""
    der = ssl.PEM_cert_to_DER_cert(Path(certfile).read_text())
    return normalise_fingerprint(hashlib.sha256(der).hexdigest())

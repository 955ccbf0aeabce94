"""Authentication as httpx.Auth flows: API tokens, and password logins to a ticket with CSRF."""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from collections.abc import AsyncGenerator, Callable, Generator
from pathlib import Path
from typing import Any

import httpx
from pydantic import SecretStr

from proxmox_mpc.errors import AuthError, PmpcError

# PVE tickets live two hours; renew well before, so a long command never sends a stale one.
RENEW_AFTER = 5400.0
TICKET_PATH = "/access/ticket"
# A request extension: the request is the second try after a refused ticket, already logged in again for;
# another 401 is the answer (PVE gets one fresh login per refusal, not two).
NO_RELOGIN = "pmpc_no_relogin"


class TokenAuth(httpx.Auth):
    """Send `Authorization: PVEAPIToken=user@realm!id=secret` on every request."""

    requires_request_body = False
    requires_response_body = False

    def __init__(self, token_id: str, secret: SecretStr) -> None:
        self.token_id = token_id
        self._headers = {"Authorization": f"PVEAPIToken={token_id}={secret.get_secret_value()}"}

    def signed_headers(self, method: str) -> dict[str, str]:
        """Return the headers that authenticate a request (what the flow sets), without running the flow."""
        return self._headers

    def sync_auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers.update(self._headers)
        yield request

    async def async_auth_flow(self, request: httpx.Request) -> AsyncGenerator[httpx.Request, httpx.Response]:
        request.headers.update(self._headers)
        yield request


class TicketCache:
    """A login ticket cached in the user's cache directory (mode 0600), never in a workspace."""

    def __init__(self, directory: Path, key: str, write: Callable[[Path, str], None]) -> None:
        digest = hashlib.sha256(key.encode()).hexdigest()[:32]
        self.path = directory / "tickets" / f"{digest}.json"
        self._write = write

    def load(self) -> dict[str, Any] | None:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        return data if isinstance(data, dict) else None

    def save(self, data: dict[str, Any]) -> None:
        try:
            self._write(self.path, json.dumps(data))
        except (OSError, PmpcError):
            pass  # A cache that cannot be written only costs a login next time.

    def clear(self) -> None:
        self.path.unlink(missing_ok=True)


class TicketAuth(httpx.Auth):
    """Log in with user and password, send the ticket cookie, CSRF on writes, renew before expiry."""

    requires_request_body = True
    requires_response_body = True

    def __init__(
        self,
        user: str,
        password: SecretStr,
        *,
        clock: Callable[[], float] = time.time,
        cache: TicketCache | None = None,
    ) -> None:
        self.user = user if "@" in user else user + "@pam"
        self._password = password
        self._clock = clock
        self._cache = cache
        self.ticket: str | None = None
        self.csrf: str | None = None
        self.issued_at = 0.0
        self.logins = 0
        self._lock: asyncio.Lock | None = None
        self._signed: dict[str, dict[str, str]] = {}  # the signing headers of `_signed_ticket`, by method
        self._signed_ticket: str | None = None
        if cache is not None:
            cached = cache.load()
            if cached and cached.get("user") == self.user:
                self.ticket = cached.get("ticket")
                self.csrf = cached.get("csrf")
                self.issued_at = float(cached.get("issued_at", 0.0))

    def _fresh(self) -> bool:
        return bool(self.ticket) and self._clock() - self.issued_at < RENEW_AFTER

    def _login_request(self, request: httpx.Request) -> httpx.Request:
        url = request.url.copy_with(path=_api_root(request.url.path) + TICKET_PATH, query=None)
        return httpx.Request(
            "POST",
            url,
            data={"username": self.user, "password": self._password.get_secret_value()},
            extensions={"pmpc_login": True},
        )

    def _accept_login(self, response: httpx.Response) -> None:
        if response.status_code != 200:
            response.read() if not response.is_stream_consumed else None
            reason = response.reason_phrase or f"HTTP {response.status_code}"
            raise AuthError(
                f"Login as {self.user} failed ({reason.rstrip('.')}): "
                "check the user and password of this context.",
                status=response.status_code,
            )
        data = (response.json() or {}).get("data") or {}
        if data.get("NeedTFA"):
            raise AuthError(
                f"{self.user} needs a second factor, which pmpc cannot answer: use an API token instead."
            )
        self.ticket, self.csrf = data["ticket"], data["CSRFPreventionToken"]
        self.issued_at = self._clock()
        self.logins += 1
        if self._cache is not None:
            self._cache.save(
                {"user": self.user, "ticket": self.ticket, "csrf": self.csrf, "issued_at": self.issued_at}
            )

    def _headers(self, method: str) -> dict[str, str]:
        if self._signed_ticket != self.ticket:  # a new ticket (or none): sign anew
            self._signed, self._signed_ticket = {}, self.ticket
        cached = self._signed.get(method)
        if cached is None:
            cached = {"Cookie": f"PVEAuthCookie={self.ticket}"}
            if method not in ("GET", "HEAD"):
                cached["CSRFPreventionToken"] = self.csrf or ""
            self._signed[method] = cached
        return cached

    def _sign(self, request: httpx.Request) -> None:
        request.headers.update(self._headers(request.method))

    def signed_headers(self, method: str) -> dict[str, str] | None:
        """Return the headers that authenticate a request with the current ticket, without running the flow;
        None when there is no fresh ticket (async_auth_flow logs in first)."""
        return self._headers(method) if self._fresh() else None

    def refused(self, signed: dict[str, str]) -> None:
        """A request signed with `signed` was answered 401: forget that ticket (unless a newer one has
        replaced it meanwhile), so the next request's flow logs in again."""
        if signed.get("Cookie") == f"PVEAuthCookie={self.ticket}":
            if self._cache is not None:
                self._cache.clear()
            self.ticket = None

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        if not self._fresh():
            self._accept_login((yield self._login_request(request)))
        self._sign(request)
        response = yield request
        if response.status_code == 401:
            # The ticket was revoked or expired early (a restarted node): log in once more.
            if self._cache is not None:
                self._cache.clear()
            self._accept_login((yield self._login_request(request)))
            self._sign(request)
            yield request

    async def async_auth_flow(self, request: httpx.Request) -> AsyncGenerator[httpx.Request, httpx.Response]:
        # As auth_flow, but concurrent requests share one login: sixteen requests that find no fresh
        # ticket wait for the first one's login instead of each logging in.
        if self._lock is None:
            self._lock = asyncio.Lock()
        await request.aread()
        if not self._fresh():
            async with self._lock:
                if not self._fresh():
                    login = yield self._login_request(request)
                    await login.aread()
                    self._accept_login(login)
        self._sign(request)
        sent = self.ticket
        response = yield request
        if response.status_code == 401 and not request.extensions.get(NO_RELOGIN):
            await response.aread()
            async with self._lock:
                if self.ticket == sent:  # nobody has logged in again meanwhile
                    # The ticket was revoked or expired early (a restarted node): log in once more.
                    if self._cache is not None:
                        self._cache.clear()
                    login = yield self._login_request(request)
                    await login.aread()
                    self._accept_login(login)
            self._sign(request)
            yield request


def _api_root(path: str) -> str:
    for root in ("/api2/json", "/api2/extjs"):
        if path.startswith(root):
            return root
    return "/api2/json"

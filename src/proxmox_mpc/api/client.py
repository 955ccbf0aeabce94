"""ProxmoxClient: the async Proxmox VE API client on httpx with the aiohttp transport (its GETs on the GET lane)."""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections.abc import Callable, Mapping
from typing import Any, ClassVar
from urllib.parse import quote, urlencode

import httpx

from proxmox_mpc.api.auth import NO_RELOGIN
from proxmox_mpc.api.errors import error_from_exception, error_from_response
from proxmox_mpc.api.lane import Lane, Unsupported
from proxmox_mpc.api.pipeline import Pipeline
from proxmox_mpc.core.secrets import for_output
from proxmox_mpc.errors import ConfigError, PmpcError, ReadOnlyContext

API_ROOT = "/api2/json"
# Proxmox's proxy answers 595 when it cannot reach the node behind it; 502/503 are gateways restarting.
RETRY_STATUSES = frozenset({502, 503, 595})
IDEMPOTENT = frozenset({"GET", "HEAD"})
HEADERS = {"Accept": "application/json", "User-Agent": "pmpc"}
TLS_READ_BUFFER = 32 * 1024
DECODED_HEADERS = (b"content-encoding", b"content-length", b"transfer-encoding")
Tracer = Callable[[str], None]


def make_transport(
    *, verify: bool | str = True, fingerprint: str | None = None, max_connections: int = 32
) -> httpx.AsyncBaseTransport:
    """Build the aiohttp-backed transport, pinning a certificate fingerprint when one is given.

    Its shared session (`transport.session`) carries ProxmoxClient's GETs: on its GET lane (api/lane.py), else
    on its aiohttp session directly. aiohttp is imported on the first request that needs it (a write, a login,
    a GET the lane cannot carry): a command that only reads, with a token or a cached ticket, never loads it.
    """
    limits = httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections)
    return LazyTransport(SharedSession(_tls(verify, fingerprint), max_connections, limits.keepalive_expiry), limits)


class LazyTransport(httpx.AsyncBaseTransport):
    """httpx's transport on the shared aiohttp session, built (aiohttp imported) on its first request."""

    def __init__(self, session: SharedSession, limits: httpx.Limits) -> None:
        self.session = session
        self._limits = limits
        self._inner: httpx.AsyncBaseTransport | None = None

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if self._inner is None:
            _import_aiohttp()
            from httpx_aiohttp import AiohttpTransport

            # It builds no TLS context of its own (it takes the session's): one CA bundle load, not two.
            self._inner = AiohttpTransport(verify=False, limits=self._limits, client=self.session, trust_env=False)
        return await self._inner.handle_async_request(request)

    async def aclose(self) -> None:
        if self._inner is not None:
            await self._inner.aclose()


def _import_aiohttp() -> None:
    """Import aiohttp without the two loads of the system CA bundle its connector module makes on import.

    aiohttp builds its default TLS contexts when it is imported, each loading the system's CA bundle: about
    20 ms of CPU apiece, on every command that talks to Proxmox. pmpc never uses them: each session is given
    pmpc's own setting (`_tls`: a CA file's context, httpx's context, or a pinned fingerprint, which aiohttp
    checks on its non-verifying context, where no CA is consulted). The load is skipped for that import only
    and on this thread only; should aiohttp's verifying default ever be used, it knows no CA and refuses every
    certificate rather than accepting one.
    """
    import sys

    if "aiohttp.connector" in sys.modules:
        return
    import ssl
    import threading

    importing = threading.get_ident()
    own = ssl.SSLContext.__dict__.get("set_default_verify_paths")
    load = ssl.SSLContext.set_default_verify_paths

    def set_default_verify_paths(context: ssl.SSLContext) -> None:
        if threading.get_ident() != importing:
            load(context)

    ssl.SSLContext.set_default_verify_paths = set_default_verify_paths  # type: ignore[method-assign,assignment]
    try:
        import aiohttp.connector  # noqa: F401
    finally:
        if own is None:
            del ssl.SSLContext.set_default_verify_paths
        else:
            ssl.SSLContext.set_default_verify_paths = own  # type: ignore[method-assign]


class Pin(bytes):
    """A pinned certificate's SHA-256 digest: aiohttp's `Fingerprint` once a session is made, the lane's `pin`."""


def _tls(verify: bool | str, fingerprint: str | None) -> Any:
    """Return the TLS setting: a pinned fingerprint, a CA file's context, or httpx's default one."""
    if fingerprint:
        # Pinning replaces CA verification, as Proxmox's own cluster join does.
        return Pin(bytes.fromhex(fingerprint.replace(":", "")))
    if isinstance(verify, str):
        import ssl

        try:
            return ssl.create_default_context(cafile=verify)
        except (OSError, ssl.SSLError) as exc:
            reason = "it holds no PEM certificate" if isinstance(exc, ssl.SSLError) else exc.strerror or str(exc)
            raise ConfigError(f"CA file {verify}: {reason} (check PMPC_CA_FILE or the context's ca_file).") from exc
    return httpx.create_ssl_context(verify=verify, trust_env=False)


def _small_tls_read_buffers() -> None:
    """Give each TLS connection a TLS_READ_BUFFER read buffer instead of asyncio's 256 KiB.

    asyncio allocates (and zero-fills, so it is resident) that buffer for every TLS connection: a bulk read
    on 32 connections holds 8 MiB for answers of a few KiB. The buffer only bounds one read of raw TLS
    bytes, so a larger answer takes a few more reads. pmpc is the only user of its process's event loop.
    """
    from asyncio import sslproto

    if getattr(sslproto.SSLProtocol, "max_size", 0) > TLS_READ_BUFFER:
        sslproto.SSLProtocol.max_size = TLS_READ_BUFFER  # type: ignore[attr-defined]


class SharedSession:
    """One aiohttp session, made on first use inside the event loop: the same TLS settings and connection
    limit for httpx's transport (writes) and ProxmoxClient's direct GETs; and the GET lane, with the same TLS."""

    def __init__(self, tls: Any, limit: int, keepalive: float | None) -> None:
        self._tls, self._limit, self._keepalive = tls, limit, keepalive
        self._session: Any = None
        self._lane: Lane | None = None

    def __call__(self) -> Any:
        if self._session is None or self._session.closed:
            _import_aiohttp()
            import aiohttp

            _small_tls_read_buffers()
            tls = aiohttp.Fingerprint(self._tls) if isinstance(self._tls, Pin) else self._tls
            connector = aiohttp.TCPConnector(ssl=tls, limit=self._limit, keepalive_timeout=self._keepalive)
            self._session = aiohttp.ClientSession(connector=connector)
        return self._session

    def lane(self, base_url: str, timeout: httpx.Timeout) -> Lane:
        """Return the GET lane to `base_url` (see api/lane.py), with this session's TLS, made on first use."""
        if self._lane is None:
            import ssl

            _small_tls_read_buffers()
            tls, pin = self._tls, None
            if isinstance(tls, Pin):  # a pinned fingerprint, checked on no CA (as aiohttp does)
                pin = bytes(tls)
                tls = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
                tls.check_hostname = False
                tls.verify_mode = ssl.CERT_NONE
            self._lane = Lane(base_url, tls, pin=pin, keepalive=self._keepalive, timeout=timeout)
        return self._lane

    async def close(self) -> None:
        if self._lane is not None:
            await self._lane.aclose()
        if self._session is not None:
            await self._session.close()


class ProxmoxClient:
    """Typed access to the Proxmox VE API: one method per endpoint, the data envelope unwrapped."""

    # What get_unless_refused returns for an error answer.
    REFUSED: ClassVar[object] = object()

    def __init__(
        self,
        *,
        base_url: str,
        auth: httpx.Auth | None,
        verify: bool | str = True,
        fingerprint: str | None = None,
        timeout: float = 30.0,
        concurrency: int = 8,
        deepen_to: int | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        retries: int = 3,
        backoff: float = 0.25,
        tracer: Tracer | None = None,
        read_only: str | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        # The name of a read-only context: every write is refused before it is sent.
        self.read_only = read_only
        self.retries = retries
        self.backoff = backoff
        self._tracer = tracer
        # How many requests are in flight at once: `concurrency`, or for a bulk read up to `deepen_to` while the
        # answers wait on the link rather than the server (see api/pipeline.py); `self.concurrency`: the most.
        self._limit = Pipeline(concurrency, deepen_to)
        self.concurrency = self._limit.ceiling
        self.requests_sent = 0
        # GETs sent ahead of their caller (see `prefetch`), by path and query, each taken by one `get`.
        self._ahead: dict[str, asyncio.Future[Any]] = {}
        self._root = self.base_url + API_ROOT
        self._auth = auth
        # The auth's own signing (TokenAuth, TicketAuth): GETs on the session then skip httpx's auth flow.
        self._sign: Callable[[str], dict[str, str] | None] | None = getattr(auth, "signed_headers", None)
        self._refused: Callable[[dict[str, str]], None] | None = getattr(auth, "refused", None)
        # A GET's headers: the common ones with the auth's, made once per signing (that is, per ticket).
        self._get_headers: tuple[dict[str, str] | None, dict[str, str]] = (None, HEADERS)
        transport = transport or make_transport(
            verify=verify, fingerprint=fingerprint, max_connections=max(self.concurrency, 4)
        )
        # GETs (sync, plan and list send thousands) go straight to the transport's GET lane (or its aiohttp
        # session), without httpx's per-request machinery; writes, and every request through a test transport,
        # take httpx.
        self._session: SharedSession | None = getattr(transport, "session", None)
        self._timeout = httpx.Timeout(timeout, connect=min(timeout, 10.0))
        self._aio_timeout: Any = None
        # GETs take the lane (api/lane.py) until it meets an answer it cannot read; then aiohttp.
        self._lane_usable = self._session is not None
        self._http = httpx.AsyncClient(
            base_url=self.base_url + API_ROOT,
            auth=auth,
            transport=transport,
            timeout=self._timeout,
            headers=HEADERS,
        )
        # PVE sets no cookies (the ticket comes in a body and TicketAuth sends it), yet httpx would parse
        # every response's headers into a cookie jar: about a sixth of its CPU per request. Skip that.
        self._http._cookies = _NoCookies()

    async def __aenter__(self) -> ProxmoxClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the connection pool (a GET sent ahead that nobody took is cancelled)."""
        ahead, self._ahead = list(self._ahead.values()), {}
        for task in ahead:
            task.cancel()
        await asyncio.gather(*ahead, return_exceptions=True)
        await self._http.aclose()
        if self._session is not None:
            await self._session.close()

    # ------------------------------------------------------------------ core

    def _trace(self, line: str) -> None:
        if self._tracer is not None:
            self._tracer(line)

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        data: Mapping[str, Any] | None = None,
        refused: object = None,
        counted: bool = True,
    ) -> Any:
        """Send one API request and return its `data`; GETs are retried on transient failures.

        `refused`: returned instead of raising when Proxmox answers with an error status (no ApiError is
        built: a read that tolerates any refusal, sent for thousands of guests, see `get_unless_refused`).
        `counted`: whether it counts in `requests_sent` now (a GET sent ahead counts when it is taken).

        Raises:
            ApiError: Proxmox answered with an error (subclasses by status and message).
            ConnectionFailed: the server could not be reached or its certificate was refused.
            ReadOnlyContext: a write through a read-only context (exit 5).
        """
        method = method.upper()
        what = f"{method} {path}"
        if self.read_only is not None and method not in IDEMPOTENT:
            raise ReadOnlyContext(
                f"Context {self.read_only!r} is read-only: refusing {what} (pick another with --context, "
                f"or `pmpc config set-context {self.read_only} --read-write`)."
            )
        attempts = self.retries + 1 if method in IDEMPOTENT else 1
        form = _encode(data) if data is not None else None
        query = _encode(params) if params is not None else None
        # An absolute URL: httpx parses it once (a path relative to base_url is parsed and joined thrice).
        url = self._root + path
        for attempt in range(1, attempts + 1):
            try:
                response = await self._send(method, url, query, form, counted=counted, what=what)
            except httpx.HTTPError as exc:
                self._trace(f"< {type(exc).__name__}: {exc} ({what})")
                if _being_cancelled():
                    # Ctrl-C cancelled this task while aiohttp was waiting; its timeout guard can report that
                    # as a timeout. Let the cancellation through instead of retrying or reporting an error.
                    raise asyncio.CancelledError from exc
                if attempt < attempts and _is_retryable(exc):
                    await self._sleep(attempt)
                    continue
                raise error_from_exception(exc, self.base_url) from exc
            if response.status_code in RETRY_STATUSES and attempt < attempts:
                await self._sleep(attempt)
                continue
            if response.is_success:
                return _data(response, what)
            if refused is not None:
                return refused
            raise error_from_response(response, what)
        raise PmpcError(f"{what} failed after {attempts} attempts.")  # pragma: no cover

    async def _send(
        self,
        method: str,
        url: str,
        query: Mapping[str, Any] | None,
        form: Mapping[str, Any] | None,
        *,
        counted: bool,
        what: str,
    ) -> Answer | httpx.Response:
        """Send one request once the pipeline has a slot; the slot goes back with how long the answer took."""
        await self._limit.acquire()
        answered: float | None = None
        tracing = self._tracer is not None
        try:
            self.requests_sent += counted
            if tracing:
                self._trace(f"> {method} {url} {_trace_params(query, form)}")
            sent = time.perf_counter()
            if method == "GET" and self._session is not None:
                response = await self._get(url, query)
            else:
                response = await self._http.request(method, url, params=query, data=form)
            answered = time.perf_counter() - sent
            if tracing:
                self._trace(f"< {response.status_code} {response.reason_phrase} ({what})")
            return response
        finally:
            depth = self._limit.release(answered)
            if depth is not None and tracing:
                quickest = self._limit.quickest * 1000
                self._trace(f"pipeline: {depth} requests in flight now (the quickest answer took {quickest:.1f} ms)")

    async def _get(self, url: str, query: Mapping[str, Any] | None) -> Answer | httpx.Response:
        """Send a GET on the lane (or the aiohttp session), signed with the auth's headers.

        No httpx Request or Response is built while the auth can sign a request by itself (a token, a fresh
        ticket): the URL is a string, the headers a dict, the answer an `Answer`. A login (no fresh ticket)
        and the second try after a refused ticket (401: PVE wants a new login) run the auth's full flow.
        """
        if query:
            url = f"{url}?{urlencode(query, doseq=True)}"
        sign = self._sign
        if sign is None:
            if self._auth is not None:
                return await self._get_through_flow(url)
            return await self._exchange("GET", url, HEADERS)
        signed = sign("GET")
        if signed is None:  # a login must come first
            return await self._get_through_flow(url)
        made_for, headers = self._get_headers
        if made_for is not signed:
            headers = {**HEADERS, **signed}
            self._get_headers = (signed, headers)
        answer = await self._exchange("GET", url, headers)
        if answer.status_code != 401 or self._refused is None:
            return answer
        self._refused(signed)
        return await self._get_through_flow(url, relogin=False)

    async def _get_through_flow(self, url: str, *, relogin: bool = True) -> httpx.Response:
        """Send a GET through the auth's whole flow (a login, the 401 re-login unless `relogin` is False)."""
        assert self._auth is not None
        extensions = {} if relogin else {NO_RELOGIN: True}
        request = httpx.Request("GET", url, headers=HEADERS, extensions=extensions)
        flow = self._auth.async_auth_flow(request)
        request = await flow.__anext__()
        while True:
            answer = await self._exchange(
                request.method, str(request.url), request.headers.multi_items(), request.content or None
            )
            response = answer.as_httpx(request)
            try:
                request = await flow.asend(response)
            except StopAsyncIteration:
                return response

    async def _exchange(self, method: str, url: str, headers: Any, content: bytes | None = None) -> Answer:
        """Send one request, a GET on the lane, else on the aiohttp session; aiohttp's failures become httpx's
        (one error mapping), as the lane's are."""
        assert self._session is not None
        if method == "GET" and content is None and self._lane_usable:
            try:
                got = await self._session.lane(self.base_url, self._timeout).get(url, headers)
            except Unsupported as exc:
                if exc.answered:
                    self._lane_usable = False
                    self._trace(f"GET lane: {exc}; this GET and the later ones go through aiohttp")
            else:
                return Answer(got.status, got.reason, got.body, got.headers)
        _import_aiohttp()
        from httpx_aiohttp.transport import map_aiohttp_exceptions

        if self._aio_timeout is None:
            import aiohttp

            t = self._timeout  # the limits httpx's transport gives aiohttp
            self._aio_timeout = aiohttp.ClientTimeout(sock_connect=t.connect, sock_read=t.read, connect=t.pool)
        try:
            with map_aiohttp_exceptions():
                async with self._session().request(
                    method, url, headers=headers, data=content, allow_redirects=False, timeout=self._aio_timeout
                ) as answer:
                    body = await answer.read()
        except TimeoutError as exc:  # aiohttp's own timeouts are mapped above; this is asyncio's
            raise httpx.ReadTimeout(str(exc) or "timed out") from exc
        return Answer(answer.status, answer.reason, body, answer.raw_headers)

    async def _sleep(self, attempt: int) -> None:
        await asyncio.sleep(self.backoff * (2 ** (attempt - 1)) * (0.5 + random.random()))

    async def get(self, path: str, **params: Any) -> Any:
        if self._ahead:
            sent = self._ahead.pop(_ahead_key(path, params), None)
            if sent is not None:
                self.requests_sent += 1  # counted by the GET that takes it, as if it were sent now
                return await sent
        return await self.request("GET", path, params=params or None)

    async def get_unless_refused(self, path: str) -> Any:
        """GET `path` and return its `data`, or REFUSED when Proxmox answers with an error status.

        For reads that tolerate any refusal (a guest agent that is not running answers 500): no error
        object is built for them. Transport failures still raise as for `get`.
        """
        return await self.request("GET", path, refused=self.REFUSED)

    def prefetch(self, path: str, **params: Any) -> None:
        """Send a GET now whose answer (or error) the next `get` of the same path and query takes.

        A command sends the reads it knows it will make first while it loads what it needs for the rest
        (sync's first round goes out while the kinds load): one request, as if it were sent by that `get`.
        """
        key = _ahead_key(path, params)
        if key not in self._ahead:
            self._ahead[key] = asyncio.ensure_future(
                self.request("GET", path, params=params or None, counted=False)
            )

    async def post(self, path: str, **data: Any) -> Any:
        return await self.request("POST", path, data=data)

    async def put(self, path: str, **data: Any) -> Any:
        return await self.request("PUT", path, data=data)

    async def delete(self, path: str, **params: Any) -> Any:
        return await self.request("DELETE", path, params=params or None)

    # ------------------------------------------------------------- endpoints

    async def version(self) -> dict[str, Any]:
        """GET /version."""
        return dict(await self.get("/version") or {})

    async def nodes(self) -> list[dict[str, Any]]:
        """GET /nodes: every node with its status and usage."""
        return list(await self.get("/nodes") or [])

    async def node_status(self, node: str) -> dict[str, Any]:
        """GET /nodes/{node}/status."""
        return dict(await self.get(f"/nodes/{_seg(node)}/status") or {})

    async def cluster_resources(self, type: str | None = None) -> list[dict[str, Any]]:
        """GET /cluster/resources (type: vm, node, storage, sdn, pool)."""
        if type:
            return list(await self.get("/cluster/resources", type=type) or [])
        return list(await self.get("/cluster/resources") or [])

    async def cluster_status(self) -> list[dict[str, Any]]:
        """GET /cluster/status: the cluster entry (quorate) and one entry per node."""
        return list(await self.get("/cluster/status") or [])

    async def next_vmid(self, vmid: int | None = None) -> int:
        """GET /cluster/nextid: a free VMID (or check that `vmid` is free)."""
        result = await (self.get("/cluster/nextid", vmid=vmid) if vmid else self.get("/cluster/nextid"))
        return int(result)

    async def storages(self, node: str) -> list[dict[str, Any]]:
        """GET /nodes/{node}/storage: the storages a node sees, with usage."""
        return list(await self.get(f"/nodes/{_seg(node)}/storage") or [])

    async def storage_content(
        self, node: str, storage: str, content: str | None = None
    ) -> list[dict[str, Any]]:
        """GET /nodes/{node}/storage/{storage}/content."""
        path = f"/nodes/{_seg(node)}/storage/{_seg(storage)}/content"
        return list(await (self.get(path, content=content) if content else self.get(path)) or [])

    async def guest_config(self, node: str, kind: str, vmid: int) -> dict[str, Any]:
        """GET /nodes/{node}/{qemu|lxc}/{vmid}/config (includes `digest`)."""
        return dict(await self.get(f"/nodes/{_seg(node)}/{kind}/{int(vmid)}/config") or {})

    async def guest_status(self, node: str, kind: str, vmid: int) -> dict[str, Any]:
        """GET /nodes/{node}/{qemu|lxc}/{vmid}/status/current."""
        return dict(await self.get(f"/nodes/{_seg(node)}/{kind}/{int(vmid)}/status/current") or {})

    async def task_status(self, node: str, upid: str) -> dict[str, Any]:
        """GET /nodes/{node}/tasks/{upid}/status."""
        return dict(await self.get(f"/nodes/{_seg(node)}/tasks/{_seg(upid)}/status") or {})

    async def task_log(self, node: str, upid: str, start: int = 0, limit: int = 500) -> list[dict[str, Any]]:
        """GET /nodes/{node}/tasks/{upid}/log: lines as {n, t}."""
        return list(
            await self.get(f"/nodes/{_seg(node)}/tasks/{_seg(upid)}/log", start=start, limit=limit) or []
        )

    async def tasks(self, node: str, **filters: Any) -> list[dict[str, Any]]:
        """GET /nodes/{node}/tasks with PVE's filters (limit, vmid, typefilter, errors, since)."""
        return list(await self.get(f"/nodes/{_seg(node)}/tasks", **filters) or [])


def _data(response: Answer | httpx.Response, what: str) -> Any:
    """Return the `data` of a successful answer (a body that is not JSON is an error)."""
    try:
        body = response.json()
    except ValueError as exc:
        raise error_from_response(response, what) from exc
    return body.get("data") if isinstance(body, dict) else body


class Answer:
    """An answer to a GET sent on the lane or the aiohttp session: what the client, its tracing and error_from_response
    read of httpx.Response (the same values), without building one."""

    __slots__ = ("_headers", "_reason", "content", "status_code")

    def __init__(self, status: int, reason: str | None, content: bytes, headers: Any = ()) -> None:
        self.status_code = status
        self.content = content
        self._reason = reason
        self._headers = headers

    @property
    def is_success(self) -> bool:
        return 200 <= self.status_code < 300

    @property
    def reason_phrase(self) -> str:
        if not self._reason:
            return httpx.codes.get_reason_phrase(self.status_code)
        return self._reason.encode().decode("ascii", errors="ignore")

    @property
    def text(self) -> str:
        return self.as_httpx().text  # httpx's charset rules (only an error without a message reads it)

    def json(self) -> Any:
        return json.loads(self.content)

    def as_httpx(self, request: httpx.Request | None = None) -> httpx.Response:
        """Return this answer as an httpx.Response (what an auth flow reads)."""
        # aiohttp has already decoded the body: httpx must not decode it again.
        headers = [(k, v) for k, v in self._headers if k.lower() not in DECODED_HEADERS]
        extensions = {"reason_phrase": self._reason.encode()} if self._reason else {}
        return httpx.Response(
            self.status_code, headers=headers, content=self.content, request=request, extensions=extensions
        )


class _NoCookies(httpx.Cookies):
    """A cookie jar that keeps nothing a server sets (pmpc's ticket travels through its auth)."""

    def extract_cookies(self, response: httpx.Response) -> None:
        return None


def _being_cancelled() -> bool:
    """Return True when the running task has a cancellation pending (Python 3.11+ can tell)."""
    task = asyncio.current_task()
    cancelling = getattr(task, "cancelling", None)
    return bool(cancelling and cancelling())


def _ahead_key(path: str, params: Mapping[str, Any]) -> str:
    return f"{path}?{sorted(params.items())}" if params else path


def _seg(value: str) -> str:
    return quote(str(value), safe="")


def _encode(values: Mapping[str, Any]) -> dict[str, Any]:
    """Drop None, send booleans as 0/1 (PVE's form encoding); lists repeat the key."""
    out: dict[str, Any] = {}
    for key, value in values.items():
        if value is None:
            continue
        if isinstance(value, bool):
            out[key] = int(value)
        elif isinstance(value, list | tuple):
            out[key] = [int(v) if isinstance(v, bool) else v for v in value]
        else:
            out[key] = value
    return out


def _trace_params(query: Mapping[str, Any] | None, form: Mapping[str, Any] | None) -> str:
    def clean(values: Mapping[str, Any]) -> dict[str, Any]:
        return for_output(values)

    parts = []
    if query:
        parts.append(f"params={clean(query)}")
    if form:
        parts.append(f"data={clean(form)}")
    return " ".join(parts)


# Failures to reach the server or keep the connection: a GET can be sent again safely. A read
# timeout is not among them: the server got the request and may be slow; retrying multiplies the wait.
RETRY_EXCEPTIONS = (
    httpx.ConnectError,
    httpx.ConnectTimeout,
    httpx.ReadError,
    httpx.WriteError,
    httpx.RemoteProtocolError,
    httpx.PoolTimeout,
)


def _is_retryable(exc: BaseException) -> bool:
    return isinstance(exc, RETRY_EXCEPTIONS) and not _is_tls_failure(exc)


TLS_FAILURES = ("ServerFingerprintMismatch", "ClientConnectorCertificateError", "SSLCertVerificationError")


def _is_tls_failure(exc: BaseException) -> bool:
    current: BaseException | None = exc
    while current is not None:
        name = type(current).__name__
        if name in TLS_FAILURES:
            return True
        current = current.__cause__ or current.__context__
    return False

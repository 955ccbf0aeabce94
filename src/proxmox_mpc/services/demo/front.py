"""The demo cluster's front door: a TLS server that hands every request to fakepve, and remembers objects.

fakepve stores guests, pools, firewall and storage itself, but for backup jobs, HA and access it
only checks a request against PVE's schema and answers with a made-up value. The front forwards
every request unchanged to fakepve (so its schema and permission checks judge each one) and, for
those paths under /api2/json, answers from its own ObjectStore once fakepve accepted the request;
fakepve's refusals go back to the client as they are. It serves from a thread of the pmpc process
(its own event loop), on the address the demo context names; fakepve listens on another port of the
same loopback address.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
import urllib.parse
from pathlib import Path
from typing import TYPE_CHECKING, Any

from proxmox_mpc.errors import DemoError
from proxmox_mpc.services.demo.objects import ObjectError, ObjectStore, match_path

if TYPE_CHECKING:
    import ssl

    import aiohttp
    from aiohttp import web

API = "/api2/json"
# Request and response headers that belong to one connection, not to the message.
HOP_BY_HOP = frozenset(
    {"connection", "keep-alive", "transfer-encoding", "content-length", "host", "upgrade", "te", "trailer"}
)
# The largest request body accepted (fakepve's own limit: uploads of ISO images go through here).
MAX_BODY = 64 * 1024**2
START_TIMEOUT = 10.0


def _collect(pairs: list[tuple[str, str]]) -> dict[str, Any]:
    """Return name/value pairs as a dict; a repeated name becomes a list, as PVE reads array parameters."""
    values: dict[str, Any] = {}
    for key, value in pairs:
        if key not in values:
            values[key] = value
        elif isinstance(values[key], list):
            values[key].append(value)
        else:
            values[key] = [values[key], value]
    return values


def _params(query: list[tuple[str, str]], body: bytes, content_type: str) -> dict[str, Any]:
    """Return a request's parameters as PVE reads them: query string, then a form or JSON body."""
    values = _collect(query)
    if not body or content_type == "multipart/form-data":
        return values
    if content_type == "application/json":
        try:
            data = json.loads(body)
        except ValueError:
            data = None
        values.update(data if isinstance(data, dict) else {})
    else:
        values.update(_collect(urllib.parse.parse_qsl(body.decode("utf-8", errors="replace"), keep_blank_values=True)))
    return values


class Front:
    """A TLS server on (host, port) in front of fakepve at `upstream`, with the objects fakepve does not keep."""

    def __init__(
        self,
        *,
        host: str,
        port: int,
        upstream: str,
        cert_file: Path,
        key_file: Path,
        ca_file: Path,
        log_file: Path | None = None,
        store: ObjectStore | None = None,
    ) -> None:
        self.host = host
        self.port = port
        self.upstream = upstream.rstrip("/")
        self.store = store or ObjectStore()
        self._cert_file, self._key_file, self._ca_file = cert_file, key_file, ca_file
        self._log_file = log_file
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Event | None = None
        self._ready = threading.Event()
        self._failure: BaseException | None = None
        self._session: aiohttp.ClientSession | None = None

    @property
    def alive(self) -> bool:
        """True while the front serves."""
        return self._thread is not None and self._thread.is_alive()

    def start(self, timeout: float = START_TIMEOUT) -> None:
        """Serve from a background thread; return once it listens.

        Raises:
            DemoError: the front could not listen (the address is taken, the certificate is unreadable).
        """
        self._thread = threading.Thread(target=self._run, name="pmpc-demo-front", daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout):
            self.stop()
            raise DemoError(f"The demo cluster's front did not start within {timeout:g}s.")
        if self._failure is not None:
            self._thread.join(timeout)
            raise DemoError(f"The demo cluster's front could not listen on {self.host}:{self.port}: {self._failure}")

    def stop(self, timeout: float = 5.0) -> None:
        """Stop serving and close the connections to fakepve (safe to call twice)."""
        loop, stopping = self._loop, self._stopping
        if loop is not None and stopping is not None and not loop.is_closed():
            try:
                loop.call_soon_threadsafe(stopping.set)
            except RuntimeError:  # the loop closed in between
                pass
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self) -> None:
        try:
            asyncio.run(self._serve())
        except BaseException as exc:  # reported through start() or the log, never lost
            if not self._ready.is_set():
                self._failure = exc
                self._ready.set()
            else:
                self._log(f"front stopped: {type(exc).__name__}: {exc}")

    async def _serve(self) -> None:
        import ssl

        import aiohttp
        from aiohttp import web

        self._loop = asyncio.get_running_loop()
        self._stopping = asyncio.Event()
        server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        server_tls.load_cert_chain(self._cert_file, self._key_file)
        client_tls: ssl.SSLContext = ssl.create_default_context(cafile=str(self._ca_file))
        connector = aiohttp.TCPConnector(ssl=client_tls, limit=0)
        # Bodies pass through as fakepve wrote them (compressed or not).
        self._session = aiohttp.ClientSession(connector=connector, auto_decompress=False)
        app = web.Application(client_max_size=MAX_BODY)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        runner = web.AppRunner(app, access_log=None)
        try:
            await runner.setup()
            await web.TCPSite(runner, self.host, self.port, ssl_context=server_tls).start()
            self._ready.set()
            await self._stopping.wait()
        finally:
            await runner.cleanup()
            await self._session.close()

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        from aiohttp import web
        from yarl import URL

        assert self._session is not None
        body = await request.read()
        headers = {k: v for k, v in request.headers.items() if k.lower() not in HOP_BY_HOP}
        # The path and query exactly as the client encoded them.
        url = URL(self.upstream + request.raw_path, encoded=True)
        try:
            async with self._session.request(
                request.method, url, data=body or None, headers=headers, allow_redirects=False
            ) as upstream:
                answer = await upstream.read()
                status, reason = upstream.status, upstream.reason
                passed = [(k, v) for k, v in upstream.headers.items() if k.lower() not in HOP_BY_HOP]
        except Exception as exc:  # the client gets PVE's 595, the log the reason
            self._log(f"{request.method} {request.path}: fakepve did not answer: {type(exc).__name__}: {exc}")
            return _error(595, "Connection refused: the simulated cluster did not answer")
        if status == 200:
            stored = self._stored(request, body)
            if stored is not None:
                return stored
        return web.Response(status=status, reason=reason, body=answer, headers=passed)

    def _stored(self, request: web.Request, body: bytes) -> web.Response | None:
        """Answer from the store when the path is one of its objects (fakepve accepted the request)."""
        from aiohttp import web

        if not request.path.startswith(API + "/"):
            return None
        found = match_path(request.raw_path.split("?", 1)[0][len(API) :])
        if found is None:
            return None
        template, path_params = found
        values = _params(list(request.query.items()), body, request.content_type)
        values.update(path_params)
        try:
            data = self.store.answer(template, request.method, values)
        except ObjectError as exc:
            return _error(exc.status, exc.message)
        return web.json_response({"data": data})

    def _log(self, line: str) -> None:
        if self._log_file is None:
            return
        stamp = time.strftime("%Y-%m-%d %H:%M:%S")
        try:
            with open(self._log_file, "a", encoding="utf-8") as log:
                log.write(f"{stamp} pmpc demo front: {line}\n")
        except OSError:
            pass


def _error(status: int, message: str) -> web.Response:
    """PVE's error answer: no data, the message with a newline, the message's first line as the reason."""
    from aiohttp import web

    reason = message.splitlines()[0][:200]
    return web.json_response({"data": None, "message": message + "\n"}, status=status, reason=reason)
